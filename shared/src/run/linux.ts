/**
 * Running one app of a pod on Linux: resolve who it runs as and where, build its environment, and
 * hand it to the `jetpack-stage1` launcher (commands/jail-run/src/stage1.c), which sets up the
 * namespaces, /proc, /sys, /dev and pivot_root(2), then execs the app.
 *
 * Source: appc spec/ace.md § Execution Environment, spec/OS-SPEC.md, spec/aci.md § app.
 * `buildEnvironment` is platform-neutral (spec/ace.md); only the stage1 invocation is Linux's.
 */
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';
import type { App, NameValue } from '../appc/types.js';
import { JetpackError } from '../errors.js';
import { resolveGroup, resolveInRoot, resolveUser, type ResolvedUser } from '../users.js';

/** Default `PATH` of spec/ace.md § Execution Environment (an image or app `PATH` overrides it). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Value of the `container` variable (spec/ace.md: a free-form name of the executor). */
export const CONTAINER_NAME = 'jetpack';

/** Highest uid/gid stage1 accepts: 2^32-2. */
const MAX_ID = 4294967294;
/** HOST_NAME_MAX on Linux (bytes). */
const HOST_NAME_MAX = 64;

/** One standard stream of the app, as in Node's child_process and execa. */
export type StdioChoice = 'ignore' | 'inherit' | 'pipe' | number;

/** What {@link RunAppOptions.onSpawn} sees of the running launcher. */
export interface SpawnedApp {
  /** Host pid of the launcher (the outer jetpack-stage1 process). */
  pid: number | undefined;
  /** The app's stdin/stdout/stderr when their {@link StdioChoice} is `'pipe'`, else null. */
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
}

/** Input of {@link runApp}. */
export interface RunAppOptions {
  /** The app's rendered rootfs on the host (a directory). */
  rootfs: string;
  /** The app's name in the pod (an AC Name); becomes `AC_APP_NAME`. */
  appName: string;
  /** The app: exec, user, group, supplementaryGIDs, workingDirectory, environment. */
  app: App;
  /** Hostname inside the pod (at most 64 bytes). */
  hostname: string;
  /** `private`: a network namespace with only `lo`; `host`: the host's network. */
  network: 'private' | 'host';
  /** `AC_METADATA_URL`; '' (the default) while there is no metadata service. */
  metadataUrl?: string;
  /** Path of the jetpack-stage1 binary; default: `JETPACK_STAGE1`, else {@link defaultStage1Path}. */
  stage1?: string;
  /**
   * The app's stdin, stdout, stderr (default 'inherit'). Piped streams are not buffered: the
   * caller reads them through {@link onSpawn}, or the app blocks once a pipe is full.
   */
  stdio?: 'inherit' | 'ignore' | readonly [StdioChoice, StdioChoice, StdioChoice];
  /** Called once the launcher is spawned (e.g. to read piped output). */
  onSpawn?: (app: SpawnedApp) => void;
}

/** Input of {@link buildEnvironment}. */
export interface EnvironmentInput {
  /** Who the app runs as ({@link resolveUser}): `HOME`, `USER` and `LOGNAME` derive from it. */
  user: ResolvedUser;
  /** The app's environment (image manifest app, already merged with pod overrides), in order. */
  environment?: readonly NameValue[] | undefined;
  /** The app's name in the pod: `AC_APP_NAME`. */
  appName: string;
  /** `AC_METADATA_URL` (default ''). */
  metadataUrl?: string | undefined;
}

function checkEnvName(name: string): void {
  if (name === '' || name.includes('=') || name.includes('\0')) {
    throw new JetpackError('invalid', `environment variable name "${name}" is empty or contains "=" or NUL (appc spec/ace.md)`);
  }
}

/**
 * The app's complete environment, in order (appc spec/ace.md § Execution Environment; rkt
 * common/environment.go for the compatibility defaults):
 *
 * 1. defaults: `PATH` ({@link DEFAULT_PATH}), `HOME` (the passwd home, else `/root` for uid 0, else
 *    `/`), `USER` and `LOGNAME` (the passwd name, else `root` for uid 0, else the decimal uid),
 *    `SHELL=/bin/sh`, `container=jetpack`;
 * 2. `environment` in order: a name already present gets the new value in place, others append;
 * 3. `AC_APP_NAME` and `AC_METADATA_URL`, always forced (any earlier value is dropped), last.
 *
 * Pure. @throws JetpackError('invalid') for a name that is empty or holds `=` or NUL, or a value with NUL.
 */
