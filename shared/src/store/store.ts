/**
 * The Jetpack store: images and pods on disk, behind one interface whatever the driver.
 *
 * Visibility rule: an image or pod exists when its `meta.json` exists. It is written last, by an
 * atomic rename, so an interrupted import or create leaves only an invisible directory, which
 * `gc()` removes. Image IDs are claimed by an index link `images/sha512-HEX -> UUID` made with
 * symlink(2), which fails with EEXIST for the loser of a race, so parallel imports of one archive
 * give one image. References between pods and images are guarded by a lock (proper-lockfile on
 * the store root), so an image can never be destroyed while a pod being created takes it.
 *
 * Crashes: every directory being made or destroyed holds its owner's pid in a marker
 * (`.importing`, `.creating`, `.destroying`; a build pod's `.build`), so that `gc()`, which the
 * next import or pod create runs, removes it as soon as that process is gone. The store lock and
 * a pod's run lock record their holder's pid beside them (`LOCK.owner`): a lock whose holder was
 * killed is taken over at once instead of after proper-lockfile's stale time.
 */
import { claimAddress } from '../net/addresses.js';
import { lockOwned, ownerPid } from '../lock.js';
import { readFileSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rename, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupOnSignal } from '../cli.js';
import type { ImageManifest, PodManifest } from '../appc/types.js';
import { type Config, get, withPrefix } from '../config.js';
import { conflict, invalid, JetpackError, notFound } from '../errors.js';
import type { CloneKind, StoreDriver } from './driver.js';
import { DirDriver } from './dir.js';
import { Layout } from './layout.js';
import { removeTree } from './mounts.js';
import { ZfsDriver } from './zfs.js';
import { processAlive } from '../proc.js';

/** RFC 4122 UUID in canonical lowercase form (appc spec/ace.md § Pod UUID). */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `images/UUID/meta.json`. */
export interface ImageMeta {
  /** Storage UUID of the image (random, assigned at import). */
  uuid: string;
  /** Image ID: `sha512-` + 128 hex digits of the uncompressed ACI tar (appc spec/aci.md § Image ID). */
  id: string;
  /** Where it came from: the ARCHIVE location, or `UUID` of the parent image for built images. */
  origin: string;
  /** When it was imported, RFC 3339 UTC. */
  timestamp: string;
  /** Size of the uncompressed ACI tar, in bytes. */
  size: number;
}

/** An image as commands see it. */
export interface Image extends ImageMeta {
  manifest: ImageManifest;
  /** Path of the image's root filesystem on the host. */
  rootfs: string;
}

/** One app of a pod as stored: its name, the image UUID it was cloned from, and how. */
export interface PodAppMeta {
  name: string;
  image: string;
  clone: CloneKind;
}

/** `pods/UUID/meta.json`. */
export interface PodMeta {
  uuid: string;
  /** When the pod was created, RFC 3339 UTC. */
  created: string;
  apps: PodAppMeta[];
}

/** `pods/UUID/run.json`, written by jail-run. */
export interface RunState {
  /** Host PID of the process running the pod (jail-run) while it runs. */
  pid?: number;
  /** Host PID of the pod's init (PID 1 inside the pod's PID namespace; on FreeBSD: the jail ID). */
  init?: number;
  /** When the run started / ended, RFC 3339 UTC. */
  started?: string;
  exited?: string;
  /** When `pod kill` (or a forced destroy) began stopping the pod: the pod is `dying` until it exits. */
  dying?: string;
  /** Exit status of the pod: the first failing app's, 128+N for signal N. */
  status?: number;
  /** Exit status of each app by name (128+N for signal N); an app missing here never ended. */
  apps?: Record<string, number>;
}

/** Pod state: `prepared` (never ran), `running`, `dying` (being stopped by pod kill), `exited` (see `status`). */
export type PodState = 'prepared' | 'running' | 'dying' | 'exited';

/** A pod as commands see it. */
export interface Pod extends PodMeta {
  manifest: PodManifest;
  state: PodState;
  run: RunState;
}

async function readJson<T>(path: string): Promise<T | null> {
  return readJsonSync<T>(path);
}

/**
 * readJson without the event loop: listing 1,000 images or pods reads 2,000-3,000 small files, and
 * readFileSync takes a fraction of fs/promises' open/fstat/read/close round trips through the
 * thread pool (bench/ scale section).
 */
