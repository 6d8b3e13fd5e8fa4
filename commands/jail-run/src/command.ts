/**
 * jail-run POD — run a pod (`jetpack pod POD run`): every app together in one pod (shared PID,
 * UTS, IPC and network namespaces; each app in its own mount namespace and rootfs), with its
 * volumes, event handlers, isolators, /etc/hosts, resolv.conf, its own address on jail.interface
 * and AC_METADATA_URL (shared/src/podrun.ts; Linux launcher: commands/jail-run/src/stage1.c).
 * stdin, stdout and stderr are the apps'; SIGINT, SIGTERM and SIGHUP are forwarded to them.
 * With no POD, reads a pod's JSON (pod-create's output) from stdin.
 *
 * Exit status: 0 when every app exited 0, else the first failing app's (128+N for signal N);
 * 125 if the pod could not be set up, 126/127 if an exec could not be run / found; otherwise the
 * codes of man/jetpack.7. The run (init pid, per-app statuses, pod status) is recorded in the pod.
 */
import { pipedField, readStdinJson, type CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { findPod } from '@jetpack/shared/query';

export const USAGE = `jail-run [--config=PATH] [--net=private|host] POD

Run the pod's apps together, isolated, and exit with the pod's status (0, or the first failing
app's). Without POD, reads the JSON of a pod (pod-create's output) on stdin.`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('jail-run', argv, USAGE)
    .option('net', { choices: ['private', 'host'] as const, describe: 'override the pod\'s network: its own address on jail.interface (private), or the host\'s' })
    .parse();
  const pos = args._.map(String);
  if (pos.length > 1) throw usage(`expected one POD, got ${pos.length} arguments`);
  let podArg = pos[0];
  if (podArg === undefined) {
    podArg = pipedField(await readStdinJson(), 'uuid') ?? undefined;
    if (podArg === undefined) throw usage('expected a POD argument, or the JSON of a pod on stdin');
  }
  const store = await openStore(args);
  const pod = await findPod(store, podArg);
  // The runner (launcher, cgroups, pod network, execa) is loaded once there is a pod to run.
  const { runPod } = await import('@jetpack/shared/podrun');
  return { status: await runPod(store, pod, args.net === undefined ? {} : { network: args.net }) };
}
