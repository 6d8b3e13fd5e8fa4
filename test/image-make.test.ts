/**
 * The Makefile workflow (commands/image-build/share/jetpack.image.mk): `make` in an app image's
 * directory makes its parent's directory first (a base imported from a rootfs tarball and a
 * manifest), builds the app image from it, and a pod from it runs; `make aci` exports an ACI that
 * actool validates; `make clean` destroys the images again.
 */
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { BIN, busyboxLayout, jp, makeStore, REPO, tempDir } from './lib/fixtures.js';

t.test('make builds the parent first, then the image', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));
  const mk = join(REPO, 'commands/image-build/share/jetpack.image.mk');
  const jetpack = `${join(BIN, 'jetpack')} -config=${store.config}`;

  const base = join(work, 'base');
  mkdirSync(base);
  const layout = busyboxLayout(join(work, 'layout'), { app: null });
  await execa('tar', ['-C', join(layout, 'rootfs'), '-cf', join(base, 'base.tar'), '.']);
  writeFileSync(join(base, 'base.json'), JSON.stringify({ name: 'jetpack.test/base', labels: [{ name: 'version', value: '1' }] }));
  writeFileSync(join(base, 'Makefile'), `IMPORT_FILE = base.tar\nIMPORT_MANIFEST = base.json\ninclude ${mk}\n`);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'build.sh'), [
    'echo "served by make" > /index.txt',
    `echo '${JSON.stringify({ name: 'jetpack.test/app', app: { exec: ['/bin/cat', '/index.txt'], user: 'root', group: 'root' } })}' > manifest.json`,
  ].join('\n'));
  writeFileSync(join(app, 'Makefile'), `PARENT_DIRS = ../base\nPARENT_IMAGE = jetpack.test/base:1\ninclude ${mk}\n`);

  const made = await execa('make', ['-C', app, `JETPACK=${jetpack}`], { reject: false });
  t.equal(made.exitCode, 0, `make succeeds (${made.stderr})`);
  const baseImage = JSON.parse(readFileSync(join(base, 'image.json'), 'utf8')) as { uuid: string; name: string };
  const appImage = JSON.parse(readFileSync(join(app, 'image.json'), 'utf8')) as { uuid: string; name: string; origin: string };
  t.equal(baseImage.name, 'jetpack.test/base', 'the parent directory was made first');
  t.equal(appImage.name, 'jetpack.test/app');
  t.equal(appImage.origin, baseImage.uuid, 'the app image is built from it');

  const pod = JSON.parse((await jp(store, 'pod-create', ['jetpack.test/app'])).stdout) as { uuid: string };
  t.equal((await jp(store, 'jail-run', [pod.uuid])).stdout, 'served by make', 'a pod from the made image runs');
  t.equal((await jp(store, 'pod-destroy', [pod.uuid])).exitCode, 0);

  const aci = await execa('make', ['-C', app, 'aci', `JETPACK=${jetpack}`], { reject: false });
  t.equal(aci.exitCode, 0, `make aci (${aci.stderr})`);
  t.equal((await execa('actool', ['validate', join(app, 'image.aci')], { reject: false })).exitCode, 0, 'actool validates image.aci');

  t.equal((await execa('make', ['-C', app, 'clean', `JETPACK=${jetpack}`], { reject: false })).exitCode, 0);
  t.equal((await execa('make', ['-C', base, 'clean', `JETPACK=${jetpack}`], { reject: false })).exitCode, 0);
  t.equal((await jp(store, 'jetpack', ['images'])).stdout, 'No images', 'make clean destroyed both images');
});
