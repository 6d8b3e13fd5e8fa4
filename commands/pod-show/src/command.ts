/**
 * pod-show POD — one pod as JSON (PodJson, man/jetpack.7). POD is a UUID or an unambiguous prefix.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { formatPod } from '@jetpack/shared/format';
import { podJson } from '@jetpack/shared/json';
import { findPod } from '@jetpack/shared/query';

export const USAGE = `pod-show [--config=PATH] POD

Show a pod as JSON: its manifest, apps, state and last exit status.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-show', argv, USAGE).parse();
  const pos = args._.map(String);
  if (pos.length !== 1) throw usage(`expected one POD, got ${pos.length} arguments`);
  const store = await openStore(args);
  const pod = await findPod(store, pos[0] as string);
  return { json: podJson(pod, (a) => store.layout.podAppRootfs(pod.uuid, a)), human: formatPod(pod) };
}
