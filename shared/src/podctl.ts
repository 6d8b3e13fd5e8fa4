/**
 * Acting on a running pod from the host: `pod kill` and `pod destroy -f` ({@link stopPod}),
 * `pod console` (it joins the pod's init), `pod ps`, `pod top` and `pod killall` (the pod's
 * processes, {@link podProcesses}).
 *
 * The pod's processes are the host processes in the PID namespace of its init (RunState.init,
 * PID 1 inside; store.ts § RunState), found through proc(5): /proc/PID/ns/pid names the namespace.
 * A recorded pid may have been reused since it was written, so the init is first checked
 * ({@link podInit}): in another PID namespace than ours, and a grandchild of the recorded jail-run
 * through jetpack-stage1 (commands/jail-run/src/stage1.c § PROCESSES). A signal goes to a pid only
 * after its namespace and start time were checked again.
 *
 * Linux only: on FreeBSD the init is a jail ID and these act through jail(8) (run/freebsd.ts).
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { conflict, JetpackError, notFound, usage } from './errors.js';
import type { Pod, RunState, Store } from './store/store.js';
import { userNames } from './users.js';

/** Default seconds between SIGTERM and SIGKILL for `pod kill` (the original's `jail -r` stop.timeout). */
export const DEFAULT_STOP_TIMEOUT = 10;
/** The most pids top(1) of procps watches (`-p`): more is "pid limit (20) exceeded". */
export const TOP_MAX_PIDS = 20;

/** A running pod's init, checked (see {@link podInit}). */
export interface PodInit {
  /** Host pid of the pod's PID 1. */
  pid: number;
  /** The pod's PID namespace: readlink(2) of /proc/PID/ns/pid, e.g. `pid:[4026532301]`. */
  ns: string;
  /** Its start time (proc(5) stat field 22), to tell it from a later process with the same pid. */
  start: string;
}

/** What proc(5) tells of one process. */
export interface ProcInfo {
  hostPid: number;
  ppid: number;
  /** The pid in its innermost PID namespace (the last NSpid of /proc/PID/status). */
  nspid: number;
  /** Real uid. */
  uid: number;
  /** /proc/PID/comm: the name, at most 15 bytes. */
  comm: string;
  /** /proc/PID/cmdline split at NUL, empty strings dropped (none for a zombie or a kernel thread). */
  argv: string[];
  /** readlink of /proc/PID/ns/pid ('' when unreadable). */
  ns: string;
  /** proc(5) stat field 22, starttime. */
  start: string;
}

/** One process of a pod, as `pod ps` shows it. */
export interface PodProcess {
  /** The pid inside the pod (1 = its init). */
  pid: number;
  hostPid: number;
  uid: number;
  /** The uid's name in the pod's first app's /etc/passwd, or the number. */
  user: string;
  /** The arguments, joined by spaces. */
  command: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function linuxOnly(what: string): void {
  if (process.platform !== 'linux') throw new JetpackError('environment', `${what} is not available on ${process.platform} yet (Linux only)`);
}

/** The pod is running or being stopped: its jail-run is alive and has not recorded an end. */
export function isLive(pod: Pod): boolean {
  return pod.state === 'running' || pod.state === 'dying';
}

/** proc(5) facts of a host pid, or null when it does not exist (any more). */
export async function procInfo(pid: number): Promise<ProcInfo | null> {
  try {
    const [status, stat, cmdline, comm] = await Promise.all([
      readFile(`/proc/${pid}/status`, 'utf8'),
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
      readFile(`/proc/${pid}/comm`, 'utf8'),
    ]);
    const field = (k: string): string => status.split('\n').find((l) => l.startsWith(`${k}:`))?.slice(k.length + 1).trim() ?? '';
    const nspids = field('NSpid').split(/\s+/);
    // stat: "PID (COMM) STATE PPID ..."; COMM may hold spaces and parentheses, so cut at the last ')'.
    const afterComm = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      hostPid: pid,
      ppid: Number(field('PPid')),
      nspid: Number(nspids[nspids.length - 1]),
      uid: Number(field('Uid').split(/\s+/)[0]),
      comm: comm.replace(/\n$/, ''),
      argv: cmdline.split('\0').filter((s) => s !== ''),
      ns: await readlink(`/proc/${pid}/ns/pid`).catch(() => ''),
      start: afterComm[19] ?? '',
    };
  } catch {
    return null;
  }
}

