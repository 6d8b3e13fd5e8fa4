/**
 * pod-kill [--timeout=SECONDS] POD — stop a running pod (`jetpack pod POD kill`).
 *
 * Records `dying` in the pod's run state, sends SIGTERM to the pod's init (which forwards it to
 * every app), waits for the pod to exit, sends SIGKILL to the init after SECONDS (default 10; the
 * kernel then kills every process of the pod), and waits for jail-run to record the end
 * (shared/src/podctl.ts stopPod). stdout: the pod as JSON (PodJson, as pod-show), `state`
 * `exited`, `status` the pod's exit status (128+15 / 128+9 when the apps died of the signals).
 * A pod already being stopped by another pod-kill is not sent SIGTERM again: this one waits and
 * sends SIGKILL after its own timeout. Exit 5 when the pod is not running (prepared or exited).
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { conflict, usage } from '@jetpack/shared/errors';
import { podJson } from '@jetpack/shared/json';
import { DEFAULT_STOP_TIMEOUT, isLive, stopPod } from '@jetpack/shared/podctl';
import { findPod } from '@jetpack/shared/query';

export const USAGE = `pod-kill [--config=PATH] [--timeout=SECONDS] POD

Stop a running pod: SIGTERM to its apps, SIGKILL after SECONDS (default ${DEFAULT_STOP_TIMEOUT}) if
they have not exited; prints the pod as JSON once it has exited. Refused (exit 5) for a pod that
is not running.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-kill', argv, USAGE)
    .option('timeout', { type: 'number', default: DEFAULT_STOP_TIMEOUT, describe: 'seconds between SIGTERM and SIGKILL' })
    .parse();
  const pos = args._.map(String);
  if (pos.length !== 1) throw usage(`expected one POD, got ${pos.length} arguments`);
  if (!Number.isFinite(args.timeout) || args.timeout < 0) throw usage(`--timeout=${String(args.timeout)}: expected a number of seconds >= 0`);
  const store = await openStore(args);
  const pod = await findPod(store, pos[0] as string);
  if (!isLive(pod)) throw conflict(`pod ${pod.uuid}: is not running (${pod.state}); nothing to kill`);
  const after = await stopPod(store, pod, { timeout: args.timeout });
  return { json: podJson(after, (a) => store.layout.podAppRootfs(after.uuid, a)), human: '' };
}
