/**
 * aci-import ARCHIVE [MANIFEST] — import an image (`jetpack image import`).
 * stdout: the image as JSON (ImageJson, man/jetpack.7), plus `"existing": true` when the same
 * image ID was already in the store. Exit codes: man/jetpack.7 § EXIT STATUS.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { imageJson } from '@jetpack/shared/json';
import { formatImage } from '@jetpack/shared/format';

export const USAGE = `aci-import [--config=PATH] ARCHIVE [MANIFEST]

Import ARCHIVE, an ACI (tar, optionally gzip, bzip2 or xz compressed; detected by content), into
the store and print the image as JSON. With MANIFEST, ARCHIVE is a plain root filesystem tarball
and the image is made from it and that image manifest. ARCHIVE and MANIFEST are paths, URLs
(http, https) or - for stdin.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('aci-import', argv, USAGE).parse();
  const pos = args._.map(String);
  if (pos.length < 1 || pos.length > 2) throw usage(`expected ARCHIVE [MANIFEST], got ${pos.length} arguments`);
  const store = await openStore(args);
  // Archives, decompressors and manifest validation (ajv), loaded once there is something to import.
  const { importImage } = await import('@jetpack/shared/import');
  const { image, existing } = await importImage(store, pos[0] as string, pos[1]);
  return { json: { ...imageJson(image), existing }, human: formatImage(image) };
}
