/**
 * Per-pod control groups on Linux: they enforce a pod's memory and CPU limits (./plan.ts
 * PlanLimits, resolved by ./isolators.ts) and list the pod's processes.
 *
 * Layout, in every hierarchy used (`jetpack` is shared by all pods and never removed):
 *
 *     <mount>/jetpack/<podUuid>            the pod: the pod's own limits, bounding everything below
 *     <mount>/jetpack/<podUuid>/_pod       the pod's own processes (the launcher, the pod's init)
 *     <mount>/jetpack/<podUuid>/<appName>  one per app: the app's limits and processes
 *
 * `_pod` cannot clash with an app, since `_` is not allowed in an AC Name; it exists because
 * cgroup v2 lets no process live in a cgroup whose controllers are enabled for its children.
 *
 * Two kinds of host, both supported ({@link detectCgroups}):
 *
 * - cgroup v2 (unified), preferred whenever a cgroup2 mount has the `memory` and `cpu` controllers
 *   in its `cgroup.controllers`: one hierarchy; `memory.max` (and `memory.swap.max` = 0 when there
 *   is swap accounting), `cpu.max` = `QUOTA 100000`. The controllers are enabled with `+memory
 *   +cpu` in `cgroup.subtree_control` of the mount's root, of `jetpack` and of the pod.
 * - cgroup v1 (legacy, or hybrid: v1 controllers at /sys/fs/cgroup/<controller> and a cgroup2 mount
 *   at /sys/fs/cgroup/unified without them): one hierarchy per controller, `memory`, `cpu` and
 *   `cpuacct` (one directory when co-mounted as `cpu,cpuacct`); `memory.limit_in_bytes` (and
 *   `memory.memsw.limit_in_bytes`, the same value, when present), `cpu.cfs_period_us` = 100000 and
 *   `cpu.cfs_quota_us` = millicores × 100.
 *
 * CPU quotas are per 100 ms period: 1000 millicores = 100000 µs each period (a full CPU).
 * A process joins a cgroup when its pid is written to `cgroup.procs` in every hierarchy
 * ({@link PodCgroup.addProcess}, or the launcher itself through {@link PodCgroup.appPaths}); its
 * children are born in the same cgroups.
 *
 * Failures to find or write the cgroup file systems are JetpackError('environment'), one line.
 */
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAcName } from '../appc/names.js';
import { JetpackError, conflict, invalid } from '../errors.js';
import type { PlanLimits } from './plan.js';

/** The cgroup under which every pod's cgroup lives, in each hierarchy. */
export const CGROUP_PARENT = 'jetpack';
/** The leaf of a pod cgroup that holds the pod's own processes (not an app's). */
export const POD_LEAF = '_pod';
/** CFS period of every limited cgroup, µs. */
export const CPU_PERIOD_US = 100_000;
/** Above this quota (µs per period, i.e. 10 million CPUs) a CPU limit is no limit (the kernel refuses more than ~2^44). */
const MAX_CPU_QUOTA_US = 1_000_000_000_000;

/** The controllers Jetpack uses. */
export type CgroupController = 'memory' | 'cpu' | 'cpuacct';

/** What {@link detectCgroups} found. */
export interface CgroupSystem {
  version: 'v1' | 'v2';
  /** Mount points of the hierarchies used, deduplicated (v2: one; v1: memory, cpu, cpuacct). */
  hierarchies: string[];
  /** The mount point holding each controller that is available (v2: all the same; `cpuacct` only on v1). */
  controllers: Partial<Record<CgroupController, string>>;
  /** One line for the user, e.g. `cgroup v2 at /sys/fs/cgroup (memory, cpu)`. */
  summary: string;
}

/** Where {@link detectCgroups} looks; tests give other sources. */
export interface DetectOptions {
  /** Text of /proc/self/mountinfo (default: read it). */
  mountinfo?: string;
  /** The controllers listed in `<mountPoint>/cgroup.controllers` of a cgroup2 mount (default: read it). */
  v2Controllers?: (mountPoint: string) => Promise<string[]>;
}

