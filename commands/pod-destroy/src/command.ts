/**
 * pod-destroy [-f] POD — destroy a pod and its app clones (`jetpack pod POD destroy [-f]`).
 * Refused (exit 5) while it runs, unless -f/--force: then the pod is first stopped as pod-kill
 * stops it (SIGTERM, SIGKILL after 10 s; shared/src/podctl.ts stopPod). The pod's network
 * namespace and veth pair are removed too, should a killed jail-run have left them.
 * stdout: `{"uuid": ..., "destroyed": true}`.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { stopPod } from '@jetpack/shared/podctl';
import { findPod } from '@jetpack/shared/query';

export const USAGE = `pod-destroy [--config=PATH] [-f] POD

Destroy a pod: its app rootfs clones, manifest and state. Refused while it runs, unless -f:
then it is stopped first (SIGTERM to its apps, SIGKILL after 10 s).`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-destroy', argv, USAGE)
    .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'stop the pod first if it runs' })
    .parse();
  const pos = args._.map(String);
  if (pos.length !== 1) throw usage(`expected one POD, got ${pos.length} arguments`);
  const store = await openStore(args);
  let pod = await findPod(store, pos[0] as string);
  if (args.force) pod = await stopPod(store, pod);
  await store.destroyPod(pod);
  if (process.platform === 'linux') {
    // ip(8) through execa: loaded here, not at start-up.
    const { teardownPodNetwork } = await import('@jetpack/shared/net/network');
    await teardownPodNetwork(pod.uuid);
  }
  const { releaseAddresses } = await import('@jetpack/shared/net/addresses');
  await releaseAddresses(pod.uuid);
  return { json: { uuid: pod.uuid, destroyed: true }, human: '' };
}
