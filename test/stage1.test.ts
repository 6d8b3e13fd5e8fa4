/**
 * The Linux pod launcher end to end: runApp -> jetpack-stage1 -> a busybox rootfs, checking what
 * a user of the pod would see (appc spec/ace.md § Execution Environment, spec/OS-SPEC.md), plus
 * the pure helpers buildEnvironment and stage1Argv. The launcher tests need root.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { hostname as hostHostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../shared/src/appc/types.js';
import { JetpackError } from '../shared/src/errors.js';
import { buildEnvironment, DEFAULT_PATH, encodeEnvironment, encodePlan, planApp, runApp, runPlan, type RunAppOptions } from '../shared/src/run/linux.js';
import type { PlanApp, PlanMount, PodPlan } from '../shared/src/run/plan.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.join(here, '../commands/jail-run');
const stage1 = path.join(pkg, 'dist/jetpack-stage1');
const isRoot = process.getuid?.() === 0;
const canRun = isRoot && existsSync('/bin/busybox');

/** Build dist/jetpack-stage1 like `pnpm run build:native` when it is missing or older than its source. */
function buildStage1(): void {
  const src = path.join(pkg, 'src/stage1.c');
  if (existsSync(stage1) && statSync(stage1).mtimeMs >= statSync(src).mtimeMs) return;
  execFileSync('mkdir', ['-p', path.join(pkg, 'dist')]);
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', stage1, src], { stdio: 'inherit' });
}

const APPLETS = ['sh', 'id', 'ls', 'cat', 'hostname', 'sleep', 'env', 'pwd', 'ip', 'ps', 'kill', 'echo', 'grep', 'true', 'wc', 'tr', 'sort', 'cut'];

/** A rootfs made of the host's static busybox, with the rkt test image's passwd and group. */
async function makeRootfs(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jetpack-stage1-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'rootfs');
  await mkdir(path.join(root, 'bin'), { recursive: true });
  await mkdir(path.join(root, 'etc'));
  await mkdir(path.join(root, 'opt/work'), { recursive: true });
  await mkdir(path.join(root, 'opt/tools'));
  await chmod(dir, 0o755);
  await chmod(root, 0o755);
  await copyFile('/bin/busybox', path.join(root, 'bin/busybox'));
  await chmod(path.join(root, 'bin/busybox'), 0o755);
  for (const a of APPLETS) await symlink('busybox', path.join(root, 'bin', a));
  await writeFile(path.join(root, 'opt/tools/mytool'), '#!/bin/sh\necho mytool ran as $(id -u)\n', { mode: 0o755 });
  await writeFile(path.join(root, 'opt/notexec'), 'just data\n', { mode: 0o644 });
  // As in rkt's test image: no trailing newline.
  await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser1:x:1000:100::/:');
  await writeFile(path.join(root, 'etc/group'), 'root:x:0:\ngroup1:x:100:user1\nextra:x:4242:');
  return root;
}

interface Run {
  code: number;
  out: string;
  err: string;
}