/** Our own PID namespace (readlink of /proc/self/ns/pid). */
async function ownPidNamespace(): Promise<string> {
  return readlink('/proc/self/ns/pid');
}

/**
 * The pod's init from its run state, checked against pid reuse: the recorded `init` exists, is in
 * another PID namespace than ours, and its parent (the launcher, jetpack-stage1) is a child of the
 * recorded jail-run (`pid`). null when the run has no init (never ran, ended, starting) or the pid
 * now belongs to another process.
 */
export async function podInit(run: RunState): Promise<PodInit | null> {
  linuxOnly('acting on a running pod');
  if (run.init === undefined || run.pid === undefined || run.exited !== undefined) return null;
  const init = await procInfo(run.init);
  if (init === null || init.ns === '' || init.ns === (await ownPidNamespace())) return null;
  const launcher = await procInfo(init.ppid);
  if (launcher === null || launcher.ppid !== run.pid) return null;
  return { pid: init.hostPid, ns: init.ns, start: init.start };
}

/**
 * The init of a running pod, waiting up to `waitMs` for a pod that is starting to record it.
 * @throws JetpackError conflict "pod UUID: is not running" when it is not (or no longer) running
 */
export async function runningInit(store: Store, pod: Pod, waitMs = 5_000): Promise<PodInit> {
  const end = Date.now() + waitMs;
  let current: Pod | null = pod;
  for (;;) {
    if (current === null) throw notFound(`pod ${pod.uuid}: no such pod`);
    if (!isLive(current)) throw conflict(`pod ${pod.uuid}: is not running`);
    const init = await podInit(current.run);
    if (init !== null) return init;
    if (Date.now() > end) {
      throw conflict(`pod ${pod.uuid}: is not running (no process of it is left: jail-run pid ${current.run.pid} is ending the run)`);
    }
    await sleep(50);
    current = await store.pod(pod.uuid);
  }
}

/** Whether `pid` is still the process it was (same PID namespace and start time; a zombie is not). */
export async function sameProcess(pid: number, ns: string, start: string): Promise<boolean> {
  const now = await procInfo(pid);
  return now !== null && now.ns === ns && now.start === start;
}

/**
 * Send `signal` to a host pid if it is still the process of the pod it was (namespace `ns`, start
 * time `start`). Returns false when it is gone.
 */
export async function signalProcess(pid: number, ns: string, start: string, signal: NodeJS.Signals | number): Promise<boolean> {
  if (!(await sameProcess(pid, ns, start))) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Host pids of the processes in the pod's PID namespace, by pid in the pod (its init first). */
export async function podPids(init: PodInit): Promise<number[]> {
  return (await podProcInfos(init)).map((p) => p.hostPid);
}

/** proc(5) facts of the pod's processes, by pid in the pod (its init, pid 1, first). */
export async function podProcInfos(init: PodInit): Promise<ProcInfo[]> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  const infos = await Promise.all(
    pids.map(async (pid) => {
      // Cheap test first: only the pod's processes are read in full.
      const ns = await readlink(`/proc/${pid}/ns/pid`).catch(() => '');
      return ns === init.ns ? procInfo(pid) : null;
    }),
  );
  return infos.filter((i): i is ProcInfo => i !== null && i.ns === init.ns).sort((a, b) => a.nspid - b.nspid);
}

/** The pod's processes as `pod ps` lists them; user names from `rootfs`'s /etc/passwd. */
export async function podProcesses(init: PodInit, rootfs: string): Promise<PodProcess[]> {
  const names = await userNames(rootfs);
  return (await podProcInfos(init))
    .map((i) => ({ pid: i.nspid, hostPid: i.hostPid, uid: i.uid, user: names.get(i.uid) ?? String(i.uid), command: i.argv.join(' ') }));
}

