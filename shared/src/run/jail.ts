/**
 * Running a pod in a FreeBSD jail: the lifecycle of ./freebsd.ts's command lines, in order, with
 * everything that was set up undone in reverse when the pod ends or a step fails. The command
 * lines themselves and their sources are in ./freebsd.ts; this module only decides what runs
 * when. It reaches the host through a {@link JailHost} (by default {@link freebsdHost}: FreeBSD's
 * tools and jetpack-stage2 as child processes), so the order of operations is tested at the
 * argument level on Linux (test/jail-run-freebsd.test.ts) and {@link makeMountDirs}, plain file
 * system work, is tested for real.
 *
 * Order (man/jetpack-freebsd.7; the original jetpack's order, original-jetpack.md § 6):
 *
 * 1. the jail's root directory and every mount point ({@link mountDirs}), never through a symbolic
 *    link an image planted;
 * 2. the mounts ({@link mountArgv}): each app's rootfs (nullfs), its devfs, its volumes; each
 *    mount point made or checked again right before its mount ({@link makeMountDirs}), since an
 *    earlier volume may hold a link where a nested one goes;
 * 3. the jail's rctl rules ({@link rctlAddArgv}), before the jail exists;
 * 4. the jail (`jail -c`, persist);
 * 5. every app at once: its `pre-start` handler (a failure is the app's status; the app never
 *    starts), the app through jetpack-stage2, then its `post-stop` handler. When an app fails
 *    (status not 0), the other apps get SIGTERM, and `stop-timeout` seconds later everything left
 *    in the jail is killed (`killall -j NAME -KILL`);
 * 6. the jail removed (`jail -r`), then what jail(8) leaves behind (the address alias);
 * 7. the rctl rules removed, the mounts undone in reverse.
 *
 * SIGINT, SIGTERM and SIGHUP this process receives while apps run are passed on to every app (its
 * jetpack-stage2, which became the app); during set-up they stop it (see {@link runJailPlan}).
 */
import { constants as fsConstants } from 'node:fs';
import { access, lstat, mkdir } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { JetpackError, errorMessage } from '../errors.js';
import {
  DEFAULT_STAGE2,
  appExecArgv,
  appRootOnHost,
  encodeStage2Environment,
  eventHandlerArgv,
  jailCleanupArgv,
  jailCreateArgv,
  jailName,
  jailStopArgv,
  jlsStateArgv,
  killallArgv,
  mountArgv,
  mountDirs,
  parseJlsState,
  rctlAddArgv,
  rctlRemoveArgv,
  umountArgv,
  type FreeBSDOptions,
} from './freebsd.js';
import type { PlanApp, PodPlan } from './plan.js';

/** One of the app's stdin, stdout, stderr: inherited, ignored, one of our descriptors, or a pipe nobody here reads. */
export type JailStdio = 'inherit' | 'ignore' | 'pipe' | number;

/** A process started by {@link JailHost.spawn}. */
export interface JailProcess {
  /** Its host pid, once known. */
  readonly pid: number | undefined;
  /** Its exit status: the exit code, or 128+N when signal N killed it; 127 when it could not be started. */
  readonly exited: Promise<number>;
  /** Send it a signal (ignored once it has exited). */
  kill(signal: NodeJS.Signals): void;
}

