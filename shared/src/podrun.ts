/**
 * Running a pod (`jail-run`, `jetpack pod POD run`, and the build pod of `image-build`): turn the
 * stored pod into a {@link PodPlan} (each app: the pod's app substitute or the image's app, its
 * user, group, environment, event handlers, volumes and isolators; the pod: hostname, network,
 * /etc files, metadata URL), run it with this platform's backend, and record the run in the pod
 * (store.ts § RunState: the init's pid, each app's exit status, the pod's status).
 *
 * Sources: appc spec/pods.md (volumes, mounts), spec/ace.md § Execution Environment, § Volume
 * Setup, § Network; /work/shared/docs/appc-spec-notes.md § 5 (rkt's mount resolution).
 */
import { lstat, mkdir, realpath, chmod, chown, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { App, ImageManifest, PodManifest, Volume } from './appc/types.js';
import { conflict, invalid, JetpackError } from './errors.js';
import { ensureInterface, setupPodNetwork, teardownPodNetwork } from './net/network.js';
import { resolvConfLines, writeHosts, writeRootfsFile } from './run/etc.js';
import { planApp, runPlan, type RunPlanOptions, type StdioChoice } from './run/linux.js';
import { createPodCgroup, removeStalePodCgroup, type PodCgroup } from './run/cgroups.js';
import { resolveIsolators, resolvePodLimits } from './run/isolators.js';
import type { PlanLimits, PlanMount, PodPlan } from './run/plan.js';
import { loadOrCreateMdsKey, mdsPort, mdsToken, metadataUrl } from './mds.js';
import { hostInterface } from './net/network.js';
import type { Pod, RunState, Store } from './store/store.js';
import { resolveInRoot } from './users.js';

/** Pod annotation naming the pod's address (the original's `ip-address`; served by the metadata service). */
export const IP_ANNOTATION = 'ip-address';
/** Pod annotation `jetpack/network`: `host` for a pod on the host's network. */
export const NETWORK_ANNOTATION = 'jetpack/network';

export interface RunPodOptions {
  /** Override the pod's network (default: `host` if the pod says so, else its private network). */
  network?: 'private' | 'host';
  /** The apps' stdin, stdout and stderr (default: ours); a number is one of our descriptors. */
  stdio?: 'inherit' | 'ignore' | readonly [StdioChoice, StdioChoice, StdioChoice];
  /** Write /etc/hosts and /etc/resolv.conf into the apps' rootfs (default true; builds say false). */
  etcFiles?: boolean;
  /** Mount the pod's volumes (default true; builds say false, so what they write lands in the image). */
  volumes?: boolean;
  /** AC_METADATA_URL of the apps (default: the pod's URL at the metadata service, see {@link podMetadataUrl}). */
  metadataUrl?: string;
  /** Where isolator notes go (ignored or adjusted isolators; spec/ace.md: the ACE must say). Default: stderr. */
  notify?: (line: string) => void;
  /** Extra launcher settings (cgroups, stop timeout). */
  launcher?: Pick<RunPlanOptions, 'cgroups' | 'stopTimeout' | 'stage1'>;
}

/** The value of a pod annotation, or undefined. */
export function podAnnotation(manifest: PodManifest, name: string): string | undefined {
  return manifest.annotations?.find((a) => a.name === name)?.value;
}

/** The pod's network mode as stored (annotation `jetpack/network`). */
export function podNetworkMode(manifest: PodManifest): 'private' | 'host' {
  return podAnnotation(manifest, NETWORK_ANNOTATION) === 'host' ? 'host' : 'private';
}

/** Where a pod's empty volume lives on the host. */
export function emptyVolumeDir(store: Store, podUuid: string, volume: string): string {
  return path.join(store.layout.podDir(podUuid), 'volumes', volume);
}

/**
 * The host directory or file behind a volume: an `empty` volume's directory is made (mode, uid,
 * gid of the volume; default 0755, 0, 0) the first time; a `host` volume's source must exist and
 * be reached without a symlink (spec/ace.md § Volume Setup: the ACE must not create host paths).
 * @throws JetpackError('invalid') for a missing or symlinked host source, a bad mode
 */
async function volumeSource(store: Store, podUuid: string, v: Volume): Promise<string> {
  if (v.kind === 'host') {
    const source = v.source ?? '';
    const real = await realpath(source).catch(() => null);
    if (real === null) throw invalid(`volume ${v.name}: host source ${source} does not exist (the executor does not create host paths)`);
    if (real !== path.resolve(source)) throw invalid(`volume ${v.name}: host source ${source} goes through a symlink (to ${real}); name the real path`);
    return real;
  }
  const dir = emptyVolumeDir(store, podUuid, v.name);
  if ((await lstat(dir).catch(() => null)) === null) {
    const mode = v.mode === undefined ? 0o755 : parseInt(v.mode, 8);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777 || !/^[0-7]{1,4}$/.test(v.mode ?? '755')) {
      throw invalid(`volume ${v.name}: mode "${v.mode}" is not an octal file mode`);
    }
    await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, v.uid ?? 0, v.gid ?? 0);
    await chmod(dir, mode);
  }
  // The real path: jetpack-stage1 opens a volume's source without following any symlink, and
  // the store itself may lie below one.
  return realpath(dir);
}

