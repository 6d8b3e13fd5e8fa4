/**
 * Helpers of the crash and concurrency suites: run a real command and kill it at a chosen moment,
 * wait for what it left running to finish, and check a store the way a user (image-list, pod-list,
 * image-show, pod-show) and an administrator (the store tree, /proc/self/mountinfo, zfs list) see it.
 */
import { execa, type Result } from 'execa';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, type TestStore } from './fixtures.js';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ImageJson {
  uuid: string;
  id: string;
  name: string;
  rootfs: string;
}

export interface PodJson {
  uuid: string;
  state: string;
  status?: number;
  apps: Array<{ name: string; rootfs: string; image: { uuid: string } }>;
  run: { pid?: number; started?: string; exited?: string };
  manifest: { annotations?: Array<{ name: string; value: string }> };
}

/**
 * The argv that runs a Jetpack command on the store as fixtures.ts `jp` does, but without tap's
 * process-tracking hook: tap hands every node process its test starts `NODE_OPTIONS=--import=
 * @tapjs/processinfo` (and puts it back if the env drops it), which makes each command cost about
 * three times the CPU. env(1) removes it and execs the command (same pid, for signals).
 */
export function commandLine(store: TestStore, cmd: string, args: readonly string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', join(BIN, cmd), `--config=${store.config}`, ...args]];
}

/** Run a Jetpack command on the store (see {@link commandLine}); never rejects. */
export async function run(store: TestStore, cmd: string, args: readonly string[]): Promise<Result> {
  const [file, argv] = commandLine(store, cmd, args);
  return execa(file, argv, { reject: false, stdin: 'ignore' });
}

/** Parse a command's JSON stdout, or fail with its stderr. */
export function json<T>(r: Result, what: string): T {
  if (r.exitCode !== 0) throw new Error(`${what}: exit ${r.exitCode}: ${String(r.stderr)}`);
  return JSON.parse(String(r.stdout)) as T;
}

/** Entries of a store directory that do not exist (yet), for triggers. */
export function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A trigger that fires when `dir` gains an entry it did not have when the trigger was made. */
export function newEntryIn(dir: string): () => boolean {
  const before = new Set(entries(dir));
  return () => entries(dir).some((e) => !before.has(e));
}

export interface Shot {
  result: Result;
  /** The command was killed by the signal (it had not finished on its own). */
  killed: boolean;
  /** ms from the start to the trigger (undefined: no trigger, or it never fired). */
  triggeredAt?: number;
  /** ms from the start to the exit. */
  exitedAt: number;
}

/**
 * Run `cmd` on the store and send it `signal` `delay` ms after `trigger` first holds (polled every
 * millisecond or so; without a trigger, `delay` ms after the start). With no delay (undefined) the
 * command runs to its end: a calibration run.
 */
export async function shoot(
  store: TestStore,
  cmd: string,
  args: readonly string[],
  opts: { trigger?: () => boolean; delay?: number; signal?: NodeJS.Signals } = {},
): Promise<Shot> {
  const start = performance.now();
  const [file, argv] = commandLine(store, cmd, args);
  const child = execa(file, argv, { reject: false, stdin: 'ignore' });
  let exited = false;
  const done = child.then((r) => {
    exited = true;
    return r;
  });
  let triggeredAt: number | undefined;
  if (opts.trigger !== undefined) {
    while (!exited && !opts.trigger()) await sleep(2);
    if (!exited) triggeredAt = performance.now() - start;
  }
  if (opts.delay !== undefined && !exited) {
    await sleep(opts.delay);
    if (!exited) child.kill(opts.signal ?? 'SIGKILL');
  }
  const result = await done;
  return { result, killed: result.signal === (opts.signal ?? 'SIGKILL'), exitedAt: performance.now() - start, ...(triggeredAt === undefined ? {} : { triggeredAt }) };
}

/** `n` delays evenly spaced inside a window of `w` ms: the middles of n equal slices. */
export function sweep(w: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.round(((i + 0.5) * w) / n));
}

/** Host processes (not us) whose command line mentions one of `marks`. */
export function processesMentioning(marks: readonly string[]): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const e of entries('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (marks.some((m) => cmdline.includes(m))) out.push({ pid: Number(e), cmdline });
  }
  return out;
}

/** What names the store in a command line: its directory (config and root) and its dataset. */
export function storeMarks(store: TestStore): string[] {
  return [dirname(store.root), ...(store.dataset === undefined ? [] : [store.dataset])];
}

/**
 * Wait until no process works on the store any more: a SIGKILLed command's children (zfs(8),
 * mount(8), cp(1)) are not killed with it and finish what they were doing on their own.
 */
export async function waitQuiet(store: TestStore, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const left = processesMentioning(storeMarks(store));
    if (left.length === 0) return;
    if (Date.now() > end) throw new Error(`processes still working on the store: ${left.map((p) => `${p.pid} ${p.cmdline}`).join('; ')}`);
    await sleep(20);
  }
}

/** Mount points at or below `root` (proc(5) /proc/self/mountinfo, field 5). */
export function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === root || m.startsWith(`${root}/`));
}

const complete = (dir: string): boolean => existsSync(join(dir, 'meta.json'));

/** UUIDs of the complete images and pods, as the store tree has them. */
export function completeItems(store: TestStore): { images: string[]; pods: string[] } {
  const images = entries(join(store.root, 'images')).filter((e) => UUID_RE.test(e) && complete(join(store.root, 'images', e)));
  const pods = entries(join(store.root, 'pods')).filter((e) => UUID_RE.test(e) && complete(join(store.root, 'pods', e)));
  return { images: images.sort(), pods: pods.sort() };
}