/** runApp with stdout/stderr captured; the app defaults to user1:group1 with PATH=/bin. */
async function run(rootfs: string, app: Partial<App>, extra: Partial<RunAppOptions> = {}): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runApp({
    rootfs,
    appName: 'myapp',
    hostname: 'podhost',
    network: 'private',
    metadataUrl: 'http://mds.invalid/token',
    stage1,
    stdio: ['ignore', 'pipe', 'pipe'],
    onSpawn: (c) => {
      c.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
      c.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    },
    ...extra,
    app: { user: 'user1', group: 'group1', environment: [{ name: 'PATH', value: '/bin' }], ...app },
  });
  return { code, out, err };
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Host pids whose command line contains `needle`. */
async function hostPidsRunning(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(e) || Number(e) === process.pid) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (cmd.split('\0').join(' ').includes(needle)) found.push(Number(e));
  }
  return found;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('buildEnvironment: spec/ace.md defaults, app overrides in order, AC_* forced', async (t) => {
  const user1 = { uid: 1000, gid: 100, home: '/home/u', name: 'user1' };
  t.same(buildEnvironment({ user: user1, appName: 'web' }), [
    { name: 'PATH', value: DEFAULT_PATH },
    { name: 'HOME', value: '/home/u' },
    { name: 'USER', value: 'user1' },
    { name: 'LOGNAME', value: 'user1' },
    { name: 'SHELL', value: '/bin/sh' },
    { name: 'container', value: 'jetpack' },
    { name: 'AC_APP_NAME', value: 'web' },
    { name: 'AC_METADATA_URL', value: '' },
  ]);
  const env = buildEnvironment({
    user: { uid: 0, gid: undefined, home: undefined, name: undefined },
    appName: 'web',
    metadataUrl: 'http://10.0.0.1:18112/tok',
    environment: [
      { name: 'FOO', value: '1' },
      { name: 'PATH', value: '/bin' },
      { name: 'AC_APP_NAME', value: 'spoofed' },
      { name: 'FOO', value: '2' },
      { name: 'EMPTY', value: '' },
      { name: 'AC_METADATA_URL', value: 'http://evil' },
    ],
  });
  t.same(env.map((e) => `${e.name}=${e.value}`), [
    'PATH=/bin',
    'HOME=/root',
    'USER=root',
    'LOGNAME=root',
    'SHELL=/bin/sh',
    'container=jetpack',
    'FOO=2',
    'EMPTY=',
    'AC_APP_NAME=web',
    'AC_METADATA_URL=http://10.0.0.1:18112/tok',
  ]);
  const nobody = buildEnvironment({ user: { uid: 4321, gid: undefined, home: undefined, name: undefined }, appName: 'a' });
  t.same(nobody.filter((e) => ['HOME', 'USER', 'LOGNAME'].includes(e.name)).map((e) => e.value), ['/', '4321', '4321'], 'uid without passwd line');
  for (const name of ['', 'A=B', 'A\0B']) {
    t.throws(() => buildEnvironment({ user: user1, appName: 'a', environment: [{ name, value: 'x' }] }), JetpackError, `name ${JSON.stringify(name)}`);
  }
  t.throws(() => buildEnvironment({ user: user1, appName: 'a', environment: [{ name: 'X', value: 'a\0b' }] }), JetpackError);
});

t.test('encodeEnvironment: NUL-ended NAME=VALUE entries', async (t) => {
  t.same(encodeEnvironment([{ name: 'A', value: 'x=y z' }, { name: 'B', value: '' }]), Buffer.from('A=x=y z\0B=\0'));
});

