/**
 * Acting on a running pod from the host, for real: pod kill (SIGTERM forwarded to the apps, the
 * `dying` state, the SIGKILL escalation, the timeout), ps / top / killall restricted to the pod's
 * processes (a host process with the same name is left alone), a console on a real pty, and
 * destroy -f of a running pod leaving no mount, network namespace, directory or dataset; on both
 * store drivers where the driver matters.
 */
import t, { type Test } from 'tap';
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../shared/src/config.js';
import { checkPsOptions, checkTopOptions, killallMatches, parseKillallOptions, topArgv } from '../shared/src/podctl.js';
import { Store } from '../shared/src/store/store.js';
import { actoolBuild, BIN, busyboxLayout, jp, makeStore, tempDir, type TestStore } from './lib/fixtures.js';

const drivers = (['dir', 'zfs'] as const).filter((d) => d === 'dir' || process.env['JETPACK_TEST_ZPOOL']);

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000, every = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

interface Shown {
  state: string;
  status?: number;
  run: { pid?: number; init?: number; dying?: string; exited?: string; status?: number; apps?: Record<string, number> };
}

async function show(store: TestStore, pod: string): Promise<Shown> {
  return JSON.parse((await jp(store, 'pod-show', [pod])).stdout) as Shown;
}

/** Import an image whose app is `exec` (as `user`), create a pod from it, return the pod's UUID. */
async function podOf(store: TestStore, work: string, name: string, exec: string[], user = '0'): Promise<string> {
  const layout = busyboxLayout(join(work, name), { name: `example.com/${name}`, app: { exec, user, group: user === '0' ? '0' : 'users' } });
  const imported = await jp(store, 'aci-import', [await actoolBuild(layout, join(work, `${name}.aci`))]);
  if (imported.exitCode !== 0) throw new Error(imported.stderr);
  const created = await jp(store, 'pod-create', [`example.com/${name}`]);
  if (created.exitCode !== 0) throw new Error(created.stderr);
  return (JSON.parse(created.stdout) as { uuid: string }).uuid;
}

/**
 * Start jail-run POD in the background and wait until the pod runs with its init recorded. The
 * run is wrapped: an async function returning the (thenable) execa promise would wait for it.
 */
async function start(store: TestStore, pod: string): Promise<{ run: ResultPromise<{ reject: false; stdin: 'ignore' }> }> {
  const run = execa(join(BIN, 'jail-run'), [`--config=${store.config}`, pod], { reject: false, stdin: 'ignore' });
  await until(`pod ${pod} to run`, async () => {
    const p = await show(store, pod);
    return p.state === 'running' && p.run.init !== undefined ? true : undefined;
  });
  return { run };
}

