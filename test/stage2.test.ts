/**
 * jetpack-stage2, the FreeBSD backend's app launcher (commands/jail-run/src/stage2.c), run for real
 * in its host-test build on Linux: the command lines come from the backend itself (appExecArgv,
 * eventHandlerArgv, encodeStage2Environment in shared/src/run/freebsd.ts), the jail is a directory
 * that the test build chroots into as jail_attach(2) would, and the app is busybox-static. What a
 * user of the app would check: its uid, gid and groups, working directory, exactly the
 * environment it was given, no-new-privileges, the PATH lookup, its exit status, and one-line
 * errors with exit 125/126/127. rctl_add_rule(2) and jail_attach(2) themselves are FreeBSD's and
 * only traced here. Needs root (chroot, setuid).
 */
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { defaults } from '../shared/src/config.js';
import { appExecArgv, encodeStage2Environment, eventHandlerArgv, jailName, type FreeBSDOptions } from '../shared/src/run/freebsd.js';
import type { PlanApp, PodPlan } from '../shared/src/run/plan.js';
import { REPO, busyboxLayout, tempDir } from './lib/fixtures.js';
import { planAppFixture } from './lib/plans.js';

const pkg = path.join(REPO, 'commands/jail-run');
const stage2 = path.join(pkg, 'dist/jetpack-stage2-test');
const isRoot = process.getuid?.() === 0;
const UUID = '0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5';
const PATH = '/opt/tools:/bin';

/** Build the test launcher like `pnpm run build:native` when it is missing or older than its source. */
function buildStage2(): void {
  const src = path.join(pkg, 'src/stage2.c');
  if (existsSync(stage2) && statSync(stage2).mtimeMs >= statSync(src).mtimeMs) return;
  execFileSync('sh', [path.join(pkg, 'build-native.sh')], { stdio: 'inherit' });
}

interface Jail {
  jails: string;
  rootfs: string;
  opts: FreeBSDOptions;
}

/** A jail root holding app "main" at app/main/rootfs (the backend's layout), with /proc mounted in it. */
function makeJail(t: Test): Jail {
  const jails = tempDir('jetpack-stage2-');
  const opts: FreeBSDOptions = { config: { path: null, values: new Map(defaults('freebsd')) }, root: '/unused', stage2 };
  const root = path.join(jails, jailName(UUID, opts.config));
  const rootfs = path.join(busyboxLayout(path.join(root, 'app/main')), 'rootfs');
  mkdirSync(path.join(rootfs, 'opt/tools'), { recursive: true });
  mkdirSync(path.join(rootfs, 'opt/work'));
  chmodSync(path.join(rootfs, 'opt/work'), 0o700);
  execFileSync('chown', ['1000:1000', path.join(rootfs, 'opt/work')]);
  writeFileSync(path.join(rootfs, 'opt/tools/mytool'), '#!/bin/sh\necho "mytool ran as $(id -u) in $(pwd)"\n', { mode: 0o755 });
  writeFileSync(path.join(rootfs, 'opt/tools/notexec'), 'data\n', { mode: 0o644 });
  mkdirSync(path.join(rootfs, 'proc'));
  execFileSync('mount', ['-t', 'proc', 'proc', path.join(rootfs, 'proc')]);
  t.teardown(() => {
    execFileSync('umount', ['-l', path.join(rootfs, 'proc')]);
    rmSync(jails, { recursive: true, force: true });
  });
  return { jails, rootfs, opts };
}

function app(extra: Partial<PlanApp> = {}): PlanApp {
  return planAppFixture('main', {
    uid: 1000,
    gid: 1000,
    groups: [100, 4242],
    cwd: '/opt/work',
    env: [
      { name: 'PATH', value: PATH },
      { name: 'AC_APP_NAME', value: 'main' },
      { name: 'AC_METADATA_URL', value: '' },
      { name: 'SPACED', value: 'a b  c\nsecond line=still the value' },
    ],
    ...extra,
  });
}