export function buildEnvironment(input: EnvironmentInput): NameValue[] {
  const { user } = input;
  const vars = new Map<string, string>();
  vars.set('PATH', DEFAULT_PATH);
  vars.set('HOME', user.home ?? (user.uid === 0 ? '/root' : '/'));
  const login = user.name ?? (user.uid === 0 ? 'root' : String(user.uid));
  vars.set('USER', login);
  vars.set('LOGNAME', login);
  vars.set('SHELL', '/bin/sh');
  vars.set('container', CONTAINER_NAME);
  for (const { name, value } of input.environment ?? []) {
    checkEnvName(name);
    if (value.includes('\0')) throw new JetpackError('invalid', `environment variable ${name}: the value contains NUL`);
    vars.set(name, value); // Map keeps the first insertion's position
  }
  vars.delete('AC_APP_NAME');
  vars.delete('AC_METADATA_URL');
  vars.set('AC_APP_NAME', input.appName);
  vars.set('AC_METADATA_URL', input.metadataUrl ?? '');
  return [...vars].map(([name, value]) => ({ name, value }));
}

/** Everything jetpack-stage1 needs, already resolved (see {@link stage1Argv}). */
export interface Stage1Invocation {
  network: 'private' | 'host';
  hostname: string;
  /** Absolute host path of the rootfs. */
  rootfs: string;
  uid: number;
  gid: number;
  /** The complete supplementary group list. */
  groups: readonly number[];
  /** Absolute working directory inside the rootfs. */
  cwd: string;
  /** The complete environment ({@link buildEnvironment}). */
  env: readonly NameValue[];
  /** The app's argv; argv[0] without `/` is looked up in the env's PATH. */
  exec: readonly string[];
}

function checkId(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ID) {
    throw new JetpackError('invalid', `${what} ${n}: not an integer between 0 and ${MAX_ID}`);
  }
}

function checkNoNul(what: string, s: string): void {
  if (s.includes('\0')) throw new JetpackError('invalid', `${what} contains a NUL byte`);
}

/** The app's environment as jetpack-stage1 reads it from `--env-fd`: `NAME=VALUE\0` entries. */
export function encodeEnvironment(env: readonly NameValue[]): Buffer {
  return Buffer.concat(env.map(({ name, value }) => Buffer.from(`${name}=${value}\0`)));
}

/**
 * The command line of jetpack-stage1 (without the binary itself), every option in `--opt=VALUE`
 * form so that no value is ever read as an option:
 * `--net=N --hostname=H --rootfs=DIR --uid=N --gid=N --groups=N,... --cwd=DIR -- ARGV...`
 * plus `--env-fd=3`: the app's environment is not on the command line (where every host user
 * could read it in /proc/PID/cmdline) but written by {@link runApp} to descriptor 3 as NUL-ended
 * `NAME=VALUE` entries ({@link encodeEnvironment}). The variables are still checked here.
 *
 * Pure. @throws JetpackError('invalid') for an empty exec, a relative rootfs or cwd, an id out of
 * 0..2^32-2, a hostname that is empty or longer than 64 bytes, a bad variable name or any NUL byte.
 */
export function stage1Argv(inv: Stage1Invocation): string[] {
  if (inv.exec.length === 0) throw new JetpackError('invalid', 'the app has no exec: nothing to run (appc spec/aci.md § app.exec)');
  if (!path.isAbsolute(inv.rootfs)) throw new JetpackError('invalid', `rootfs "${inv.rootfs}" is not an absolute path`);
  if (!inv.cwd.startsWith('/')) {
    throw new JetpackError('invalid', `working directory "${inv.cwd}" is not an absolute path (appc spec/aci.md § app.workingDirectory)`);
  }
  const hostBytes = Buffer.byteLength(inv.hostname);
  if (hostBytes === 0 || hostBytes > HOST_NAME_MAX) {
    throw new JetpackError('invalid', `hostname "${inv.hostname}" must be 1 to ${HOST_NAME_MAX} bytes`);
  }
  checkId('uid', inv.uid);
  checkId('gid', inv.gid);
  for (const g of inv.groups) checkId('supplementary gid', g);
  for (const [what, s] of [['hostname', inv.hostname], ['rootfs', inv.rootfs], ['working directory', inv.cwd]] as const) {
    checkNoNul(what, s);
  }
  inv.exec.forEach((a, i) => checkNoNul(`exec argument ${i}`, a));
  const args = [
    `--net=${inv.network}`,
    `--hostname=${inv.hostname}`,
    `--rootfs=${inv.rootfs}`,
    `--uid=${inv.uid}`,
    `--gid=${inv.gid}`,
    `--groups=${inv.groups.join(',')}`,
    `--cwd=${inv.cwd}`,
    '--env-fd=3',
  ];
  for (const { name, value } of inv.env) {
    checkEnvName(name);
    checkNoNul(`environment variable ${name}`, value);
  }
  args.push('--', ...inv.exec);
  return args;
}

