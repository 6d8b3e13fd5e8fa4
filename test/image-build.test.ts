/**
 * Building images on both drivers: a child built from a base that has no /etc (the original's
 * resolv.conf bug), its work directory and resolv.conf not left in it, a pod from the child runs,
 * failed builds leave nothing, the built image exports deterministically and validates with actool,
 * and on ZFS the child is a clone of the parent that protects it.
 */
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { busyboxLayout, jp, makeStore, tempDir } from './lib/fixtures.js';

const sha = (p: string): string => createHash('sha512').update(readFileSync(p)).digest('hex');

for (const driver of ['dir', 'zfs'] as const) {
  t.test(`image build on the ${driver} store`, async (t) => {
    const store = await makeStore(driver);
    t.teardown(store.cleanup);
    const work = tempDir();
    t.teardown(() => execa('rm', ['-rf', work]));

    // A base without /etc, imported from a rootfs tarball like FreeBSD's base.txz.
    const layout = busyboxLayout(join(work, 'layout'), { app: null });
    await execa('rm', ['-rf', join(layout, 'rootfs/etc')]);
    await execa('tar', ['-C', join(layout, 'rootfs'), '-czf', join(work, 'base.tgz'), '.']);
    writeFileSync(join(work, 'base.json'), JSON.stringify({ name: 'example.com/base', labels: [{ name: 'version', value: '1' }] }));
    const base = JSON.parse((await jp(store, 'aci-import', [join(work, 'base.tgz'), join(work, 'base.json')])).stdout) as { uuid: string; id: string };

    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'build.sh'), [
      'set -e',
      'echo building in $(pwd)',
      'test -s /etc/resolv.conf && echo resolv.conf is there',
      'mkdir -p /srv && echo "hello from the build" > /srv/greeting && cp extra.txt /srv/',
      'cat > manifest.json <<EOF',
      JSON.stringify({ name: 'example.com/child', labels: [{ name: 'version', value: '2' }], app: { exec: ['/bin/sh', '-c', 'cat /srv/greeting /srv/extra.txt; ls /etc 2>&1 | tr \"\\\\n\" \" \"'], user: '0', group: '0' } }),
      'EOF',
    ].join('\n'));
    writeFileSync(join(work, 'extra.txt'), 'copied with -cp\n');

    const build = await jp(store, 'jetpack', ['-json', 'image', base.uuid, 'build', `-dir=${src}`, `-cp=${join(work, 'extra.txt')}`, '/bin/sh', 'build.sh']);
    t.equal(build.exitCode, 0, `build succeeds (${build.stderr})`);
    t.match(build.stderr, /building in \/\.jetpack\.build\nresolv\.conf is there/, 'the build output shows as it runs, with a resolv.conf, in the work directory');
    const child = JSON.parse(build.stdout) as { uuid: string; id: string; name: string; origin: string; rootfs: string };
    t.equal(child.name, 'example.com/child');
    t.equal(child.origin, base.uuid, 'the child records its parent');
    t.notOk(existsSync(join(child.rootfs, '.jetpack.build')), 'the work directory is not part of the image');
    t.notOk(existsSync(join(child.rootfs, 'etc')), 'the borrowed /etc/resolv.conf (and the /etc made for it) are gone');
    t.same(readdirSync(join(store.root, 'pods')), [], 'no build pod is left');

    const pod = JSON.parse((await jp(store, 'pod-create', ['example.com/child:2'])).stdout) as { uuid: string };
    const run = await jp(store, 'jail-run', [pod.uuid]);
    t.equal(run.stdout, 'hello from the build\ncopied with -cp\nhosts resolv.conf ', 'a pod from the built image runs, with the /etc files of its pod (the image has no /etc)');
    t.equal((await jp(store, 'pod-destroy', [pod.uuid])).exitCode, 0);

    const a = join(work, 'a.aci');
    const b = join(work, 'b.aci');
    t.equal((await jp(store, 'aci-export', ['--compression=none', child.uuid, a])).exitCode, 0);
    t.equal((await jp(store, 'aci-export', ['--compression=none', child.uuid, b])).exitCode, 0);
    t.equal(sha(a), sha(b), 'exports of a built image are byte-identical');
    t.equal(`sha512-${sha(a)}`, child.id, 'and hash to its ID');
    const v = await execa('actool', ['validate', a], { reject: false });
    t.equal(v.exitCode, 0, `actool validates the built image (${v.stderr})`);

    if (driver === 'zfs') {
      const origin = await execa('zfs', ['get', '-H', '-o', 'value', 'origin', `${store.dataset}/images/${child.uuid}`]);
      t.equal(origin.stdout, `${store.dataset}/images/${base.uuid}@seal`, 'the child is a clone of the parent, sharing its blocks');
      const refused = await jp(store, 'image-destroy', [base.uuid]);
      t.equal(refused.exitCode, 5, 'the parent cannot be destroyed while a child shares its blocks');
      t.match(refused.stderr, new RegExp(child.uuid));
      t.equal((await jp(store, 'image-list', [base.uuid])).stdout.includes(base.uuid), true, 'and stays visible');
    }

    const failed = await jp(store, 'image-build', [base.uuid, '/bin/sh', '-c', 'echo trying; exit 3']);
    t.equal(failed.exitCode, 3, 'a failed build exits with the build command status');
    t.match(failed.stderr, /trying/);
    const noManifest = await jp(store, 'image-build', [base.uuid, '/bin/true']);
    t.equal(noManifest.exitCode, 6, 'a build that leaves no manifest.json is refused');
    t.match(noManifest.stderr, /^image-build: \/\.jetpack\.build\/manifest\.json: the build left no image manifest/);
    t.same(readdirSync(join(store.root, 'pods')), [], 'failed builds leave no pod');
    const images = JSON.parse((await jp(store, 'image-list', [])).stdout) as unknown[];
    t.equal(images.length, 2, 'and no image');
    t.equal((await jp(store, 'image-destroy', [child.uuid])).exitCode, 0);
    t.equal((await jp(store, 'image-destroy', [base.uuid])).exitCode, 0, 'then the parent can go');
  });
}