t.test('encodePlan: NUL-ended tokens for --plan-fd', async (t) => {
  const app: PlanApp = {
    name: 'web',
    rootfs: '/var/pods/x/rootfs',
    uid: 1000,
    gid: 100,
    groups: [5, 6],
    cwd: '/opt',
    env: [{ name: 'PATH', value: '/bin' }, { name: 'X', value: 'a=b c' }],
    exec: ['--looks-like-an-option', '-x', ''],
    preStart: ['/bin/pre'],
    mounts: [{ volume: 'data', source: '/var/pods/x/volumes/data', target: '/srv/data', readOnly: true, recursive: false }],
    capabilities: ['CAP_CHOWN', 'CAP_KILL'],
    noNewPrivileges: true,
    readOnlyRootfs: false,
    limits: {},
  };
  const plan: PodPlan = { uuid: 'u', hostname: 'h', network: { mode: 'private', interface: '' }, resolvConf: [], metadataUrl: '', apps: [app], limits: {}, annotations: [] };
  const tokens = (b: Buffer): string[] => b.toString().split('\0').slice(0, -1);
  t.same(tokens(encodePlan(plan)), [
    'hostname=h', 'net=private',
    'app=web', 'rootfs=/var/pods/x/rootfs', 'uid=1000', 'gid=100', 'groups=5,6', 'cwd=/opt',
    'env=PATH=/bin', 'env=X=a=b c',
    'exec=3', '--looks-like-an-option', '-x', '',
    'pre-start=1', '/bin/pre',
    'mount=ro', '/var/pods/x/volumes/data', '/srv/data',
    'caps=21', 'no-new-privs',
  ]);
  t.same(tokens(encodePlan({ ...plan, network: { mode: 'host', interface: '' } })).slice(0, 2), ['hostname=h', 'net=host']);
  t.same(tokens(encodePlan(plan, { netns: '/run/netns/p', cgroups: { web: ['/sys/fs/cgroup/x'] }, stopTimeout: 3 })).filter((x) => /^(net|cgroup|stop-timeout)=/.test(x)), ['net=/run/netns/p', 'stop-timeout=3', 'cgroup=/sys/fs/cgroup/x']);
  t.same(tokens(encodePlan(plan, { join: 42, pty: true })).filter((x) => /^(join|hostname|net|pty)/.test(x)), ['join=42', 'pty']);
  const bad: Array<[string, Partial<PlanApp>]> = [
    ['empty exec', { exec: [] }],
    ['relative rootfs', { rootfs: 'rel' }],
    ['relative cwd', { cwd: 'opt' }],
    ['uid -1', { uid: -1 }],
    ['uid 2^32-1', { uid: 4294967295 }],
    ['fractional gid', { gid: 1.5 }],
    ['bad group', { groups: [NaN] }],
    ['NUL in exec', { exec: ['a\0b'] }],
    ['bad env name', { env: [{ name: 'A=B', value: '' }] }],
    ['NUL in env value', { env: [{ name: 'A', value: 'a\0' }] }],
    ['relative mount target', { mounts: [{ volume: 'v', source: '/a', target: 'b', readOnly: false, recursive: false }] }],
    ['unknown capability', { capabilities: ['CAP_FLY'] }],
    ['bad app name', { name: 'Web App' }],
  ];
  for (const [name, patch] of bad) t.throws(() => encodePlan({ ...plan, apps: [{ ...app, ...patch }] }), JetpackError, name);
  t.throws(() => encodePlan({ ...plan, hostname: '' }), JetpackError, 'empty hostname');
  t.throws(() => encodePlan({ ...plan, hostname: 'h'.repeat(65) }), JetpackError, 'long hostname');
  t.throws(() => encodePlan({ ...plan, apps: [] }), JetpackError, 'no app');
});