/**
 * Resolve one mount target inside an app's rootfs as if chrooted (rkt TestMountSymlink: absolute
 * symlinks resolve from the app's root, `..` stops at `/`), make what is missing (directories 0755;
 * an empty file when the source is a file), and return the path relative to the rootfs's `/`.
 */
async function prepareMountTarget(rootfs: string, target: string, sourceIsDir: boolean, what: string): Promise<string> {
  const hostPath = await resolveInRoot(rootfs, target);
  const inRoot = `/${path.relative(path.resolve(rootfs), hostPath)}`.replace(/\/$/, '') || '/';
  const st = await lstat(hostPath).catch(() => null);
  if (sourceIsDir) {
    if (st === null) await mkdir(hostPath, { recursive: true, mode: 0o755 });
    else if (!st.isDirectory()) throw invalid(`${what}: ${target} is a file in the image, and the volume is a directory`);
  } else {
    if (st === null) {
      await mkdir(path.dirname(hostPath), { recursive: true, mode: 0o755 });
      await writeFile(hostPath, '', { flag: 'wx', mode: 0o644 });
    } else if (st.isDirectory()) throw invalid(`${what}: ${target} is a directory in the image, and the volume is a file`);
  }
  return inRoot;
}

/**
 * The mounts of one app: the pod manifest's `mounts` (path: an absolute path, or the name of one
 * of the image's mount points), then each image mount point not mounted yet, from the volume of
 * the same name (spec/pods.md; rkt GenerateMounts). Read-only: the mount point's `readOnly`,
 * overridden by the volume's when set. Sorted so that parents mount before children; two mounts
 * on one path are refused.
 * @throws JetpackError('invalid') naming the app and the volume or mount point
 */