/** Poll `fn` every 100 ms until it gives a value or `ms` have passed (then undefined). */
async function poll<T>(fn: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined || Date.now() >= end) return v;
    await sleep(Math.min(100, Math.max(1, end - Date.now())));
  }
}

/** Options of {@link stopPod}. */
export interface StopOptions {
  /** Seconds between SIGTERM and SIGKILL (default {@link DEFAULT_STOP_TIMEOUT}). */
  timeout?: number;
  /** Told about each signal sent to the pod's init. */
  onSignal?: (signal: 'SIGTERM' | 'SIGKILL', pid: number) => void;
}

/**
 * Stop a running pod: record `dying` in its run state, send SIGTERM to its init (which forwards it
 * to every app), wait up to `timeout` seconds for the pod to exit, then SIGKILL the init (the
 * kernel then kills every process of the pod), and wait for jail-run to record the end. A pod
 * already `dying` (another `pod kill` is stopping it) gets no second SIGTERM: this call waits and
 * escalates on its own timeout. A pod that is not running is returned as it is.
 * @returns the pod as it is after (state `exited`, `run.status`, `run.dying` kept)
 * @throws JetpackError('internal') when the pod is still recorded running 10 s after the SIGKILL;
 *   not-found when it was destroyed meanwhile
 */
export async function stopPod(store: Store, pod: Pod, opts: StopOptions = {}): Promise<Pod> {
  if (!isLive(pod)) return pod;
  linuxOnly('stopping a running pod');
  const timeout = opts.timeout ?? DEFAULT_STOP_TIMEOUT;
  if (!Number.isFinite(timeout) || timeout < 0) throw usage(`timeout ${timeout}: not a number of seconds >= 0`);
  const uuid = pod.uuid;
  const wasDying = pod.state === 'dying';
  const reread = async (): Promise<Pod> => {
    const p = await store.pod(uuid);
    if (p === null) throw notFound(`pod ${uuid}: was destroyed while being stopped`);
    return p;
  };
  const ended = async (): Promise<Pod | undefined> => {
    const p = await reread();
    return isLive(p) ? undefined : p;
  };
  const signalInit = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean> => {
    const current = await reread();
    if (!isLive(current)) return false;
    const init = await runningInit(store, current).catch(() => null);
    if (init === null) return false;
    const sent = await signalProcess(init.pid, init.ns, init.start, signal);
    if (sent) opts.onSignal?.(signal, init.pid);
    return sent;
  };

  await store.markDying(uuid);
  if (!wasDying) await signalInit('SIGTERM');
  let after = await poll(ended, timeout * 1000);
  if (after === undefined) {
    await signalInit('SIGKILL');
    after = await poll(ended, 10_000);
    if (after === undefined) {
      const p = await reread();
      throw new JetpackError('internal', `pod ${uuid}: still recorded running 10 s after SIGKILL to its init (pid ${p.run.init ?? '?'}; jail-run pid ${p.run.pid ?? '?'})`);
    }
  }
  // jail-run's last step after recording the end is removing the pod's network: let it finish.
  const launcher = pod.run.pid;
  if (launcher !== undefined) {
    await poll(async () => ((await readFile(`/proc/${launcher}/stat`).catch(() => null)) === null ? true : undefined), 5_000);
  }
  return after;
}

// ---- ps(1) and top(1) restricted to the pod's processes ----

/** Long options of procps ps(1) that only change the output, and whether they take a value. */
const PS_LONG: Record<string, boolean> = {
  format: true, sort: true, cols: true, columns: true, width: true, lines: true, rows: true,
  forest: false, headers: false, 'no-headers': false, noheaders: false, context: false, cumulative: false,
  help: false, version: false, info: false,
};
/** UNIX-style (`-x`) output letters of ps(1): without and with a value. */
const PS_UNIX_FLAGS = new Set('cfFHjlLmMPTwyZV'.split(''));
const PS_UNIX_VALUED = new Set('oO'.split(''));
/** BSD-style (no dash) output letters of ps(1): without and with a value. */
const PS_BSD_FLAGS = new Set('cefhHjlLmnrsSuvwXZV'.split(''));
const PS_BSD_VALUED = new Set('oOk'.split(''));

