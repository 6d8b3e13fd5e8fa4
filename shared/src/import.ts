/**
 * Image import (`aci-import`, `jetpack image import ARCHIVE [MANIFEST]`).
 *
 * ARCHIVE alone is an ACI (appc spec/aci.md): one streaming pass detects the compression by magic
 * bytes, hashes the uncompressed tar (the image ID), keeps it (image.tar, so export gives the same
 * bytes back), validates every entry and extracts the rootfs. With MANIFEST, ARCHIVE is a plain
 * root filesystem tarball (like FreeBSD's base.txz): it is extracted into the rootfs, the manifest
 * is validated, and a deterministic ACI tar of the two is written; its hash is the image ID.
 *
 * Nothing is visible until the image is complete (store.ts § visibility); a failure or SIGINT/SIGTERM
 * removes what was made, and an import killed outright leaves a directory `gc` removes.
 *
 * The archive limits (total uncompressed size, trailing bytes, entries, path depth and length) come
 * from the `images.import.*` keys of jetpack.conf. Warnings (skipped device nodes, xattrs, sockets)
 * are printed only when the import succeeds, never before a refusal.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { parseImageManifest } from './appc/validate.js';
import { AC_VERSION } from './appc/types.js';
import { decompress } from './archive/decompress.js';
import { extractAci, extractRootfsTarball, type Limits, type Warn } from './archive/extract.js';
import { packAci } from './archive/pack.js';
import { openSource } from './archive/source.js';
import { cleanupOnSignal } from './cli.js';
import { size as sizeKey, type Config } from './config.js';
import { invalid, JetpackError } from './errors.js';
import type { Image, Store } from './store/store.js';

export interface ImportResult {
  image: Image;
  /** True when an image with the same ID was already in the store (nothing new was written). */
  existing: boolean;
}

/** Read a whole (small) document from a path, `-` or URL. */
async function readLocation(location: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const source = await openSource(location);
  for await (const c of source) {
    size += (c as Buffer).length;
    if (size > MAX_MANIFEST_BYTES) {
      source.destroy();
      throw invalid(`${location}: an image manifest is at most ${MAX_MANIFEST_BYTES} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Largest image manifest accepted, the same cap as for a manifest inside an ACI (archive/extract.ts). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * A manifest given beside a rootfs tarball may leave out acKind and acVersion (the original
 * jetpack filled them in); everything else must be valid.
 */
function completeManifest(bytes: Buffer, source: string): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid(`${source}: not JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid(`${source}: an image manifest is a JSON object`);
  const obj = { acKind: 'ImageManifest', acVersion: AC_VERSION, ...(doc as Record<string, unknown>) };
  return Buffer.from(`${JSON.stringify(obj, null, 2)}\n`);
}

/** The archive limits set in the configuration (jetpack.conf(5) `images.import.*`). */
export function importLimits(config: Config): Limits {
  return {
    maxBytes: sizeKey(config, 'images.import.maxBytes'),
    maxTrailingBytes: sizeKey(config, 'images.import.maxTrailingBytes'),
    maxEntries: sizeKey(config, 'images.import.maxEntries'),
    maxPathDepth: sizeKey(config, 'images.import.maxPathDepth'),
    maxPathLength: sizeKey(config, 'images.import.maxPathLength'),
  };
}

/**
 * Import ARCHIVE (and MANIFEST) into the store.
 * @throws JetpackError('invalid') for a broken or hostile archive or an invalid manifest (the store is left as it was)
 */
export async function importImage(store: Store, archive: string, manifestLocation?: string, warn?: Warn): Promise<ImportResult> {
  const limits = importLimits(store.config);
  // Held until the image is published: a refused archive prints its one-line error and nothing else.
  const warnings: string[] = [];
  const hold: Warn = (m) => warnings.push(m);
  const flush = (): void => {
    for (const m of warnings) (warn ?? ((x: string) => process.stderr.write(`warning: ${x}\n`)))(m);
  };
  await store.gc();
  const uuid = randomUUID();
  const dir = store.layout.imageDir(uuid);
  await mkdir(store.layout.images, { recursive: true, mode: 0o700 });
  await mkdir(dir, { mode: 0o755 });
  await writeFile(`${dir}/.importing`, `${process.pid}\n`);
  const discard = (): Promise<void> => store.discardImage(uuid);
  const sources: Readable[] = [];
  const open = async (location: string): Promise<Readable> => {
    const s = await openSource(location);
    sources.push(s);
    return s;
  };
  // A signal stops the import where it is: the raw and the decoded streams are destroyed (which
  // also kills a native decoder, archive/native.ts, that may hold the whole input already), and
  // nothing is published after it.
  let interrupted = false;
  const abort = (): void => {
    interrupted = true;
    for (const s of sources) s.destroy(new Error('interrupted'));
  };
  const decoded = async (location: string): Promise<Readable> => {
    const { stream } = await decompress(await open(location), location);
    sources.push(stream);
    if (interrupted) stream.destroy(new Error('interrupted'));
    return stream;
  };
  try {
    return await cleanupOnSignal(async () => {
      await store.driver.createImageRootfs(uuid);
      let id: string;
      let size: number;
      let manifestBytes: Buffer;
      if (manifestLocation === undefined) {
        const stream = await decoded(archive);
        const r = await extractAci(stream, { dir, tarPath: `${dir}/image.tar`, limits, warn: hold });
        ({ id, size } = r);
        manifestBytes = r.manifest;
        parseImageManifest(manifestBytes, `${archive}: manifest`);
      } else {
        const given = parseImageManifest(completeManifest(await readLocation(manifestLocation), manifestLocation), manifestLocation);
        manifestBytes = Buffer.from(`${JSON.stringify(given, null, 2)}\n`);
        const stream = await decoded(archive);
        await extractRootfsTarball(stream, store.layout.imageRootfs(uuid), limits, hold);
        ({ id, size } = await packAci(dir, manifestBytes, createWriteStream(`${dir}/image.tar`), { warn: hold }));
      }
      const manifest = parseImageManifest(manifestBytes, 'manifest');
      if ((manifest.dependencies ?? []).length > 0) {
        throw invalid(`${archive}: manifest: dependencies: images with dependencies are not supported yet`);
      }
      // The store keeps the manifest as validated (keys spelled as the spec does, e.g. "NAME" → "name");
      // image.tar keeps the archive's own bytes.
      await writeFile(`${dir}/manifest`, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
      const existing = await store.imageById(id);
      if (existing !== null) {
        await discard();
        flush();
        return { image: existing, existing: true };
      }
      if (interrupted) throw new JetpackError('internal', `${archive}: import interrupted`);
      await store.driver.sealImage(uuid);
      const res = await store.publishImage({ uuid, id, origin: archive, timestamp: new Date().toISOString(), size });
      await unlink(`${dir}/.importing`).catch(() => undefined);
      flush();
      return res;
    }, discard, abort);
  } catch (err) {
    await discard().catch(() => undefined);
    throw err;
  }
}

/** Read back an image's manifest bytes as stored. */
export async function manifestBytes(store: Store, image: Image): Promise<Buffer> {
  return readFile(`${store.layout.imageDir(image.uuid)}/manifest`);
}