async function appMounts(
  store: Store,
  pod: Pod,
  appName: string,
  rootfs: string,
  image: ImageManifest,
  sources: Map<string, string>,
): Promise<PlanMount[]> {
  const runtimeApp = pod.manifest.apps.find((a) => a.name === appName);
  const volumes = new Map((pod.manifest.volumes ?? []).map((v) => [v.name, v]));
  const mountPoints = runtimeApp?.app?.mountPoints ?? image.app?.mountPoints ?? [];
  const wanted: Array<{ volume: string; path: string; readOnly: boolean | undefined; inline?: Volume }> = [];
  for (const m of runtimeApp?.mounts ?? []) {
    const mp = m.path.startsWith('/') ? mountPoints.find((p) => p.path === m.path) : mountPoints.find((p) => p.name === m.path);
    if (!m.path.startsWith('/') && mp === undefined) throw invalid(`app ${appName}: mount of volume ${m.volume}: the image has no mount point named "${m.path}"`);
    // spec/pods.md: a mount may carry its volume inline (appVolume), private to this app.
    wanted.push({ volume: m.volume, path: mp?.path ?? m.path, readOnly: mp?.readOnly, ...(m.appVolume === undefined ? {} : { inline: m.appVolume }) });
  }
  for (const mp of mountPoints) {
    if (wanted.some((w) => w.path === mp.path)) continue;
    wanted.push({ volume: mp.name, path: mp.path, readOnly: mp.readOnly });
  }
  const out: PlanMount[] = [];
  for (const w of wanted) {
    const v = w.inline ?? volumes.get(w.volume);
    if (v === undefined) throw invalid(`app ${appName}: mount point ${w.path} needs volume "${w.volume}", which the pod does not have`);
    const key = w.inline === undefined ? v.name : `${appName}/${v.name}`;
    let source = sources.get(key);
    if (source === undefined) {
      source = await volumeSource(store, pod.uuid, w.inline === undefined ? v : { ...v, name: `.app-${appName}/${v.name}` });
      sources.set(key, source);
    }
    const st = await stat(source).catch(() => null);
    if (st === null) throw invalid(`app ${appName}: volume ${v.name}: its source ${source} is gone (removed or replaced while the pod was being prepared)`);
    const isDir = st.isDirectory();
    const target = await prepareMountTarget(rootfs, w.path, isDir, `app ${appName}: volume ${v.name}`);
    if (out.some((o) => o.target === target)) throw invalid(`app ${appName}: two volumes are mounted on ${target}`);
    out.push({
      volume: v.name,
      source,
      target,
      readOnly: v.readOnly ?? w.readOnly ?? false,
      recursive: v.kind === 'host' ? (v.recursive ?? true) : false,
    });
  }
  return out.sort((a, b) => a.target.split('/').length - b.target.split('/').length);
}

/**
 * The plan of a stored pod: mounts its apps' rootfs, resolves each app, prepares volumes and the
 * /etc files (unless `etcFiles` is false). Does not touch the host network.
 * @throws JetpackError('invalid') for an app with nothing to run, an image gone, a bad volume,
 *   an unresolvable user, group or working directory
 */
export async function podPlan(store: Store, pod: Pod, opts: RunPodOptions = {}): Promise<PodPlan> {
  const network = opts.network ?? podNetworkMode(pod.manifest);
  const address = network === 'private' ? podAnnotation(pod.manifest, IP_ANNOTATION) : undefined;
  const resolvConf = opts.etcFiles === false ? [] : await resolvConfLines(store.config, network);
  const sources = new Map<string, string>();
  const notes = new Set<string>();
  const apps = [];
  for (const meta of pod.apps) {
    const runtimeApp = pod.manifest.apps.find((a) => a.name === meta.name);
    const image = await store.image(meta.image);
    if (image === null) throw invalid(`pod ${pod.uuid}: the image ${meta.image} of app ${meta.name} is gone`);
    const app: App | undefined | null = runtimeApp?.app ?? image.manifest.app;
    if (app === undefined || app === null) {
      throw invalid(`pod ${pod.uuid}: app ${meta.name}: image ${image.manifest.name} has no app to run (no "app" in its manifest)`);
    }
    await store.driver.mountPodApp(meta.image, pod.uuid, meta.name, meta.clone);
    const rootfs = store.layout.podAppRootfs(pod.uuid, meta.name);
    if (opts.etcFiles !== false) {
      await writeHosts(rootfs, pod.uuid, address);
      await writeRootfsFile(rootfs, '/etc/resolv.conf', resolvConf.length > 0 ? `${resolvConf.join('\n')}\n` : '');
    }
    const mounts = opts.volumes === false ? [] : await appMounts(store, pod, meta.name, rootfs, image.manifest, sources);
    const isolators = resolveIsolators(
      pod.manifest.isolators ?? undefined,
      app.isolators,
      [...(image.manifest.annotations ?? []), ...(runtimeApp?.annotations ?? []), ...(pod.manifest.annotations ?? [])],
      meta.name,
    );
    for (const n of isolators.notes) notes.add(n);
    apps.push(
      await planApp({
        name: meta.name,
        rootfs,
        app,
        metadataUrl: opts.metadataUrl ?? '',
        mounts,
        readOnlyRootfs: runtimeApp?.readOnlyRootFS ?? false,
        capabilities: isolators.capabilities,
        noNewPrivileges: isolators.noNewPrivileges,
        limits: isolators.limits,
      }),
    );
  }
  const notify = opts.notify ?? ((line: string) => process.stderr.write(`jail-run: ${line}\n`));
  for (const n of notes) notify(n);
  return {
    uuid: pod.uuid,
    hostname: pod.uuid,
    network: { mode: network, interface: '', ...(address === undefined ? {} : { address }) },
    resolvConf,
    metadataUrl: opts.metadataUrl ?? '',
    apps,
    limits: resolvePodLimits(pod.manifest.isolators ?? undefined),
    annotations: pod.manifest.annotations ?? [],
  };
}

