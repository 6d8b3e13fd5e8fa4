/**
 * Running a pod on Linux: resolve who each app runs as and where ({@link planApp}), build its
 * environment ({@link buildEnvironment}), and hand the whole {@link PodPlan} to the
 * `jetpack-stage1` launcher (commands/jail-run/src/stage1.c, {@link runPlan}), which sets up the
 * namespaces, each app's mounts, /proc, /sys, /dev and pivot_root(2), then runs the apps.
 *
 * Source: appc spec/ace.md § Execution Environment, spec/OS-SPEC.md, spec/aci.md § app.
 * `buildEnvironment` and `planApp` are platform-neutral; only the stage1 invocation is Linux's.
 */
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Options } from 'execa';
import type { App, NameValue } from '../appc/types.js';
import { capabilityMask, DEFAULT_CAPABILITIES } from './isolators.js';
import type { PlanApp, PlanMount, PodPlan } from './plan.js';
import { checkoutPath } from '../checkout.js';
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


function checkId(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ID) {
    throw new JetpackError('invalid', `${what} ${n}: not an integer between 0 and ${MAX_ID}`);
  }
}

function checkNoNul(what: string, s: string): void {
  if (s.includes('\0')) throw new JetpackError('invalid', `${what} contains a NUL byte`);
}

/** The app's environment as NUL-ended `NAME=VALUE` entries. */
export function encodeEnvironment(env: readonly NameValue[]): Buffer {
  return Buffer.concat(env.map(({ name, value }) => Buffer.from(`${name}=${value}\0`)));
}

/** Launcher-only additions to a plan (not part of the platform-neutral {@link PodPlan}). */
export interface Stage1Extras {
  /** Enter the running pod whose init has this host pid instead of starting one (`pod console`). */
  join?: number;
  /** Run the (single) app on a new pseudo-terminal relayed to our stdin/stdout. */
  pty?: boolean;
  /** Network namespace to join (a path under /run/netns) for a private network set up by the caller. */
  netns?: string;
  /** cgroup directories each app joins, by app name. */
  cgroups?: Record<string, readonly string[]>;
  /** Seconds between SIGTERM and SIGKILL when a failed app stops the others (default 10). */
  stopTimeout?: number;
}

/**
 * The plan as jetpack-stage1 reads it from `--plan-fd`: NUL-ended tokens (grammar at the head of
 * commands/jail-run/src/stage1.c). Pure.
 * @throws JetpackError('invalid') for an app without exec, a relative rootfs, cwd or mount path,
 *   an id out of 0..2^32-2, a hostname that is empty or over 64 bytes, a bad variable name, or a
 *   NUL byte anywhere (it would end a token)
 */
