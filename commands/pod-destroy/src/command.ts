/**
 * pod-destroy POD — destroy a pod and its app clones; refused (exit 5) while it runs.
 * stdout: `{"uuid": ..., "destroyed": true}`.
 */
import { parser, type CommandResult } from '@jetpack/shared/cli';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { findPod } from '@jetpack/shared/query';

export const USAGE = `pod-destroy [--config=PATH] POD

Destroy a pod: its app rootfs clones, manifest and state. Refused while it runs.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-destroy', argv, USAGE).parse();
  const pos = args._.map(String);
  if (pos.length !== 1) throw usage(`expected one POD, got ${pos.length} arguments`);
  const store = await openStore(args);
  const pod = await findPod(store, pos[0] as string);
  await store.destroyPod(pod);
  return { json: { uuid: pod.uuid, destroyed: true }, human: '' };
}