/**
 * What is left in the store that belongs to no complete image or pod: directories without
 * meta.json, index links to nothing complete, stray files, mounts, ZFS datasets. An empty UUID
 * directory, or one holding only empty owner markers, less than a minute old (a kill between mkdir(2)
 * and the owner marker's pid) is reported
 * under `young`, not as a leftover: gc leaves owner-less directories alone for a minute.
 */
export async function leftovers(store: TestStore): Promise<{ leftovers: string[]; young: string[] }> {
  const out: string[] = [];
  const young: string[] = [];
  const { images, pods } = completeItems(store);
  // No owner: nothing inside, or only owner markers still empty (a kill between their open(2) and
  // the write of the pid); gc counts either as owner-less and leaves it for a minute.
  const MARKERS = ['.importing', '.creating', '.destroying', '.build'];
  const ownerless = (dir: string): boolean =>
    entries(dir).every((e) => MARKERS.includes(e) && readFileSync(join(dir, e), 'utf8').trim() === '') && Date.now() - statSync(dir).mtimeMs < 60_000;
  for (const e of entries(join(store.root, 'images'))) {
    const p = join(store.root, 'images', e);
    if (UUID_RE.test(e)) {
      if (!images.includes(e)) (ownerless(p) ? young : out).push(`images/${e} (no meta.json: ${entries(p).join(',')})`);
    } else if (/^sha512-[0-9a-f]{128}$/.test(e) && lstatSync(p).isSymbolicLink()) {
      if (!images.includes(readlinkSync(p))) out.push(`images/${e.slice(0, 20)}... -> ${readlinkSync(p)} (index link to no complete image)`);
    } else out.push(`images/${e} (stray entry)`);
  }
  for (const e of entries(join(store.root, 'pods'))) {
    const p = join(store.root, 'pods', e);
    if (UUID_RE.test(e)) {
      if (!pods.includes(e)) (ownerless(p) ? young : out).push(`pods/${e} (no meta.json: ${entries(p).join(',')})`);
    } else out.push(`pods/${e} (stray entry)`);
  }
  const allowed = new Set<string>([store.root]);
  if (store.driver === 'zfs') {
    allowed.add(join(store.root, 'images'));
    allowed.add(join(store.root, 'pods'));
    for (const i of images) allowed.add(join(store.root, 'images', i, 'rootfs'));
  }
  for (const p of pods) for (const a of entries(join(store.root, 'pods', p, 'apps'))) allowed.add(join(store.root, 'pods', p, 'apps', a, 'rootfs'));
  for (const m of mountsUnder(store.root)) if (!allowed.has(m)) out.push(`mount ${m}`);
  if (store.dataset !== undefined) {
    const ds = store.dataset;
    const r = await execa('zfs', ['list', '-H', '-r', '-o', 'name', ds]);
    const ok = new Set([ds, `${ds}/images`, `${ds}/pods`, ...images.map((i) => `${ds}/images/${i}`), ...pods.map((p) => `${ds}/pods/${p}`)]);
    for (const name of r.stdout.split('\n').filter((l) => l !== '')) {
      const podApp = /^(.*\/pods\/[0-9a-f-]{36})\/[^/]+$/.exec(name);
      if (!ok.has(name) && !(podApp !== null && ok.has(podApp[1] as string))) out.push(`dataset ${name}`);
    }
  }
  return { leftovers: out, young };
}

/** The images and pods as image-list and pod-list show them (run in parallel). */
export async function lists(store: TestStore, which: { images?: boolean; pods?: boolean } = { images: true, pods: true }): Promise<{ images: ImageJson[]; pods: PodJson[] }> {
  const [i, p] = await Promise.all([
    which.images === false ? null : run(store, 'image-list', []),
    which.pods === false ? null : run(store, 'pod-list', []),
  ]);
  return { images: i === null ? [] : json<ImageJson[]>(i, 'image-list'), pods: p === null ? [] : json<PodJson[]>(p, 'pod-list') };
}

/**
 * Problems with what the lists show: an image without its rootfs (bin/busybox), a pod whose app
 * rootfs is not there (not mounted), an item that image-show / pod-show refuses (checked once per
 * UUID, remembered in `shown`).
 */
export async function visibleProblems(store: TestStore, seen: { images: ImageJson[]; pods: PodJson[] }, shown: Set<string>): Promise<string[]> {
  const out: string[] = [];
  for (const i of seen.images) if (!existsSync(join(i.rootfs, 'bin/busybox'))) out.push(`image ${i.uuid} (${i.name}) is listed without its rootfs`);
  for (const p of seen.pods) {
    for (const a of p.apps) if (!existsSync(join(a.rootfs, 'bin/busybox'))) out.push(`pod ${p.uuid} is listed, its app ${a.name} has no rootfs`);
  }
  const shows = [
    ...seen.images.filter((i) => !shown.has(i.uuid)).map((i) => ['image-show', i.uuid] as const),
    ...seen.pods.filter((p) => !shown.has(p.uuid)).map((p) => ['pod-show', p.uuid] as const),
  ];
  const results = await Promise.all(shows.map(([cmd, uuid]) => run(store, cmd, [uuid])));
  shows.forEach(([cmd, uuid], k) => {
    const r = results[k] as Result;
    if (r.exitCode !== 0 || (JSON.parse(String(r.stdout)) as { uuid: string }).uuid !== uuid) out.push(`${cmd} ${uuid}: exit ${r.exitCode}: ${String(r.stderr)}`);
    else shown.add(uuid);
  });
  return out;
}
