/**
 * Running pods as a user sees it: the pod's exit status with several apps (the first failing
 * app's; the others are stopped), per-app statuses in pod show and pod list, a failing pre-start
 * handler, and the isolators enforced for real: capability sets, a memory limit (the app is
 * OOM-killed), an unsupported isolator refused unless marked optional; two stores on one host never
 * give two pods one address.
 */
import t from 'tap';
import { execa } from 'execa';
import { join } from 'node:path';
import { actoolBuild, busyboxLayout, jp, makeStore, tempDir, type TestStore } from './lib/fixtures.js';

async function importApp(store: TestStore, work: string, name: string, app: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
  const layout = busyboxLayout(join(work, name.replace(/\W/g, '_')), { name, app: { user: '0', group: '0', ...app }, extraManifest: extra });
  const r = await jp(store, 'aci-import', [await actoolBuild(layout, `${layout}.aci`)]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
}

async function create(store: TestStore, args: string[]): Promise<string> {
  const r = await jp(store, 'pod-create', args);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { uuid: string }).uuid;
}

t.test('pods run', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));

  await importApp(store, work, 'example.com/long', { exec: ['/bin/sh', '-c', 'trap "exit 0" TERM; sleep 60 & wait'] });
  await importApp(store, work, 'example.com/fails', { exec: ['/bin/sh', '-c', 'sleep 0.5; exit 3'] });
  await importApp(store, work, 'example.com/ok', { exec: ['/bin/true'] });

  t.test('the first failing app decides the pod status and stops the others', async (t) => {
    const pod = await create(store, ['example.com/long', 'example.com/fails', 'example.com/ok']);
    const started = Date.now();
    const run = await jp(store, 'jail-run', [pod]);
    t.equal(run.exitCode, 3, 'the pod exits with the failing app\'s status');
    t.ok(Date.now() - started < 8000, 'the long-running app was stopped, not waited for');
    const shown = JSON.parse((await jp(store, 'pod-show', [pod])).stdout) as { status: number; apps: Array<{ name: string; status: number }> };
    t.equal(shown.status, 3);
    t.same(shown.apps.map((a) => [a.name, a.status]), [['long', 0], ['fails', 3], ['ok', 0]], 'each app\'s own exit status');
    const list = await jp(store, 'jetpack', ['pod', 'list']);
    t.match(list.stdout, new RegExp(`${pod}\\s+exited\\(3: long=0,fails=3,ok=0\\)`), 'pod list shows the per-app statuses');
  });

  t.test('every app exits 0: the pod exits 0', async (t) => {
    const pod = await create(store, ['example.com/ok', 'example.com/ok', '-n', 'ok2']);
    t.equal((await jp(store, 'jail-run', [pod])).exitCode, 0);
  });

  t.test('a failing pre-start handler: the app never starts', async (t) => {
    await importApp(store, work, 'example.com/prestart', {
      exec: ['/bin/sh', '-c', 'echo app ran'],
      eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'echo pre-start ran; exit 4'] }],
    });
    const pod = await create(store, ['example.com/prestart']);
    const run = await jp(store, 'jail-run', [pod]);
    t.equal(run.exitCode, 4, 'the handler\'s status');
    t.equal(run.stdout, 'pre-start ran');
    t.match(run.stderr, /pre-start handler failed with status 4; the app does not start/);
  });

  t.test('capability isolators (os/linux/capabilities-*-set)', async (t) => {
    await importApp(store, work, 'example.com/retain', {
      exec: ['/bin/sh', '-c', 'grep CapBnd /proc/self/status'],
      isolators: [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } }],
    });
    await importApp(store, work, 'example.com/remove', {
      exec: ['/bin/sh', '-c', 'grep CapBnd /proc/self/status; chown 1000 /tmp && echo chown-worked || echo chown-refused'],
      isolators: [{ name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_CHOWN'] } }],
    });
    await importApp(store, work, 'example.com/default', { exec: ['/bin/sh', '-c', 'grep CapBnd /proc/self/status'] });
    const run = async (image: string): Promise<string> => (await jp(store, 'jail-run', [await create(store, [image])])).stdout;
    t.match(await run('example.com/retain'), /CapBnd:\s+0000000000000400$/, 'retain-set: exactly CAP_NET_BIND_SERVICE');
    const removed = await run('example.com/remove');
    t.match(removed, /CapBnd:\s+00000000a80425fa/, 'remove-set: the default 14 minus CAP_CHOWN');
    t.match(removed, /chown-refused/, 'and root cannot chown any more');
    t.match(await run('example.com/default'), /CapBnd:\s+00000000a80425fb/, 'no isolator: the appc default set');
  });

  t.test('resource/memory: an app over its limit is OOM-killed', async (t) => {
    await importApp(store, work, 'example.com/hog', {
      exec: ['/bin/sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived ${#x}'],
      isolators: [{ name: 'resource/memory', value: { limit: '32M' } }],
    });
    const run = await jp(store, 'jail-run', [await create(store, ['example.com/hog'])]);
    t.not(run.exitCode, 0, `the app did not survive: ${run.stdout}`);
    t.notMatch(run.stdout, /survived/);
    const again = await jp(store, 'jail-run', [await create(store, ['example.com/hog'])]);
    t.not(again.exitCode, 0, 'again (the cgroup of the first run was removed and made anew)');
    const left = await execa('sh', ['-c', 'ls /sys/fs/cgroup/memory/jetpack 2>/dev/null; ls /sys/fs/cgroup/jetpack 2>/dev/null'], { reject: false });
    t.notMatch(left.stdout, /[0-9a-f]{8}-/, 'no pod cgroup is left after the runs');
  });

  t.test('an unsupported isolator is refused unless marked optional', async (t) => {
    const seccomp = { name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } };
    await importApp(store, work, 'example.com/seccomp', { exec: ['/bin/true'], isolators: [seccomp] });
    const refused = await jp(store, 'jail-run', [await create(store, ['example.com/seccomp'])]);
    t.equal(refused.exitCode, 6);
    t.match(refused.stderr, /isolator os\/linux\/seccomp-retain-set is not supported/);
    t.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
    await importApp(store, work, 'example.com/seccomp-optional', { exec: ['/bin/true'], isolators: [seccomp] }, {
      annotations: [{ name: 'jetpack/optional-isolators', value: 'os/linux/seccomp-retain-set' }],
    });
    const ran = await jp(store, 'jail-run', [await create(store, ['example.com/seccomp-optional'])]);
    t.equal(ran.exitCode, 0, ran.stderr);
    t.match(ran.stderr, /seccomp-retain-set/, 'the user is told which isolator was ignored');
  });

  t.test('a pinned address must be free and on the pod network', async (t) => {
    const pod = await create(store, ['-a', 'ip-address=172.23.200.7', 'example.com/ok']);
    const shown = JSON.parse((await jp(store, 'pod-show', [pod])).stdout) as { manifest: { annotations: Array<{ name: string; value: string }> } };
    t.equal(shown.manifest.annotations.find((a) => a.name === 'ip-address')?.value, '172.23.200.7');
    const twice = await jp(store, 'pod-create', ['-a', 'ip-address=172.23.200.7', 'example.com/ok']);
    t.equal(twice.exitCode, 5, 'an address in use is refused');
    t.match(twice.stderr, /ip-address=172\.23\.200\.7: the address is already in use/);
    const off = await jp(store, 'pod-create', ['-a', 'ip-address=10.9.9.9', 'example.com/ok']);
    t.equal(off.exitCode, 6, 'an address off the network is refused');
  });

  t.test('two stores on one host never give two pods one address', async (t) => {
    const other = await makeStore('dir');
    t.teardown(other.cleanup);
    const work2 = tempDir();
    t.teardown(() => execa('rm', ['-rf', work2]));
    await importApp(other, work2, 'example.com/ok', { exec: ['/bin/true'] });
    const addressOf = async (s: TestStore, uuid: string): Promise<string | undefined> =>
      (JSON.parse((await jp(s, 'pod-show', [uuid])).stdout) as { manifest: { annotations: Array<{ name: string; value: string }> } }).manifest.annotations.find((a) => a.name === 'ip-address')?.value;
    // What a kill between open and write could leave, and a claim naming a directory that is no pod:
    // both stale, taken over.
    await execa('sh', ['-c', 'mkdir -p /run/jetpack/addresses && : > /run/jetpack/addresses/172.23.200.9 && echo "11111111-1111-4111-8111-111111111111 /tmp" > /run/jetpack/addresses/172.23.200.10']);
    const mine = await create(store, ['-a', 'ip-address=172.23.200.9', 'example.com/long']);
    const mine10 = await create(store, ['-a', 'ip-address=172.23.200.10', 'example.com/ok']);
    t.equal((await jp(other, 'pod-create', ['-a', 'ip-address=172.23.200.10', 'example.com/ok'])).exitCode, 5, `the taken-over claim holds (${mine10})`);
    const pinned = await jp(other, 'pod-create', ['-a', 'ip-address=172.23.200.9', 'example.com/ok']);
    t.equal(pinned.exitCode, 5, 'an address another store\'s pod holds is refused at create');
    t.match(pinned.stderr, new RegExp(`ip-address=172\\.23\\.200\\.9: the address is already in use by pod ${mine}`));
    const mineAll = await Promise.all((JSON.parse((await jp(store, 'pod-list', [])).stdout) as Array<{ uuid: string }>).map((p) => addressOf(store, p.uuid)));
    const theirs = await create(other, ['example.com/ok']);
    const theirAddress = await addressOf(other, theirs);
    t.ok(theirAddress !== undefined && !mineAll.includes(theirAddress), `a pod of the other store gets an address no pod of the first has (${String(theirAddress)})`);

    // Claims live in /run, emptied at boot: two pods made before then may share an address; the
    // first to run holds it and the other is refused until one of them is destroyed.
    await execa('rm', ['-f', '/run/jetpack/addresses/172.23.200.9']);
    const twin = await create(other, ['-a', 'ip-address=172.23.200.9', 'example.com/ok']);
    const refused = await jp(store, 'jail-run', [mine]);
    t.equal(refused.exitCode, 5, 'a pod whose address another store\'s pod holds does not run');
    t.match(refused.stderr, new RegExp(`address 172\\.23\\.200\\.9 is held by pod ${twin}`));
    t.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
    t.equal((await jp(other, 'pod-destroy', [twin])).exitCode, 0);
    const running = jp(store, 'jail-run', [mine]);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (JSON.parse((await jp(store, 'pod-show', [mine])).stdout) as { state?: string }).state !== 'running') await new Promise((r) => setTimeout(r, 100));
    t.equal((await jp(store, 'pod-kill', ['--timeout=2', mine])).exitCode, 0);
    t.equal((await running).exitCode, 0, 'once the other is destroyed, the pod runs (and stops on TERM with 0)');
  });
});
