/**
 * The `zfs` storage driver (zfs(8)): an image is a dataset ROOT.zfs/images/UUID mounted at the
 * image's rootfs, sealed with an `@seal` snapshot and readonly=on; a pod app's rootfs is a
 * `zfs clone` of that snapshot, ROOT.zfs/pods/POD/APP, so pod creation is constant-time and
 * copies no data. Works with OpenZFS, FreeBSD's ZFS and Debian's zfs-fuse.
 *
 * Configuration: root.zfs (dataset), root.zfs.mountpoint, root.zfs.* (other `-o` properties of the
 * root dataset), images.zfs.* and pods.zfs.* (properties of the images and pods datasets).
 */
import { mkdir } from 'node:fs/promises';
import { JetpackError } from '../errors.js';
import { succeeds, tool } from '../exec.js';
import type { CloneKind, StoreDriver } from './driver.js';
import type { Layout } from './layout.js';

export interface ZfsOptions {
  dataset: string;
  rootProps: Array<[string, string]>;
  imageProps: Array<[string, string]>;
  podProps: Array<[string, string]>;
}

/** `-o k=v` arguments for non-empty properties. */
function props(pairs: Array<[string, string]>): string[] {
  return pairs.filter(([, v]) => v !== '').flatMap(([k, v]) => ['-o', `${k}=${v}`]);
}

/**
 * `zfs destroy -r -f DATASET` (unmounting it even if busy), retried a few times while the dataset
 * is busy: files just written may still be held open for a moment (zfs-fuse in particular).
 * Dependent clones still make it fail, on purpose.
 */
async function destroy(ds: string, kind: 'conflict' | 'internal'): Promise<void> {
  try {
    await whileBusy(() => tool('zfs', ['destroy', '-r', '-f', ds], kind));
  } catch (err) {
    // Destroyed meanwhile by another process (two gc runs racing): done all the same.
    if (!/does not exist/.test((err as Error).message)) throw err;
  }
}

/** Run a zfs(8) step again while it fails with "dataset is busy" (up to about 5 s). */
async function whileBusy<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (attempt >= 10 || !/busy/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
  }
}

export class ZfsDriver implements StoreDriver {
  readonly kind = 'zfs' as const;
  constructor(
    private readonly layout: Layout,
    private readonly opts: ZfsOptions,
  ) {}

  private get images(): string {
    return `${this.opts.dataset}/images`;
  }
  private get pods(): string {
    return `${this.opts.dataset}/pods`;
  }

  async init(): Promise<void> {
    await mkdir(this.layout.root, { recursive: true });
    if (!(await succeeds('zfs', ['list', '-H', '-o', 'name', this.opts.dataset]))) {
      await tool('zfs', ['create', '-p', '-o', `mountpoint=${this.layout.root}`, ...props(this.opts.rootProps), this.opts.dataset], 'config');
    }
    if (!(await succeeds('zfs', ['list', '-H', '-o', 'name', this.images]))) {
      await tool('zfs', ['create', ...props(this.opts.imageProps), this.images], 'config');
    }
    if (!(await succeeds('zfs', ['list', '-H', '-o', 'name', this.pods]))) {
      await tool('zfs', ['create', ...props(this.opts.podProps), this.pods], 'config');
    }
  }

  async check(): Promise<void> {
    if (!(await succeeds('zfs', ['list', '-H', '-o', 'name', this.pods]))) {
      throw new JetpackError('config', `ZFS dataset ${this.pods} does not exist: run "jetpack init" first`);
    }
  }

  async createImageRootfs(uuid: string): Promise<string> {
    const path = this.layout.imageRootfs(uuid);
    await tool('zfs', ['create', '-o', `mountpoint=${path}`, `${this.images}/${uuid}`]);
    return path;
  }

  async sealImage(uuid: string): Promise<void> {
    await tool('zfs', ['snapshot', `${this.images}/${uuid}@seal`]);
    await tool('zfs', ['set', 'readonly=on', `${this.images}/${uuid}`]);
  }

  async destroyImageRootfs(uuid: string): Promise<void> {
    const ds = `${this.images}/${uuid}`;
    if (!(await succeeds('zfs', ['list', '-H', '-o', 'name', ds]))) return;
    await destroy(ds, 'conflict');
  }

  async cloneImage(imageUuid: string, podUuid: string, app: string): Promise<CloneKind> {
    const parent = `${this.pods}/${podUuid}`;
    if (!(await succeeds('zfs', ['list', '-H', '-o', 'name', parent]))) {
      await tool('zfs', ['create', '-o', 'canmount=off', parent]);
    }
    await mkdir(this.layout.podAppDir(podUuid, app), { recursive: true, mode: 0o755 });
    await tool('zfs', [
      'clone',
      '-o', `mountpoint=${this.layout.podAppRootfs(podUuid, app)}`,
      `${this.images}/${imageUuid}@seal`,
      `${parent}/${app}`,
    ]);
    return 'zfs';
  }

  async mountPodApp(_imageUuid: string, podUuid: string, app: string, _kind: CloneKind): Promise<void> {
    const ds = `${this.pods}/${podUuid}/${app}`;
    const mounted = await tool('zfs', ['get', '-H', '-o', 'value', 'mounted', ds]);
    if (mounted.trim() !== 'yes') await tool('zfs', ['mount', ds]);
  }

  async imageFromPodApp(podUuid: string, app: string, imageUuid: string): Promise<string> {
    const from = `${this.pods}/${podUuid}/${app}`;
    const to = `${this.images}/${imageUuid}`;
    const rootfs = this.layout.imageRootfs(imageUuid);
    await whileBusy(async () => {
      const mounted = await tool('zfs', ['get', '-H', '-o', 'value', 'mounted', from]);
      if (mounted.trim() === 'yes') await tool('zfs', ['umount', from]);
    });
    await whileBusy(() => tool('zfs', ['rename', from, to]));
    await tool('zfs', ['set', `mountpoint=${rootfs}`, to]);
    const mounted = await tool('zfs', ['get', '-H', '-o', 'value', 'mounted', to]);
    if (mounted.trim() !== 'yes') await tool('zfs', ['mount', to]);
    return rootfs;
  }

  async imageDependents(uuid: string): Promise<string[]> {
    const out = await tool('zfs', ['list', '-H', '-r', '-o', 'name,origin', '-t', 'filesystem', this.images]);
    const origin = `${this.images}/${uuid}@seal`;
    return out
      .split('\n')
      .map((l) => l.split('\t'))
      .filter(([, o]) => o === origin)
      .map(([name]) => (name ?? '').slice(this.images.length + 1));
  }

  async destroyPod(podUuid: string, _apps: readonly string[]): Promise<void> {
    const ds = `${this.pods}/${podUuid}`;
    if (await succeeds('zfs', ['list', '-H', '-o', 'name', ds])) await destroy(ds, 'internal');
  }

  describe(): Array<[string, string]> {
    return [['ZFS Dataset', this.opts.dataset], ['Mountpoint', this.layout.root]];
  }
}