/** A `sleep` on the host, outside every pod, killed by the test's teardown. */
function hostSleep(t: Test): number {
  const p = execa('sleep', ['3600'], { reject: false, stdin: 'ignore' });
  t.teardown(() => {
    p.kill('SIGKILL');
  });
  return p.pid as number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const nsOf = (pid: number): Promise<string> => readlink(`/proc/${pid}/ns/pid`).catch(() => '');

t.test('option checks (pure)', async (t) => {
  for (const ok of [['-o', 'pid,comm'], ['-opid,comm'], ['-f'], ['-lf'], ['u'], ['-o', 'pid', '--no-headers'], ['--format=pid'], ['--sort', '-pid', 'e'], ['-F', 'ww']]) {
    t.doesNotThrow(() => checkPsOptions(ok), `ps ${ok.join(' ')} passes`);
  }
  for (const bad of [['-e'], ['-ef'], ['aux'], ['x'], ['-A'], ['-p', '1'], ['-o', 'pid', '-u', 'root'], ['--pid=1'], ['--ppid', '1'], ['1234'], ['-N'], ['T'], ['U', 'root'], ['-C', 'sleep']]) {
    t.throws(() => checkPsOptions(bad), { kind: 'usage', message: /selects processes/ }, `ps ${bad.join(' ')} is refused`);
  }
  for (const ok of [['-b', '-n', '1'], ['-bn1'], ['-d', '0.5'], ['-H'], ['-o', '%CPU'], ['-w200']]) t.doesNotThrow(() => checkTopOptions(ok), `top ${ok.join(' ')} passes`);
  for (const bad of [['-p', '1'], ['-bp1'], ['-u', 'root'], ['-U', '0'], ['--pid=1'], ['--filter-any-user', 'x']]) {
    t.throws(() => checkTopOptions(bad), { kind: 'usage' }, `top ${bad.join(' ')} is refused`);
  }
  t.same(topArgv(Array.from({ length: 25 }, (_, i) => i + 100), ['-b']).slice(0, 3), ['top', '-p', Array.from({ length: 20 }, (_, i) => i + 100).join(',')], 'top gets at most 20 pids');

  t.match(parseKillallOptions(['-TERM', 'sleep']), { signal: 15, names: ['sleep'] });
  t.match(parseKillallOptions(['-9', 'a', 'b']), { signal: 9, names: ['a', 'b'] });
  t.match(parseKillallOptions(['-s', 'HUP', '-qv', 'x']), { signal: 1, quiet: true, verbose: true, names: ['x'] });
  t.match(parseKillallOptions(['--signal=SIGUSR1', '-u', 'user', '-w', '--', '-odd']), { signal: 10, user: 'user', wait: true, names: ['-odd'] });
  t.match(parseKillallOptions(['-l']), { list: true });
  t.throws(() => parseKillallOptions(['-n', '1', 'sleep']), { kind: 'usage', message: /not available/ });
  t.throws(() => parseKillallOptions(['-BOGUS', 'x']), { kind: 'usage' });
  t.throws(() => parseKillallOptions(['-TERM']), { kind: 'usage', message: /expected a process NAME/ });
  t.ok(killallMatches({ comm: 'sleep', argv: ['sleep', '1'] }, 'sleep', { exact: false, ignoreCase: false, regexp: false }));
  t.notOk(killallMatches({ comm: 'sleeper', argv: ['sleeper'] }, 'sleep', { exact: false, ignoreCase: false, regexp: false }), 'names match whole');
  t.ok(killallMatches({ comm: 'a-very-long-pro', argv: ['/bin/a-very-long-program'] }, 'a-very-long-program', { exact: true, ignoreCase: false, regexp: false }), 'long names through argv[0]');
  t.ok(killallMatches({ comm: 'Sleep', argv: [] }, 'sleep', { exact: false, ignoreCase: true, regexp: false }));
  t.ok(killallMatches({ comm: 'sleep', argv: [] }, '^sl', { exact: false, ignoreCase: false, regexp: true }));
});

t.test('pod kill', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));

  t.test('SIGTERM reaches the apps; the pod exits with their status', async (t) => {
    const pod = await podOf(store, work, 'trapper', ['/bin/sh', '-c', "trap 'echo got TERM; exit 7' TERM; sleep 3600 & wait"]);
    t.equal((await jp(store, 'pod-kill', [pod])).exitCode, 5, 'a pod that never ran: nothing to kill (exit 5)');
    const { run } = await start(store, pod);
    t.teardown(() => {
      run.kill('SIGKILL');
    });
    const killed = await jp(store, 'pod-kill', [pod]);
    t.equal(killed.exitCode, 0, killed.stderr);
    const after = JSON.parse(killed.stdout) as Shown;
    t.equal(after.state, 'exited', 'pod-kill prints the pod once it has exited');
    t.equal(after.status, 7, 'with the app\'s status');
    t.equal(after.run.apps?.['trapper'], 7);
    t.ok(after.run.dying !== undefined && after.run.exited !== undefined && after.run.dying <= after.run.exited, 'dying is kept as history, before exited');
    t.equal(after.run.pid, undefined, 'no pid left to signal');
    const r = await run;
    t.equal(r.stdout, 'got TERM', 'the app got SIGTERM');
    t.equal(r.exitCode, 7, 'jail-run exits with it');
    const again = await jp(store, 'pod-kill', [pod]);
    t.equal(again.exitCode, 5, 'killing an exited pod is a conflict');
    t.match(again.stderr, /^pod-kill: pod \S+: is not running \(exited\); nothing to kill$/);
  });

  t.test('an app that ignores SIGTERM: dying, then SIGKILL after the timeout', async (t) => {
    const pod = await podOf(store, work, 'stubborn', ['/bin/sh', '-c', "trap '' TERM; while :; do sleep 1; done"]);
    const { run } = await start(store, pod);
    t.teardown(() => {
      run.kill('SIGKILL');
    });
    const local = new Store(loadConfig(store.config));
    const began = Date.now();
    const kill = jp(store, 'jetpack', ['pod', pod, 'kill', '-timeout=1']);
    const seen = await until('the pod to be dying', async () => {
      const p = await local.pod(pod);
      return p?.state === 'dying' ? p : undefined;
    }, 10_000, 20);
    t.ok(seen.run.dying, 'run.json records when the stop began');
    const r = await kill;
    const took = (Date.now() - began) / 1000;
    t.equal(r.exitCode, 0, r.stderr);
    t.equal(r.stdout, '', 'jetpack pod POD kill prints nothing');
    t.ok(took >= 1 && took < 1 + 6, `the kill ends within the timeout plus slack (${took.toFixed(1)} s)`);
    t.equal((await run).exitCode, 128 + 9, 'the init was killed by SIGKILL');
    const after = await show(store, pod);
    t.same([after.state, after.status], ['exited', 137]);
    t.ok(after.run.dying, 'dying stays recorded');
    t.equal((await execa('pgrep', ['-f', 'while :; do sleep 1'], { reject: false })).stdout, '', 'nothing of the pod is left running');
  });
});

