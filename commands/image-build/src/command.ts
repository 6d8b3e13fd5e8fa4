/**
 * image-build [--dir=.] [--cp=PATH]... IMAGE COMMAND... — build a new image from IMAGE
 * (`jetpack image IMAGE build`); see shared/src/build.ts for what happens.
 * The build's output goes to stderr as it runs; stdout gets the new image as JSON (ImageJson).
 * Exit status: the build command's when it fails (nothing is left behind); otherwise man/jetpack.7.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { formatImage } from '@jetpack/shared/format';
import { imageJson } from '@jetpack/shared/json';
import { findImage } from '@jetpack/shared/query';

export const USAGE = `image-build [--config=PATH] [--dir=DIR] [--cp=PATH]... IMAGE COMMAND...

Clone IMAGE into a build pod, copy DIR (default .) into its work directory /.jetpack.build and
each --cp PATH beside it, run COMMAND there as root with the host's network and resolv.conf, and
make the result a new image whose manifest is the manifest.json the build left in the work
directory. Prints the new image as JSON. A failed build leaves nothing and exits with its status.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('image-build', argv, USAGE, { haltAtNonOption: true })
    .option('dir', { type: 'string', default: '.', describe: 'host directory copied into the work directory' })
    .option('cp', { type: 'string', array: true, default: [] as string[], describe: 'host path copied into the work directory (repeatable)' })
    .parse();
  const [imageArg, ...command] = args._.map(String);
  if (imageArg === undefined) throw usage('expected IMAGE COMMAND...');
  if (command.length === 0) throw usage('expected a COMMAND to run in the build pod');
  const store = await openStore(args);
  const parent = await findImage(store, imageArg);
  // The build (the runner, the packer, manifest validation) is loaded once there is one to do.
  const { buildImage } = await import('@jetpack/shared/build');
  // The build's own output must not mix with our JSON on stdout.
  const r = await buildImage(store, parent, { dir: args.dir, cp: args.cp, command, stdout: 'stderr' });
  if ('status' in r) return { status: r.status };
  return { json: { ...imageJson(r.image), existing: r.existing }, human: formatImage(r.image) };
}
