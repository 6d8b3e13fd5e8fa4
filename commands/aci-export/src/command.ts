/**
 * aci-export IMAGE [PATH] — write the image as an ACI (`jetpack image IMAGE export [PATH]`).
 *
 * The archive is the image's kept uncompressed tar (so an imported image exports to the very bytes
 * it was imported from, and its ID is unchanged), compressed with --compression or the
 * `images.aci.compression` key (xz, gzip, bzip2 or none; default xz). Without PATH, or with `-`, the
 * archive goes to stdout. The image ID is printed on stderr. With a PATH, stdout gets
 * `{"id", "path", "compression"}`; the file appears whole (written beside it, then renamed).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, rename, unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { compress, type Compression } from '@jetpack/shared/archive/compress';
import { cleanupOnSignal, type CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { get } from '@jetpack/shared/config';
import { openStore } from '@jetpack/shared/context';
import { JetpackError, usage } from '@jetpack/shared/errors';
import { findImage } from '@jetpack/shared/query';

export const USAGE = `aci-export [--config=PATH] [--compression=xz|gzip|bzip2|none] IMAGE [PATH]

Write IMAGE as an ACI to PATH, or to stdout when PATH is absent or -. The image ID goes to stderr.`;

const KINDS: readonly Compression[] = ['xz', 'gzip', 'bzip2', 'none'];

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('aci-export', argv, USAGE)
    .option('compression', { type: 'string', describe: 'xz, gzip, bzip2 or none (default: images.aci.compression, xz)' })
    .parse();
  const pos = args._.map(String);
  if (pos.length < 1 || pos.length > 2) throw usage(`expected IMAGE [PATH], got ${pos.length} arguments`);
  const store = await openStore(args);
  const kind = (args.compression ?? (get(store.config, 'images.aci.compression') || 'xz')) as Compression;
  if (!KINDS.includes(kind)) {
    if (args.compression !== undefined) throw usage(`--compression "${kind}": must be one of ${KINDS.join(', ')}`);
    throw new JetpackError('config', `images.aci.compression = ${kind}: must be one of ${KINDS.join(', ')}`);
  }
  const image = await findImage(store, pos[0] as string);
  const tar = `${store.layout.imageDir(image.uuid)}/image.tar`;
  const path = pos[1];
  process.stderr.write(`${image.id}\n`);
  if ((path === undefined || path === '-') && process.stdout.isTTY) {
    throw usage('refusing to write an archive to a terminal: give a PATH, or redirect stdout');
  }
  if (path === undefined || path === '-') {
    await pipeline(compress(kind, createReadStream(tar)), process.stdout);
    return { status: 0 };
  }
  const st = await lstat(path).catch(() => null);
  if (st !== null && !st.isFile()) throw usage(`${path}: exists and is not a regular file; refusing to replace it`);
  const tmp = `${path}.partial-${process.pid}`;
  const drop = (): Promise<void> => unlink(tmp).catch(() => undefined);
  try {
    await cleanupOnSignal(async () => {
      await pipeline(compress(kind, createReadStream(tar)), createWriteStream(tmp, { mode: 0o644 }));
      await rename(tmp, path);
    }, drop);
  } catch (err) {
    await drop();
    throw err;
  }
  return { json: { id: image.id, path, compression: kind }, human: '' };
}