/** Current usage of a cgroup, as far as the host reports it. */
export interface CgroupUsage {
  /** CPU time consumed, µs (v2 cpu.stat usage_usec; v1 cpuacct.usage / 1000). */
  cpuUsec?: number;
  /** Memory charged, bytes (v2 memory.current; v1 memory.usage_in_bytes). */
  memoryBytes?: number;
  /** Processes killed by the OOM killer for this cgroup's limit (v2 memory.events; v1 memory.oom_control). */
  oomKills?: number;
}

/** A pod's cgroup: see the module comment for its layout. */
export interface PodCgroup {
  readonly podUuid: string;
  readonly system: CgroupSystem;
  /** The pod cgroup `<mount>/jetpack/<podUuid>`, one per hierarchy; the pod's limits live here. */
  readonly dirs: readonly string[];
  /** Where the pod's own processes go (`.../_pod`), one directory per hierarchy: write a pid into each `cgroup.procs`. */
  readonly podPaths: readonly string[];
  /** The apps that have a cgroup here. */
  readonly appNames: readonly string[];
  /**
   * The app's cgroup directories (`.../<appName>`, one per hierarchy), whose `cgroup.procs` a
   * launcher writes a pid (or `0`, itself) into.
   * @throws JetpackError('internal') for an app that has no cgroup here
   */
  appPaths(appName: string): string[];
  /**
   * Move a process (all its threads) into the app's cgroup, or the pod's own (`null`), in every
   * hierarchy.
   * @throws JetpackError('internal') when the process is gone or cannot be moved
   */
  addProcess(appName: string | null, pid: number): Promise<void>;
  /** Every process of the pod (the pod's own and every app's), sorted, each once. */
  pids(): Promise<number[]>;
  /** Usage of the whole pod, or of one app. */
  usage(appName?: string): Promise<CgroupUsage>;
  /**
   * Remove the pod's cgroups (rmdir, children first). Waits for them to become empty, retrying
   * `attempts` times `delayMs` apart (default 20 × 50 ms); already removed is fine.
   * @throws JetpackError('conflict') when processes remain (they are listed)
   */
  remove(opts?: { attempts?: number; delayMs?: number }): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Detection

interface Mount {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** `\040` and friends of /proc/self/mountinfo. */
const unescapeMount = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

/** The cgroup and cgroup2 mounts of a mountinfo text (proc(5)), in order. */
function cgroupMounts(mountinfo: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const mountPoint = pre[4];
    const fsType = post[0];
    if (mountPoint === undefined || (fsType !== 'cgroup' && fsType !== 'cgroup2')) continue;
    mounts.push({ mountPoint: unescapeMount(mountPoint), fsType, superOptions: (post[2] ?? '').split(',') });
  }
  return mounts;
}

async function readV2Controllers(mountPoint: string): Promise<string[]> {
  try {
    return (await readFile(path.join(mountPoint, 'cgroup.controllers'), 'utf8')).split(/\s+/).filter((c) => c !== '');
  } catch {
    return [];
  }
}

const dedupe = (xs: Iterable<string>): string[] => [...new Set(xs)];

/**
 * Find the cgroup hierarchies to use: cgroup v2 when a cgroup2 mount offers the `memory` and `cpu`
 * controllers, else the cgroup v1 `memory`, `cpu` and `cpuacct` hierarchies (a hybrid host), else
 * a cgroup2 mount without them (it can still list a pod's processes, but not limit them).
 * @throws JetpackError('environment') when no cgroup file system is mounted
 */
export async function detectCgroups(opts: DetectOptions = {}): Promise<CgroupSystem> {
  let mountinfo = opts.mountinfo;
  if (mountinfo === undefined) {
    try {
      mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    } catch (err) {
      throw new JetpackError('environment', `cgroups: cannot read /proc/self/mountinfo: ${oneLine(err)}`);
    }
  }
  const readControllers = opts.v2Controllers ?? readV2Controllers;
  const mounts = cgroupMounts(mountinfo);
  const v2: Array<{ mountPoint: string; controllers: string[] }> = [];
  for (const m of mounts) if (m.fsType === 'cgroup2') v2.push({ mountPoint: m.mountPoint, controllers: await readControllers(m.mountPoint) });

  const full = v2.find((m) => m.controllers.includes('memory') && m.controllers.includes('cpu'));
  if (full !== undefined) {
    const mp = full.mountPoint;
    return { version: 'v2', hierarchies: [mp], controllers: { memory: mp, cpu: mp }, summary: `cgroup v2 at ${mp} (memory, cpu)` };
  }

  const v1: Partial<Record<CgroupController, string>> = {};
  for (const m of mounts) {
    if (m.fsType !== 'cgroup') continue;
    for (const c of ['memory', 'cpu', 'cpuacct'] as const) if (m.superOptions.includes(c) && v1[c] === undefined) v1[c] = m.mountPoint;
  }
  const v2Note = v2.map((m) => `; cgroup2 at ${m.mountPoint} has ${m.controllers.length === 0 ? 'no controllers' : `only ${m.controllers.join(' ')}`}`).join('');
  if (v1.memory !== undefined || v1.cpu !== undefined) {
    const found = (['memory', 'cpu', 'cpuacct'] as const).filter((c) => v1[c] !== undefined);
    const summary = `cgroup v1: ${found.map((c) => `${c} at ${v1[c] as string}`).join(', ')}${v2Note}`;
    return { version: 'v1', hierarchies: dedupe(found.map((c) => v1[c] as string)), controllers: v1, summary };
  }

  const some = v2[0];
  if (some !== undefined) {
    const controllers: Partial<Record<CgroupController, string>> = {};
    for (const c of ['memory', 'cpu'] as const) if (some.controllers.includes(c)) controllers[c] = some.mountPoint;
    return { version: 'v2', hierarchies: [some.mountPoint], controllers, summary: `cgroup v2 at ${some.mountPoint} (${some.controllers.join(', ') || 'no controllers'})` };
  }
  throw new JetpackError('environment', 'cgroups: no cgroup file system is mounted (neither cgroup2 nor cgroup v1 memory/cpu at /sys/fs/cgroup)');
}

// ---------------------------------------------------------------------------------------------
// File helpers

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, '; ');
}

const codeOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/** A failure to set up cgroups, as JetpackError('environment'). */
function environment(what: string, err: unknown): JetpackError {
  const hint = ['EACCES', 'EPERM', 'EROFS'].includes(codeOf(err) ?? '') ? ' (cgroups need root and a writable /sys/fs/cgroup)' : '';
  return new JetpackError('environment', `cgroups: cannot ${what}: ${oneLine(err)}${hint}`);
}

async function write(file: string, value: string): Promise<void> {
  try {
    await writeFile(file, value);
  } catch (err) {
    throw environment(`write "${value}" to ${file}`, err);
  }
}

/** Write when the file exists; errors ignored (optional knobs such as swap limits). */
async function writeIfPresent(file: string, value: string): Promise<void> {
  try {
    await access(file, fsConstants.W_OK);
    await writeFile(file, value);
  } catch {
    // absent or refused: the knob is optional
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The pids in `<dir>/cgroup.procs` of `dir` and all cgroups below it. */
async function treePids(dir: string, into: Set<number>): Promise<void> {
  const procs = await readText(path.join(dir, 'cgroup.procs'));
  if (procs === undefined) return;
  for (const line of procs.split('\n')) if (line !== '') into.add(Number(line));
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await treePids(path.join(dir, e.name), into);
}

/** rmdir `dir` and every cgroup below it, children first; ENOENT is fine. @returns the error code that stopped it, if any. */
async function removeTree(dir: string): Promise<string | undefined> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return undefined;
    throw environment(`read ${dir}`, err);
  }
  let failed: string | undefined;
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const r = await removeTree(path.join(dir, e.name));
    failed ??= r;
  }
  try {
    await rmdir(dir);
  } catch (err) {
    const code = codeOf(err);
    if (code === 'ENOENT') return failed;
    if (code === 'EBUSY' || code === 'ENOTEMPTY') return failed ?? code;
    throw environment(`remove ${dir}`, err);
  }
  return failed;
}

// ---------------------------------------------------------------------------------------------
// Limits

