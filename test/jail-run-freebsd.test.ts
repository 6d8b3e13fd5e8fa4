/**
 * The FreeBSD pod runner (shared/src/run/jail.ts) at the argument level: FreeBSD cannot run here,
 * so a recording host stands in for FreeBSD's tools and jetpack-stage2, and the test checks what a
 * FreeBSD administrator would see in the process list: every command line in the order of
 * man/jetpack-freebsd.7 (mounts, rctl, jail -c, the apps, jail -r, ifconfig -alias, umounts,
 * rctl -r), what is undone when a step fails, the pod's exit status, stopping the other apps when
 * one fails, and signals passed on. makeMountDirs is plain file-system work and is tested for real,
 * including a symbolic link planted in an image.
 */
import t from 'tap';
import { existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { defaults } from '../shared/src/config.js';
import { JetpackError } from '../shared/src/errors.js';
import { encodeStage2Environment, type FreeBSDOptions } from '../shared/src/run/freebsd.js';
import { makeMountDirs, runJailPlan, type JailHost, type JailProcess } from '../shared/src/run/jail.js';
import type { PlanApp, PodPlan } from '../shared/src/run/plan.js';
import { tempDir } from './lib/fixtures.js';
import { planAppFixture } from './lib/plans.js';

const UUID = '5b0e2a4c-9d3f-4e1a-8b7c-6d5e4f3a2b1c';
const JAIL = `jetpack/${UUID}`;
const POD = `/var/jetpack/pods/${UUID}`;
const ROOT = `${POD}/jail`;
const S2 = '/usr/local/libexec/jetpack/jetpack-stage2';

const opts = (): FreeBSDOptions => ({ config: { path: null, values: new Map(defaults('freebsd')) }, root: ROOT });

function app(name: string, extra: Partial<PlanApp> = {}): PlanApp {
  return planAppFixture(name, {
    rootfs: `${POD}/apps/${name}/rootfs`,
    exec: [`/usr/local/bin/${name}`],
    uid: 80,
    gid: 80,
    env: [
      { name: 'PATH', value: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      { name: 'AC_APP_NAME', value: name },
    ],
    ...extra,
  });
}

/** A two-app pod: web (handlers, a volume, its own CPU limit) and worker; a pod memory limit; a private address. */
function pod(): PodPlan {
  return {
    uuid: UUID,
    hostname: UUID,
    network: { mode: 'private', interface: 'lo1', address: '172.23.0.5', prefixLength: 16, gateway: '172.23.0.1' },
    resolvConf: [],
    metadataUrl: '',
    apps: [
      app('web', {
        preStart: ['/bin/sh', '-c', 'prepare'],
        postStop: ['/bin/sh', '-c', 'tidy'],
        mounts: [{ volume: 'data', source: `${POD}/volumes/data`, target: '/var/db', readOnly: false, recursive: false }],
        limits: { cpuMillicores: 500 },
      }),
      app('worker'),
    ],
    limits: { memoryBytes: 268435456 },
    annotations: [],
  };
}

/** What the recording host saw and how it answers. */
interface Script {
  /** Exit status of a spawned command, by the last word of its argv (default 0). */
  status?: Record<string, number>;
  /** Spawned commands that never exit by themselves (only a signal ends them: 128+N). */
  hang?: string[];
  /** A run() whose argv starts with this fails with this message. */
  fail?: Array<[string[], string]>;
  /** makeDirs refuses this directory. */
  badMountPoint?: string;
  /** jetpack-stage2 is not there. */
  noStage2?: boolean;
  /** Hanging commands that exit 0 on a signal (a handler that finishes its work when told to stop). */
  zeroOnSignal?: string[];
  /** spawn() throws for commands ending with this word. */
  spawnThrows?: string;
  /** Called with the argv of each run(), before it answers. */
  onRun?: (argv: readonly string[]) => void;
}

interface Recorder {
  host: JailHost;
  log: string[];
  envs: Map<string, Buffer>;
  signals: string[];
}

const SIGNUM: Record<string, number> = { SIGTERM: 15, SIGKILL: 9, SIGHUP: 1, SIGINT: 2 };

function recorder(script: Script = {}): Recorder {
  const log: string[] = [];
  const envs = new Map<string, Buffer>();
  const signals: string[] = [];
  const live = new Set<{ name: string; end: (n: number) => void }>();
  const host: JailHost = {
    async run(argv) {
      log.push(argv.join(' '));
      script.onRun?.(argv);
      for (const [prefix, message] of script.fail ?? []) {
        if (prefix.every((w, i) => argv[i] === w)) throw new JetpackError('environment', message);
      }
      if (argv[0] === '/usr/sbin/jls') return `${JAIL} true\n`;
      if (argv[0] === '/usr/bin/killall') for (const p of live) p.end(128 + 9);
      return '';
    },
    spawn(argv, fd3, stdio) {
      const name = argv[argv.length - 1] as string;
      log.push(`spawn ${argv.join(' ')}`);
      if (script.spawnThrows === name) throw new Error('spawn E2BIG');
      envs.set(name, fd3);
      t.same(stdio, ['inherit', 'inherit', 'inherit']);
      let end: (n: number) => void = () => undefined;
      const exited = new Promise<number>((resolve) => {
        end = resolve;
      });
      const entry = { name, end };
      if (script.hang?.includes(name)) live.add(entry);
      else setImmediate(() => end(script.status?.[name] ?? 0));
      const p: JailProcess = {
        pid: 1000 + log.length,
        exited: exited.then((s) => {
          live.delete(entry);
          log.push(`exit ${name} ${s}`);
          return s;
        }),
        kill(signal) {
          signals.push(`${signal} ${name}`);
          if (live.has(entry)) end(script.zeroOnSignal?.includes(name) === true ? 0 : 128 + (SIGNUM[signal] ?? 0));
        },
      };
      return p;
    },
    async makeDirs(dirs, bases) {
      log.push(`mkdir ${dirs.join(' ')} (under ${bases.join(' ')})`);
      if (script.badMountPoint !== undefined && dirs.includes(script.badMountPoint)) {
        throw new JetpackError('invalid', `mount point ${script.badMountPoint} is a symbolic link; refusing to mount through it`);
      }
    },
    async canExecute(file) {
      log.push(`access ${file}`);
      return script.noStage2 !== true;
    },
    sleep: () => new Promise((resolve) => setImmediate(resolve)),
  };
  return { host, log, envs, signals };
}

const stage2 = (name: string, user: string, extra: string[], argv: string[]): string =>
  `spawn ${S2} --jail=${JAIL} --chroot=/app/${name}/rootfs ${user} --cwd=/ --env-fd=3 ${[...extra, '--', ...argv].join(' ')}`;
const AS_APP = '--uid=80 --gid=80 --groups=';
const AS_ROOT = '--uid=0 --gid=0 --groups=';

const SETUP = [
  `access ${S2}`,
  `mkdir ${ROOT}/app/web/rootfs ${POD}/apps/web/rootfs/dev ${POD}/apps/web/rootfs/var/db ${ROOT}/app/worker/rootfs ${POD}/apps/worker/rootfs/dev (under ${ROOT} ${POD}/apps/web/rootfs ${POD}/apps/worker/rootfs)`,
  `mkdir ${ROOT}/app/web/rootfs (under ${ROOT})`,
  `/sbin/mount_nullfs -o rw ${POD}/apps/web/rootfs ${ROOT}/app/web/rootfs`,
  `mkdir ${ROOT}/app/web/rootfs/dev (under ${ROOT}/app/web/rootfs)`,
  `/sbin/mount -t devfs -o ruleset=4 devfs ${ROOT}/app/web/rootfs/dev`,
  `mkdir ${ROOT}/app/web/rootfs/var/db (under ${ROOT}/app/web/rootfs)`,
  `/sbin/mount_nullfs -o rw ${POD}/volumes/data ${ROOT}/app/web/rootfs/var/db`,
  `mkdir ${ROOT}/app/worker/rootfs (under ${ROOT})`,
  `/sbin/mount_nullfs -o rw ${POD}/apps/worker/rootfs ${ROOT}/app/worker/rootfs`,
  `mkdir ${ROOT}/app/worker/rootfs/dev (under ${ROOT}/app/worker/rootfs)`,
  `/sbin/mount -t devfs -o ruleset=4 devfs ${ROOT}/app/worker/rootfs/dev`,
  `/usr/bin/rctl -a jail:${JAIL}:memoryuse:deny=268435456`,
];
const JAIL_C = `/usr/sbin/jail -q -c name=${JAIL} path=${ROOT} host.hostname=${UUID} host.hostuuid=${UUID} persist ip4.addr=lo1|172.23.0.5/16 ip6=disable securelevel=2 enforce_statfs=2 devfs_ruleset=4 children.max=0 allow.noset_hostname allow.noraw_sockets allow.nochflags allow.nomount allow.noquotas allow.nosocket_af sysvmsg=disable sysvsem=disable sysvshm=disable`;
const TEARDOWN = [
  `/usr/sbin/jail -q -f /dev/null -r ${JAIL}`,
  '/usr/sbin/jls -d name dying',
  '/sbin/ifconfig lo1 inet 172.23.0.5/16 -alias',
  `/usr/bin/rctl -r jail:${JAIL}`,
  `/sbin/umount ${ROOT}/app/worker/rootfs/dev`,
  `/sbin/umount ${ROOT}/app/worker/rootfs`,
  `/sbin/umount ${ROOT}/app/web/rootfs/var/db`,
  `/sbin/umount ${ROOT}/app/web/rootfs/dev`,
  `/sbin/umount ${ROOT}/app/web/rootfs`,
];

t.test('a two-app pod: set up, run together, torn down in reverse', async (t) => {
  const r = recorder();
  const exits: string[] = [];
  let startedAt = -1;
  const status = await runJailPlan(pod(), {
    freebsd: opts(),
    host: r.host,
    onStart: () => (startedAt = r.log.length),
    onAppExit: (name, s) => exits.push(`${name} ${s}`),
  });
  t.equal(status, 0, 'every app exited 0');
  t.same(r.log.slice(0, SETUP.length + 1), [...SETUP, JAIL_C], 'mount points, mounts, the jail\'s rctl rules, then the jail');
  t.equal(startedAt, SETUP.length + 1, 'onStart once the jail exists, before any app');
  const apps = r.log.slice(SETUP.length + 1, r.log.length - TEARDOWN.length);
  t.same(
    apps.filter((l) => l.startsWith('spawn ')).sort(),
    [
      stage2('web', AS_APP, ['--rctl=pcpu:deny=50'], ['/usr/local/bin/web']),
      stage2('web', AS_ROOT, [], ['/bin/sh', '-c', 'prepare']),
      stage2('web', AS_ROOT, [], ['/bin/sh', '-c', 'tidy']),
      stage2('worker', AS_APP, [], ['/usr/local/bin/worker']),
    ].sort(),
    'each app through jetpack-stage2: handlers as root, the app as its user with its own rctl rule',
  );
  const at = (l: string): number => apps.indexOf(l);
  t.ok(at(`exit prepare 0`) < at(stage2('web', AS_APP, ['--rctl=pcpu:deny=50'], ['/usr/local/bin/web'])), 'pre-start ends before the app starts');
  t.ok(at('exit /usr/local/bin/web 0') < at(stage2('web', AS_ROOT, [], ['/bin/sh', '-c', 'tidy'])), 'post-stop after the app');
  t.ok(at(stage2('worker', AS_APP, [], ['/usr/local/bin/worker'])) < at('exit prepare 0'), 'the apps start together (worker does not wait for web\'s handler)');
  t.same(r.log.slice(-TEARDOWN.length), TEARDOWN, 'jail -r, the address alias, rctl -r, umounts in reverse');
  t.same(exits.sort(), ['web 0', 'worker 0']);
  t.same(r.envs.get('/usr/local/bin/web'), encodeStage2Environment(pod().apps[0]?.env ?? []), 'the environment goes on descriptor 3, not the command line');
  t.notMatch(r.log.join('\n'), /AC_APP_NAME/, 'no variable on any command line');
});

t.test('the first failing app gives the pod its status; the others get SIGTERM', async (t) => {
  const r = recorder({ status: { '/usr/local/bin/web': 3 }, hang: ['/usr/local/bin/worker'] });
  const exits: string[] = [];
  const status = await runJailPlan(pod(), { freebsd: opts(), host: r.host, onAppExit: (name, s) => exits.push(`${name} ${s}`) });
  t.equal(status, 3, 'the pod exits with web\'s 3');
  t.same(r.signals, ['SIGTERM /usr/local/bin/worker'], 'worker got SIGTERM');
  t.same(exits, ['web 3', 'worker 143'], 'worker ended by the signal: 128+15');
  t.notOk(r.log.some((l) => l.startsWith('/usr/bin/killall')), 'no KILL needed: worker ended within the stop timeout');
  t.same(r.log.slice(-TEARDOWN.length), TEARDOWN, 'torn down as usual');
});

t.test('an app that ignores SIGTERM is killed with the jail\'s other processes after the stop timeout', async (t) => {
  const r = recorder({ status: { '/usr/local/bin/worker': 1 }, hang: ['/usr/local/bin/web'] });
  // web "ignores" SIGTERM: take it out of what kill() ends.
  const spawn = r.host.spawn.bind(r.host);
  r.host.spawn = (argv, fd3, stdio) => {
    const p = spawn(argv, fd3, stdio);
    return argv.includes('/usr/local/bin/web') ? { pid: p.pid, exited: p.exited, kill: (s) => void r.signals.push(`${s} (ignored) web`) } : p;
  };
  const status = await runJailPlan(pod(), { freebsd: opts(), host: r.host, stopTimeout: 1 });
  t.equal(status, 1, 'worker\'s status');
  t.ok(r.log.includes(`/usr/bin/killall -j ${JAIL} -KILL`), 'killall -j JAIL -KILL');
  t.ok(r.log.includes('exit /usr/local/bin/web 137'), 'web died of SIGKILL: 137');
  t.ok(r.log.includes(stage2('web', AS_ROOT, [], ['/bin/sh', '-c', 'tidy'])), 'web\'s post-stop still runs');
});

t.test('a failing pre-start handler: the app never starts, its status is the handler\'s', async (t) => {
  const r = recorder({ status: { prepare: 7 } });
  const status = await runJailPlan(pod(), { freebsd: opts(), host: r.host });
  t.equal(status, 7);
  t.notOk(r.log.some((l) => l.includes('/usr/local/bin/web') && l.startsWith('spawn')), 'web never started');
  t.notOk(r.log.some((l) => l.includes('tidy')), 'no post-stop for an app that never started');
  t.same(r.log.slice(-TEARDOWN.length), TEARDOWN);
});

t.test('a step that fails undoes exactly what was done before it', async (t) => {
  const cases: Array<[string, string[], string[]]> = [
    ['the third mount', ['/sbin/mount_nullfs', '-o', 'rw', `${POD}/volumes/data`], [`/sbin/umount ${ROOT}/app/web/rootfs/dev`, `/sbin/umount ${ROOT}/app/web/rootfs`]],
    ['an rctl rule', ['/usr/bin/rctl', '-a'], [`/usr/bin/rctl -r jail:${JAIL}`, ...TEARDOWN.slice(4)]],
    ['jail -c', ['/usr/sbin/jail', '-q', '-c'], [`/usr/bin/rctl -r jail:${JAIL}`, ...TEARDOWN.slice(4)]],
  ];
  for (const [what, prefix, undone] of cases) {
    const r = recorder({ fail: [[prefix, `${path.basename(prefix[0] as string)}: refused`]] });
    await t.rejects(runJailPlan(pod(), { freebsd: opts(), host: r.host }), { kind: 'environment', message: `${path.basename(prefix[0] as string)}: refused` }, `${what}: the tool's error`);
    const failed = r.log.findIndex((l) => prefix.every((w, i) => l.split(' ')[i] === w));
    t.same(r.log.slice(failed + 1), undone, `${what}: undone in reverse, nothing more`);
    t.notOk(r.log.some((l) => l.startsWith('spawn')), `${what}: no app ran`);
  }
});

t.test('cleaning up that fails is reported, never hidden', async (t) => {
  const r = recorder({ fail: [[['/sbin/umount', `${ROOT}/app/web/rootfs/var/db`], 'umount: Device busy']] });
  await t.rejects(runJailPlan(pod(), { freebsd: opts(), host: r.host }), {
    kind: 'environment',
    message: `cleaning up after pod ${UUID} failed: umount: Device busy`,
  });
  t.same(r.log.slice(-2), [`/sbin/umount ${ROOT}/app/web/rootfs/dev`, `/sbin/umount ${ROOT}/app/web/rootfs`], 'the rest is still undone');

  const r2 = recorder({ fail: [[['/usr/sbin/jail', '-q', '-c'], 'jail: prison limit exceeded'], [['/usr/bin/rctl', '-r'], 'rctl: RACCT is disabled']] });
  await t.rejects(runJailPlan(pod(), { freebsd: opts(), host: r2.host }), {
    kind: 'environment',
    message: `jail: prison limit exceeded; cleaning up after pod ${UUID} failed: rctl: RACCT is disabled`,
  }, 'the pod\'s own error first');
});

t.test('a plan the backend refuses runs nothing', async (t) => {
  const r = recorder();
  const bad = pod();
  bad.network = { ...bad.network, address: '172.23.0.500' };
  await t.rejects(runJailPlan(bad, { freebsd: opts(), host: r.host }), { kind: 'invalid', message: /172\.23\.0\.500/ });
  t.same(r.log, [], 'not even a directory');
});

t.test('SIGTERM to the runner reaches every app', async (t) => {
  const r = recorder({ hang: ['/usr/local/bin/web', '/usr/local/bin/worker'] });
  const plan = pod();
  const before = process.listeners('SIGTERM');
  const running = runJailPlan(plan, { freebsd: opts(), host: r.host, onAppExit: () => undefined });
  while (r.log.filter((l) => l.startsWith(`spawn ${S2}`) && l.includes('/usr/local/bin/w')).length < 2) await new Promise((res) => setImmediate(res));
  // Call the runner's own handler, as the signal would (emitting SIGTERM would reach tap's too).
  const added = process.listeners('SIGTERM').filter((l) => !before.includes(l));
  t.equal(added.length, 1, 'the runner listens for SIGTERM while apps run');
  for (const l of added) (l as (s: NodeJS.Signals) => void)('SIGTERM');
  t.equal(await running, 143, 'the apps ended by SIGTERM: 128+15');
  t.same(r.signals.sort(), ['SIGTERM /usr/local/bin/web', 'SIGTERM /usr/local/bin/worker']);
  t.equal(process.listenerCount('SIGTERM'), before.length, 'the runner\'s handler is gone afterwards');
});

t.test('makeMountDirs creates mount points, never through a symbolic link', async (t) => {
  const dir = tempDir('jetpack-jail-dirs-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'jail');
  const rootfs = path.join(dir, 'apps/web/rootfs');
  mkdirSync(rootfs, { recursive: true });
  await makeMountDirs([path.join(root, 'app/web/rootfs'), path.join(rootfs, 'dev'), path.join(rootfs, 'var/db')], [root, rootfs]);
  for (const d of ['jail/app/web/rootfs', 'apps/web/rootfs/dev', 'apps/web/rootfs/var/db']) t.ok(lstatSync(path.join(dir, d)).isDirectory(), d);

  const outside = path.join(dir, 'host-etc');
  mkdirSync(outside);
  symlinkSync(outside, path.join(rootfs, 'srv'));
  await t.rejects(makeMountDirs([path.join(rootfs, 'srv/www')], [root, rootfs]), {
    kind: 'invalid',
    message: `mount point ${path.join(rootfs, 'srv')} is a symbolic link; refusing to mount through it`,
  });
  t.notOk(existsSync(path.join(outside, 'www')), 'nothing was made through the link');
  await t.rejects(makeMountDirs(['/etc/x'], [root, rootfs]), { kind: 'invalid', message: /outside the pod's directories/ });
});

t.test('a mount point refused right before its mount: nothing is mounted there, the rest undone', async (t) => {
  const r = recorder({ badMountPoint: `${ROOT}/app/web/rootfs/var/db` });
  await t.rejects(runJailPlan(pod(), { freebsd: opts(), host: r.host }), { kind: 'invalid', message: /var\/db is a symbolic link/ });
  t.notOk(r.log.some((l) => l.startsWith('/sbin/mount_nullfs') && l.endsWith('/var/db')), 'the volume was not mounted');
  t.same(r.log.slice(-2), [`/sbin/umount ${ROOT}/app/web/rootfs/dev`, `/sbin/umount ${ROOT}/app/web/rootfs`], 'what was mounted is undone');
});

t.test('makeMountDirs right before a nested mount: a link an app left in its volume is refused', async (t) => {
  const dir = tempDir('jetpack-jail-check-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The app root with a volume "mounted" at data (here: the volume's own content in place), in
  // which an earlier run of the app left data/sub -> a host directory, where a second volume goes.
  const appRoot = path.join(dir, 'jail/app/web/rootfs');
  const hostDir = path.join(dir, 'host-etc');
  mkdirSync(path.join(appRoot, 'data'), { recursive: true });
  mkdirSync(hostDir);
  symlinkSync(hostDir, path.join(appRoot, 'data/sub'));
  await makeMountDirs([path.join(appRoot, 'data/new')], [appRoot]);
  t.ok(lstatSync(path.join(appRoot, 'data/new')).isDirectory(), 'a missing nested mount point is made');
  await t.rejects(makeMountDirs([path.join(appRoot, 'data/sub')], [appRoot]), { kind: 'invalid', message: `mount point ${path.join(appRoot, 'data/sub')} is a symbolic link; refusing to mount through it` });
  await t.rejects(makeMountDirs([path.join(appRoot, 'data/sub/x')], [appRoot]), { kind: 'invalid', message: /data\/sub is a symbolic link/ }, 'also below the link');
  t.notOk(existsSync(path.join(hostDir, 'x')), 'nothing made through the link');
  await t.rejects(makeMountDirs(['/etc'], [appRoot]), { kind: 'invalid', message: /outside the pod's directories/ });
});

t.test('a signal during set-up stops it: everything undone, no app, status 128+N', async (t) => {
  const before = process.listeners('SIGINT');
  let handler: ((s: NodeJS.Signals) => void) | undefined;
  const r = recorder({
    onRun: (argv) => {
      if (argv[0] === '/usr/bin/rctl' && argv[1] === '-a') {
        handler = process.listeners('SIGINT').find((l) => !before.includes(l)) as (s: NodeJS.Signals) => void;
        handler('SIGINT');
      }
    },
  });
  t.equal(await runJailPlan(pod(), { freebsd: opts(), host: r.host }), 130, '128+2');
  t.ok(handler, 'the runner listened for SIGINT during set-up');
  t.notOk(r.log.some((l) => l.startsWith('/usr/sbin/jail -q -c') || l.startsWith('spawn')), 'no jail, no app');
  t.same(r.log.slice(-6), [`/usr/bin/rctl -r jail:${JAIL}`, ...TEARDOWN.slice(4)], 'rctl rules and mounts undone');
  t.equal(process.listenerCount('SIGINT'), before.length, 'the handler is gone afterwards');
});

t.test('a signal while a pre-start handler runs: the app never starts', async (t) => {
  // prepare exits 0 when told to stop: only the signal itself may keep web from starting.
  const r = recorder({ hang: ['prepare', '/usr/local/bin/worker'], zeroOnSignal: ['prepare'] });
  const before = process.listeners('SIGTERM');
  const running = runJailPlan(pod(), { freebsd: opts(), host: r.host });
  while (!r.log.some((l) => l.startsWith('spawn') && l.endsWith('prepare'))) await new Promise((res) => setImmediate(res));
  for (const l of process.listeners('SIGTERM').filter((x) => !before.includes(x))) (l as (s: NodeJS.Signals) => void)('SIGTERM');
  t.equal(await running, 143);
  t.notOk(r.log.some((l) => l.startsWith('spawn') && l.endsWith('/usr/local/bin/web')), 'web never started');
});

t.test('jail -r failing still removes the address alias', async (t) => {
  const r = recorder({ fail: [[['/usr/sbin/jail', '-q', '-f', '/dev/null', '-r'], 'jail: jetpack/x: not found']] });
  await t.rejects(runJailPlan(pod(), { freebsd: opts(), host: r.host }), { kind: 'environment', message: /cleaning up after pod .* failed: jail: jetpack\/x: not found/ });
  t.ok(r.log.includes('/sbin/ifconfig lo1 inet 172.23.0.5/16 -alias'), 'the alias is removed');
  t.same(r.log.slice(-6), [`/usr/bin/rctl -r jail:${JAIL}`, ...TEARDOWN.slice(4)], 'and the rest');
});

t.test('a launcher that cannot be started: status 125 with a line saying why; jetpack-stage2 missing: nothing runs', async (t) => {
  const lines: string[] = [];
  const r = recorder({ spawnThrows: '/usr/local/bin/worker' });
  t.equal(await runJailPlan(pod(), { freebsd: opts(), host: r.host, report: (l) => lines.push(l) }), 125);
  t.same(lines, ['cannot start /usr/local/libexec/jetpack/jetpack-stage2: spawn E2BIG']);
  t.same(r.log.slice(-TEARDOWN.length), TEARDOWN, 'torn down after every app ended');

  const r2 = recorder({ noStage2: true });
  await t.rejects(runJailPlan(pod(), { freebsd: opts(), host: r2.host }), { kind: 'environment', message: /jetpack-stage2 is missing or not executable/ });
  t.same(r2.log, [`access ${S2}`], 'nothing else');
});