function readJsonSync<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Write a file atomically: a temporary sibling, then rename(2). */
export async function writeAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

/** Entries of `dir` named by a UUID (images, pods); none when `dir` does not exist. */
async function uuidEntries(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => UUID_RE.test(n));
}

/** Names of a pod's apps on disk (`pods/UUID/apps/*`), complete or not. */
async function appEntries(podDir: string): Promise<string[]> {
  return readdir(`${podDir}/apps`).catch(() => [] as string[]);
}


/** The owner markers of image and pod directories (see gc). */
const MARKERS = new Set(['.importing', '.creating', '.destroying', '.build']);

/**
 * Remove an image or pod directory, its owner markers last, so that a removal killed midway still
 * leaves a directory whose owner gc can see is gone.
 */
async function removeOwned(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!MARKERS.has(name)) await removeTree(join(dir, name));
  }
  await removeTree(dir);
}

export class Store {
  readonly layout: Layout;
  readonly driver: StoreDriver;

  constructor(readonly config: Config) {
    const zfs = get(config, 'root.zfs');
    const where = config.path ?? 'configuration';
    for (const key of ['root.dir', 'root.zfs.mountpoint']) {
      const v = get(config, key);
      if (v !== '' && !v.startsWith('/')) throw new JetpackError('config', `${where}: ${key} = ${v}: must be an absolute path`);
    }
    if (zfs !== '' && !/^[A-Za-z0-9][A-Za-z0-9_.:/-]*$/.test(zfs)) {
      throw new JetpackError('config', `${where}: root.zfs = ${zfs}: not a ZFS dataset name`);
    }
    if (zfs !== '') {
      this.layout = new Layout(get(config, 'root.zfs.mountpoint') || '/var/jetpack');
      this.driver = new ZfsDriver(this.layout, {
        dataset: zfs,
        rootProps: withPrefix(config, 'root.zfs.').filter(([k]) => k !== 'mountpoint'),
        imageProps: withPrefix(config, 'images.zfs.'),
        podProps: withPrefix(config, 'pods.zfs.'),
      });
    } else {
      this.layout = new Layout(get(config, 'root.dir') || '/var/jetpack');
      this.driver = new DirDriver(this.layout);
    }
  }

  /** Open the store for use: checks it is initialised (the dir store initialises itself). */
  static async open(config: Config): Promise<Store> {
    const store = new Store(config);
    await store.driver.check();
    return store;
  }

  /** Run `fn` holding the store's reference lock (pods ↔ images). */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    await mkdir(this.layout.root, { recursive: true });
    const release = await lockOwned(this.layout.lockTarget, this.layout.lockFile, 30_000, 50_000);
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  // ---- images ----

  /** The image with this storage UUID, or null if there is none (or it is not complete). */
  async image(uuid: string): Promise<Image | null> {
    if (!UUID_RE.test(uuid)) return null;
    const meta = await readJson<ImageMeta>(`${this.layout.imageDir(uuid)}/meta.json`);
    if (meta === null) return null;
    const manifest = JSON.parse(readFileSync(`${this.layout.imageDir(uuid)}/manifest`, 'utf8')) as ImageManifest;
    return { ...meta, manifest, rootfs: this.layout.imageRootfs(uuid) };
  }