/**
 * The pod's AC_METADATA_URL: `http://HOST-ADDRESS[:mds.port]/TOKEN` (mds.ts; the host's address on
 * jail.interface, where `metadata-service` listens by default). The token is derived from the
 * store's metadata key (made on first use) and the pod UUID.
 */
export async function podMetadataUrl(store: Store, podUuid: string): Promise<string> {
  const keys = await loadOrCreateMdsKey(store);
  const host = await hostInterface(store.config);
  return metadataUrl(host.address, mdsPort(store.config), mdsToken(keys, podUuid));
}

/** Whether any limit is set. */
function limited(l: PlanLimits): boolean {
  return l.memoryBytes !== undefined || l.cpuMillicores !== undefined;
}

/**
 * Run the pod and return its exit status: 0 when all apps exited 0, else the first failing app's
 * (128+N for signal N; 125-127 launcher errors). The run is recorded in `run.json` as it goes.
 * @throws JetpackError conflict (already running), invalid (see {@link podPlan}), environment
 *   (the network or the launcher cannot be set up)
 */
export async function runPod(store: Store, pod: Pod, opts: RunPodOptions = {}): Promise<number> {
  if (process.platform !== 'linux' && process.platform !== 'freebsd') {
    throw new JetpackError('environment', `running pods is not supported on ${process.platform} (Linux and FreeBSD only)`);
  }
  // Claim the pod under the store lock, so that two runs started together cannot both pass.
  const previous = await store.withLock(async () => {
    const fresh = (await store.pod(pod.uuid)) ?? pod;
    if (fresh.state === 'running' || fresh.state === 'dying') throw conflict(`pod ${pod.uuid}: is already running (pid ${fresh.run.pid})`);
    await store.writeRunState(pod.uuid, { pid: process.pid, started: new Date().toISOString() });
    return fresh.run;
  });
  try {
    return await runClaimed(store, pod, opts);
  } catch (err) {
    // Nothing ran: the pod keeps the record of its previous run.
    const now = (await store.pod(pod.uuid))?.run;
    if (now?.pid === process.pid && now.init === undefined && now.exited === undefined) await store.writeRunState(pod.uuid, previous);
    throw err;
  }
}

/** What a backend reports while the pod runs (recorded in run.json). */
interface RunCallbacks {
  onSpawn: () => void;
  onInit: (pid: number) => void;
  onAppExit: (name: string, status: number) => void;
}

