/**
 * jail-run POD — run a pod (`jetpack pod POD run`).
 *
 * On Linux each run is one `jetpack-stage1` launcher: new pid, mount, uts, ipc and network
 * namespaces, the app's rootfs as root (pivot_root(2)), /proc, /sys and a minimal /dev, the hostname
 * set to the pod UUID, the environment of appc spec/ace.md § Execution Environment, the app's user,
 * group and supplementary GIDs. stdin, stdout and stderr are the app's; SIGINT and SIGTERM are
 * forwarded to it. With no POD, reads a pod's JSON (pod-create's output) from stdin.
 *
 * Exit status: the app's; 128+N if it was killed by signal N; 125 if the pod could not be set up,
 * 126/127 if the app's exec could not be run / found; otherwise the codes of man/jetpack.7.
 * The run's start, end and status are recorded in the pod (pod-show, pod-list).
 */
import { parser, pipedField, readStdinJson, type CommandResult } from '@jetpack/shared/cli';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { findPod } from '@jetpack/shared/query';
import { runPod } from '@jetpack/shared/podrun';

export const USAGE = `jail-run [--config=PATH] [--net=private|host] POD

Run the pod's app isolated and exit with its status. Without POD, reads the JSON of a pod
(pod-create's output) on stdin.`;

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
  return { status: await runPod(store, pod, args.net === undefined ? {} : { network: args.net }) };
}
