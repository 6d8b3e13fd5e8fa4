/**
 * image-show IMAGE — one image as JSON (ImageJson, man/jetpack.7).
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { formatImage } from '@jetpack/shared/format';
import { imageJson } from '@jetpack/shared/json';
import { findImage } from '@jetpack/shared/query';

export const USAGE = `image-show [--config=PATH] IMAGE

Show an image as JSON. IMAGE is a UUID, an image ID (sha512-..., or an unambiguous prefix)
or a QUERY (NAME[,LABEL=VALUE...] or NAME:VERSION) that matches one image.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('image-show', argv, USAGE).parse();
  const pos = args._.map(String);
  if (pos.length !== 1) throw usage(`expected one IMAGE, got ${pos.length} arguments`);
  const image = await findImage(await openStore(args), pos[0] as string);
  return { json: imageJson(image), human: formatImage(image) };
}
