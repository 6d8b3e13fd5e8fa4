/**
 * pod-list — the pods as a JSON array of PodJson (man/jetpack.7), oldest first.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { formatPodList } from '@jetpack/shared/format';
import { podJson } from '@jetpack/shared/json';

export const USAGE = `pod-list [--config=PATH]

List pods as JSON, with their state (prepared, running, exited) and exit status.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-list', argv, USAGE).parse();
  if (args._.length > 0) throw usage(`pod-list takes no arguments`);
  const store = await openStore(args);
  const pods = await store.pods();
  return { json: pods.map((p) => podJson(p, (a) => store.layout.podAppRootfs(p.uuid, a))), human: formatPodList(pods) };
}
