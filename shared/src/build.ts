/**
 * Image building (`image-build`, `jetpack image IMAGE build [-dir=.] [-cp=PATH...] COMMAND...`).
 *
 * The parent is cloned into a build pod; `-dir`'s contents are copied into the work directory
 * /.jetpack.build inside it and each `-cp` path beside them; COMMAND runs there as root, on the
 * host's network, with the host's /etc/resolv.conf in place (whether or not the image had /etc; the
 * image's own resolv.conf, if any, is put back afterwards). On success the build pod's rootfs
 * becomes a new image (a ZFS clone of the parent sharing its blocks, or a copy on the dir store)
 * whose manifest is the `manifest.json` the build left in the work directory; the work directory
 * is not part of it. The new image's tar is written deterministically (archive/pack.ts), and its
 * origin is the parent's UUID. A failed build leaves no image and no build pod behind.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, readFile, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseImageManifest } from './appc/validate.js';
import { AC_VERSION } from './appc/types.js';
import { packAci } from './archive/pack.js';
import { cleanupOnSignal } from './cli.js';
import { invalid, JetpackError } from './errors.js';
import { tool } from './exec.js';
import { createPod, type AppSpec } from './podspec.js';
import { runPod } from './podrun.js';
import type { Image, Pod, Store } from './store/store.js';
import { resolveInRoot } from './users.js';

/** The work directory inside the build pod. */
export const BUILD_DIR = '/.jetpack.build';

export interface BuildOptions {
  /** Host directory whose contents become the work directory (default `.`). */
  dir: string;
  /** Further host paths copied into the work directory. */
  cp: readonly string[];
  /** The build command, run in the work directory as root (execvp, the image's PATH). */
  command: readonly string[];
  /** Where the build's stdout goes: ours, or our stderr (to keep our stdout for JSON). */
  stdout?: 'stdout' | 'stderr';
}

export type BuildResult = { image: Image; existing: boolean } | { status: number };

/** Put the host's resolv.conf in the rootfs; returns a function that undoes it. */
async function lendResolvConf(rootfs: string): Promise<() => Promise<void>> {
  const etc = await resolveInRoot(rootfs, '/etc');
  let madeEtc = false;
  if ((await lstat(etc).catch(() => null)) === null) {
    await mkdir(etc, { mode: 0o755 });
    madeEtc = true;
  }
  const conf = join(etc, 'resolv.conf');
  const aside = join(etc, '.resolv.conf.jetpack-build');
  const had = (await lstat(conf).catch(() => null)) !== null;
  if (had) await rename(conf, aside); // rename(2) moves a symlink itself, never its target
  const hostConf = await readFile('/etc/resolv.conf').catch(() => Buffer.from(''));
  await writeFile(conf, hostConf, { flag: 'wx', mode: 0o644 });
  return async () => {
    const st = await lstat(conf).catch(() => null);
    if (st !== null && !st.isDirectory()) await unlink(conf);
    if (had) await rename(aside, conf);
    if (madeEtc) await rmdir(etc).catch(() => undefined); // only if the build left it empty
  };
}

/** Read and validate the manifest the build left; acKind/acVersion may be left out. */
async function builtManifest(workdir: string): Promise<Buffer> {
  const path = join(workdir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw invalid(`${BUILD_DIR}/manifest.json: the build left no image manifest (write one in the work directory)`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalid(`${BUILD_DIR}/manifest.json: not JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid(`${BUILD_DIR}/manifest.json: an image manifest is a JSON object`);
  const manifest = parseImageManifest({ acKind: 'ImageManifest', acVersion: AC_VERSION, ...(doc as Record<string, unknown>) }, `${BUILD_DIR}/manifest.json`);
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * Build a new image from `parent`. Returns the image, or the build command's failing status.
 * @throws JetpackError('invalid') when the build leaves no valid manifest.json
 */
export async function buildImage(store: Store, parent: Image, opts: BuildOptions): Promise<BuildResult> {
  if (opts.command.length === 0) throw new JetpackError('usage', 'image-build: needs a COMMAND to run');
  // A build pod: if we are killed, gc removes it (store.ts).
  const spec: AppSpec = { image: parent, name: 'build', app: { exec: [...opts.command], user: '0', group: '0', workingDirectory: BUILD_DIR } };
  const pod: Pod = await createPod(store, [spec], {}, { build: true });
  const app = 'build';
  const rootfs = store.layout.podAppRootfs(pod.uuid, app);
  const uuid = randomUUID();
  const dir = store.layout.imageDir(uuid);
  let staged = false;
  const cleanup = async (): Promise<void> => {
    if (staged) await store.discardImage(uuid).catch(() => undefined);
    // Hidden already when its rootfs was taken for the image; then only removed.
    await store.hidePod(pod.uuid).catch(() => undefined);
    if ((await store.pod(pod.uuid)) === null) await store.removePod(pod.uuid).catch(() => undefined);
  };
  try {
    return await cleanupOnSignal(async () => {
      const workdir = join(rootfs, BUILD_DIR);
      await mkdir(workdir, { mode: 0o700 });
      await tool('cp', ['-a', `${opts.dir}/.`, workdir], 'usage');
      for (const p of opts.cp) await tool('cp', ['-a', p, join(workdir, basename(p))], 'usage');
      const giveBack = await lendResolvConf(rootfs);
      const status = await runPod(store, pod, { network: 'host', etcFiles: false, volumes: false, stdio: ['ignore', opts.stdout === 'stderr' ? 2 : 'inherit', 'inherit'] });
      await giveBack();
      if (status !== 0) {
        await cleanup();
        return { status };
      }
      const manifest = await builtManifest(workdir);
      await rm(workdir, { recursive: true, force: true });

      await mkdir(dir, { mode: 0o755 });
      staged = true;
      await writeFile(`${dir}/.importing`, `${process.pid}\n`);
      // The build pod is hidden before its rootfs is taken: never a visible pod without its rootfs.
      await store.hidePod(pod.uuid);
      await store.driver.imageFromPodApp(pod.uuid, app, uuid);
      await writeFile(`${dir}/manifest`, manifest, { mode: 0o644 });
      const { id, size } = await packAci(dir, manifest, createWriteStream(`${dir}/image.tar`));
      await store.driver.sealImage(uuid);
      const published = await store.publishImage({ uuid, id, origin: parent.uuid, timestamp: new Date().toISOString(), size });
      await unlink(`${dir}/.importing`).catch(() => undefined);
      staged = false;
      await cleanup();
      return published;
    }, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}
