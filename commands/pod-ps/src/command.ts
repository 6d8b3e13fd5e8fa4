/**
 * pod-ps POD [PS OPTIONS...] — the processes of a running pod (`jetpack pod POD ps [OPTIONS...]`).
 *
 * Without OPTIONS, stdout: an array of `{pid, hostPid, uid, user, command}`: `pid` as seen inside
 * the pod's pid namespace, `hostPid` as seen on the host, `uid` the real uid, `user` its name in the
 * first app's /etc/passwd (or the number), `command` the argv joined by spaces. With OPTIONS, the
 * host's ps(1) runs as `ps -p PID,... OPTIONS` on the pod's processes (host pids) and prints its
 * own output; options that select processes are refused (shared/src/podctl.ts checkPsOptions).
 * The pod's processes are those in its init's PID namespace (proc(5) /proc/PID/ns/pid).
 * Exit 5 if the pod is not running; with OPTIONS, ps's own status.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { table } from '@jetpack/shared/format';
import { checkPsOptions, podAndPassed, podPids, podProcesses, psArgv, runAttached, runningInit } from '@jetpack/shared/podctl';
import { findPod } from '@jetpack/shared/query';

export type { PodProcess } from '@jetpack/shared/podctl';

export const USAGE = `pod-ps [--config=PATH] POD [PS OPTIONS...]

List the running pod's processes as JSON. With PS OPTIONS (output options of ps(1): -o FORMAT,
-f, -l, u, ...), run the host's ps -p PID,... OPTIONS on the pod's processes instead.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-ps', argv, USAGE, { haltAtNonOption: true }).parse();
  const { pod: podArg, passed } = podAndPassed(argv, args._);
  if (podArg === undefined) throw usage('expected one POD');
  if (passed.length > 0) checkPsOptions(passed);
  const store = await openStore(args);
  const pod = await findPod(store, podArg);
  const init = await runningInit(store, pod);
  if (passed.length > 0) {
    return { status: await runAttached(psArgv(await podPids(init), passed)) };
  }
  const app = pod.apps[0]!;
  const procs = await podProcesses(init, store.layout.podAppRootfs(pod.uuid, app.name));
  return {
    json: procs,
    human: table([['PID', 'USER', 'COMMAND'], ...procs.map((p) => [String(p.pid), p.user, p.command])]),
  };
}