/**
 * Check ps(1) OPTIONS for `pod ps`: the processes are selected with `-p` (the pod's), so only
 * options that shape the output pass; one that selects processes (`-e`, `-A`, `-a`, `-d`, `-N`,
 * `-C`, `-G`, `-g`, `-p`, `-q`, `-s`, `-t`, `-u`, `-U`, `a`, `x`, `g`, `T`, `p`, `q`, `t`, `U`,
 * `--pid`, `--ppid`, `--user`..., or a bare pid) would widen the list to other processes, since
 * procps adds selections up. Pure.
 * @throws JetpackError('usage') naming the first option refused
 */
export function checkPsOptions(options: readonly string[]): void {
  const refuse = (o: string, why = 'selects processes (pod ps shows the pod\'s, with -p)'): never => {
    throw usage(`ps option "${o}" ${why}; only output options are passed to ps(1)`);
  };
  for (let i = 0; i < options.length; i++) {
    const o = options[i] as string;
    if (o.startsWith('--')) {
      const [name, value] = [o.slice(2).split('=')[0] as string, o.includes('=')];
      if (!(name in PS_LONG)) refuse(o);
      if (PS_LONG[name] === true && !value) i++;
      if (name === 'help' && /^(simple|list|output|threads|misc|all)$/.test(options[i + 1] ?? '')) i++;
      continue;
    }
    const unix = o.startsWith('-');
    const letters = unix ? o.slice(1) : o;
    if (letters === '' || /^[0-9]/.test(letters)) refuse(o);
    const [flags, valued] = unix ? [PS_UNIX_FLAGS, PS_UNIX_VALUED] : [PS_BSD_FLAGS, PS_BSD_VALUED];
    for (let j = 0; j < letters.length; j++) {
      const c = letters[j] as string;
      if (valued.has(c)) {
        if (j === letters.length - 1) i++; // the value is the next argument
        break;
      }
      if (!flags.has(c)) refuse(o, `(${unix ? '-' : ''}${c}) selects processes or is unknown to pod ps`);
    }
  }
}

/** The ps(1) command line of `pod ps OPTIONS`. Pure; check OPTIONS with {@link checkPsOptions}. */
export function psArgv(pids: readonly number[], options: readonly string[]): string[] {
  return ['ps', '-p', pids.join(','), ...options];
}

/** top(1) options (procps) that take a value, short and long. */
const TOP_VALUED = new Set('dEenoUupw'.split(''));
const TOP_LONG_VALUED = new Set(['delay', 'scale-summary-mem', 'scale-task-mem', 'iterations', 'sort-override', 'pid', 'filter-any-user', 'filter-only-euser']);
const TOP_SELECTING = new Set(['p', 'u', 'U', 'pid', 'filter-any-user', 'filter-only-euser']);

/**
 * Check top(1) OPTIONS for `pod top`: `-p` (the pod's pids) is ours; `-p`, `-u`, `-U` and their long
 * forms are refused (more `-p` would add other processes, `-u`/`-U` conflict with it). Pure.
 * @throws JetpackError('usage') naming the option
 */
export function checkTopOptions(options: readonly string[]): void {
  const refuse = (o: string): never => {
    throw usage(`top option "${o}" selects processes (pod top watches the pod's, with -p); it is not passed to top(1)`);
  };
  for (let i = 0; i < options.length; i++) {
    const o = options[i] as string;
    if (o === '--') break;
    if (o.startsWith('--')) {
      const name = o.slice(2).split('=')[0] as string;
      if (TOP_SELECTING.has(name)) refuse(o);
      if (TOP_LONG_VALUED.has(name) && !o.includes('=')) i++;
      continue;
    }
    if (!o.startsWith('-') || o === '-') continue; // a value
    const letters = o.slice(1);
    for (let j = 0; j < letters.length; j++) {
      const c = letters[j] as string;
      if (TOP_SELECTING.has(c)) refuse(o);
      if (TOP_VALUED.has(c)) {
        // -w takes its value only attached (getopt optional argument).
        if (j === letters.length - 1 && c !== 'w') i++;
        break;
      }
    }
  }
}

