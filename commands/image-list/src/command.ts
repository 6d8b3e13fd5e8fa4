/**
 * image-list [QUERY] — the images, as a JSON array of ImageJson (man/jetpack.7), sorted by name.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { formatImageList } from '@jetpack/shared/format';
import { imageJson } from '@jetpack/shared/json';
import { findImages } from '@jetpack/shared/query';

export const USAGE = `image-list [--config=PATH] [QUERY]

List images as JSON. QUERY is NAME[,LABEL=VALUE...], NAME:VERSION, a UUID or an image ID prefix.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('image-list', argv, USAGE).parse();
  const pos = args._.map(String);
  if (pos.length > 1) throw usage(`expected at most one QUERY, got ${pos.length}`);
  const images = await findImages(await openStore(args), pos[0]);
  return { json: images.map(imageJson), human: formatImageList(images) };
}