export function encodePlan(plan: PodPlan, extras: Stage1Extras = {}): Buffer {
  const tokens: string[] = [];
  const argv = (key: string, what: string, v: readonly string[]): void => {
    v.forEach((a, i) => checkNoNul(`${what} argument ${i}`, a));
    tokens.push(`${key}=${v.length}`, ...v);
  };
  if (extras.join !== undefined) {
    if (!Number.isInteger(extras.join) || extras.join < 1) throw new JetpackError('invalid', `join: ${extras.join} is not a pid`);
    tokens.push(`join=${extras.join}`);
  } else {
    const hostBytes = Buffer.byteLength(plan.hostname);
    if (hostBytes === 0 || hostBytes > HOST_NAME_MAX) {
      throw new JetpackError('invalid', `hostname "${plan.hostname}" must be 1 to ${HOST_NAME_MAX} bytes`);
    }
    checkNoNul('hostname', plan.hostname);
    tokens.push(`hostname=${plan.hostname}`);
    if (plan.network.mode === 'host') tokens.push('net=host');
    else if (extras.netns !== undefined) {
      if (!extras.netns.startsWith('/')) throw new JetpackError('invalid', `network namespace "${extras.netns}" is not an absolute path`);
      checkNoNul('network namespace', extras.netns);
      tokens.push(`net=${extras.netns}`);
    } else tokens.push('net=private');
  }
  if (extras.stopTimeout !== undefined) tokens.push(`stop-timeout=${Math.max(0, Math.round(extras.stopTimeout))}`);
  if (plan.apps.length === 0) throw new JetpackError('invalid', 'the pod has no app to run');
  for (const app of plan.apps) {
    const what = `app "${app.name}"`;
    checkNoNul(`${what}: name`, app.name);
    if (!/^[a-z0-9]+([-.][a-z0-9]+)*$/.test(app.name)) throw new JetpackError('invalid', `${what}: not an AC Name`);
    if (app.exec.length === 0) throw new JetpackError('invalid', `${what} has no exec: nothing to run (appc spec/aci.md § app.exec)`);
    if (!path.isAbsolute(app.rootfs)) throw new JetpackError('invalid', `${what}: rootfs "${app.rootfs}" is not an absolute path`);
    if (!app.cwd.startsWith('/')) {
      throw new JetpackError('invalid', `${what}: working directory "${app.cwd}" is not an absolute path (appc spec/aci.md § app.workingDirectory)`);
    }
    checkId(`${what}: uid`, app.uid);
    checkId(`${what}: gid`, app.gid);
    for (const g of app.groups) checkId(`${what}: supplementary gid`, g);
    checkNoNul(`${what}: rootfs`, app.rootfs);
    checkNoNul(`${what}: working directory`, app.cwd);
    tokens.push(`app=${app.name}`, `rootfs=${app.rootfs}`, `uid=${app.uid}`, `gid=${app.gid}`, `groups=${app.groups.join(',')}`, `cwd=${app.cwd}`);
    for (const { name, value } of app.env) {
      checkEnvName(name);
      checkNoNul(`environment variable ${name}`, value);
      tokens.push(`env=${name}=${value}`);
    }
    argv('exec', `${what}: exec`, app.exec);
    if (app.preStart !== undefined) argv('pre-start', `${what}: pre-start`, app.preStart);
    if (app.postStop !== undefined) argv('post-stop', `${what}: post-stop`, app.postStop);
    for (const m of app.mounts) {
      if (!m.source.startsWith('/') || !m.target.startsWith('/')) {
        throw new JetpackError('invalid', `${what}: volume ${m.volume}: ${m.source} on ${m.target}: both must be absolute paths`);
      }
      checkNoNul(`${what}: volume ${m.volume} source`, m.source);
      checkNoNul(`${what}: volume ${m.volume} mount point`, m.target);
      tokens.push(`mount=${m.recursive ? 'r' : ''}${m.readOnly ? 'ro' : 'rw'}`, m.source, m.target);
    }
    tokens.push(`caps=${capabilityMask(app.capabilities).toString(16)}`);
    if (app.noNewPrivileges) tokens.push('no-new-privs');
    if (app.readOnlyRootfs) tokens.push('readonly-rootfs');
    for (const dir of extras.cgroups?.[app.name] ?? []) {
      checkNoNul(`${what}: cgroup`, dir);
      tokens.push(`cgroup=${dir}`);
    }
    if (extras.pty === true) tokens.push('pty');
  }
  return Buffer.concat(tokens.map((t) => Buffer.from(`${t}\0`)));
}

/**
 * Where jetpack-stage1 is when nobody says otherwise: `$JETPACK_STAGE1` if set, else
 * commands/jail-run/dist/jetpack-stage1 of this checkout (from shared/dist, shared/src or a
 * command's bundle alike: ../checkout.ts).
 */
export function defaultStage1Path(): string {
  const fromEnv = process.env['JETPACK_STAGE1'];
  if (fromEnv) return fromEnv;
  return checkoutPath('commands', 'jail-run', 'dist', 'jetpack-stage1');
}