/**
 * The top(1) command line of `pod top OPTIONS`: `-p` with at most {@link TOP_MAX_PIDS} of the pod's
 * pids (the init first). Pure; check OPTIONS with {@link checkTopOptions}.
 */
export function topArgv(pids: readonly number[], options: readonly string[]): string[] {
  return ['top', '-p', pids.slice(0, TOP_MAX_PIDS).join(','), ...options];
}

// ---- killall ----

/** A signal given as a name (`TERM`, `SIGTERM`, `term`) or a number; undefined when it is neither. */
export function parseSignal(s: string): number | undefined {
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    return n >= 0 && n <= 64 ? n : undefined;
  }
  const name = s.toUpperCase().replace(/^SIG/, '');
  const n = (osConstants.signals as Record<string, number>)[`SIG${name}`];
  return n;
}

/** The name of a signal number (`TERM`), or the number. */
export function signalName(n: number): string {
  const entry = Object.entries(osConstants.signals).find(([, v]) => v === n);
  return entry === undefined ? String(n) : entry[0].replace(/^SIG/, '');
}

/** What `pod killall` was asked (see {@link parseKillallOptions}). */
export interface KillallRequest {
  signal: number;
  names: string[];
  exact: boolean;
  ignoreCase: boolean;
  regexp: boolean;
  user: string | undefined;
  quiet: boolean;
  verbose: boolean;
  wait: boolean;
  list: boolean;
}

/**
 * Parse the psmisc killall(1) options `pod killall` implements: `-SIGNAL`, `-s`/`--signal SIGNAL`,
 * `-e`/`--exact`, `-I`/`--ignore-case`, `-r`/`--regexp`, `-u`/`--user USER`, `-q`/`--quiet`,
 * `-v`/`--verbose`, `-w`/`--wait`, `-l`/`--list`, then NAME... (after `--` anything is a NAME).
 * The other psmisc options (`-g`, `-i`, `-n`, `-o`, `-y`, `-Z`) are refused. Pure.
 * @throws JetpackError('usage')
 */
export function parseKillallOptions(args: readonly string[]): KillallRequest {
  const req: KillallRequest = { signal: osConstants.signals.SIGTERM, names: [], exact: false, ignoreCase: false, regexp: false, user: undefined, quiet: false, verbose: false, wait: false, list: false };
  const longFlags: Record<string, keyof KillallRequest> = { exact: 'exact', 'ignore-case': 'ignoreCase', regexp: 'regexp', quiet: 'quiet', verbose: 'verbose', wait: 'wait', list: 'list' };
  const shortFlags: Record<string, keyof KillallRequest> = { e: 'exact', I: 'ignoreCase', r: 'regexp', q: 'quiet', v: 'verbose', w: 'wait', l: 'list' };
  const setSignal = (s: string | undefined, o: string): void => {
    const n = s === undefined ? undefined : parseSignal(s);
    if (n === undefined) throw usage(`killall ${o}: ${s === undefined ? 'needs a SIGNAL' : `unknown signal "${s}"`} (see killall -l)`);
    req.signal = n;
  };
  const unsupported = (o: string): never => {
    throw usage(`killall option "${o}" is not available in pod killall (it takes -SIGNAL, -s, -e, -I, -r, -u, -q, -v, -w, -l)`);
  };
  let i = 0;
  for (; i < args.length; i++) {
    const o = args[i] as string;
    if (o === '--') {
      i++;
      break;
    }
    if (!o.startsWith('-') || o === '-') break;
    if (o.startsWith('--')) {
      const eq = o.indexOf('=');
      const name = o.slice(2, eq < 0 ? undefined : eq);
      const value = (): string | undefined => (eq >= 0 ? o.slice(eq + 1) : args[++i]);
      const flag = longFlags[name];
      if (flag !== undefined) (req as unknown as Record<string, unknown>)[flag] = true;
      else if (name === 'signal') setSignal(value(), o);
      else if (name === 'user') req.user = value();
      else unsupported(o);
      continue;
    }
    const letters = o.slice(1);
    if (parseSignal(letters) !== undefined && !/^[eIrqvwlsu]+$/.test(letters)) {
      setSignal(letters, o); // -TERM, -9, -SIGHUP (letters that are options win: -s is not SIGS...)
      continue;
    }
    for (let j = 0; j < letters.length; j++) {
      const c = letters[j] as string;
      const flag = shortFlags[c];
      if (flag !== undefined) {
        (req as unknown as Record<string, unknown>)[flag] = true;
        continue;
      }
      if (c === 's' || c === 'u') {
        const v = j < letters.length - 1 ? letters.slice(j + 1) : args[++i];
        if (c === 's') setSignal(v, o);
        else if (v === undefined || v === '') throw usage(`killall ${o}: needs a USER`);
        else req.user = v;
        break;
      }
      unsupported(`-${c}`);
    }
  }
  req.names = args.slice(i).map(String);
  if (!req.list && req.names.length === 0) throw usage('killall: expected a process NAME');
  if (req.user === '') throw usage('killall --user: needs a USER');
  return req;
}

