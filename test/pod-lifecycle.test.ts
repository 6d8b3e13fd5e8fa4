/**
 * A running pod, seen from outside: its state while it runs, pod-ps, signals reaching the app
 * through jail-run, a run of a running pod refused, a SIGKILLed jail-run leaving nothing running,
 * and pod destroy refused while it runs.
 */
import t from 'tap';
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { actoolBuild, BIN, busyboxLayout, jp, makeStore, tempDir } from './lib/fixtures.js';

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Host PIDs of processes whose command line contains `marker`. */
async function hostProcesses(marker: string): Promise<string[]> {
  const r = await execa('pgrep', ['-f', marker], { reject: false });
  return r.stdout.split('\n').filter((l) => l !== '');
}

t.test('a running pod', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));
  const marker = `jp-sleeper-${process.pid}`;
  const layout = busyboxLayout(join(work, 'layout'), {
    app: { exec: ['/bin/sh', '-c', `trap 'echo got TERM; exit 7' TERM; sleep 30 & wait; echo ${marker} done`], user: 'user', group: 'users' },
  });
  const aci = await actoolBuild(layout, join(work, 'sleeper.aci'));
  t.equal((await jp(store, 'aci-import', [aci])).exitCode, 0);
  const pod = JSON.parse((await jp(store, 'pod-create', ['example.com/busybox'])).stdout) as { uuid: string };

  const run = execa(join(BIN, 'jail-run'), [`--config=${store.config}`, pod.uuid], { reject: false, stdin: 'ignore' });
  await until('the pod to run', async () => {
    const p = JSON.parse((await jp(store, 'pod-show', [pod.uuid])).stdout) as { state: string };
    return p.state === 'running' ? true : undefined;
  });
  const ps = await until('pod-ps to see the sleep', async () => {
    const r = await jp(store, 'pod-ps', [pod.uuid]);
    const procs = JSON.parse(r.stdout || '[]') as Array<{ pid: number; user: string; command: string }>;
    return procs.some((p) => p.command.startsWith('sleep')) ? procs : undefined;
  });
  t.same(ps.map((p) => p.pid).slice(0, 3), [1, 2, 3], 'pids as seen inside the pod: the init, the app\'s supervisor, the app');
  t.same(ps.slice(0, 2).map((p) => p.command), ['jetpack-init', 'jetpack-app']);
  t.ok(ps.filter((p) => p.pid > 2).every((p) => p.user === 'user'), 'user names come from the image');

  const again = await jp(store, 'jail-run', [pod.uuid]);
  t.equal(again.exitCode, 5, 'running a running pod is a conflict');
  t.match(again.stderr, /is already running/);
  const destroy = await jp(store, 'pod-destroy', [pod.uuid]);
  t.equal(destroy.exitCode, 5, 'a running pod cannot be destroyed');

  run.kill('SIGTERM');
  const r = await run;
  t.equal(r.stdout, 'got TERM', 'SIGTERM to jail-run reaches the app');
  t.equal(r.exitCode, 7, 'and the pod exits with the app status');
  const after = JSON.parse((await jp(store, 'pod-show', [pod.uuid])).stdout) as { state: string; status: number };
  t.same([after.state, after.status], ['exited', 7]);
  t.same(await hostProcesses(marker), [], 'nothing of the pod is left running');
  t.equal((await jp(store, 'pod-ps', [pod.uuid])).exitCode, 5, 'pod-ps of a pod that is not running is a conflict');

  // A jail-run killed outright takes its pod with it.
  const run2 = execa(join(BIN, 'jail-run'), [`--config=${store.config}`, pod.uuid], { reject: false, stdin: 'ignore' });
  await until('the pod to run again', async () => ((await hostProcesses(marker)).length > 0 ? true : undefined));
  run2.kill('SIGKILL');
  await run2;
  await until('the app to die with its launcher', async () => ((await hostProcesses(marker)).length === 0 ? true : undefined), 5_000);
  t.pass('SIGKILL to jail-run leaves no app running');
  const killed = JSON.parse((await jp(store, 'pod-show', [pod.uuid])).stdout) as { state: string };
  t.not(killed.state, 'running', 'and the pod is no longer shown running');
  t.equal((await jp(store, 'pod-destroy', [pod.uuid])).exitCode, 0, 'then it can be destroyed');
});

t.test('exit statuses', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));
  const layout = busyboxLayout(join(work, 'layout'));
  const aci = await actoolBuild(layout, join(work, 'exit.aci'));
  t.equal((await jp(store, 'aci-import', [aci])).exitCode, 0);
  const cases: Array<[string, string[], number]> = [
    ['a normal exit', ['/bin/sh', '-c', 'exit 42'], 42],
    ['killed by SIGKILL', ['/bin/sh', '-c', 'kill -9 $$'], 128 + 9],
    ['killed by SIGSEGV', ['/bin/sh', '-c', 'kill -SEGV $$'], 128 + 11],
    ['exec not found', ['/no/such/program'], 127],
    ['exec not executable', ['/etc/passwd'], 126],
  ];
  for (const [what, exec, status] of cases) {
    const pod = JSON.parse((await jp(store, 'pod-create', ['example.com/busybox'])).stdout) as { uuid: string };
    // Point the app at the case's exec through the pod's stored manifest (an app override, appc spec/pods.md).
    const path = join(store.root, 'pods', pod.uuid, 'manifest');
    const m = JSON.parse(await readFile(path, 'utf8')) as { apps: Array<{ app?: unknown }> };
    (m.apps[0] as { app?: unknown }).app = { exec, user: '0', group: '0' };
    await writeFile(path, JSON.stringify(m));
    const r = await jp(store, 'jail-run', [pod.uuid]);
    t.equal(r.exitCode, status, `${what}: jail-run exits ${status}`);
  }
});

t.test('apps run with the appc default capability bounding set', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));
  const layout = busyboxLayout(join(work, 'layout'), {
    app: {
      exec: ['/bin/sh', '-c', 'grep -E "^Cap(Bnd|Eff)" /proc/self/status; mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo mount refused; su user -c "grep CapEff /proc/self/status"'],
      user: 'root',
      group: 'root',
    },
  });
  t.equal((await jp(store, 'aci-import', [await actoolBuild(layout, join(work, 'caps.aci'))])).exitCode, 0);
  const pod = JSON.parse((await jp(store, 'pod-create', ['example.com/busybox'])).stdout) as { uuid: string };
  const r = await jp(store, 'jail-run', [pod.uuid]);
  const lines = r.stdout.split('\n');
  // CAP_CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
  t.equal(lines[0], 'CapEff:\t00000000a80425fb', 'root in the pod holds only the 14 default capabilities');
  t.equal(lines[1], 'CapBnd:\t00000000a80425fb', 'and cannot regain others (bounding set)');
  t.equal(lines[2], 'mount refused', 'so it cannot mount (no CAP_SYS_ADMIN)');
  t.equal(lines[3], 'CapEff:\t0000000000000000', 'a non-root user holds none');
});