  /** The image whose ID is exactly `id`, via the index link. */
  async imageById(id: string): Promise<Image | null> {
    try {
      return await this.image(await readlink(this.layout.imageIndex(id)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** All complete images, sorted by name then UUID. */
  async images(): Promise<Image[]> {
    const all = await Promise.all((await uuidEntries(this.layout.images)).map((n) => this.image(n)));
    return all
      .filter((i): i is Image => i !== null)
      .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name) || a.uuid.localeCompare(b.uuid));
  }

  /**
   * Make a staged image visible: claim its ID, then write meta.json.
   * @returns the image that owns the ID: the staged one, or an existing one (then the staged
   *   image was discarded and `existing` is true)
   */
  async publishImage(meta: ImageMeta): Promise<{ image: Image; existing: boolean }> {
    const index = this.layout.imageIndex(meta.id);
    let waits = 0;
    for (;;) {
      try {
        await symlink(meta.uuid, index);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = await this.imageById(meta.id);
        if (owner !== null) {
          await this.discardImage(meta.uuid);
          return { image: owner, existing: true };
        }
        // The link's image may be being published right now (link made, meta.json not yet):
        // wait for its owner rather than take the ID from under it.
        const target = await readlink(index).catch(() => '');
        const ownerPid = Number((await readFile(`${this.layout.imageDir(target)}/.importing`, 'utf8').catch(() => '')).trim());
        if (ownerPid > 0 && ownerPid !== process.pid && processAlive(ownerPid) && waits++ < 500) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        // A stale link (its image never completed or was destroyed): replace it.
        await unlink(index).catch(() => undefined);
      }
    }
    await writeAtomic(`${this.layout.imageDir(meta.uuid)}/meta.json`, `${JSON.stringify(meta, null, 2)}\n`);
    const image = await this.image(meta.uuid);
    if (image === null) throw new JetpackError('internal', `image ${meta.uuid} vanished while being published`);
    return { image, existing: false };
  }

  /** Remove a staged or broken image's files and rootfs. */
  async discardImage(uuid: string): Promise<void> {
    await this.driver.destroyImageRootfs(uuid);
    await removeOwned(this.layout.imageDir(uuid));
  }

  /**
   * UUIDs of the pods (complete or still being made) with an app cloned from the image. Each
   * clone records its image in `pods/POD/apps/APP/image` before it is made, so no clone escapes this.
   */
  async imageUsers(image: Image): Promise<string[]> {
    const users: string[] = [];
    for (const pod of await uuidEntries(this.layout.pods)) {
      for (const app of await appEntries(this.layout.podDir(pod))) {
        const ref = await readFile(`${this.layout.podAppDir(pod, app)}/image`, 'utf8').catch(() => '');
        if (ref.trim() === image.uuid) {
          users.push(pod);
          break;
        }
      }
    }
    return users;
  }

  /**
   * Clone an image into a pod app's rootfs (ZFS clone, overlayfs or copy), recording the reference
   * first. Call with the lock held.
   */
  async cloneApp(imageUuid: string, podUuid: string, app: string): Promise<CloneKind> {
    await mkdir(this.layout.podAppDir(podUuid, app), { recursive: true, mode: 0o755 });
    await writeFile(`${this.layout.podAppDir(podUuid, app)}/image`, `${imageUuid}\n`);
    return this.driver.cloneImage(imageUuid, podUuid, app);
  }

  /**
   * Remove what interrupted imports, builds, pod creations and destroys left behind: image and pod
   * directories without meta.json whose owner process (`.importing`, `.creating`, `.destroying`)
   * is gone, or that have no owner and are over a minute old; build pods whose image-build
   * (`.build`) is gone; index links to no image. Best effort: what cannot be removed now (another
   * gc is removing it) is left for later. Returns the UUIDs removed.
   */
  async gc(): Promise<string[]> {
    const removed: string[] = [];
    const abandoned = async (dir: string, owners: string[]): Promise<boolean> => {
      if ((await stat(`${dir}/meta.json`).catch(() => null)) !== null) return false;
      let owned = false;
      for (const owner of owners) {
        const pid = await ownerPid(`${dir}/${owner}`);
        if (pid > 0 && processAlive(pid)) return false;
        owned ||= pid > 0;
      }
      if (owned) return true;
      const st = await stat(dir).catch(() => null);
      return st !== null && Date.now() - st.mtimeMs > 60_000;
    };
    const attempt = async (uuid: string, remove: () => Promise<void>): Promise<void> => {
      try {
        await remove();
        removed.push(uuid);
      } catch {
        // Another process's gc may be removing it at the same time; the next gc retries.
      }
    };
    for (const uuid of await uuidEntries(this.layout.images)) {
      if (await abandoned(this.layout.imageDir(uuid), ['.importing', '.destroying'])) await attempt(uuid, () => this.discardImage(uuid));
    }
    for (const name of await readdir(this.layout.images).catch(() => [] as string[])) {
      if (!name.startsWith('sha512-')) continue;
      const target = await readlink(this.layout.imageIndex(name)).catch(() => null);
      if (target !== null && (await lstat(this.layout.imageDir(target)).catch(() => null)) === null) {
        await unlink(this.layout.imageIndex(name)).catch(() => undefined);
      }
    }
    for (const uuid of await uuidEntries(this.layout.pods)) {
      const dir = this.layout.podDir(uuid);
      if (await abandoned(dir, ['.creating', '.destroying'])) {
        await attempt(uuid, () => this.removePod(uuid));
      } else {
        const builder = await ownerPid(`${dir}/.build`);
        if (builder > 0 && !processAlive(builder)) {
          // Unless someone runs it: then hidePod refuses and it stays, for a later gc.
          await attempt(uuid, async () => {
            await this.hidePod(uuid);
            await this.removePod(uuid);
          });
        }
      }
    }
    return removed;
  }

  /**
   * Destroy an image. Refused (conflict) while any pod uses it.
   * Hides it first (meta.json removed) so that a crash midway leaves nothing half-visible.
   */
  async destroyImage(image: Image): Promise<void> {
    await this.withLock(async () => {
      if ((await this.image(image.uuid)) === null) throw notFound(`image ${image.uuid}: no such image (destroyed meanwhile)`);
      const users = await this.imageUsers(image);
      if (users.length > 0) {
        throw conflict(`image ${image.uuid} (${image.manifest.name}): used by ${users.length} pod(s): ${users.join(', ')}`);
      }
      const children = await this.driver.imageDependents(image.uuid);
      if (children.length > 0) {
        throw conflict(`image ${image.uuid} (${image.manifest.name}): images built from it share its blocks: ${children.join(', ')}; destroy them first`);
      }
      // Owned while it is removed: a destroy killed midway leaves a directory gc removes at once.
      await writeFile(`${this.layout.imageDir(image.uuid)}/.destroying`, `${process.pid}\n`);
      await unlink(`${this.layout.imageDir(image.uuid)}/meta.json`);
      await unlink(this.layout.imageIndex(image.id)).catch(() => undefined);
    });
    await this.discardImage(image.uuid);
  }

  // ---- pods ----

  async pod(uuid: string): Promise<Pod | null> {
    if (!UUID_RE.test(uuid)) return null;
    const dir = this.layout.podDir(uuid);
    const meta = await readJson<PodMeta>(`${dir}/meta.json`);
    if (meta === null) return null;
    const manifest = JSON.parse(readFileSync(`${dir}/manifest`, 'utf8')) as PodManifest;
    const run = (await readJson<RunState>(`${dir}/run.json`)) ?? {};
    let state: PodState = 'prepared';
    if (run.pid !== undefined && run.exited === undefined && processAlive(run.pid)) state = run.dying === undefined ? 'running' : 'dying';
    else if (run.started !== undefined) state = 'exited';
    return { ...meta, manifest, state, run };
  }

  async pods(): Promise<Pod[]> {
    const all = await Promise.all((await uuidEntries(this.layout.pods)).map((n) => this.pod(n)));
    return all.filter((p): p is Pod => p !== null).sort((a, b) => a.created.localeCompare(b.created) || a.uuid.localeCompare(b.uuid));
  }

  /**
   * Create a pod: clone each app's image (ZFS clone / overlayfs, never a copy where a clone is
   * possible), then write the manifest and, last, meta.json. On failure everything made is removed.
   * @param apps app name → image, in manifest order (names are validated AC Names by the caller)
   * A pod with its own network (no pod annotation `jetpack/network` = `host`) gets the next free
   * address of jail.interface's network as its `ip-address` annotation, chosen under the store
   * lock so that concurrent creates never share one (net/network.ts).
   * A SIGINT or SIGTERM stops the creation at its next step, removes what was made (clones,
   * mounts, the directory) and exits 128+N (cli.ts cleanupOnSignal), so nothing stays mounted.
   * `build`: a build pod (image-build), marked `.build` with our pid before it is visible, so that
   * gc removes it once we are gone.
   */
  async createPod(uuid: string, manifest: PodManifest, apps: Array<{ name: string; image: Image }>, opts: { build?: boolean } = {}): Promise<Pod> {
    const dir = this.layout.podDir(uuid);
    const made: PodAppMeta[] = [];
    let interrupted = false;
    const step = (): void => {
      if (interrupted) throw new JetpackError('internal', `pod ${uuid}: creation interrupted`);
    };
    await cleanupOnSignal(
      async () => {
        try {
          await this.withLock(async () => {
            step();
            await mkdir(dir, { recursive: false, mode: 0o700 }).catch(async (err: NodeJS.ErrnoException) => {
              if (err.code === 'ENOENT') {
                await mkdir(this.layout.pods, { recursive: true, mode: 0o700 });
                await mkdir(dir, { mode: 0o700 });
              } else throw err;
            });
            await writeFile(`${dir}/.creating`, `${process.pid}\n`);
            if (opts.build === true) await writeFile(`${dir}/.build`, `${process.pid}\n`);
            if (!manifest.annotations?.some((a) => a.name === 'jetpack/network' && a.value === 'host')) {
              manifest = await this.withPodAddress(uuid, manifest, async () => (await import('../net/network.js')).hostInterface(this.config));
            }
            for (const { name, image } of apps) {
              step();
              if ((await this.image(image.uuid)) === null) throw notFound(`image ${image.uuid}: no longer exists`);
              const clone = await this.cloneApp(image.uuid, uuid, name);
              made.push({ name, image: image.uuid, clone });
            }
            step();
            const meta: PodMeta = { uuid, created: new Date().toISOString(), apps: made };
            await writeAtomic(`${dir}/manifest`, `${JSON.stringify(manifest, null, 2)}\n`);
            await writeAtomic(`${dir}/meta.json`, `${JSON.stringify(meta, null, 2)}\n`);
            await unlink(`${dir}/.creating`);
          });
        } catch (err) {
          // Every app dir, complete or not: a clone interrupted midway may have mounted already.
          await this.driver.destroyPod(uuid, await appEntries(dir)).catch(() => undefined);
          await removeOwned(dir).catch(() => undefined);
          throw err;
        }
      },
      async () => undefined,
      () => {
        interrupted = true;
      },
    );
    const pod = await this.pod(uuid);
    if (pod === null) throw new JetpackError('internal', `pod ${uuid} vanished while being created`);
    return pod;
  }

  /**
   * The manifest with the annotation `ip-address` set to the next free address of the host
   * interface's network (net/network.ts nextFreeAddress) that no pod of this store has and no pod
   * of another store on the host holds (net/addresses.ts), unless it has one; either way the
   * address is claimed host-wide for the pod. Call with the lock held and the pod directory made.
   * net/network.ts (which runs ip(8) through execa) is loaded here, not when the store is.
   */
  private async withPodAddress(
    podUuid: string,
    manifest: PodManifest,
    host: () => Promise<{ address: string; prefixLength: number; interface: string }>,
  ): Promise<PodManifest> {
    const { nextFreeAddress, sameNetwork } = await import('../net/network.js');
    const taken: string[] = [];
    for (const uuid of await uuidEntries(this.layout.pods)) {
      const m = await readJson<PodManifest>(`${this.layout.podDir(uuid)}/manifest`).catch(() => null);
      const ip = m?.annotations?.find((a) => a.name === 'ip-address')?.value;
      if (ip !== undefined) taken.push(ip);
    }
    const asked = manifest.annotations?.find((a) => a.name === 'ip-address')?.value;
    if (asked !== undefined) {
      // A pinned address (pod create -a ip-address=..., or -f): it must be free and on the network.
      const net = await host();
      if (taken.includes(asked) || asked === net.address) throw conflict(`pod annotation ip-address=${asked}: the address is already in use`);
      if (!sameNetwork(net, asked)) {
        throw invalid(`pod annotation ip-address=${asked}: not an address of ${net.interface}'s network ${net.address}/${net.prefixLength}`);
      }
      const holder = await claimAddress(asked, podUuid, this.layout.podDir(podUuid));
      if (holder !== null) throw conflict(`pod annotation ip-address=${asked}: the address is already in use by pod ${holder.pod} (${holder.dir})`);
      return manifest;
    }
    // The next free address that no other store's pod holds (net/addresses.ts: O_EXCL claims).
    const net = await host();
    for (;;) {
      const address = nextFreeAddress(net, taken);
      if ((await claimAddress(address, podUuid, this.layout.podDir(podUuid))) === null) {
        return { ...manifest, annotations: [...(manifest.annotations ?? []), { name: 'ip-address', value: address }] };
      }
      taken.push(address);
    }
  }

  /**
   * Record the pod's run state (jail-run). A `dying` mark that `pod kill` made during this same run
   * (same `started`) is kept when `run` lacks it, so jail-run's own records never drop it.
   */
  async writeRunState(uuid: string, run: RunState): Promise<void> {
    const gone = (): JetpackError => notFound(`pod ${uuid}: no such pod (destroyed meanwhile)`);
    if ((await stat(`${this.layout.podDir(uuid)}/meta.json`).catch(() => null)) === null) throw gone();
    await this.withRunLock(uuid, async () => {
      // A pod being destroyed (hidden under the store lock) takes no new run state.
      if ((await stat(`${this.layout.podDir(uuid)}/meta.json`).catch(() => null)) === null) throw gone();
      const current = await readJson<RunState>(this.runFile(uuid));
      const keep = run.dying === undefined && current?.dying !== undefined && current.started !== undefined && current.started === run.started;
      await writeAtomic(this.runFile(uuid), `${JSON.stringify(keep ? { ...run, dying: current.dying } : run, null, 2)}\n`);
    });
  }

  /**
   * Mark a running pod as being stopped (`pod kill`): `dying` = now in run.json, unless the run has
   * ended, never started, or is already dying (the first mark stays). Returns the run state after.
   */
  async markDying(uuid: string): Promise<RunState> {
    return this.withRunLock(uuid, async () => {
      const run = (await readJson<RunState>(this.runFile(uuid))) ?? {};
      if (run.pid === undefined || run.exited !== undefined || run.dying !== undefined) return run;
      const marked: RunState = { ...run, dying: new Date().toISOString() };
      await writeAtomic(this.runFile(uuid), `${JSON.stringify(marked, null, 2)}\n`);
      return marked;
    });
  }

  private runFile(uuid: string): string {
    return `${this.layout.podDir(uuid)}/run.json`;
  }

  /** Run `fn` holding the pod's run.json lock (jail-run's records and pod kill's mark). */
  private async withRunLock<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const release = await lockOwned(this.layout.podDir(uuid), `${this.runFile(uuid)}.lock`, 10_000, 20_000);
    try {
      return await fn();
    } finally {
      await release().catch(() => undefined);
    }
  }

  /**
   * Destroy a pod. Refused (conflict) while it runs. Hidden first, then its clones removed.
   * Whether it runs is decided again under the store lock, where jail-run claims a pod (podrun.ts
   * runPod): a destroy and a run racing on one pod either refuse the destroy (the pod is intact)
   * or remove the pod entirely (the run finds no pod).
   */
  async destroyPod(pod: Pod): Promise<void> {
    if (pod.state === 'running' || pod.state === 'dying') {
      throw conflict(`pod ${pod.uuid}: is running (jail-run pid ${pod.run.pid}); stop it first (pod kill), or destroy it with -f`);
    }
    await this.hidePod(pod.uuid);
    await this.removePod(pod.uuid);
  }

  /**
   * Make a pod invisible, under the store lock: `.destroying` (our pid) first, then meta.json
   * removed. Refused (conflict) while the pod runs (a run of this very process excepted: image-build
   * destroys its build pod after running it); not-found when it is gone already.
   */
  async hidePod(uuid: string): Promise<void> {
    await this.withLock(async () => {
      const current = await this.pod(uuid);
      if (current === null) throw notFound(`pod ${uuid}: no such pod (destroyed meanwhile)`);
      const live = (current.state === 'running' || current.state === 'dying') && current.run.pid !== process.pid;
      if (live) {
        throw conflict(`pod ${uuid}: is running (jail-run pid ${current.run.pid}); stop it first (pod kill), or destroy it with -f`);
      }
      await writeFile(`${this.layout.podDir(uuid)}/.destroying`, `${process.pid}\n`);
      await unlink(`${this.layout.podDir(uuid)}/meta.json`);
    });
  }

  /** Remove a hidden pod's clones and directory (see {@link hidePod}). */
  async removePod(uuid: string): Promise<void> {
    await this.driver.destroyPod(uuid, await appEntries(this.layout.podDir(uuid)));
    await removeOwned(this.layout.podDir(uuid));
  }
}