/** Whether process `p` matches NAME the way psmisc killall matches (comm, or argv[0] for long names). */
export function killallMatches(p: Pick<ProcInfo, 'comm' | 'argv'>, name: string, req: Pick<KillallRequest, 'exact' | 'ignoreCase' | 'regexp'>): boolean {
  const argv0 = (p.argv[0] ?? '').split('/').pop() ?? '';
  // comm holds at most 15 bytes: a longer name is compared with argv[0]'s base name.
  const long = p.comm.length === 15 && argv0.startsWith(p.comm) ? argv0 : p.comm;
  if (req.regexp) {
    let re: RegExp;
    try {
      re = new RegExp(name, req.ignoreCase ? 'i' : '');
    } catch (err) {
      throw usage(`killall -r ${name}: not a regular expression (${(err as Error).message})`);
    }
    return re.test(long);
  }
  const eq = (a: string, b: string): boolean => (req.ignoreCase ? a.toLowerCase() === b.toLowerCase() : a === b);
  if (name.length <= 15 || p.comm.length < 15) return eq(p.comm, name) || eq(long, name);
  return eq(long, name) || (!req.exact && eq(p.comm, name.slice(0, 15)));
}

/** One process `pod killall` signalled. */
export interface KilledProcess {
  pid: number;
  hostPid: number;
  name: string;
  signal: string;
}

/**
 * Split a command line of the form `[OPTIONS] POD [PASSED...]`, parsed by yargs with
 * halt-at-non-option (`positionals` = its `_`), into POD and the arguments after it, taken raw
 * from `argv` (yargs would turn `010` into 10); a leading `--` is dropped.
 */
export function podAndPassed(argv: readonly string[], positionals: readonly unknown[]): { pod: string | undefined; passed: string[] } {
  if (positionals.length === 0) return { pod: undefined, passed: [] };
  const passed = argv.slice(argv.length - (positionals.length - 1)).map(String);
  if (passed[0] === '--') passed.shift();
  return { pod: String(positionals[0]), passed };
}

/**
 * Run a host tool (ps(1), top(1)) on our stdin, stdout and stderr and return its exit status
 * (128+N when killed by signal N).
 * @throws JetpackError('environment') when it cannot be run (not installed)
 */
export async function runAttached(argv: readonly string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new JetpackError('internal', 'runAttached: no command');
  const { execa } = await import('execa');
  const r = await execa(cmd, args, { stdio: 'inherit', reject: false });
  if (typeof r.exitCode === 'number') return r.exitCode;
  if (r.signal !== undefined) return 128 + (osConstants.signals[r.signal] ?? 0);
  throw new JetpackError('environment', `cannot run ${cmd}: ${r.shortMessage ?? 'failed'}`);
}
