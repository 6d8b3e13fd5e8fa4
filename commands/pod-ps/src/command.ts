/**
 * pod-ps POD — the processes of a running pod, as JSON (`jetpack pod POD ps`).
 *
 * stdout: an array of `{pid, hostPid, uid, user, command}`: `pid` as seen inside the pod's pid
 * namespace, `hostPid` as seen on the host, `uid` the real uid, `user` its name in the app's
 * /etc/passwd (or the number), `command` the argv joined by spaces. Source: proc(5)
 * (/proc/PID/status NSpid and Uid, /proc/PID/cmdline, /proc/PID/ns/pid). Exit 5 if the pod is not running.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { parser, type CommandResult } from '@jetpack/shared/cli';
import { openStore } from '@jetpack/shared/context';
import { conflict, usage } from '@jetpack/shared/errors';
import { table } from '@jetpack/shared/format';
import { findPod } from '@jetpack/shared/query';
import { userNames } from '@jetpack/shared/users';

export const USAGE = `pod-ps [--config=PATH] POD

List the running pod's processes as JSON.`;

/** One process of a pod. */
export interface PodProcess {
  pid: number;
  hostPid: number;
  uid: number;
  user: string;
  command: string;
}

async function procInfo(pid: string): Promise<{ ppid: number; comm: string; nspid: number; uid: number; ns: string; pidForChildren: string; cmd: string } | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const field = (k: string): string => /^(\S+):\s*(.*)$/m.exec(status.split('\n').find((l) => l.startsWith(`${k}:`)) ?? '')?.[2] ?? '';
    const nspids = field('NSpid').split(/\s+/);
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((s) => s !== '').join(' ');
    return {
      ppid: Number(field('PPid')),
      comm: field('Name'),
      nspid: Number(nspids[nspids.length - 1]),
      uid: Number(field('Uid').split(/\s+/)[0]),
      ns: await readlink(`/proc/${pid}/ns/pid`).catch(() => ''),
      pidForChildren: await readlink(`/proc/${pid}/ns/pid_for_children`).catch(() => ''),
      cmd,
    };
  } catch {
    return null;
  }
}

/** The processes in the pid namespace of the pod launched by `launcherPid` (jail-run). */
export async function podProcesses(launcherPid: number, rootfs: string): Promise<PodProcess[]> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n));
  const infos = new Map<string, NonNullable<Awaited<ReturnType<typeof procInfo>>>>();
  await Promise.all(pids.map(async (p) => {
    const i = await procInfo(p);
    if (i !== null) infos.set(p, i);
  }));
  const stage1 = [...infos].find(([, i]) => i.ppid === launcherPid && i.comm === 'jetpack-stage1');
  if (stage1 === undefined) return [];
  const podNs = stage1[1].pidForChildren;
  const names = await userNames(rootfs);
  return [...infos]
    .filter(([, i]) => i.ns === podNs && podNs !== '')
    .map(([hostPid, i]) => ({ pid: i.nspid, hostPid: Number(hostPid), uid: i.uid, user: names.get(i.uid) ?? String(i.uid), command: i.cmd }))
    .sort((a, b) => a.pid - b.pid);
}

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-ps', argv, USAGE).parse();
  const pos = args._.map(String);
  if (pos.length !== 1) throw usage(pos.length > 1 ? `expected one POD; ps options (${pos.slice(1).join(' ')}) are not available yet` : 'expected one POD');
  const store = await openStore(args);
  const pod = await findPod(store, pos[0] as string);
  if (pod.state !== 'running' || pod.run.pid === undefined) throw conflict(`pod ${pod.uuid}: is not running`);
  const app = pod.apps[0]!;
  const procs = await podProcesses(pod.run.pid, store.layout.podAppRootfs(pod.uuid, app.name));
  return {
    json: procs,
    human: table([['PID', 'USER', 'COMMAND'], ...procs.map((p) => [String(p.pid), p.user, p.command])]),
  };
}