for (const driver of drivers) {
  t.test(`the processes of a running pod (${driver} store)`, async (t) => {
    const store = await makeStore(driver);
    t.teardown(store.cleanup);
    const work = tempDir();
    t.teardown(() => execa('rm', ['-rf', work]));
    const pod = await podOf(store, work, 'sleeper', ['/bin/sh', '-c', 'sleep 3600; echo woke; exit 9'], 'user');
    const outside = hostSleep(t);
    const { run } = await start(store, pod);
    t.teardown(() => {
      run.kill('SIGKILL');
    });
    const init = (await show(store, pod)).run.init as number;
    const podNs = await nsOf(init);
    t.not(podNs, await nsOf(process.pid), 'the pod has its own PID namespace');
    const inPod = await until('the pod\'s sleep', async () => {
      const procs = JSON.parse((await jp(store, 'pod-ps', [pod])).stdout || '[]') as Array<{ hostPid: number; command: string }>;
      return procs.find((p) => p.command === 'sleep 3600')?.hostPid;
    });

    t.test('ps OPTIONS lists only the pod\'s processes', async (t) => {
      const r = await jp(store, 'pod-ps', [pod, '-o', 'pid=,comm=']);
      t.equal(r.exitCode, 0, r.stderr);
      const rows = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
      const pids = rows.map((row) => Number(row[0]));
      t.ok(pids.includes(init) && pids.includes(inPod), 'the init and the pod\'s sleep are listed');
      t.notOk(pids.includes(outside), 'the host\'s sleep is not');
      t.same(rows.filter((row) => row[1] === 'sleep').map((row) => Number(row[0])), [inPod], 'one sleep: the pod\'s');
      for (const pid of pids) t.equal(await nsOf(pid), podNs, `pid ${pid} is in the pod's PID namespace`);
      const wrapped = await jp(store, 'jetpack', ['pod', pod, 'ps', '-o', 'pid=']);
      t.same(wrapped.stdout.trim().split(/\s+/).map(Number).sort(), [...pids].sort(), 'jetpack pod POD ps OPTIONS is the same');
      const all = await jp(store, 'pod-ps', [pod, 'aux']);
      t.equal(all.exitCode, 2, 'options that select processes are refused');
      t.match(all.stderr, /ps option "aux" \(a\) selects processes/);
      t.equal((await jp(store, 'pod-ps', [pod, '-e', '-o', 'pid'])).exitCode, 2);
      const json = JSON.parse((await jp(store, 'pod-ps', [pod])).stdout) as Array<{ pid: number; user: string; command: string }>;
      t.same(json.slice(0, 2).map((p) => [p.pid, p.command]), [[1, 'jetpack-init'], [2, 'jetpack-app']], 'without OPTIONS: the JSON list, pids as in the pod');
      t.ok(json.some((p) => p.command === 'sleep 3600' && p.user === 'user'), 'user names from the image');
    });

    t.test('top watches only the pod\'s processes', async (t) => {
      const r = await jp(store, 'pod-top', [pod, '-b', '-n', '1']);
      t.equal(r.exitCode, 0, r.stderr);
      const lines = r.stdout.split('\n');
      const header = lines.findIndex((l) => /^\s*PID\s+USER/.test(l));
      t.ok(header > 0, 'top printed its process table');
      const pids = lines.slice(header + 1).filter((l) => l.trim() !== '').map((l) => Number(l.trim().split(/\s+/)[0]));
      t.ok(pids.includes(inPod) && pids.includes(init), 'the pod\'s processes are there');
      t.notOk(pids.includes(outside), 'the host\'s sleep is not');
      for (const pid of pids) t.equal(await nsOf(pid), podNs, `pid ${pid} is in the pod`);
      t.equal((await jp(store, 'pod-top', [pod, '-p', '1'])).exitCode, 2, 'top -p is refused');
    });

    t.test('console: a login shell on a pty inside the pod', async (t) => {
      const asRoot = await execa(join(BIN, 'pod-console'), [`--config=${store.config}`, pod], { reject: false, input: 'tty; id -un; echo $HOME; exit 3\n', timeout: 30_000 });
      t.equal(asRoot.exitCode, 3, `the shell's exit status (${asRoot.stderr})`);
      t.match(asRoot.stdout, /^\/dev\/pts\/\d+\r?$/m, 'on a pseudo-terminal');
      t.match(asRoot.stdout, /^root\r?$/m, 'as root by default');
      t.match(asRoot.stdout, /^\/root\r?$/m, 'with root\'s home');
      const asUser = await execa(join(BIN, 'jetpack'), [`-config=${store.config}`, 'pod', pod, 'console', 'user'], {
        reject: false,
        input: 'id -un; id -G; echo "$HOME $PWD $SHELL"; ps -o pid,comm | grep -c " sleep$"; test -e /etc/host-only || echo inside; exit 4\n',
        timeout: 30_000,
      });
      t.equal(asUser.exitCode, 4, asUser.stderr);
      t.match(asUser.stdout, /^user\r?$/m, 'as the user named');
      t.match(asUser.stdout, /^1000 100\r?$/m, 'with its primary group and the groups that list it');
      t.match(asUser.stdout, /^\/home\/user \/home\/user \/bin\/sh\r?$/m, 'in its home, with its shell');
      t.match(asUser.stdout, /^1\r?$/m, 'the pod\'s sleep is visible, the host\'s is not');
      t.match(asUser.stdout, /^inside\r?$/m);
      const nobody = await jp(store, 'pod-console', [pod, 'nosuchuser']);
      t.equal(nobody.exitCode, 6, 'a user the app does not have');
      const noapp = await jp(store, 'pod-console', ['--app=nosuch', pod]);
      t.equal(noapp.exitCode, 3, 'an app the pod does not have');
    });

    t.test('killall signals only the pod\'s processes of that name', async (t) => {
      const none = await jp(store, 'pod-killall', [pod, 'nosuch']);
      t.equal(none.exitCode, 1, 'a name that matches nothing: exit 1, as killall');
      t.match(none.stderr, /^nosuch: no process found$/m);
      const r = await jp(store, 'jetpack', ['-json', 'pod', pod, 'killall', '-TERM', 'sleep']);
      t.equal(r.exitCode, 0, r.stderr);
      const killed = JSON.parse(r.stdout) as Array<{ pid: number; hostPid: number; name: string; signal: string }>;
      t.same(killed.map((k) => [k.hostPid, k.name, k.signal]), [[inPod, 'sleep', 'TERM']], 'the pod\'s sleep, and only it');
      const ended = await run;
      t.equal(ended.exitCode, 9, 'the app saw its sleep end');
      t.equal(ended.stdout, 'woke');
      t.ok(alive(outside), 'the host\'s sleep is still alive');
      t.equal((await jp(store, 'pod-killall', [pod, 'sleep'])).exitCode, 5, 'killall in a pod that is not running: exit 5');
      t.equal((await jp(store, 'pod-ps', [pod, '-f'])).exitCode, 5);
      t.equal((await jp(store, 'pod-top', [pod, '-b', '-n', '1'])).exitCode, 5);
      const console = await jp(store, 'pod-console', [pod]);
      t.equal(console.exitCode, 5);
      t.match(console.stderr, /^pod-console: pod \S+: is not running$/);
    });
  });

  t.test(`destroy -f of a running pod leaves nothing (${driver} store)`, async (t) => {
    const store = await makeStore(driver);
    t.teardown(store.cleanup);
    const work = tempDir();
    t.teardown(() => execa('rm', ['-rf', work]));
    const pod = await podOf(store, work, 'victim', ['/bin/sh', '-c', "trap 'exit 7' TERM; sleep 3600 & wait"]);
    const podDir = join(store.root, 'pods', pod);
    const { run } = await start(store, pod);
    t.teardown(() => {
      run.kill('SIGKILL');
    });
    const mounted = async (): Promise<string[]> => (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(podDir));
    t.ok((await mounted()).length > 0, 'the running pod has its rootfs mounted');
    const hasNetns = existsSync(`/run/netns/jetpack-${pod}`);
    const refused = await jp(store, 'pod-destroy', [pod]);
    t.equal(refused.exitCode, 5, 'without -f a running pod is refused');
    t.match(refused.stderr, /is running/);
    const r = await jp(store, 'jetpack', ['pod', pod, 'destroy', '-f']);
    t.equal(r.exitCode, 0, r.stderr);
    t.equal((await run).exitCode, 7, 'the pod was stopped with SIGTERM first');
    t.same(await mounted(), [], 'no mount left under the pod directory');
    t.notOk(existsSync(`/run/netns/jetpack-${pod}`), `no network namespace left${hasNetns ? '' : ' (the pod had none)'}`);
    t.notOk(existsSync(podDir), 'no pod directory');
    t.equal((await jp(store, 'pod-show', [pod])).exitCode, 3, 'no pod');
    if (store.dataset !== undefined) {
      const list = await execa('zfs', ['list', '-H', '-o', 'name', '-r', store.dataset], { reject: false });
      t.notMatch(list.stdout, pod, 'no dataset of the pod');
    }
  });
}
