/**
 * Per-pod cgroups (shared/src/run/cgroups.ts): detection of cgroup v1, v2 and hybrid hosts from
 * mountinfo samples, then, for real on this host (root needed), a pod cgroup's limit files, its
 * process list, removal, crash clean-up, and actual enforcement: a process over its memory limit
 * is killed by the OOM killer and a busy loop under a 0.2 CPU limit gets far less than a CPU.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JetpackError } from '../shared/src/errors.js';
import {
  CGROUP_PARENT,
  POD_LEAF,
  createPodCgroup,
  detectCgroups,
  openPodCgroup,
  removeStalePodCgroup,
  type CgroupSystem,
  type PodCgroup,
} from '../shared/src/run/cgroups.js';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;

// ---------------------------------------------------------------------------------------------
// Detection from mountinfo samples

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const SYSTEMD_HYBRID = `25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
`;
const PURE_V2 = `22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const ESCAPED_V2 = `26 22 0:23 / /mnt/my\\040cgroups rw - cgroup2 none rw
`;

const controllersOf =
  (table: Record<string, string[]>) =>
  async (mp: string): Promise<string[]> =>
    table[mp] ?? [];

t.test('detectCgroups: v2, v1 and hybrid hosts', async (t) => {
  t.same(await detectCgroups({ mountinfo: HYBRID, v2Controllers: controllersOf({ '/sys/fs/cgroup/unified': ['hugetlb'] }) }), {
    version: 'v1',
    hierarchies: ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpuacct'],
    controllers: { cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct', memory: '/sys/fs/cgroup/memory' },
    summary: 'cgroup v1: memory at /sys/fs/cgroup/memory, cpu at /sys/fs/cgroup/cpu, cpuacct at /sys/fs/cgroup/cpuacct; cgroup2 at /sys/fs/cgroup/unified has only hugetlb',
  }, 'hybrid, cpu and cpuacct mounted apart (this machine)');
  t.same(await detectCgroups({ mountinfo: SYSTEMD_HYBRID, v2Controllers: controllersOf({}) }), {
    version: 'v1',
    hierarchies: ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/cpu,cpuacct'],
    controllers: { cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory' },
    summary: 'cgroup v1: memory at /sys/fs/cgroup/memory, cpu at /sys/fs/cgroup/cpu,cpuacct, cpuacct at /sys/fs/cgroup/cpu,cpuacct; cgroup2 at /sys/fs/cgroup/unified has no controllers',
  }, 'systemd hybrid, cpu,cpuacct co-mounted: one hierarchy');
  t.same(await detectCgroups({ mountinfo: PURE_V2, v2Controllers: controllersOf({ '/sys/fs/cgroup': ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'] }) }), {
    version: 'v2',
    hierarchies: ['/sys/fs/cgroup'],
    controllers: { memory: '/sys/fs/cgroup', cpu: '/sys/fs/cgroup' },
    summary: 'cgroup v2 at /sys/fs/cgroup (memory, cpu)',
  }, 'pure v2');
  t.same(
    await detectCgroups({ mountinfo: HYBRID, v2Controllers: controllersOf({ '/sys/fs/cgroup/unified': ['memory', 'cpu'] }) }),
    { version: 'v2', hierarchies: ['/sys/fs/cgroup/unified'], controllers: { memory: '/sys/fs/cgroup/unified', cpu: '/sys/fs/cgroup/unified' }, summary: 'cgroup v2 at /sys/fs/cgroup/unified (memory, cpu)' },
    'v2 is preferred when it has memory and cpu',
  );
  t.same(
    (await detectCgroups({ mountinfo: ESCAPED_V2, v2Controllers: controllersOf({ '/mnt/my cgroups': ['pids'] }) })).hierarchies,
    ['/mnt/my cgroups'],
    'v2 without memory and cpu still lists processes; mountinfo escapes are decoded',
  );
  const none = await detectCgroups({ mountinfo: '22 1 0:21 / /sys rw - sysfs sysfs rw\n' }).catch((e: unknown) => e);
  t.ok(none instanceof JetpackError && none.kind === 'environment', 'nothing mounted: JetpackError(environment)');
  t.match((none as Error).message, /^cgroups: no cgroup file system is mounted/);
});

// ---------------------------------------------------------------------------------------------
// Real cgroups on this host

async function readLine(file: string): Promise<string> {
  return (await readFile(file, 'utf8')).trim();
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** A process that waits for a line on stdin, then execs `argv` (so it can be put in a cgroup first). */
function gated(argv: string[]): { child: ChildProcess; release: () => void } {
  const child = spawn('sh', ['-c', 'read _ && exec "$@"', 'sh', ...argv], { stdio: ['pipe', 'ignore', 'pipe'] });
  return { child, release: () => child.stdin?.end('go\n') };
}