/** Signals runPlan passes on to the launcher while it runs (it forwards them to the apps). */
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** What {@link planApp} needs to resolve one app. */
export interface PlanAppInput {
  /** The app's name in the pod (AC Name): AC_APP_NAME. */
  name: string;
  /** Absolute host path of the app's rootfs (a directory). */
  rootfs: string;
  /** The app (image manifest's app, or the pod's substitute). */
  app: App;
  /** AC_METADATA_URL ('' when there is none). */
  metadataUrl?: string;
  mounts?: PlanMount[];
  /** Bounding set (default: the appc 14). */
  capabilities?: readonly string[];
  noNewPrivileges?: boolean;
  readOnlyRootfs?: boolean;
  limits?: PlanApp['limits'];
}

/**
 * Resolve one app for a {@link PodPlan}: `app.user`, `app.group` (spec/aci.md § app,
 * {@link resolveUser}) and `app.supplementaryGIDs` against the rootfs, the working directory
 * (default `/`, which must exist in the rootfs: spec/ace.md), the environment
 * ({@link buildEnvironment}) and the `pre-start` / `post-stop` event handlers.
 * @throws JetpackError('invalid') for an app without exec, an unresolvable user or group, a bad
 *   supplementary gid, a missing or relative working directory, an unknown event handler name;
 *   JetpackError('internal') if rootfs is not a directory
 */
export async function planApp(input: PlanAppInput): Promise<PlanApp> {
  const { app, name } = input;
  if (!app.exec || app.exec.length === 0) {
    throw new JetpackError('invalid', `app "${name}" has no exec: nothing to run (appc spec/aci.md § app.exec)`);
  }
  const rootfs = path.resolve(input.rootfs);
  const rootStat = await stat(rootfs).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new JetpackError('internal', `rootfs ${rootfs} of app "${name}" is not a directory`);

  const user = await resolveUser(rootfs, app.user);
  const gid = await resolveGroup(rootfs, app.group);
  const groups = app.supplementaryGIDs ?? [];
  for (const g of groups) checkId(`app "${name}": supplementary gid`, g);

  const cwd = app.workingDirectory ?? '/';
  if (!cwd.startsWith('/')) {
    throw new JetpackError('invalid', `app "${name}": working directory "${cwd}" is not an absolute path (appc spec/aci.md § app.workingDirectory)`);
  }
  const cwdStat = await stat(await resolveInRoot(rootfs, cwd)).catch(() => undefined);
  if (!cwdStat?.isDirectory()) {
    throw new JetpackError('invalid', `app "${name}": working directory "${cwd}" does not exist in the image (appc spec/ace.md § Execution Environment)`);
  }
  const handlers: { preStart?: string[]; postStop?: string[] } = {};
  for (const h of app.eventHandlers ?? []) {
    if (h.name === 'pre-start') handlers.preStart = [...h.exec];
    else if (h.name === 'post-stop') handlers.postStop = [...h.exec];
    else throw new JetpackError('invalid', `app "${name}": unknown event handler "${String(h.name)}" (appc spec/aci.md: pre-start, post-stop)`);
  }
  const env = buildEnvironment({ user, environment: app.environment, appName: name, metadataUrl: input.metadataUrl });
  return {
    name,
    rootfs,
    exec: [...app.exec],
    uid: user.uid,
    gid,
    groups: [...groups],
    cwd,
    env,
    ...handlers,
    mounts: input.mounts ?? [],
    capabilities: [...(input.capabilities ?? DEFAULT_CAPABILITIES)],
    noNewPrivileges: input.noNewPrivileges ?? false,
    readOnlyRootfs: input.readOnlyRootfs ?? false,
    limits: input.limits ?? {},
  };
}

