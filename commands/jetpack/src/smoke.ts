/**
 * `jetpack test`: the original's smoke test, done right. As root, in a throw-away directory store
 * under /var/tmp, it imports a base image from a rootfs tarball and a manifest (made from Debian's
 * busybox-static), builds a child image from it, creates and runs a pod from the child, exports the
 * child as an xz ACI and imports it into a second throw-away store, then removes everything.
 * It prints one `ok N - …` / `not ok N - …` line per step and `N passed, N failed` last.
 * Not root: one line on stderr and exit 8, before anything is touched.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { compress } from '@jetpack/shared/archive/compress';
import { buildImage } from '@jetpack/shared/build';
import { defaults, type Config } from '@jetpack/shared/config';
import { errorMessage, JetpackError } from '@jetpack/shared/errors';
import { importImage } from '@jetpack/shared/import';
import { createPod } from '@jetpack/shared/podspec';
import { runPod } from '@jetpack/shared/podrun';
import { type Image, Store } from '@jetpack/shared/store/store';
import { tool } from '@jetpack/shared/exec';

const BUSYBOX = '/bin/busybox';

/** A configuration for a throw-away directory store at `root`. */
function storeAt(root: string): Store {
  const config: Config = { path: null, values: new Map([...defaults(), ['root.dir', root]]) };
  return new Store(config);
}

/** Run the smoke test; resolves to the number of failed steps. */
export async function smokeTest(out: (line: string) => void): Promise<number> {
  if (process.getuid?.() !== 0) {
    throw new JetpackError('environment', 'test: needs root (it mounts filesystems and makes namespaces); nothing was touched');
  }
  if (!existsSync(BUSYBOX)) throw new JetpackError('environment', `test: needs ${BUSYBOX} (Debian package busybox-static)`);
  const work = await mkdtemp('/var/tmp/jetpack-test-');
  const store = storeAt(join(work, 'store'));
  const other = storeAt(join(work, 'store2'));
  await store.driver.init();
  await other.driver.init();
  let n = 0;
  let failed = 0;
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    n++;
    try {
      const r = await fn();
      out(`ok ${n} - ${what}`);
      return r;
    } catch (err) {
      failed++;
      out(`not ok ${n} - ${what}: ${errorMessage(err)}`);
      return undefined;
    }
  };
  try {
    const base = await step('import a base image from a rootfs tarball and a manifest', async () => {
      const rootfs = join(work, 'base', 'rootfs');
      for (const d of ['bin', 'etc', 'tmp']) await mkdir(join(rootfs, d), { recursive: true });
      await copyFile(BUSYBOX, join(rootfs, 'bin/busybox'));
      await chmod(join(rootfs, 'bin/busybox'), 0o755);
      const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
      for (const a of applets) await symlink('busybox', join(rootfs, 'bin', a));
      await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
      await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\n');
      await tool('tar', ['-C', rootfs, '-cf', join(work, 'base.tar'), '.']);
      await writeFile(join(work, 'base.json'), JSON.stringify({ name: 'jetpack.test/base', labels: [{ name: 'version', value: '1' }] }));
      return (await importImage(store, join(work, 'base.tar'), join(work, 'base.json'))).image;
    });
    const child = await step('build a child image from it', async () => {
      if (base === undefined) throw new Error('no base image');
      const src = join(work, 'src');
      await mkdir(src);
      await writeFile(join(src, 'build.sh'), [
        'echo "hello from jetpack test" > /hello',
        `echo '${JSON.stringify({ name: 'jetpack.test/child', app: { exec: ['/bin/cat', '/hello'], user: 'root', group: 'root' } })}' > manifest.json`,
      ].join('\n'));
      const r = await buildImage(store, base, { dir: src, cp: [], command: ['/bin/sh', 'build.sh'], stdout: 'stderr' });
      if ('status' in r) throw new Error(`the build exited ${r.status}`);
      return r.image;
    });
    await step('create a pod from the child and run it', async () => {
      if (child === undefined) throw new Error('no child image');
      const pod = await createPod(store, [{ image: child }]);
      const outFile = join(work, 'pod.out');
      const fh = await open(outFile, 'w');
      let status: number;
      try {
        status = await runPod(store, pod, { network: 'private', stdio: ['ignore', fh.fd, 'inherit'] });
      } finally {
        await fh.close();
      }
      const said = await readFile(outFile, 'utf8');
      if (status !== 0 || said !== 'hello from jetpack test\n') throw new Error(`the pod exited ${status} and printed ${JSON.stringify(said)}`);
      await store.destroyPod((await store.pod(pod.uuid)) ?? pod);
    });
    await step('export the child and import it into another store with the same ID', async () => {
      if (child === undefined) throw new Error('no child image');
      const aci = join(work, 'child.aci');
      await pipeline(compress('xz', createReadStream(`${store.layout.imageDir(child.uuid)}/image.tar`)), createWriteStream(aci));
      const back: Image = (await importImage(other, aci)).image;
      if (back.id !== child.id) throw new Error(`re-imported as ${back.id}, exported ${child.id}`);
    });
  } finally {
    for (const s of [store, other]) {
      for (const p of await s.pods()) await s.destroyPod(p).catch(() => undefined);
      const images = await s.images();
      // Children first: on ZFS a built image shares its parent's blocks.
      for (const i of images.sort((a, b) => (a.origin === b.uuid ? -1 : b.origin === a.uuid ? 1 : 0))) await s.destroyImage(i).catch(() => undefined);
    }
    await rm(work, { recursive: true, force: true });
  }
  out(`${n - failed} passed, ${failed} failed`);
  return failed;
}
