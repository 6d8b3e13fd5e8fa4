/**
 * Concurrency (issue 5), through the real commands started side by side, on both store drivers:
 *  - N parallel imports of one archive give one image; parallel imports of different archives
 *    all land;
 *  - parallel pod creates and destroys on one image all succeed and leak nothing, and an image
 *    destroy among them is refused (exit 5) because pods use the image; two destroys of one pod:
 *    one succeeds, the other finds no pod (exit 3);
 *  - pods created in parallel never share an address (`ip-address` annotation);
 *  - pod-destroy racing jail-run on one pod, started at delays swept across the run, either is
 *    refused (exit 5) with the pod intact, or removes the pod entirely.
 * Locking under test: the store lock (proper-lockfile, store.ts withLock) around pod creation,
 * pod hiding, image destroy and jail-run's claim; image ID claims by symlink(2); owner markers.
 */
import t, { type Test } from 'tap';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { actoolBuild, busyboxLayout, makeStore, tempDir, type TestStore } from './lib/fixtures.js';
import { entries, type ImageJson, json, leftovers, lists, mountsUnder, type PodJson, processesMentioning, run, sleep, sweep, UUID_RE } from './lib/store-checks.js';

const RACES = Number(process.env['JETPACK_RACE_ROUNDS'] ?? 6);

interface Files {
  busybox: string;
  others: string[];
  marker: string;
}

async function archives(work: string, driver: string): Promise<Files> {
  const marker = `jp-race-${driver}-${process.pid}`;
  const layout = busyboxLayout(join(work, `busybox-${driver}`), {
    app: { exec: ['/bin/sh', '-c', `sleep 0.3; echo ${marker}`], user: '0', group: '0' },
  });
  const others = await Promise.all(
    [1, 2, 3, 4].map(async (n) => actoolBuild(busyboxLayout(join(work, `other${n}-${driver}`), { name: `example.com/other${n}` }), join(work, `other${n}-${driver}.aci`))),
  );
  return { busybox: await actoolBuild(layout, join(work, `busybox-${driver}.aci`)), others, marker };
}

/** Start all, wait for all. */
const together = <T>(jobs: Array<() => Promise<T>>): Promise<T[]> => Promise.all(jobs.map((j) => j()));

async function noLeftovers(t: Test, store: TestStore, what: string): Promise<void> {
  t.same((await leftovers(store)).leftovers, [], `${store.driver}: ${what}: nothing left over`);
}