/** Kill what a test left and remove its pod cgroup. */
function cleanup(t: Test, uuid: string, children: ChildProcess[]): void {
  t.teardown(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await removeStalePodCgroup(uuid, { kill: true });
  });
}

/** CPU time of a cgroup, µs, read straight from the kernel's files. */
async function cpuUsec(system: CgroupSystem, rel: string): Promise<number> {
  if (system.version === 'v2') {
    const stat = await readFile(path.join(system.hierarchies[0] as string, rel, 'cpu.stat'), 'utf8');
    return Number(/^usage_usec (\d+)$/m.exec(stat)?.[1]);
  }
  const acct = system.controllers.cpuacct ?? (system.controllers.cpu as string);
  return Number(await readLine(path.join(acct, rel, 'cpuacct.usage'))) / 1000;
}

const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));
/** argv that allocates and touches 200 MiB. */
const HOG = PYTHON !== undefined ? [PYTHON, '-c', 'b = bytearray(200 * 1024 * 1024)'] : [process.execPath, '-e', 'Buffer.alloc(200 * 1024 * 1024, 1)'];

t.test('real cgroups', { skip: isRoot ? false : 'needs root' }, async (t) => {
  const system = await detectCgroups();
  t.comment(`this host: ${system.summary}`);
  const v2 = system.version === 'v2';

  t.test('a pod cgroup with limits: files, processes, removal', async (t) => {
    const uuid = randomUUID();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanup(t, uuid, [sleeper]);
    const cg = await createPodCgroup(uuid, { memoryBytes: 64 * MiB, cpuMillicores: 500 }, { web: { memoryBytes: 32 * MiB, cpuMillicores: 250 }, db: {} });
    const rel = path.join(CGROUP_PARENT, uuid);
    t.same(cg.dirs, system.hierarchies.map((h) => path.join(h, rel)), 'dirs: jetpack/<uuid> in every hierarchy');
    t.same(cg.podPaths, cg.dirs.map((d) => path.join(d, POD_LEAF)), 'podPaths: the _pod leaf');
    t.same(cg.appPaths('web'), cg.dirs.map((d) => path.join(d, 'web')), 'appPaths: jetpack/<uuid>/<app>');
    t.same([...cg.appNames], ['web', 'db']);
    t.throws(() => cg.appPaths('nope'), /app "nope" has no cgroup/);
    for (const d of [...cg.podPaths, ...cg.appPaths('web'), ...cg.appPaths('db')]) t.ok(existsSync(path.join(d, 'cgroup.procs')), `${d} exists`);

    const mem = system.controllers.memory as string;
    const cpu = system.controllers.cpu as string;
    if (v2) {
      t.equal(await readLine(path.join(mem, rel, 'memory.max')), String(64 * MiB), 'pod memory.max');
      t.equal(await readLine(path.join(cpu, rel, 'cpu.max')), '50000 100000', 'pod cpu.max');
      t.equal(await readLine(path.join(mem, rel, 'web/memory.max')), String(32 * MiB), 'app memory.max');
      t.equal(await readLine(path.join(cpu, rel, 'web/cpu.max')), '25000 100000', 'app cpu.max');
      t.equal(await readLine(path.join(mem, rel, 'db/memory.max')), 'max', 'no app limit: max');
    } else {
      t.equal(await readLine(path.join(mem, rel, 'memory.limit_in_bytes')), String(64 * MiB), 'pod memory.limit_in_bytes');
      t.equal(await readLine(path.join(cpu, rel, 'cpu.cfs_period_us')), '100000', 'pod cpu.cfs_period_us');
      t.equal(await readLine(path.join(cpu, rel, 'cpu.cfs_quota_us')), '50000', 'pod cpu.cfs_quota_us');
      t.equal(await readLine(path.join(mem, rel, 'web/memory.limit_in_bytes')), String(32 * MiB), 'app memory.limit_in_bytes');
      t.equal(await readLine(path.join(cpu, rel, 'web/cpu.cfs_quota_us')), '25000', 'app cpu.cfs_quota_us');
      t.equal(await readLine(path.join(cpu, rel, 'db/cpu.cfs_quota_us')), '-1', 'no app limit: -1');
    }

    t.same(await cg.pids(), [], 'empty at first');
    await cg.addProcess('web', sleeper.pid as number);
    t.same(await cg.pids(), [sleeper.pid], 'pids() lists the process');
    for (const d of cg.appPaths('web')) t.equal(await readLine(path.join(d, 'cgroup.procs')), String(sleeper.pid), `in ${d}`);
    const own = await readFile(`/proc/${sleeper.pid}/cgroup`, 'utf8');
    t.match(own, new RegExp(`/${CGROUP_PARENT}/${uuid}/web$`, 'm'), '/proc/PID/cgroup agrees');
    const pod = spawn('sleep', ['30'], { stdio: 'ignore' });
    t.teardown(() => void pod.kill('SIGKILL'));
    await cg.addProcess(null, pod.pid as number);
    t.same(await cg.pids(), [sleeper.pid as number, pod.pid as number].sort((a, b) => a - b), 'the pod\'s own process is listed too');
    const usage = await cg.usage('web');
    t.type(usage.cpuUsec, 'number', 'usage: cpuUsec');
    t.type(usage.memoryBytes, 'number', 'usage: memoryBytes');
    t.equal(usage.oomKills, 0, 'usage: no OOM kill');

    const opened = await openPodCgroup(uuid);
    t.same(opened?.appNames, ['db', 'web'], 'openPodCgroup finds it and its apps');
    t.same(await opened?.pids(), await cg.pids());

    const busy = await cg.remove({ attempts: 2, delayMs: 10 }).catch((e: unknown) => e);
    t.ok(busy instanceof JetpackError && busy.kind === 'conflict', 'remove() refuses while processes live');
    t.match((busy as Error).message, new RegExp(`still has processes ${Math.min(sleeper.pid as number, pod.pid as number)} `));

    sleeper.kill('SIGKILL');
    pod.kill('SIGKILL');
    await exited(sleeper);
    await exited(pod);
    await cg.remove();
    for (const d of cg.dirs) t.notOk(existsSync(d), `${d} is gone`);
    t.equal(await openPodCgroup(uuid), undefined, 'openPodCgroup: gone');
    await cg.remove();
    t.pass('remove() twice is fine');
  });

  t.test('no limits: a pod cgroup all the same', async (t) => {
    const uuid = randomUUID();
    cleanup(t, uuid, []);
    const cg = await createPodCgroup(uuid, {}, { only: {} });
    for (const d of cg.dirs) t.ok(existsSync(d), `${d} exists`);
    if (!v2) t.equal(await readLine(path.join(system.controllers.cpu as string, CGROUP_PARENT, uuid, 'cpu.cfs_quota_us')), '-1', 'no quota');
    const { child, release } = gated(['sh', '-c', 'sleep 30 & sleep 30 & wait']);
    cleanup(t, uuid, [child]);
    await cg.addProcess('only', child.pid as number);
    release();
    // The shell forks its two sleeps, born in the same cgroup; wait for them (a loaded machine is slow).
    for (const end = Date.now() + 10_000; (await cg.pids()).length < 3 && Date.now() < end; ) await sleep(50);
    t.equal((await cg.pids()).length, 3, 'a process and the children it forks afterwards');
    t.equal(await removeStalePodCgroup(uuid, { kill: true }), true, 'removeStalePodCgroup with kill');
    t.same((await exited(child)).signal, 'SIGKILL', 'the processes were killed');
    t.equal(await removeStalePodCgroup(uuid), false, 'nothing left');
  });

  t.test('memory limit: a process over it is killed by the OOM killer', async (t) => {
    const uuid = randomUUID();
    const hog = gated(HOG);
    const control = gated(HOG);
    cleanup(t, uuid, [hog.child, control.child]);
    const cg = await createPodCgroup(uuid, {}, { hog: { memoryBytes: 32 * MiB }, roomy: { memoryBytes: 1024 * MiB } });
    await cg.addProcess('hog', hog.child.pid as number);
    await cg.addProcess('roomy', control.child.pid as number);
    t.comment(`allocating 200 MiB: ${HOG.join(' ')}`);
    hog.release();
    control.release();
    const [h, c] = await Promise.all([exited(hog.child), exited(control.child)]);
    t.same(h, { code: null, signal: 'SIGKILL' }, 'under 32 MiB: SIGKILL');
    t.same(c, { code: 0, signal: null }, 'under 1 GiB: the same program succeeds');
    t.ok(((await cg.usage('hog')).oomKills ?? 0) >= 1, 'the OOM kill is counted against the app cgroup');
    t.equal((await cg.usage('roomy')).oomKills, 0, 'none for the roomy app');
    await cg.remove();
  });

  t.test('memory limit of the pod bounds its apps', async (t) => {
    const uuid = randomUUID();
    const hog = gated(HOG);
    cleanup(t, uuid, [hog.child]);
    const cg = await createPodCgroup(uuid, { memoryBytes: 32 * MiB }, { free: {} });
    await cg.addProcess('free', hog.child.pid as number);
    hog.release();
    t.same(await exited(hog.child), { code: null, signal: 'SIGKILL' }, 'an app without a limit is killed at the pod limit');
    await cg.remove();
  });

  t.test('cpu limit: a busy loop under 0.2 CPU gets much less than a CPU', async (t) => {
    const uuid = randomUUID();
    const spin = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    cleanup(t, uuid, [spin]);
    const cg = await createPodCgroup(uuid, {}, { spin: { cpuMillicores: 200 } });
    const rel = path.join(CGROUP_PARENT, uuid, 'spin');
    await cg.addProcess('spin', spin.pid as number);
    const u0 = await cpuUsec(system, rel);
    const t0 = process.hrtime.bigint();
    await sleep(2000);
    const u1 = await cpuUsec(system, rel);
    const wallUsec = Number(process.hrtime.bigint() - t0) / 1000;
    const share = (u1 - u0) / wallUsec;
    t.comment(`busy loop under 200m: ${(share * 100).toFixed(1)}% of one CPU over ${(wallUsec / 1e6).toFixed(2)} s`);
    t.ok(u1 - u0 > 0, 'it ran');
    t.ok(share < 0.5, `under 50% of wall time (${(share * 100).toFixed(1)}%)`);
    const stat = await readFile(path.join(system.controllers.cpu as string, rel, 'cpu.stat'), 'utf8');
    t.ok(Number(/^nr_throttled (\d+)$/m.exec(stat)?.[1]) > 0, 'cpu.stat: throttled');
    t.ok(((await cg.usage('spin')).cpuUsec ?? 0) >= Math.floor(u1), 'usage() reads the same counter');
    spin.kill('SIGKILL');
    await exited(spin);
    await cg.remove();
  });

  t.test('a leftover cgroup of the same pod', async (t) => {
    const uuid = randomUUID();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanup(t, uuid, [sleeper]);
    const first = await createPodCgroup(uuid, { memoryBytes: 64 * MiB }, { a: {} });
    await first.addProcess('a', sleeper.pid as number);
    const again = await createPodCgroup(uuid, {}, { a: {} }).catch((e: unknown) => e);
    t.ok(again instanceof JetpackError && again.kind === 'conflict', 'with processes: createPodCgroup refuses (conflict)');
    const stale = await removeStalePodCgroup(uuid).catch((e: unknown) => e);
    t.ok(stale instanceof JetpackError && stale.kind === 'conflict', 'removeStalePodCgroup without kill refuses too');
    sleeper.kill('SIGKILL');
    await exited(sleeper);
    const second = await createPodCgroup(uuid, {}, { b: {} });
    t.same([...second.appNames], ['b'], 'without processes: removed and made anew');
    t.notOk(existsSync(path.join(second.dirs[0] as string, 'a')), 'the old app cgroup is gone');
    if (!v2) t.equal(await readLine(path.join(system.controllers.memory as string, CGROUP_PARENT, uuid, 'memory.limit_in_bytes')), '9223372036854771712', 'the old limit is gone');
    await second.remove();
  });

  t.test('cgroup v2 code path on this host\'s cgroup2 mount (no controllers: listing only)', async (t) => {
    const unified = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => / - cgroup2 /.test(l))?.split(' ')[4];
    if (v2 || unified === undefined) {
      t.plan(0, v2 ? 'skip: covered above (this host is v2)' : 'skip: no cgroup2 mount');
      return;
    }
    const listing: CgroupSystem = { version: 'v2', hierarchies: [unified], controllers: {}, summary: `cgroup v2 at ${unified} (no memory, cpu)` };
    const uuid = randomUUID();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    t.teardown(async () => {
      sleeper.kill('SIGKILL');
      await removeStalePodCgroup(uuid, { kill: true, system: listing });
    });
    const refused = await createPodCgroup(uuid, { memoryBytes: MiB }, {}, { system: listing }).catch((e: unknown) => e);
    t.ok(refused instanceof JetpackError && refused.kind === 'environment', 'a limit without its controller: environment');
    t.match((refused as Error).message, /^cgroups: a resource\/memory limit needs the memory controller, which is not available/);
    const cg = await createPodCgroup(uuid, {}, { web: {} }, { system: listing });
    await cg.addProcess('web', sleeper.pid as number);
    t.same(await cg.pids(), [sleeper.pid]);
    t.match(await readFile(`/proc/${sleeper.pid}/cgroup`, 'utf8'), new RegExp(`^0::/${CGROUP_PARENT}/${uuid}/web$`, 'm'), 'in the v2 cgroup');
    t.type((await cg.usage('web')).cpuUsec, 'number', 'cpu.stat usage_usec is read');
    sleeper.kill('SIGKILL');
    await exited(sleeper);
    await cg.remove();
    t.notOk(existsSync(cg.dirs[0] as string), 'removed');
  });

  t.test('errors', async (t) => {
    const bad = async (p: Promise<unknown>, kind: string, message: RegExp, what: string): Promise<void> => {
      const err = await p.then(() => undefined, (e: unknown) => e);
      t.ok(err instanceof JetpackError && err.kind === kind, `${what}: JetpackError(${kind})`);
      t.match((err as Error | undefined)?.message, message, what);
      if (err instanceof Error) t.notMatch(err.message, /\n/, `${what}: one line`);
    };
    await bad(createPodCgroup('../etc', {}, {}), 'invalid', /not a pod UUID/, 'a UUID that is a path');
    await bad(createPodCgroup(randomUUID(), {}, { Web_1: {} }), 'invalid', /app "Web_1": not an AC Name/, 'an app name that is no AC Name');
    await bad(createPodCgroup(randomUUID(), { memoryBytes: 0 }, {}), 'invalid', /memory limit 0 is not a positive/, 'a zero limit');
    const missing: CgroupSystem = { version: 'v1', hierarchies: ['/nonexistent/cgroup/memory'], controllers: { memory: '/nonexistent/cgroup/memory' }, summary: 'test' };
    await bad(createPodCgroup(randomUUID(), {}, {}, { system: missing }), 'environment', /^cgroups: cannot create \/nonexistent\/cgroup\/memory\/jetpack: ENOENT/, 'a hierarchy that is not mounted');
    t.equal(await openPodCgroup(randomUUID(), { system: missing }), undefined, 'openPodCgroup on nothing');
  });
});