function plan(a: PlanApp): PodPlan {
  return {
    uuid: UUID,
    hostname: UUID,
    network: { mode: 'host', interface: 'lo1' },
    resolvConf: [],
    metadataUrl: '',
    apps: [a],
    limits: {},
    annotations: [],
  };
}

interface Run {
  status: number | null;
  out: string;
  err: string;
}

/** Run an argv with `env` (raw bytes, or the app's encoded) on descriptor 3 and a host variable that must not leak in. */
function run(jail: Jail, argv: readonly string[], env: Buffer | PlanApp): Run {
  const file = path.join(jail.jails, 'env');
  writeFileSync(file, Buffer.isBuffer(env) ? env : encodeStage2Environment(env.env));
  const fd = openSync(file, 'r');
  try {
    const r = spawnSync(argv[0] as string, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe', fd],
      env: { JETPACK_STAGE2_TEST_JAILS: jail.jails, LEAKED_FROM_HOST: 'yes', PATH: process.env.PATH },
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { status: r.status, out: r.stdout, err: r.stderr };
  } finally {
    closeSync(fd);
  }
}

/** stderr without the test build's trace lines (what FreeBSD would print). */
const errors = (r: Run): string[] => r.err.split('\n').filter((l) => l !== '' && !l.startsWith('jetpack-stage2: test build: '));

t.before(() => {
  if (isRoot) buildStage2();
});

t.test('an app runs in its root as its user, with exactly its environment', { skip: !isRoot && 'needs root' }, async (t) => {
  const jail = makeJail(t);
  const a = app({
    exec: ['/bin/sh', '-c', 'id -u; id -g; id -G; pwd; env | sort; ls /; exit 7'],
    limits: { memoryBytes: 1073741824, cpuMillicores: 1500 },
  });
  const argv = appExecArgv(plan(a), a, jail.opts);
  const r = run(jail, argv, a);
  t.equal(r.status, 7, 'the app\'s exit status comes back (it replaced the launcher)');
  t.same(errors(r), [], 'nothing on stderr but the trace');
  const lines = r.out.split('\n');
  t.same(lines.slice(0, 4), ['1000', '1000', '1000 100 4242', '/opt/work'], 'uid, gid, groups (the gid first, as FreeBSD keeps it) and working directory');
  const env = r.out.slice(r.out.indexOf('/opt/work\n') + '/opt/work\n'.length, r.out.indexOf('bin\netc\n'));
  t.equal(env, 'AC_APP_NAME=main\nAC_METADATA_URL=\nPATH=/opt/tools:/bin\nPWD=/opt/work\nSHLVL=1\nSPACED=a b  c\nsecond line=still the value\n', 'exactly its environment (PWD and SHLVL are the shell\'s), nothing of the host');
  t.match(r.out, /\nbin\netc\nhome\nopt\nproc\nroot\ntmp\n$/, 'its own root: the app rootfs, not the jail root or the host');
  const pid = /rctl process:(\d+):/.exec(r.err)?.[1];
  t.ok(pid, 'rctl rules are added for the launcher itself');
  t.same(
    r.err.split('\n').filter((l) => l.startsWith('jetpack-stage2: test build: ')),
    [
      `jetpack-stage2: test build: rctl process:${pid}:memoryuse:deny=1073741824`,
      `jetpack-stage2: test build: rctl process:${pid}:pcpu:deny=150`,
      `jetpack-stage2: test build: jail_attach ${jailName(UUID, jail.opts.config)}`,
    ],
    'the app\'s own rctl rules first, then the jail',
  );
});

t.test('no-new-privs is set when asked, and only then', { skip: !isRoot && 'needs root' }, async (t) => {
  const jail = makeJail(t);
  for (const noNewPrivileges of [false, true]) {
    const a = app({ exec: ['/bin/grep', 'NoNewPrivs', '/proc/self/status'], noNewPrivileges });
    const r = run(jail, appExecArgv(plan(a), a, jail.opts), a);
    t.equal(r.status, 0);
    t.equal(r.out.replace(/\s+/g, ' ').trim(), `NoNewPrivs: ${noNewPrivileges ? 1 : 0}`, `the app's NoNewPrivs with noNewPrivileges=${noNewPrivileges}`);
  }
});

t.test('event handlers run as root in the app\'s root and working directory', { skip: !isRoot && 'needs root' }, async (t) => {
  const jail = makeJail(t);
  const a = app({ preStart: ['/bin/sh', '-c', 'echo $(id -u) $(id -g) $(id -G) $(pwd) $AC_APP_NAME'], limits: { memoryBytes: 1 << 30 } });
  const argv = eventHandlerArgv(plan(a), a, 'pre-start', jail.opts);
  t.ok(argv);
  const r = run(jail, argv ?? [], a);
  t.equal(r.status, 0);
  t.equal(r.out, '0 0 0 /opt/work main\n', 'root, no supplementary groups, the app\'s cwd and environment');
  t.notMatch(r.err, /rctl/, 'the app\'s own limits are not the handler\'s');
});

t.test('the command is looked up in the app\'s PATH; 126 and 127 as a shell gives them', { skip: !isRoot && 'needs root' }, async (t) => {
  const jail = makeJail(t);
  const found = app({ exec: ['mytool'] });
  const r = run(jail, appExecArgv(plan(found), found, jail.opts), found);
  t.equal(r.status, 0);
  t.equal(r.out, 'mytool ran as 1000 in /opt/work\n', 'found in the app\'s PATH (/opt/tools), not the host\'s');

  const cases: Array<[string, string[], number, RegExp]> = [
    ['a name in no PATH directory', ['nosuchtool'], 127, /^jetpack-stage2: nosuchtool: No such file or directory$/],
    ['an absolute path that is missing', ['/opt/missing'], 127, /^jetpack-stage2: \/opt\/missing: No such file or directory$/],
    ['a file without the x bit, by PATH', ['notexec'], 126, /^jetpack-stage2: notexec: Permission denied$/],
    ['a directory', ['/opt'], 126, /^jetpack-stage2: \/opt: Permission denied$/],
  ];
  for (const [what, exec, status, message] of cases) {
    const a = app({ exec });
    const r2 = run(jail, appExecArgv(plan(a), a, jail.opts), a);
    t.equal(r2.status, status, `${what}: exit ${status}`);
    t.match(errors(r2), [message], `${what}: one line naming the command`);
    t.same(errors(r2).length, 1);
  }
});

t.test('a wrong command line or environment: one line, exit 125, the app never runs', { skip: !isRoot && 'needs root' }, async (t) => {
  const jail = makeJail(t);
  const a = app({ exec: ['/bin/sh', '-c', 'touch /tmp/ran'] });
  const good = appExecArgv(plan(a), a, jail.opts);
  const without = (prefix: string): string[] => good.filter((w) => !w.startsWith(prefix));
  const replace = (prefix: string, word: string): string[] => good.map((w) => (w.startsWith(prefix) ? word : w));
  const enc = encodeStage2Environment(a.env);
  const cases: Array<[string, string[], Buffer, RegExp]> = [
    ['no --jail', without('--jail='), enc, /^jetpack-stage2: --jail=VALUE is required: Invalid argument$/],
    ['--uid twice', [...good.slice(0, 2), '--uid=5', ...good.slice(2)], enc, /^jetpack-stage2: --uid given twice: Invalid argument$/],
    ['an unknown option', [good[0] as string, '--bogus', ...good.slice(1)], enc, /^jetpack-stage2: unknown option "--bogus" \(the app's command follows --\): Invalid argument$/],
    ['a uid out of range', replace('--uid=', '--uid=4294967295'), enc, /^jetpack-stage2: --uid "4294967295": not a number between 0 and 4294967294: Invalid argument$/],
    ['a gid that is not a number', replace('--gid=', '--gid=wheel'), enc, /^jetpack-stage2: --gid "wheel": not a number/],
    ['a bad group list', replace('--groups=', '--groups=1,,2'), enc, /^jetpack-stage2: --groups "": not a number/],
    ['a relative working directory', replace('--cwd=', '--cwd=opt'), enc, /^jetpack-stage2: --cwd "opt": not an absolute path: Invalid argument$/],
    ['a missing working directory', replace('--cwd=', '--cwd=/nowhere'), enc, /^jetpack-stage2: chdir \/nowhere \(the working directory, inside the app's root\): No such file or directory$/],
    ['a malformed rctl rule', [...good.slice(0, -4), '--rctl=memoryuse', ...good.slice(-4)], enc, /^jetpack-stage2: --rctl "memoryuse": expected RESOURCE:ACTION=AMOUNT: Invalid argument$/],
    ['no command', good.slice(0, good.indexOf('--') + 1), enc, /^jetpack-stage2: no command after --: Invalid argument$/],
    ['an environment not ended by NUL', good, Buffer.from('PATH=/bin\0HALF=x'), /^jetpack-stage2: --env-fd=3: the last entry is not ended by a NUL byte: Invalid argument$/],
    ['an entry without =', good, Buffer.from('PATH=/bin\0NOEQUALS\0'), /^jetpack-stage2: --env-fd=3: entry 2 is not NAME=VALUE: Invalid argument$/],
    ['the environment on stdout', replace('--env-fd=', '--env-fd=1'), enc, /^jetpack-stage2: --env-fd "1": expected a descriptor number of 3 or more \(0, 1 and 2 are the app's\): Invalid argument$/],
    ['an environment over 16 MiB', good, Buffer.alloc(16 * 1024 * 1024 + 1, 'a'), /^jetpack-stage2: --env-fd=3: over 16777216 bytes: Argument list too long$/],
    ['a jail that does not exist', replace('--jail=', '--jail=jetpack/no-such-jail'), enc, /^jetpack-stage2: test build: jail "jetpack\/no-such-jail" at .*: No such file or directory$/],
  ];
  for (const [what, argv, env, message] of cases) {
    const r = run(jail, argv, env);
    t.equal(r.status, 125, `${what}: exit 125`);
    t.match(r.err.split('\n').filter((l) => l !== '' && !/test build: (rctl|jail_attach) /.test(l)), [message], `${what}: one line naming the input and the rule`);
    t.notOk(existsSync(path.join(jail.rootfs, 'tmp/ran')), `${what}: the app did not run`);
  }
});

t.test('the app starts with default signal dispositions, even for signals the caller ignored', { skip: !isRoot && 'needs root' }, async (t) => {
  const jail = makeJail(t);
  const a = app({ exec: ['/bin/grep', 'SigIgn', '/proc/self/status'] });
  const argv = appExecArgv(plan(a), a, jail.opts);
  const file = path.join(jail.jails, 'env');
  writeFileSync(file, encodeStage2Environment(a.env));
  // bash ignores SIGUSR1 (10) and a real-time signal (40), as a careless caller might, then execs the launcher.
  const quoted = argv.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('bash', ['-c', `trap '' 10 40; exec ${quoted} 3<'${file}'`], {
    env: { JETPACK_STAGE2_TEST_JAILS: jail.jails, PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  t.equal(r.status, 0, r.stderr);
  const ignored = BigInt(`0x${/SigIgn:\s*([0-9a-f]+)/.exec(r.stdout)?.[1] ?? 'ffff'}`);
  // Signals 32 and 33 belong to glibc (nptl), which lets nobody change them; FreeBSD has no such pair.
  t.equal(ignored & ~(3n << 31n), 0n, `nothing ignored (SigIgn ${r.stdout.trim()})`);
});

t.test('an environment of exactly 16 MiB is read whole (execve then refuses it: 126)', { skip: !isRoot && 'needs root' }, async (t) => {
  const jail = makeJail(t);
  const a = app({ exec: ['/bin/true'] });
  const big = Buffer.alloc(16 * 1024 * 1024, 'a');
  big.write('BIG=', 0);
  big[big.length - 1] = 0;
  const r = run(jail, appExecArgv(plan(a), a, jail.opts), big);
  t.equal(r.status, 126, 'past the reader, stopped by the kernel');
  t.match(errors(r), [/^jetpack-stage2: \/bin\/true: Argument list too long$/]);
});