async function concurrency(t: Test, driver: 'dir' | 'zfs', files: Files): Promise<void> {
  const store = await makeStore(driver);
  t.teardown(store.cleanup);

  // ---- imports ----
  const same = await together(Array.from({ length: 8 }, () => () => run(store, 'aci-import', [files.busybox])));
  t.same(same.map((r) => r.exitCode), Array(8).fill(0), `${driver}: 8 parallel imports of one archive all succeed ${same.map((r) => String(r.stderr)).join('')}`);
  const imported = same.map((r) => json<ImageJson & { existing: boolean }>(r, 'aci-import'));
  const image = imported[0] as ImageJson;
  t.same(new Set(imported.map((i) => i.uuid)).size, 1, `${driver}: they all name one image`);
  t.equal(imported.filter((i) => !i.existing).length, 1, `${driver}: exactly one of them made it`);
  const listed = (await lists(store, { images: true, pods: false })).images;
  t.same(listed.map((i) => i.uuid), [image.uuid], `${driver}: image-list shows one image`);
  t.same(entries(join(store.root, 'images')).sort(), [image.id, image.uuid].sort(), `${driver}: the store holds one image directory and its index link`);

  const different = await together(files.others.map((a) => () => run(store, 'aci-import', [a])));
  t.same(different.map((r) => r.exitCode), [0, 0, 0, 0], `${driver}: parallel imports of 4 different archives all succeed`);
  const names = (await lists(store, { images: true, pods: false })).images.map((i) => i.name).sort();
  t.same(names, ['example.com/busybox', 'example.com/other1', 'example.com/other2', 'example.com/other3', 'example.com/other4'], `${driver}: all of them land`);
  await noLeftovers(t, store, 'after the parallel imports');

  // ---- pod creates and destroys on one image, an image destroy among them ----
  const create = async (): Promise<string> => json<PodJson>(await run(store, 'pod-create', ['--net=host', image.uuid]), 'pod-create').uuid;
  const keeper = await create();
  const doomed = await together([create, create, create, create]);
  const jobs: Array<() => Promise<{ what: string; code: number | undefined; out: string }>> = [];
  const job = (what: string, cmd: string, args: string[], delay = 0) =>
    jobs.push(async () => {
      await sleep(delay);
      const r = await run(store, cmd, args);
      return { what, code: r.exitCode, out: `${String(r.stdout)}${String(r.stderr)}` };
    });
  for (let i = 0; i < 6; i++) job('create', 'pod-create', ['--net=host', image.uuid]);
  for (const p of doomed.slice(1)) job('destroy', 'pod-destroy', [p]);
  job('destroy twice', 'pod-destroy', [doomed[0] as string]);
  job('destroy twice', 'pod-destroy', [doomed[0] as string]);
  for (const d of [0, 250, 500, 750]) job('image-destroy', 'image-destroy', [image.uuid], d);
  const results = await together(jobs);
  const of = (what: string): Array<number | undefined> => results.filter((r) => r.what === what).map((r) => r.code);
  t.same(of('create'), Array(6).fill(0), `${driver}: 6 parallel pod creates all succeed ${results.filter((r) => r.what === 'create' && r.code !== 0).map((r) => r.out).join('')}`);
  t.same(of('destroy'), [0, 0, 0], `${driver}: parallel pod destroys all succeed`);
  t.same(of('destroy twice').sort(), [0, 3], `${driver}: of two destroys of one pod, one succeeds and the other finds no pod`);
  t.same(of('image-destroy'), [5, 5, 5, 5], `${driver}: an image destroy among them is refused: pods use the image`);
  const created = results.filter((r) => r.what === 'create' && r.code === 0).map((r) => (JSON.parse(r.out) as PodJson).uuid);
  const after = await lists(store);
  t.same(after.pods.map((p) => p.uuid).sort(), [keeper, ...created].sort(), `${driver}: pod-list shows the kept pod and the new ones, no destroyed one`);
  t.ok(after.images.some((i) => i.uuid === image.uuid) && existsSync(join(image.rootfs, 'bin/busybox')), `${driver}: the image is intact`);
  for (const p of after.pods) t.ok(existsSync(join(p.apps[0]?.rootfs ?? '/nonexistent', 'bin/busybox')), `${driver}: pod ${p.uuid} has its rootfs`);
  await noLeftovers(t, store, 'after the parallel creates and destroys');
  const all = await together(after.pods.map((p) => () => run(store, 'pod-destroy', [p.uuid])));
  t.same(all.map((r) => r.exitCode), after.pods.map(() => 0), `${driver}: then all pods are destroyed in parallel`);
  t.equal((await run(store, 'image-destroy', [image.uuid])).exitCode, 0, `${driver}: and the image can go`);
  await noLeftovers(t, store, 'after destroying everything');

  // ---- pod-destroy racing jail-run ----
  const racer = json<ImageJson>(await run(store, 'aci-import', [files.busybox]), 'import');
  const tally = { refused: 0, gone: 0 };
  for (const [k, delay] of sweep(1_500, RACES).entries()) {
    const pod = json<PodJson>(await run(store, 'pod-create', [racer.uuid]), 'pod-create').uuid;
    const [ran, destroyed] = await Promise.all([run(store, 'jail-run', [pod]), sleep(delay).then(() => run(store, 'pod-destroy', [pod]))]);
    const what = `${driver}: race ${k}: pod-destroy ${delay} ms after jail-run`;
    const shown = await run(store, 'pod-show', [pod]);
    if (destroyed.exitCode === 5) {
      tally.refused++;
      t.equal(shown.exitCode, 0, `${what}: refused (5), the pod is still there`);
      const p = json<PodJson>(shown, 'pod-show');
      t.equal(ran.exitCode, 0, `${what}: and the run completed ${String(ran.stderr)}`);
      t.same([p.state, p.status], ['exited', 0], `${what}: and is recorded`);
      t.ok(existsSync(join(p.apps[0]?.rootfs ?? '/nonexistent', 'bin/busybox')), `${what}: with its rootfs`);
      t.equal((await run(store, 'pod-destroy', [pod])).exitCode, 0, `${what}: and it can be destroyed after`);
    } else {
      tally.gone++;
      t.equal(destroyed.exitCode, 0, `${what}: refused (5) or done (0) ${String(destroyed.stderr)}`);
      t.equal(shown.exitCode, 3, `${what}: done, the pod is gone`);
      t.ok([0, 3].includes(ran.exitCode ?? -1), `${what}: jail-run either ran first (0) or found no pod (3): ${ran.exitCode} ${String(ran.stderr)}`);
    }
    t.notOk(existsSync(join(store.root, 'pods', pod)), `${what}: no pod directory is left`);
    t.same(mountsUnder(join(store.root, 'pods', pod)), [], `${what}: no mount is left`);
    t.same(processesMentioning([files.marker]), [], `${what}: no app is left running`);
    await noLeftovers(t, store, what);
  }
  t.comment(`${driver}: pod-destroy racing jail-run: ${tally.refused} refused, ${tally.gone} destroyed`);
}

t.test('concurrent commands on one store', { jobs: 2 }, async (t) => {
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));
  const drivers = (process.env['JETPACK_TEST_DRIVERS']?.split(',') ?? ['dir', 'zfs']) as Array<'dir' | 'zfs'>;
  const files = await Promise.all(drivers.map((d) => archives(work, d)));
  await Promise.all(drivers.map((d, i) => t.test(`${d} store`, (t) => concurrency(t, d, files[i] as Files))));
});

t.test('20 pods created in parallel get 20 addresses', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));
  const aci = await actoolBuild(busyboxLayout(join(work, 'layout')), join(work, 'busybox.aci'));
  const image = json<ImageJson>(await run(store, 'aci-import', [aci]), 'import');
  const created = await together(Array.from({ length: 20 }, () => () => run(store, 'pod-create', [image.uuid])));
  t.same(created.map((r) => r.exitCode), Array(20).fill(0), `all 20 creates succeed ${created.map((r) => String(r.stderr)).join('')}`);
  const uuids = created.map((r) => json<PodJson>(r, 'pod-create').uuid);
  t.equal(new Set(uuids).size, 20);
  const shown = await together(uuids.map((u) => () => run(store, 'pod-show', [u])));
  const addresses = shown.map((r) => json<PodJson>(r, 'pod-show').manifest.annotations?.find((a) => a.name === 'ip-address')?.value);
  t.ok(addresses.every((a) => a !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(a)), 'each has an ip-address annotation');
  t.equal(new Set(addresses).size, 20, `no two share one: ${addresses.join(' ')}`);
  t.ok(entries(join(store.root, 'pods')).every((e) => UUID_RE.test(e)), 'the pods directory holds pods only');
  t.same((await leftovers(store)).leftovers, [], 'nothing left over');
});