t.test('the pod launcher', { skip: canRun ? false : 'needs root and /bin/busybox' }, async (t) => {
  buildStage1();
  const rootfs = await makeRootfs(t);
  const hostFiles = ['/etc/passwd', '/etc/group', '/etc/hostname', '/etc/shadow'].filter((f) => existsSync(f));
  const before = await Promise.all(hostFiles.map(sha256));
  const hostName = hostHostname();

  t.test('id shows the resolved uid, gid and exactly the supplementary groups', async (t) => {
    const r = await run(rootfs, { exec: ['sh', '-c', 'id -u; id -g; id -G; id'], supplementaryGIDs: [4242, 7] });
    t.equal(r.code, 0, r.err);
    const [uid, gid, groups, full] = lines(r.out);
    t.equal(uid, '1000');
    t.equal(gid, '100');
    t.same((groups ?? '').split(' ').map(Number).sort((a, b) => a - b), [7, 100, 4242], 'id -G: the gid and the supplementary groups');
    t.equal(full, 'uid=1000(user1) gid=100(group1) groups=7,4242(extra)', 'exactly the supplementary list, no root group left over');
  });

  t.test('numeric user and group, root', async (t) => {
    const r = await run(rootfs, { exec: ['sh', '-c', 'id -u; id -g; id -G'], user: '4321', group: '4322' });
    t.equal(r.code, 0, r.err);
    t.same(lines(r.out).slice(0, 2), ['4321', '4322']);
    t.same(lines(r.out)[2]?.split(' ').filter((g) => g !== '4322'), [], 'no supplementary groups');
    const root = await run(rootfs, { exec: ['id', '-u'], user: 'root', group: 'root' });
    t.same(lines(root.out), ['0']);
  });

  t.test('the working directory', async (t) => {
    const r = await run(rootfs, { exec: ['pwd'], workingDirectory: '/opt/work' });
    t.equal(r.code, 0, r.err);
    t.same(lines(r.out), ['/opt/work']);
    const d = await run(rootfs, { exec: ['pwd'] });
    t.same(lines(d.out), ['/'], 'default /');
    const missing = runApp({ rootfs, appName: 'myapp', hostname: 'h', network: 'private', stage1, app: { user: 'root', group: 'root', exec: ['pwd'], workingDirectory: '/no/such/dir' } });
    await t.rejects(missing, { name: 'JetpackError', kind: 'invalid', message: /working directory "\/no\/such\/dir" does not exist/ });
    await t.rejects(
      runApp({ rootfs, appName: 'myapp', hostname: 'h', network: 'private', stage1, app: { user: 'root', group: 'root', exec: ['pwd'], workingDirectory: '/opt/notexec' } }),
      { name: 'JetpackError', kind: 'invalid' },
      'a file is not a working directory',
    );
    await t.rejects(
      runApp({ rootfs, appName: 'myapp', hostname: 'h', network: 'private', stage1, app: { user: 'root', group: 'root', exec: ['pwd'], workingDirectory: 'opt' } }),
      { name: 'JetpackError', kind: 'invalid' },
      'a relative working directory',
    );
  });

  t.test('the environment is exactly the expected set', async (t) => {
    const r = await run(rootfs, {
      exec: ['env'],
      environment: [
        { name: 'PATH', value: '/bin' },
        { name: 'FOO', value: 'bar baz' },
        { name: 'AC_APP_NAME', value: 'spoofed' },
      ],
    });
    t.equal(r.code, 0, r.err);
    t.same(lines(r.out), [
      'PATH=/bin',
      'HOME=/',
      'USER=user1',
      'LOGNAME=user1',
      'SHELL=/bin/sh',
      'container=jetpack',
      'FOO=bar baz',
      'AC_APP_NAME=myapp',
      'AC_METADATA_URL=http://mds.invalid/token',
    ]);
    process.env['JETPACK_TEST_LEAK'] = 'leaked';
    const noEnv = await run(rootfs, { exec: ['/bin/env'], environment: [] });
    delete process.env['JETPACK_TEST_LEAK'];
    t.same(lines(noEnv.out).map((l) => l.split('=')[0]), ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'container', 'AC_APP_NAME', 'AC_METADATA_URL']);
    t.ok(lines(noEnv.out).includes(`PATH=${DEFAULT_PATH}`), 'default PATH');
  });

  t.test('a bare exec name is looked up in the app\'s PATH', async (t) => {
    const r = await run(rootfs, { exec: ['mytool'], environment: [{ name: 'PATH', value: '/opt/tools:/bin' }] });
    t.equal(r.code, 0, r.err);
    t.same(lines(r.out), ['mytool ran as 1000']);
  });

  t.test('hostname', async (t) => {
    const r = await run(rootfs, { exec: ['hostname'] }, { hostname: 'pod-1234' });
    t.same(lines(r.out), ['pod-1234']);
    t.equal(hostHostname(), hostName, 'the host keeps its hostname');
  });

  t.test('a PID namespace: the app is pid 2 and sees only the pod', async (t) => {
    const r = await run(rootfs, { exec: ['sh', '-c', 'echo $$; ls /proc | grep -E "^[0-9]+$" | sort -n'] });
    t.equal(r.code, 0, r.err);
    const [self, ...pids] = lines(r.out);
    t.equal(self, '3', 'the app is pid 3 (pid 1 is the pod\'s init, 2 the app\'s supervisor)');
    t.ok(pids.includes('1') && pids.includes('2') && pids.includes('3'));
    t.ok(pids.every((p) => Number(p) < 20), `only the pod's few processes: ${pids.join(' ')}`);
  });

  t.test('a private network has only lo, up', async (t) => {
    const r = await run(rootfs, { exec: ['sh', '-c', 'ls /sys/class/net; echo --; ip -o link'] });
    t.equal(r.code, 0, r.err);
    const [sys, ipLink] = r.out.split('--\n');
    t.same(lines(sys ?? ''), ['lo']);
    t.equal(lines(ipLink ?? '').length, 1);
    t.match(ipLink, /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    const host = (await readdir('/sys/class/net')).sort();
    const h = await run(rootfs, { exec: ['ls', '/sys/class/net'] }, { network: 'host' });
    t.same(lines(h.out).sort(), host, '--net=host sees the host interfaces');
  });

  t.test('/dev, /proc and /sys as spec/OS-SPEC.md wants them', async (t) => {
    const r = await run(rootfs, {
      user: 'root',
      group: 'root',
      exec: [
        'sh',
        '-c',
        'for f in null zero full random urandom tty console ptmx pts shm fd stdin stdout stderr; do test -e /dev/$f && echo $f; done; ' +
          'grep -E " /(proc|sys|dev|dev/pts|dev/shm) " /proc/mounts | cut -d" " -f2,3,4 | cut -d, -f1; echo x > /dev/null && echo null-ok; ls /dev/pts',
      ],
    });
    t.equal(r.code, 0, r.err);
    const out = lines(r.out);
    for (const f of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'console', 'ptmx', 'pts', 'shm', 'fd', 'stdin', 'stdout', 'stderr', 'null-ok']) {
      t.ok(out.includes(f), `/dev/${f}`);
    }
    t.ok(out.includes('/proc proc rw'));
    t.ok(out.includes('/sys sysfs ro'), 'sysfs read-only');
    t.ok(out.includes('/dev tmpfs rw'));
    t.ok(out.includes('/dev/pts devpts rw'));
    t.ok(out.includes('/dev/shm tmpfs rw'));
    t.ok(out.includes('ptmx'), 'a new devpts instance (only ptmx in it)');
  });

  t.test('exit statuses', async (t) => {
    t.equal((await run(rootfs, { exec: ['true'] })).code, 0);
    t.equal((await run(rootfs, { exec: ['sh', '-c', 'exit 3'] })).code, 3);
    t.equal((await run(rootfs, { exec: ['sh', '-c', 'kill -9 $$'] })).code, 128 + 9, 'killed by SIGKILL: 137');
    t.equal((await run(rootfs, { exec: ['sh', '-c', 'kill -TERM $$'] })).code, 128 + 15);
    const nf = await run(rootfs, { exec: ['no-such-command'] });
    t.equal(nf.code, 127, 'not found: 127');
    t.match(nf.err, /jetpack-stage1: exec no-such-command: No such file or directory/);
    const ne = await run(rootfs, { exec: ['/opt/notexec'] });
    t.equal(ne.code, 126, 'not executable: 126');
  });

  t.test('SIGTERM and SIGINT sent to runApp\'s process reach the app', async (t) => {
    for (const [signal, trap] of [['SIGTERM', 'TERM'], ['SIGINT', 'INT']] as const) {
      let out = '';
      let ready: () => void = () => undefined;
      const isReady = new Promise<void>((r) => (ready = r));
      const done = runApp({
        rootfs,
        appName: 'myapp',
        hostname: 'h',
        network: 'private',
        stage1,
        stdio: ['ignore', 'pipe', 'inherit'],
        onSpawn: (c) =>
          c.stdout?.setEncoding('utf8').on('data', (d: string) => {
            out += d;
            if (out.includes('ready')) ready();
          }),
        app: {
          user: 'user1',
          group: 'group1',
          environment: [{ name: 'PATH', value: '/bin' }],
          exec: ['sh', '-c', `trap "echo got ${trap}; exit 7" ${trap}; echo ready; while :; do sleep 0.05; done`],
        },
      });
      await isReady;
      process.kill(process.pid, signal);
      t.equal(await done, 7, `${signal}: the trap's exit code`);
      t.same(lines(out), ['ready', `got ${trap}`]);
    }
  });

  t.test('no zombies: PID 1 reaps orphans; a background child does not keep the pod', async (t) => {
    const r = await run(rootfs, {
      exec: ['sh', '-c', 'sh -c "sleep 0.1 & echo $!"; sleep 0.6; for s in /proc/[0-9]*/stat; do cat $s; echo; done'],
    });
    t.equal(r.code, 0, r.err);
    const [orphan, ...stats] = lines(r.out);
    const states = stats.map((l) => l.split(' ').slice(0, 3).join(' '));
    t.notOk(states.some((s) => / Z$/.test(s)), `no zombie: ${states.join(', ')}`);
    t.notOk(states.some((s) => s.startsWith(`${orphan} `)), 'the orphan was reaped');

    const started = Date.now();
    const bg = await run(rootfs, { exec: ['sh', '-c', 'sleep 987 & exit 5'] });
    t.equal(bg.code, 5);
    t.ok(Date.now() - started < 5000, 'the pod ends when the app exits');
    t.same(await hostPidsRunning('sleep 987'), [], 'the background child is gone from the host');
  });

  t.test('if the launcher dies, the pod dies', async (t) => {
    let pid: number | undefined;
    const done = run(rootfs, { exec: ['sleep', '876'] }, { onSpawn: (c) => (pid = c.pid) });
    for (let i = 0; i < 100 && (await hostPidsRunning('sleep 876')).length === 0; i++) await sleep(20);
    t.ok(pid !== undefined && (await hostPidsRunning('sleep 876')).length > 0, 'the app runs');
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
    t.equal((await done).code, 128 + 9);
    for (let i = 0; i < 100 && (await hostPidsRunning('sleep 876')).length > 0; i++) await sleep(20);
    t.same(await hostPidsRunning('sleep 876'), [], 'the app was killed with its launcher');
  });

  t.test('hostile images', async (t) => {
    const hostile = await makeRootfs(t);
    await rm(path.join(hostile, 'etc/passwd'));
    await symlink('/etc/shadow', path.join(hostile, 'etc/passwd'));
    await t.rejects(
      run(hostile, { exec: ['id'], user: 'daemon', group: '0' }),
      { kind: 'invalid', message: /daemon/ },
      'passwd -> host /etc/shadow: a host user is not found',
    );
    const r = await run(hostile, { exec: ['env'], user: 'root', group: 'root' });
    t.equal(r.code, 0, r.err);
    t.ok(lines(r.out).includes('HOME=/root') && lines(r.out).includes('USER=root'), 'root gets the defaults, nothing read from the host');

    const procLink = await makeRootfs(t);
    await symlink('/etc', path.join(procLink, 'proc'));
    const p = await run(procLink, { exec: ['true'] });
    t.equal(p.code, 125, 'a symlinked /proc is refused');
    t.match(p.err, /jetpack-stage1: .*\/proc is a symlink in the image, refusing to mount over it/);

    const devLink = await makeRootfs(t);
    await symlink('../../../../../../dev', path.join(devLink, 'dev'));
    t.equal((await run(devLink, { exec: ['true'] })).code, 125, 'a symlinked /dev is refused');
    const sysFile = await makeRootfs(t);
    await writeFile(path.join(sysFile, 'sys'), '');
    t.equal((await run(sysFile, { exec: ['true'] })).code, 125, 'a file at /sys is refused');
  });

  t.test('volumes: sources reached without symlinks; nested mount points made inside the outer volume', async (t) => {
    const root = await makeRootfs(t);
    const vols = await mkdtemp(path.join(tmpdir(), 'jetpack-stage1-vols-'));
    t.teardown(() => rm(vols, { recursive: true, force: true }));
    const outer = path.join(vols, 'outer');
    const inner = path.join(vols, 'inner');
    await mkdir(outer);
    await mkdir(inner);
    await writeFile(path.join(inner, 'hello'), 'from the inner volume\n');
    const mount = (source: string, target: string): PlanMount => ({ volume: path.basename(source), source, target, readOnly: false, recursive: false });
    /** Run `cmd` with `mounts` through runPlan, output captured. */
    const withMounts = async (mounts: PlanMount[], cmd: string): Promise<Run> => {
      const planned = await planApp({ name: 'myapp', rootfs: root, app: { exec: ['/bin/sh', '-c', cmd], user: 'root', group: 'root', environment: [{ name: 'PATH', value: '/bin' }] }, mounts });
      const plan: PodPlan = { uuid: 'podhost', hostname: 'podhost', network: { mode: 'host', interface: '' }, resolvConf: [], metadataUrl: '', apps: [planned], limits: {}, annotations: [] };
      let out = '';
      let err = '';
      const code = await runPlan(plan, {
        stage1,
        stdio: ['ignore', 'pipe', 'pipe'],
        onSpawn: (c) => {
          c.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
          c.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
        },
      });
      return { code, out, err };
    };
    await mkdir(path.join(root, 'data'));

    // A fresh outer volume has no `sub`: the launcher makes it there, after mounting the outer one.
    const nested = await withMounts([mount(outer, '/data'), mount(inner, '/data/sub')], 'cat /data/sub/hello');
    t.equal(nested.code, 0, nested.err);
    t.equal(nested.out, 'from the inner volume\n', 'the inner volume is at /data/sub');
    t.ok(statSync(path.join(outer, 'sub')).isDirectory(), 'its mount point was made in the outer volume');

    // A link where a volume's source should be: refused, even if the caller's check passed earlier.
    await symlink(outer, path.join(vols, 'link'));
    const viaLink = await withMounts([mount(path.join(vols, 'link'), '/data')], 'true');
    t.equal(viaLink.code, 125, 'a source reached through a symlink');
    t.match(viaLink.err, /^jetpack-stage1: app myapp: volume source .*\/link \(it must be reached without symlinks\): Too many levels of symbolic links$/m);

    // An app of an earlier run left sub -> /etc in the outer volume: the inner volume is not mounted on the host's /etc.
    await rm(path.join(outer, 'sub'), { recursive: true });
    await symlink('/etc', path.join(outer, 'sub'));
    const overEtc = await withMounts([mount(outer, '/data'), mount(inner, '/data/sub')], 'true');
    t.equal(overEtc.code, 125, 'a link at a nested mount point');
    t.match(overEtc.err, /mount point \/data\/sub \(without symlinks\)/);
    t.notOk(existsSync('/etc/hello'), 'the host\'s /etc was not mounted over');
  });

  t.test('an app without exec is refused', async (t) => {
    await t.rejects(runApp({ rootfs, appName: 'x', hostname: 'h', network: 'private', stage1, app: { user: 'root', group: 'root' } }), { kind: 'invalid', message: /no exec/ });
    await t.rejects(runApp({ rootfs, appName: 'x', hostname: 'h', network: 'private', stage1, app: { user: 'root', group: 'root', exec: [] } }), { name: 'JetpackError', kind: 'invalid' });
  });

  t.test('a missing launcher is an environment error', async (t) => {
    await t.rejects(runApp({ rootfs, appName: 'x', hostname: 'h', network: 'private', stage1: '/no/such/stage1', app: { user: 'root', group: 'root', exec: ['true'] } }), { name: 'JetpackError', kind: 'environment' });
  });

  t.test('the host stays untouched', async (t) => {
    t.same(await Promise.all(hostFiles.map(sha256)), before, `${hostFiles.join(', ')} unchanged`);
    t.equal(hostHostname(), hostName);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    t.notOk(mounts.includes(path.dirname(rootfs)), 'no pod mount is left on the host');
    t.same((await readdir(rootfs)).sort(), ['bin', 'dev', 'etc', 'opt', 'proc', 'sys'], 'only the mount points were added to the rootfs');
    t.ok((await stat(path.join(rootfs, 'dev'))).isDirectory());
    t.same(await readdir(path.join(rootfs, 'dev')), [], 'nothing was written under the rootfs\'s /dev');
  });
});
