/**
 * image-destroy IMAGE — destroy an image; refused (exit 5) while a pod uses it.
 * stdout: `{"uuid": ..., "id": ..., "destroyed": true}`.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { findImage } from '@jetpack/shared/query';

export const USAGE = `image-destroy [--config=PATH] IMAGE

Destroy an image. Refused while any pod uses it.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('image-destroy', argv, USAGE).parse();
  const pos = args._.map(String);
  if (pos.length !== 1) throw usage(`expected one IMAGE, got ${pos.length} arguments`);
  const store = await openStore(args);
  const image = await findImage(store, pos[0] as string);
  await store.destroyImage(image);
  return { json: { uuid: image.uuid, id: image.id, destroyed: true }, human: '' };
}
