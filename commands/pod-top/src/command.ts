/**
 * pod-top POD [TOP OPTIONS...] — top(1) on a running pod's processes (`jetpack pod POD top`).
 *
 * Runs the host's `top -p PID,... OPTIONS` on our terminal with the host pids of the pod's
 * processes (those in its init's PID namespace; shared/src/podctl.ts). procps top watches at most
 * 20 pids: a pod with more gets its first 20 by pid in the pod (the init, the apps' supervisors,
 * the apps first) and a note on stderr. `-p`, `-u` and `-U` are refused: more pids would add other
 * processes, and top refuses users with pids. Processes the pod starts later are not added.
 * Exit status: top's; 5 if the pod is not running.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { checkTopOptions, podAndPassed, podPids, runAttached, runningInit, TOP_MAX_PIDS, topArgv } from '@jetpack/shared/podctl';
import { findPod } from '@jetpack/shared/query';

export const USAGE = `pod-top [--config=PATH] POD [TOP OPTIONS...]

Run top(1) on the running pod's processes (top -p PID,... OPTIONS; at most ${TOP_MAX_PIDS} of them).`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-top', argv, USAGE, { haltAtNonOption: true }).parse();
  const { pod: podArg, passed } = podAndPassed(argv, args._);
  if (podArg === undefined) throw usage('expected one POD');
  checkTopOptions(passed);
  const store = await openStore(args);
  const pod = await findPod(store, podArg);
  const pids = await podPids(await runningInit(store, pod));
  if (pids.length > TOP_MAX_PIDS) {
    process.stderr.write(`pod-top: pod ${pod.uuid} has ${pids.length} processes; top watches at most ${TOP_MAX_PIDS}: showing the first ${TOP_MAX_PIDS} (by pid in the pod)\n`);
  }
  return { status: await runAttached(topArgv(pids, passed)) };
}