async function runClaimed(store: Store, pod: Pod, opts: RunPodOptions): Promise<number> {
  const metadata = opts.metadataUrl ?? (await podMetadataUrl(store, pod.uuid));
  const plan = await podPlan(store, pod, { ...opts, metadataUrl: metadata });
  const state: RunState = {};
  let recording: Promise<void> = Promise.resolve();
  const record = (patch: Partial<RunState>): void => {
    Object.assign(state, patch);
    const snapshot = { ...state, apps: { ...state.apps } };
    recording = recording.then(() => store.writeRunState(pod.uuid, snapshot));
  };
  const callbacks: RunCallbacks = {
    // The run counts from the moment the launcher exists; set-up errors before it change nothing.
    onSpawn: () => record({ pid: process.pid, started: new Date().toISOString() }),
    onInit: (init) => record({ init }),
    onAppExit: (name, code) => record({ apps: { ...state.apps, [name]: code } }),
  };
  try {
    const status = process.platform === 'freebsd' ? await runInJail(store, pod, plan, opts, callbacks) : await runOnLinux(store, pod, plan, opts, callbacks);
    await recording;
    if (state.started !== undefined) {
      // The run is over: no pid left to signal; `dying` (set by pod kill) is kept as history.
      const current = (await store.pod(pod.uuid))?.run ?? {};
      const { pid: _pid, init: _init, ...rest } = { ...state, ...(current.dying === undefined ? {} : { dying: current.dying }) };
      await store.writeRunState(pod.uuid, { ...rest, exited: new Date().toISOString(), status });
    }
    return status;
  } finally {
    await recording.catch(() => undefined);
  }
}

/** Linux: the pod's cgroups and network namespace around jetpack-stage1 (run/linux.ts). */
async function runOnLinux(store: Store, pod: Pod, plan: PodPlan, opts: RunPodOptions, callbacks: RunCallbacks): Promise<number> {
  let cgroup: PodCgroup | undefined;
  if (limited(plan.limits) || plan.apps.some((a) => limited(a.limits))) {
    await removeStalePodCgroup(pod.uuid, { kill: true });
    cgroup = await createPodCgroup(pod.uuid, plan.limits, Object.fromEntries(plan.apps.map((a) => [a.name, a.limits])));
  }
  let netns: string | undefined;
  try {
    if (plan.network.mode === 'private' && plan.network.address !== undefined) {
      const host = await ensureInterface(store.config);
      plan.network = { ...plan.network, interface: host.interface, prefixLength: host.prefixLength, gateway: host.address };
      netns = await setupPodNetwork(host, pod.uuid, plan.network.address as string, store.layout.podDir(pod.uuid));
    }
    return await runPlan(plan, {
      ...(opts.launcher ?? {}),
      ...(cgroup === undefined ? {} : { cgroups: Object.fromEntries(plan.apps.map((a) => [a.name, (cgroup as PodCgroup).appPaths(a.name)])) }),
      ...(netns === undefined ? {} : { netns }),
      ...(opts.stdio === undefined ? {} : { stdio: opts.stdio }),
      ...callbacks,
    });
  } finally {
    if (netns !== undefined) await teardownPodNetwork(pod.uuid, { leaveVeth: true });
    if (cgroup !== undefined) await cgroup.remove().catch(() => undefined);
  }
}

/**
 * FreeBSD: one jail per pod (run/jail.ts), rooted at `<pod dir>/jail`; the pod's address is an
 * alias on jail.interface that jail(8) adds, and its limits are rctl(8) rules. There is no init
 * process to record: a jail's processes are found by its name (ps -J, run/freebsd.ts psArgv),
 * which `pod ps`, `top`, `killall` and `kill` do not use yet (they are Linux only).
 */
async function runInJail(store: Store, pod: Pod, plan: PodPlan, opts: RunPodOptions, callbacks: RunCallbacks): Promise<number> {
  if (plan.network.mode === 'private' && plan.network.address !== undefined) {
    const host = await hostInterface(store.config);
    plan.network = { ...plan.network, interface: host.interface, prefixLength: host.prefixLength, gateway: host.address };
  }
  const { runJailPlan } = await import('./run/jail.js');
  const stage2 = process.env.JETPACK_STAGE2;
  return runJailPlan(plan, {
    freebsd: { config: store.config, root: path.join(store.layout.podDir(pod.uuid), 'jail'), ...(stage2 === undefined || stage2 === '' ? {} : { stage2 }) },
    ...(opts.stdio === undefined ? {} : { stdio: opts.stdio }),
    ...(opts.launcher?.stopTimeout === undefined ? {} : { stopTimeout: opts.launcher.stopTimeout }),
    onStart: callbacks.onSpawn,
    onAppExit: callbacks.onAppExit,
  });
}