/** Options of {@link runPlan}. */
export interface RunPlanOptions extends Stage1Extras {
  /** Path of the jetpack-stage1 binary; default: {@link defaultStage1Path}. */
  stage1?: string;
  /**
   * The apps' stdin, stdout, stderr (default 'inherit'). Piped streams are not buffered: the
   * caller reads them through {@link onSpawn}, or the apps block once a pipe is full.
   */
  stdio?: 'inherit' | 'ignore' | readonly [StdioChoice, StdioChoice, StdioChoice];
  /** Called once the launcher is spawned (e.g. to read piped output). */
  onSpawn?: (app: SpawnedApp) => void;
  /** Called with the host pid of the pod's init once it exists. */
  onInit?: (pid: number) => void;
  /** Called when an app ends, with its exit status (128+N for signal N). */
  onAppExit?: (name: string, status: number) => void;
}

/**
 * Run a pod on Linux to completion and return its exit status: 0 when every app exited 0, else
 * the first failing app's status (128+N for signal N; the other apps are then stopped); 125 if
 * stage1 could not set the pod up, 126/127 if an exec could not be run / was not found (stage1
 * then printed why on stderr). SIGINT, SIGTERM and SIGHUP this process receives meanwhile are
 * forwarded to the launcher, which forwards them to the apps.
 * @throws JetpackError('invalid') from {@link encodePlan}; JetpackError('environment') when the
 *   stage1 binary is missing or cannot be spawned
 */
export async function runPlan(plan: PodPlan, opts: RunPlanOptions = {}): Promise<number> {
  const encoded = encodePlan(plan, opts);
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
  const { execa } = await import('execa');
  const child = execa(stage1, ['--plan-fd=3', '--status-fd=4'], {
    reject: false,
    env: {},
    extendEnv: false,
    stdio: [stdin, stdout, stderr, encoded, 'pipe'] as Options['stdio'],
    buffer: false,
    forceKillAfterDelay: false,
  });
  const forward = (signal: NodeJS.Signals): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  const statusStream = child.stdio[4] as Readable | undefined;
  let reported: Promise<void> = Promise.resolve();
  if (statusStream !== undefined) {
    reported = new Promise<void>((resolve) => {
      let pending = '';
      statusStream.setEncoding('utf8');
      statusStream.on('data', (d: string) => {
        pending += d;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).split(' ');
          pending = pending.slice(nl + 1);
          if (line[0] === 'init' && line[1] !== undefined) opts.onInit?.(Number(line[1]));
          else if (line[0] === 'app' && line[1] !== undefined && line[2] !== undefined) opts.onAppExit?.(line[1], Number(line[2]));
        }
      });
      statusStream.on('close', resolve);
      statusStream.on('error', () => resolve());
    });
  }
  try {
    opts.onSpawn?.({ pid: child.pid, stdin: child.stdin, stdout: child.stdout, stderr: child.stderr });
    const result = await child;
    await reported;
    if (typeof result.exitCode === 'number') return result.exitCode;
    if (result.signal !== undefined) return 128 + osConstants.signals[result.signal];
    throw new JetpackError('environment', `cannot run the pod launcher ${stage1}: ${result.shortMessage}`);
  } finally {
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  }
}

/**
 * Run one app alone in a pod of its own and return its exit status (see {@link runPlan}): the
 * single-app form used by `image-build` and the launcher tests.
 */
export async function runApp(opts: RunAppOptions): Promise<number> {
  const planned = await planApp({ name: opts.appName, rootfs: opts.rootfs, app: opts.app, metadataUrl: opts.metadataUrl ?? '' });
  const plan: PodPlan = {
    uuid: opts.hostname,
    hostname: opts.hostname,
    network: { mode: opts.network, interface: '' },
    resolvConf: [],
    metadataUrl: opts.metadataUrl ?? '',
    apps: [planned],
    limits: {},
    annotations: [],
  };
  return runPlan(plan, {
    ...(opts.stage1 === undefined ? {} : { stage1: opts.stage1 }),
    ...(opts.stdio === undefined ? {} : { stdio: opts.stdio }),
    ...(opts.onSpawn === undefined ? {} : { onSpawn: opts.onSpawn }),
  });
}
