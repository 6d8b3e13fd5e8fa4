/**
 * pod-killall POD [OPTIONS...] NAME... — killall(1) inside a running pod (`jetpack pod POD killall`).
 *
 * Sends a signal (default SIGTERM) to the processes of the pod (those in its init's PID namespace)
 * whose name is NAME, with psmisc killall's options -SIGNAL, -s, -e, -I, -r, -u, -q, -v, -w, -l
 * (shared/src/podctl.ts parseKillallOptions, killallMatches). It does not run psmisc's
 * `killall --ns PID`: when PID is gone (the pod just exited) that killall silently drops the
 * namespace filter and signals every process of that name on the host. Here each pid is checked
 * (namespace and start time) right before its signal.
 *
 * stdout: an array of `{pid, hostPid, name, signal}`, the processes signalled. Exit status 0 when
 * every NAME matched a process, else 1 (`NAME: no process found` on stderr unless -q), as
 * killall(1); 5 if the pod is not running.
 */
import { constants as osConstants } from 'node:os';
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import {
  killallMatches,
  parseKillallOptions,
  podAndPassed,
  podProcInfos,
  runningInit,
  sameProcess,
  signalName,
  signalProcess,
  type KilledProcess,
  type ProcInfo,
} from '@jetpack/shared/podctl';
import { findPod } from '@jetpack/shared/query';
import { userNames } from '@jetpack/shared/users';

export const USAGE = `pod-killall [--config=PATH] POD [-SIGNAL] [-s SIGNAL] [-eIqrvw] [-u USER] [--] NAME...
pod-killall POD -l

Send SIGNAL (default TERM) to the running pod's processes named NAME, as killall(1).`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-killall', argv, USAGE, { haltAtNonOption: true }).parse();
  const { pod: podArg, passed } = podAndPassed(argv, args._);
  if (podArg === undefined) throw usage('expected a POD, then NAME...');
  const req = parseKillallOptions(passed);
  if (req.list) {
    const names = Object.entries(osConstants.signals).sort((a, b) => a[1] - b[1]).map(([n]) => n.replace(/^SIG/, ''));
    const unique = names.filter((n, i) => names.indexOf(n) === i);
    return { json: unique, human: unique.join(' ') };
  }
  const store = await openStore(args);
  const pod = await findPod(store, podArg);
  const init = await runningInit(store, pod);
  let uid: number | undefined;
  if (req.user !== undefined) {
    if (/^[0-9]+$/.test(req.user)) uid = Number(req.user);
    else {
      const names = await userNames(store.layout.podAppRootfs(pod.uuid, pod.apps[0]!.name));
      uid = [...names].find(([, n]) => n === req.user)?.[0];
      if (uid === undefined) throw usage(`killall -u ${req.user}: no such user in the pod's /etc/passwd`);
    }
  }
  const procs = (await podProcInfos(init)).filter((p) => uid === undefined || p.uid === uid);
  const killed: KilledProcess[] = [];
  const signalled: ProcInfo[] = [];
  let missing = 0;
  for (const name of req.names) {
    let found = false;
    for (const p of procs.filter((p) => killallMatches(p, name, req))) {
      if (signalled.includes(p)) {
        found = true;
        continue;
      }
      if (!(await signalProcess(p.hostPid, init.ns, p.start, req.signal))) continue;
      found = true;
      signalled.push(p);
      killed.push({ pid: p.nspid, hostPid: p.hostPid, name: p.comm, signal: signalName(req.signal) });
      if (req.verbose) process.stderr.write(`Killed ${p.comm}(${p.hostPid}) with signal ${req.signal}\n`);
    }
    if (!found) {
      missing++;
      if (!req.quiet) process.stderr.write(`${name}: no process found\n`);
    }
  }
  if (req.wait) {
    // As killall -w: until every signalled process is gone (a zombie counts as gone).
    for (;;) {
      const alive = await Promise.all(signalled.map((p) => sameProcess(p.hostPid, init.ns, p.start)));
      if (!alive.includes(true)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { json: killed, human: '', status: missing === 0 ? 0 : 1 };
}
