/**
 * store-gc — remove what killed commands left behind (shared/src/gc.ts) and print the GcReport
 * JSON: `{"removed": [UUID...], "networks": [UUID...], "cgroups": [UUID...], "addresses": [IP...]}`.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';

export const USAGE = `store-gc [--config=PATH]

Remove what interrupted commands left behind: half-imported or half-destroyed images and pods,
build pods whose build is gone, stale pod network namespaces, leftover cgroups and address
claims of pods that are gone. Prints JSON.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('store-gc', argv, USAGE).parse();
  if (args._.length > 0) throw usage('store-gc takes no arguments');
  // The store's and the host's clean-up code (network, cgroups) is loaded once the command line is parsed.
  const [{ collectGarbage }, { formatGc }] = await Promise.all([import('@jetpack/shared/gc'), import('@jetpack/shared/format')]);
  const report = await collectGarbage(await openStore(args));
  return { json: report, human: formatGc(report) };
}