/** CFS quota (µs per {@link CPU_PERIOD_US}) of a CPU limit, or undefined for "no limit". */
function cpuQuota(millicores: number | undefined): number | undefined {
  if (millicores === undefined) return undefined;
  const quota = Math.max(1000, Math.ceil(millicores * (CPU_PERIOD_US / 1000)));
  return quota > MAX_CPU_QUOTA_US ? undefined : quota;
}

function checkLimits(limits: PlanLimits, who: string): void {
  const { memoryBytes: m, cpuMillicores: c } = limits;
  if (m !== undefined && !(Number.isSafeInteger(m) && m > 0)) throw invalid(`${who}: memory limit ${m} is not a positive whole number of bytes`);
  if (c !== undefined && !(Number.isFinite(c) && c > 0)) throw invalid(`${who}: CPU limit ${c} is not a positive number of millicores`);
}

/** Write `limits` into the cgroup `rel` (relative to each hierarchy); `podQuota` bounds a v1 CPU quota. */
async function applyLimits(system: CgroupSystem, rel: string, limits: PlanLimits, podQuota: number | undefined): Promise<void> {
  const { memory, cpu } = system.controllers;
  if (limits.memoryBytes !== undefined && memory !== undefined) {
    const dir = path.join(memory, rel);
    if (system.version === 'v2') {
      await write(path.join(dir, 'memory.max'), String(limits.memoryBytes));
      await writeIfPresent(path.join(dir, 'memory.swap.max'), '0');
    } else {
      await write(path.join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      await writeIfPresent(path.join(dir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
    }
  }
  let quota = cpuQuota(limits.cpuMillicores);
  if (quota !== undefined && cpu !== undefined) {
    const dir = path.join(cpu, rel);
    if (system.version === 'v2') {
      await write(path.join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
    } else {
      // v1 refuses a child quota above its parent's (EINVAL); v2 bounds it silently.
      if (podQuota !== undefined) quota = Math.min(quota, podQuota);
      await write(path.join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      await write(path.join(dir, 'cpu.cfs_quota_us'), String(quota));
    }
  }
}

/** Enable the memory and cpu controllers for the children of `dir` (v2). */
async function enableControllers(system: CgroupSystem, dir: string): Promise<void> {
  const wanted = (['memory', 'cpu'] as const).filter((c) => system.controllers[c] !== undefined);
  if (wanted.length === 0) return;
  const file = path.join(dir, 'cgroup.subtree_control');
  const enabled = ((await readText(file)) ?? '').split(/\s+/);
  for (const c of wanted) if (!enabled.includes(c)) await write(file, `+${c}`);
}

// ---------------------------------------------------------------------------------------------
// The pod cgroup

function checkUuid(podUuid: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(podUuid)) throw invalid(`pod ${JSON.stringify(podUuid)}: not a pod UUID (cannot name a cgroup)`);
}

class PodCgroupImpl implements PodCgroup {
  readonly dirs: readonly string[];
  readonly podPaths: readonly string[];

  constructor(
    readonly podUuid: string,
    readonly system: CgroupSystem,
    readonly appNames: readonly string[],
  ) {
    this.dirs = system.hierarchies.map((h) => path.join(h, CGROUP_PARENT, podUuid));
    this.podPaths = this.dirs.map((d) => path.join(d, POD_LEAF));
  }

  appPaths(appName: string): string[] {
    if (!this.appNames.includes(appName)) throw new JetpackError('internal', `pod ${this.podUuid}: app ${JSON.stringify(appName)} has no cgroup`);
    return this.dirs.map((d) => path.join(d, appName));
  }

  async addProcess(appName: string | null, pid: number): Promise<void> {
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new JetpackError('internal', `cgroups: ${pid} is not a process id`);
    const dirs = appName === null ? this.podPaths : this.appPaths(appName);
    for (const d of dirs) {
      const file = path.join(d, 'cgroup.procs');
      try {
        await writeFile(file, String(pid));
      } catch (err) {
        const why = codeOf(err) === 'ESRCH' ? 'no such process' : oneLine(err);
        throw new JetpackError('internal', `cgroups: cannot move process ${pid} into ${d}: ${why}`);
      }
    }
  }

  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const d of this.dirs) await treePids(d, all);
    return [...all].sort((a, b) => a - b);
  }

  async usage(appName?: string): Promise<CgroupUsage> {
    if (appName !== undefined) this.appPaths(appName); // throws for an unknown app
    const rel = path.join(CGROUP_PARENT, this.podUuid, appName ?? '');
    const { memory, cpu, cpuacct } = this.system.controllers;
    const out: CgroupUsage = {};
    const num = (s: string | undefined): number | undefined => (s === undefined || s.trim() === '' ? undefined : Number(s.trim()));
    const field = (text: string | undefined, key: string): number | undefined => {
      const m = text === undefined ? null : new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
      return m?.[1] === undefined ? undefined : Number(m[1]);
    };
    let cpuUsec: number | undefined;
    let memoryBytes: number | undefined;
    let oomKills: number | undefined;
    if (this.system.version === 'v2') {
      const dir = path.join(this.system.hierarchies[0] as string, rel);
      cpuUsec = field(await readText(path.join(dir, 'cpu.stat')), 'usage_usec');
      if (memory !== undefined) {
        memoryBytes = num(await readText(path.join(dir, 'memory.current')));
        oomKills = field(await readText(path.join(dir, 'memory.events')), 'oom_kill');
      }
    } else {
      const acct = cpuacct ?? cpu;
      if (acct !== undefined) {
        const ns = num(await readText(path.join(acct, rel, 'cpuacct.usage')));
        if (ns !== undefined) cpuUsec = Math.floor(ns / 1000);
      }
      if (memory !== undefined) {
        memoryBytes = num(await readText(path.join(memory, rel, 'memory.usage_in_bytes')));
        oomKills = field(await readText(path.join(memory, rel, 'memory.oom_control')), 'oom_kill');
      }
    }
    if (cpuUsec !== undefined) out.cpuUsec = cpuUsec;
    if (memoryBytes !== undefined) out.memoryBytes = memoryBytes;
    if (oomKills !== undefined) out.oomKills = oomKills;
    return out;
  }

  async remove(opts: { attempts?: number; delayMs?: number } = {}): Promise<void> {
    const attempts = Math.max(1, opts.attempts ?? 20);
    const delayMs = opts.delayMs ?? 50;
    for (let i = 1; ; i++) {
      // Nothing is touched while processes remain (a live pod keeps all its cgroups).
      const pids = await this.pids();
      let busy: string | undefined;
      if (pids.length === 0) {
        for (const d of this.dirs) {
          const r = await removeTree(d);
          busy ??= r;
        }
        if (busy === undefined) return;
      }
      if (i >= attempts) {
        const what = pids.length > 0 ? `still has processes ${pids.join(' ')}` : `is busy (${busy ?? 'EBUSY'})`;
        throw conflict(`cgroups: pod ${this.podUuid}: ${this.dirs[0] ?? ''} ${what}; stop them first`);
      }
      await sleep(delayMs);
    }
  }
}

/**
 * Create the cgroups of a pod: the pod's (with `podLimits`), its `_pod` leaf and one per app (with
 * its limits). Created even with no limit at all, to list the pod's processes. A leftover cgroup of
 * the same pod without processes (a crash) is removed first.
 *
 * @param appLimits every app of the pod by name, with its limits (`{}` for none)
 * @param opts.system the hierarchies to use (default: {@link detectCgroups})
 * @throws JetpackError('environment') when cgroups are not mounted, lack a controller a limit needs,
 *   or cannot be written; JetpackError('conflict') when the pod's cgroup exists with processes;
 *   JetpackError('invalid') for a bad pod UUID, app name or limit
 */
export async function createPodCgroup(
  podUuid: string,
  podLimits: PlanLimits,
  appLimits: Readonly<Record<string, PlanLimits>>,
  opts: { system?: CgroupSystem } = {},
): Promise<PodCgroup> {
  checkUuid(podUuid);
  checkLimits(podLimits, `pod ${podUuid}`);
  const appNames = Object.keys(appLimits);
  for (const name of appNames) {
    if (!isAcName(name)) throw invalid(`app ${JSON.stringify(name)}: not an AC Name (cannot name a cgroup)`);
    checkLimits(appLimits[name] ?? {}, `app ${name}`);
  }
  const system = opts.system ?? (await detectCgroups());
  const all = [podLimits, ...Object.values(appLimits)];
  for (const [c, needed] of [
    ['memory', all.some((l) => l.memoryBytes !== undefined)],
    ['cpu', all.some((l) => l.cpuMillicores !== undefined)],
  ] as const) {
    if (needed && system.controllers[c] === undefined) {
      throw new JetpackError('environment', `cgroups: a ${c === 'memory' ? 'resource/memory' : 'resource/cpu'} limit needs the ${c} controller, which is not available (${system.summary})`);
    }
  }

  const stale = await openPodCgroup(podUuid, { system });
  if (stale !== undefined) await stale.remove({ attempts: 1 });

  const cg = new PodCgroupImpl(podUuid, system, appNames);
  const podRel = path.join(CGROUP_PARENT, podUuid);
  try {
    for (const h of system.hierarchies) {
      const parent = path.join(h, CGROUP_PARENT);
      const pod = path.join(h, podRel);
      if (system.version === 'v2') await enableControllers(system, h);
      try {
        await mkdir(parent); // not recursive: the mount point must exist
      } catch (err) {
        if (codeOf(err) !== 'EEXIST') throw environment(`create ${parent}`, err);
      }
      if (system.version === 'v2') await enableControllers(system, parent);
      else if (h === system.controllers.memory) await writeIfPresent(path.join(parent, 'memory.use_hierarchy'), '1');
      try {
        await mkdir(pod);
      } catch (err) {
        throw environment(`create ${pod}`, err);
      }
      if (system.version === 'v2') await enableControllers(system, pod);
    }
    await applyLimits(system, podRel, podLimits, undefined);
    const podQuota = cpuQuota(podLimits.cpuMillicores);
    for (const leaf of [POD_LEAF, ...appNames]) {
      for (const h of system.hierarchies) {
        const dir = path.join(h, podRel, leaf);
        try {
          await mkdir(dir);
        } catch (err) {
          throw environment(`create ${dir}`, err);
        }
      }
      if (leaf !== POD_LEAF) await applyLimits(system, path.join(podRel, leaf), appLimits[leaf] ?? {}, podQuota);
    }
  } catch (err) {
    await cg.remove({ attempts: 1 }).catch(() => undefined);
    throw err;
  }
  return cg;
}

/**
 * The cgroup of a pod that exists already (e.g. to list or stop its processes), or undefined.
 * @param opts.system the hierarchies to look in (default: {@link detectCgroups})
 */
export async function openPodCgroup(podUuid: string, opts: { system?: CgroupSystem } = {}): Promise<PodCgroup | undefined> {
  checkUuid(podUuid);
  const system = opts.system ?? (await detectCgroups());
  const appNames = new Set<string>();
  let found = false;
  for (const h of system.hierarchies) {
    const dir = path.join(h, CGROUP_PARENT, podUuid);
    if (!(await exists(dir))) continue;
    found = true;
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory() && e.name !== POD_LEAF) appNames.add(e.name);
    }
  }
  return found ? new PodCgroupImpl(podUuid, system, [...appNames].sort()) : undefined;
}

/**
 * Remove what is left of a pod's cgroups after a crash. With `kill`, the pod's remaining processes
 * are killed first (SIGKILL; `cgroup.kill` on v2 when the kernel has it).
 * @returns whether there was a cgroup to remove
 * @throws JetpackError('conflict') when processes remain (without `kill`, or when they survive it)
 */
export async function removeStalePodCgroup(podUuid: string, opts: { kill?: boolean; system?: CgroupSystem } = {}): Promise<boolean> {
  const cg = await openPodCgroup(podUuid, opts.system === undefined ? {} : { system: opts.system });
  if (cg === undefined) return false;
  if (opts.kill === true) {
    if (cg.system.version === 'v2') for (const d of cg.dirs) await writeIfPresent(path.join(d, 'cgroup.kill'), '1');
    for (let i = 0; i < 50; i++) {
      const pids = await cg.pids();
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await sleep(20);
    }
  }
  await cg.remove();
  return true;
}
