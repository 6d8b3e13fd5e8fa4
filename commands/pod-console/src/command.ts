/**
 * pod-console [--app=NAME] POD [USER] — a login shell inside a running pod
 * (`jetpack pod POD console [USER]`).
 *
 * Runs USER's (default root) login shell from the app's /etc/passwd (default /bin/sh), as
 * `SHELL -l`, on a new pseudo-terminal of the pod, relayed to our stdin and stdout (a terminal is
 * put in raw mode meanwhile): jetpack-stage1 enters the PID, UTS, IPC, network and mount
 * namespaces of the pod's init (`join=`) and sets the shell up as an app of its own: the app's
 * rootfs as `/` with the app's volumes, its capability bounding set, its own /dev/pts
 * (commands/jail-run/src/stage1.c). The shell runs as USER with USER's primary group and the groups
 * of /etc/group that list USER, in USER's home directory (`/` when it does not exist), with HOME,
 * USER, LOGNAME, SHELL, PATH, TERM (ours, default vt100) set.
 *
 * Exit status: the shell's; 5 if the pod is not running; 3 if it has no app NAME; 6 if USER or
 * the shell is not in the app.
 */
import { stat } from 'node:fs/promises';
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { invalid, notFound, usage } from '@jetpack/shared/errors';
import { runningInit } from '@jetpack/shared/podctl';
import { findPod } from '@jetpack/shared/query';
import { loginShell, memberGroups, resolveInRoot, resolveUser } from '@jetpack/shared/users';

export const USAGE = `pod-console [--config=PATH] [--app=NAME] POD [USER]

Open USER's (default root) login shell on a pseudo-terminal inside the running pod, in the
root filesystem of app NAME (default: the first app); exit with the shell's status.`;

async function isDirectory(rootfs: string, dir: string): Promise<boolean> {
  return (await stat(await resolveInRoot(rootfs, dir)).catch(() => null))?.isDirectory() ?? false;
}

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-console', argv, USAGE)
    .option('app', { type: 'string', describe: 'the app whose root filesystem the shell runs in (default: the first)' })
    .parse();
  const pos = args._.map(String);
  if (pos.length < 1 || pos.length > 2) throw usage(`expected POD [USER], got ${pos.length} arguments`);
  const [podArg, userArg = 'root'] = pos as [string, string?];
  const store = await openStore(args);
  const pod = await findPod(store, podArg);
  await runningInit(store, pod); // not running: exit 5 before anything is prepared
  const appName = args.app ?? pod.apps[0]?.name;
  if (appName === undefined || !pod.apps.some((a) => a.name === appName)) {
    throw notFound(`pod ${pod.uuid}: no app ${appName ?? ''} (apps: ${pod.apps.map((a) => a.name).join(', ')})`);
  }
  // The runner and the launcher, loaded once there is a running pod to join.
  const [{ podPlan }, { planApp, runPlan }] = await Promise.all([import('@jetpack/shared/podrun'), import('@jetpack/shared/run/linux')]);
  // The app as the pod runs it (rootfs, volumes, isolators); /etc files stay as the run wrote them.
  const plan = await podPlan(store, pod, { etcFiles: false });
  const app = plan.apps.find((a) => a.name === appName);
  if (app === undefined) throw notFound(`pod ${pod.uuid}: no app ${appName}`);

  const user = await resolveUser(app.rootfs, userArg);
  const shell = (await loginShell(app.rootfs, user.uid)) ?? '/bin/sh';
  if (!shell.startsWith('/')) throw invalid(`user ${userArg}: login shell "${shell}" in the app's /etc/passwd is not an absolute path`);
  if (!(await stat(await resolveInRoot(app.rootfs, shell)).catch(() => null))?.isFile()) {
    throw invalid(`user ${userArg}: login shell ${shell} does not exist in app ${appName}`);
  }
  const gid = user.gid ?? user.uid;
  const home = user.home ?? (user.uid === 0 ? '/root' : '/');
  const console = await planApp({
    name: app.name,
    rootfs: app.rootfs,
    app: {
      exec: [shell, '-l'],
      user: String(user.uid),
      group: String(gid),
      supplementaryGIDs: user.name === undefined ? [] : (await memberGroups(app.rootfs, user.name)).filter((g) => g !== gid),
      workingDirectory: (await isDirectory(app.rootfs, home)) ? home : '/',
      environment: [
        { name: 'SHELL', value: shell },
        { name: 'TERM', value: process.env['TERM'] || 'vt100' },
      ],
    },
    metadataUrl: plan.metadataUrl,
    mounts: app.mounts,
    capabilities: app.capabilities,
    noNewPrivileges: app.noNewPrivileges,
    readOnlyRootfs: app.readOnlyRootfs,
  });
  // Checked again right before joining: the init must still be this pod's.
  const init = await runningInit(store, (await store.pod(pod.uuid)) ?? pod);
  return { status: await runPlan({ ...plan, apps: [console] }, { join: init.pid, pty: true }) };
}