/**
 * Where jetpack-stage1 is when nobody says otherwise: `$JETPACK_STAGE1` if set, else
 * commands/jail-run/dist/jetpack-stage1 of this checkout (from shared/dist/run/linux.js or
 * shared/src/run/linux.ts alike: three directories up).
 */
export function defaultStage1Path(): string {
  const fromEnv = process.env['JETPACK_STAGE1'];
  if (fromEnv) return fromEnv;
  return fileURLToPath(new URL('../../../commands/jail-run/dist/jetpack-stage1', import.meta.url));
}

/** Signals runApp passes on to the launcher while it runs (it forwards them to the app). */
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Run one app of a pod to completion on Linux and return its exit status: the app's exit code,
 * 128+N if the app (or the launcher) was killed by signal N, 125 if stage1 could not set the pod
 * up, 126/127 if the exec could not be run / was not found (stage1 then printed why on stderr).
 *
 * Resolves `app.user`, `app.group` (spec/aci.md § app, {@link resolveUser}) and
 * `app.supplementaryGIDs` against `rootfs`, checks that `app.workingDirectory` (default `/`)
 * exists in the rootfs (spec/ace.md: the executor must fail otherwise), builds the environment
 * ({@link buildEnvironment}) and runs jetpack-stage1 (namespaces, /proc, /sys, /dev, hostname,
 * pivot_root; see stage1.c) with an empty environment of its own. SIGINT and SIGTERM this process
 * receives meanwhile are forwarded to the launcher, which forwards them to the app; nothing kills
 * the app on a timer (the caller decides when to escalate).
 *
 * @throws JetpackError('invalid') for an app without exec, an unresolvable user or group, a bad
 *   supplementary gid, a missing or relative working directory; JetpackError('environment') when
 *   the stage1 binary is missing or cannot be spawned; JetpackError('internal') if rootfs is not a
 *   directory.
 */
export async function runApp(opts: RunAppOptions): Promise<number> {
  const { app } = opts;
  if (!app.exec || app.exec.length === 0) {
    throw new JetpackError('invalid', `app "${opts.appName}" has no exec: nothing to run (appc spec/aci.md § app.exec)`);
  }
  const rootfs = path.resolve(opts.rootfs);
  const rootStat = await stat(rootfs).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new JetpackError('internal', `rootfs ${rootfs} of app "${opts.appName}" is not a directory`);

  const user = await resolveUser(rootfs, app.user);
  const gid = await resolveGroup(rootfs, app.group);
  const groups = app.supplementaryGIDs ?? [];
  for (const g of groups) checkId(`app "${opts.appName}": supplementary gid`, g);

  const cwd = app.workingDirectory ?? '/';
  if (!cwd.startsWith('/')) {
    throw new JetpackError('invalid', `app "${opts.appName}": working directory "${cwd}" is not an absolute path (appc spec/aci.md § app.workingDirectory)`);
  }
  const cwdStat = await stat(await resolveInRoot(rootfs, cwd)).catch(() => undefined);
  if (!cwdStat?.isDirectory()) {
    throw new JetpackError('invalid', `app "${opts.appName}": working directory "${cwd}" does not exist in the image (appc spec/ace.md § Execution Environment)`);
  }

  const env = buildEnvironment({ user, environment: app.environment, appName: opts.appName, metadataUrl: opts.metadataUrl });
  const args = stage1Argv({
    network: opts.network,
    hostname: opts.hostname,
    rootfs,
    uid: user.uid,
    gid,
    groups,
    cwd,
    env,
    exec: app.exec,
  });

  const stage1 = path.resolve(opts.stage1 ?? defaultStage1Path());
  try {
    await access(stage1, fsConstants.X_OK);
  } catch {
    throw new JetpackError(
      'environment',
      `the pod launcher ${stage1} is missing or not executable (build it: cd commands/jail-run && pnpm run build:native)`,
    );
  }

  const stdio = opts.stdio ?? 'inherit';
  const [stdin, stdout, stderr] = typeof stdio === 'string' ? [stdio, stdio, stdio] : stdio;
  const child = execa(stage1, args, {
    reject: false,
    env: {},
    extendEnv: false,
    stdio: [stdin, stdout, stderr, encodeEnvironment(env)] as Options['stdio'],
    buffer: false,
    forceKillAfterDelay: false,
  });
  const forward = (signal: NodeJS.Signals): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  try {
    opts.onSpawn?.({ pid: child.pid, stdin: child.stdin, stdout: child.stdout, stderr: child.stderr });
    const result = await child;
    if (typeof result.exitCode === 'number') return result.exitCode;
    if (result.signal !== undefined) return 128 + osConstants.signals[result.signal];
    throw new JetpackError('environment', `cannot run the pod launcher ${stage1}: ${result.shortMessage}`);
  } finally {
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  }
}