/** How the runner reaches the host. */
export interface JailHost {
  /**
   * Run a tool to completion and return its stdout.
   * @throws JetpackError('environment') naming the tool and quoting its stderr when it exits non-zero
   */
  run(argv: readonly string[]): Promise<string>;
  /** Start argv with `fd3` readable on its descriptor 3 (jetpack-stage2 --env-fd=3) and the given stdio. */
  spawn(argv: readonly string[], fd3: Buffer, stdio: readonly [JailStdio, JailStdio, JailStdio]): JailProcess;
  /** Create directories (mode 0755) under their bases, refusing symbolic links ({@link makeMountDirs}). */
  makeDirs(dirs: readonly string[], bases: readonly string[]): Promise<void>;
  /** Whether `file` exists and may be executed (access(2) X_OK). */
  canExecute(file: string): Promise<boolean>;
  /** Wait `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}

/** Options of {@link runJailPlan}. */
export interface JailRunOptions {
  /** The backend's options: configuration, the jail's root directory, the jetpack-stage2 path. */
  freebsd: FreeBSDOptions;
  /** The host (default {@link freebsdHost}). */
  host?: JailHost;
  /** The apps' stdin, stdout, stderr (default inherit). */
  stdio?: 'inherit' | 'ignore' | readonly [JailStdio, JailStdio, JailStdio];
  /** Seconds between SIGTERM to the other apps after one failed and the KILL of the jail (default 10). */
  stopTimeout?: number;
  /** Called once the jail exists and the apps are about to start. */
  onStart?: () => void;
  /** Called when an app ends, with its exit status (128+N for signal N). */
  onAppExit?: (name: string, status: number) => void;
  /** Where a launcher that cannot be started is reported (default: a `jail-run:` line on stderr). */
  report?: (line: string) => void;
}

/** How long {@link runJailPlan} waits for `jail -r` to let go of a jail before cleaning up anyway. */
const JAIL_GONE_POLLS = 50;
const JAIL_GONE_POLL_MS = 100;

/** The signals {@link runJailPlan} catches for the whole run and passes on to the apps. */
const CAUGHT: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Create each of `dirs` (mode 0755), component by component from the base it lies under (the
 * first of `bases` that contains it; bases are created with their parents when missing), never
 * following a symbolic link: a link planted in an image at a mount point (say `dev` -> `/etc`),
 * or left by an app in a volume where a nested volume goes, would otherwise send a mount anywhere
 * on the host, since mount(8) follows links. A component that exists is only looked at (lstat),
 * so this works on a read-only mount too.
 * @throws JetpackError('invalid') naming the path when a component is a symbolic link or not a
 *   directory, or a dir lies under no base
 */
export async function makeMountDirs(dirs: readonly string[], bases: readonly string[]): Promise<void> {
  for (const base of bases) await mkdir(base, { recursive: true, mode: 0o755 });
  for (const dir of dirs) {
    const base = bases.find((b) => dir === b || dir.startsWith(b.endsWith('/') ? b : `${b}/`));
    if (base === undefined) throw new JetpackError('invalid', `mount point ${dir} lies outside the pod's directories`);
    let at = base;
    for (const part of path.relative(base, dir).split('/').filter((p) => p !== '')) {
      at = path.join(at, part);
      let st = await lstat(at).catch(() => null);
      if (st === null) {
        await mkdir(at, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
        st = await lstat(at);
      }
      if (st.isSymbolicLink()) throw new JetpackError('invalid', `mount point ${at} is a symbolic link; refusing to mount through it`);
      if (!st.isDirectory()) throw new JetpackError('invalid', `mount point ${at} is not a directory`);
    }
  }
}

/** A signal that arrived while the pod was being set up: undo, then end with 128+N. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/** 128+N for signal N, as a shell reports a process killed by it. */
function signalStatus(signal: NodeJS.Signals): number {
  return 128 + osConstants.signals[signal];
}

/** Where the runner's signal handler sends a signal: recorded, and passed on once apps run. */
interface SignalState {
  received: NodeJS.Signals | undefined;
  forward: ((signal: NodeJS.Signals) => void) | undefined;
}

/**
 * Run a pod in a FreeBSD jail to completion and return its exit status: 0 when every app exited
 * 0, else the first failing app's (128+N for signal N; 125/126/127 from jetpack-stage2). SIGINT,
 * SIGTERM and SIGHUP are caught for the whole run: while apps run they are passed on to them;
 * during set-up they stop it, everything is undone and the status is 128+N; during teardown they
 * are noted and the teardown goes on. What was set up is undone even when a step fails; a failure
 * while undoing is added to the message of the pod's own error (or, when the pod ran, thrown as
 * JetpackError('environment')).
 * @throws JetpackError('invalid') from the command-line builders (./freebsd.ts) before anything
 *   runs; JetpackError('environment') when jetpack-stage2 is missing or a tool fails (the mounts,
 *   rctl, jail -c)
 */
export async function runJailPlan(plan: PodPlan, opts: JailRunOptions): Promise<number> {
  const o = opts.freebsd;
  const host = opts.host ?? (await freebsdHost());
  // Build every command line first: a plan the backend refuses runs nothing at all.
  const name = jailName(plan.uuid, o.config);
  const dirs = mountDirs(plan, o);
  const mounts = mountArgv(plan, o);
  const umounts = umountArgv(plan, o);
  const rctl = rctlAddArgv(plan, o);
  const create = jailCreateArgv(plan, o);
  const cleanup = jailCleanupArgv(plan);
  const apps = plan.apps.map((app) => ({
    app,
    env: encodeStage2Environment(app.env),
    preStart: eventHandlerArgv(plan, app, 'pre-start', o),
    exec: appExecArgv(plan, app, o),
    postStop: eventHandlerArgv(plan, app, 'post-stop', o),
  }));
  const stage2 = o.stage2 ?? DEFAULT_STAGE2;
  if (!(await host.canExecute(stage2))) {
    throw new JetpackError('environment', `the app launcher ${stage2} is missing or not executable (build it on FreeBSD: cd commands/jail-run && sh build-native.sh; see jetpack-freebsd(7))`);
  }

  const sig: SignalState = { received: undefined, forward: undefined };
  const onSignal = (signal: NodeJS.Signals): void => {
    sig.received ??= signal;
    sig.forward?.(signal);
  };
  for (const s of CAUGHT) process.on(s, onSignal);
  const undo: Array<() => Promise<unknown>> = [];
  /** Run one set-up step, unless a signal came. */
  const step = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (sig.received !== undefined) throw new Interrupted(sig.received);
    return fn();
  };
  let failure: unknown;
  try {
    await step(() => host.makeDirs(dirs, [o.root, ...plan.apps.map((a) => a.rootfs)]));
    const appRoots = plan.apps.map((a) => appRootOnHost(a, o));
    for (const [i, argv] of mounts.entries()) {
      // Again right before the mount: an earlier volume may hold a link where a nested one goes.
      const target = argv[argv.length - 1] as string;
      await step(() => host.makeDirs([target], [appRoots.find((r) => target.startsWith(`${r}/`)) ?? o.root]));
      await step(() => host.run(argv));
      const umount = umounts[umounts.length - 1 - i] as string[];
      undo.push(() => host.run(umount));
    }
    if (rctl.length > 0) {
      undo.push(() => host.run(rctlRemoveArgv(plan, o)));
      for (const argv of rctl) await step(() => host.run(argv));
    }
    await step(() => host.run(create));
    // Two steps, so that the alias goes even when `jail -r` fails.
    undo.push(async () => {
      for (const argv of cleanup) await host.run(argv);
    });
    undo.push(async () => {
      await host.run(jailStopArgv(name));
      for (let i = 0; i < JAIL_GONE_POLLS; i++) {
        if (parseJlsState(await host.run(jlsStateArgv()), name) !== 'running') break;
        await host.sleep(JAIL_GONE_POLL_MS);
      }
    });
    if (sig.received !== undefined) throw new Interrupted(sig.received);
    opts.onStart?.();
    return await runApps(host, name, apps, opts, sig);
  } catch (err) {
    if (err instanceof Interrupted) return signalStatus(err.signal);
    failure = err;
    throw err;
  } finally {
    const problems: string[] = [];
    for (const u of undo.reverse()) {
      await u().catch((err: unknown) => problems.push(errorMessage(err)));
    }
    for (const s of CAUGHT) process.off(s, onSignal);
    if (problems.length > 0) {
      const also = `cleaning up after pod ${plan.uuid} failed: ${problems.join('; ')}`;
      if (failure === undefined) throw new JetpackError('environment', also);
      // The pod's own error comes first; what could not be undone is added to it, not lost.
      throw failure instanceof JetpackError
        ? new JetpackError(failure.kind, `${failure.message}; ${also}`)
        : new JetpackError('internal', `${errorMessage(failure)}; ${also}`);
    }
  }
}

interface AppCommands {
  app: PlanApp;
  env: Buffer;
  preStart: string[] | null;
  exec: string[];
  postStop: string[] | null;
}

/** Step 5 of {@link runJailPlan}: every app at once, with signals passed on. */
async function runApps(host: JailHost, jail: string, apps: readonly AppCommands[], opts: JailRunOptions, sig: SignalState): Promise<number> {
  const stdio = opts.stdio ?? 'inherit';
  const std: readonly [JailStdio, JailStdio, JailStdio] = typeof stdio === 'string' ? [stdio, stdio, stdio] : stdio;
  const report = opts.report ?? ((line: string) => process.stderr.write(`jail-run: ${line}\n`));
  const running = new Set<JailProcess>();
  let firstFailure: number | undefined;
  // Once set, no app or handler starts any more (a signal came, or an app failed).
  let stopping = false;

  const send = (signal: NodeJS.Signals): void => {
    for (const p of running) p.kill(signal);
  };
  sig.forward = (signal) => {
    stopping = true;
    send(signal);
  };

  const stopOthers = async (): Promise<void> => {
    stopping = true;
    send('SIGTERM');
    const deadline = (opts.stopTimeout ?? 10) * 1000;
    for (let waited = 0; waited < deadline && running.size > 0; waited += 100) await host.sleep(100);
    if (running.size > 0) {
      await host.run(killallArgv(jail, ['-KILL'])).catch(() => undefined);
      // Whatever never reached the jail (a launcher stuck before jail_attach) dies too.
      send('SIGKILL');
    }
  };

  const start = async (argv: readonly string[], env: Buffer): Promise<number> => {
    let p: JailProcess;
    try {
      p = host.spawn(argv, env, std);
    } catch (err) {
      report(`cannot start ${argv[0] ?? ''}: ${errorMessage(err)}`);
      return 125;
    }
    running.add(p);
    try {
      return await p.exited;
    } finally {
      running.delete(p);
    }
  };

  const one = async ({ app, env, preStart, exec, postStop }: AppCommands): Promise<void> => {
    let status = preStart === null || stopping ? 0 : await start(preStart, env);
    // Stopping (a signal came, or another app failed): this app does not start.
    if (status === 0 && stopping) status = signalStatus(sig.received ?? 'SIGTERM');
    if (status === 0) {
      status = await start(exec, env);
      if (postStop !== null) await start(postStop, env);
    }
    opts.onAppExit?.(app.name, status);
    if (status !== 0 && firstFailure === undefined) {
      firstFailure = status;
      await stopOthers();
    }
  };

  try {
    const settled = await Promise.allSettled(apps.map(one));
    const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
  } finally {
    sig.forward = undefined;
  }
  return firstFailure ?? 0;
}

/**
 * The real host on FreeBSD: tools run with execa (no shell; stdout returned, stderr quoted in the
 * error), jetpack-stage2 spawned with node:child_process with a pipe on descriptor 3 that carries
 * the environment and is then closed.
 */
export async function freebsdHost(): Promise<JailHost> {
  const { execa } = await import('execa');
  const { spawn } = await import('node:child_process');
  return {
    async run(argv) {
      const r = await execa(argv[0] as string, argv.slice(1), { reject: false, stdin: 'ignore' });
      if (r.exitCode !== 0) {
        const why = String(r.stderr).trim().split('\n').pop() || (r.failed ? r.shortMessage : `exit status ${String(r.exitCode)}`);
        throw new JetpackError('environment', `${path.basename(argv[0] as string)}: ${why}`);
      }
      return String(r.stdout);
    },
    spawn(argv, fd3, stdio) {
      const child = spawn(argv[0] as string, argv.slice(1), { stdio: [...stdio, 'pipe'] });
      const pipe = child.stdio[3];
      if (pipe !== null && pipe !== undefined && 'end' in pipe) {
        pipe.on('error', () => undefined);
        pipe.end(fd3);
      }
      const exited = new Promise<number>((resolve) => {
        child.on('error', () => resolve(127));
        child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 128 : signalStatus(signal))));
      });
      return {
        get pid() {
          return child.pid;
        },
        exited,
        kill(signal) {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        },
      };
    },
    makeDirs: makeMountDirs,
    canExecute: (file) => access(file, fsConstants.X_OK).then(() => true, () => false),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
