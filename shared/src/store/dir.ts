/**
 * The `dir` storage driver, the embedded default: a plain directory tree that needs no set-up.
 * An image's rootfs is a directory. A pod app's rootfs is an overlayfs mount (lowerdir = the image's
 * rootfs, upperdir/workdir beside it) where the kernel allows it, so pod creation copies nothing;
 * where overlayfs is refused (e.g. the store itself sits on overlayfs), it falls back to a copy
 * (`cp -a --reflink=auto`). Source: overlayfs, Linux Documentation/filesystems/overlayfs.rst.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { JetpackError } from '../errors.js';
import { tool } from '../exec.js';
import type { CloneKind, StoreDriver } from './driver.js';
import type { Layout } from './layout.js';
import { mountsUnder, removeTree, unmountUnder } from './mounts.js';

export class DirDriver implements StoreDriver {
  readonly kind = 'dir' as const;
  constructor(private readonly layout: Layout) {
    if (/[,:\\]/.test(layout.root)) {
      throw new JetpackError('config', `root.dir "${layout.root}": must not contain ",", ":" or "\\" (overlayfs options)`);
    }
  }

  async init(): Promise<void> {
    await mkdir(this.layout.images, { recursive: true, mode: 0o700 });
    await mkdir(this.layout.pods, { recursive: true, mode: 0o700 });
  }

  async check(): Promise<void> {
    await this.init();
  }

  async createImageRootfs(uuid: string): Promise<string> {
    const path = this.layout.imageRootfs(uuid);
    await mkdir(path, { recursive: true, mode: 0o755 });
    return path;
  }

  async sealImage(_uuid: string): Promise<void> {
    // A directory cannot be sealed; overlayfs never writes to its lowerdir.
  }

  async destroyImageRootfs(uuid: string): Promise<void> {
    await removeTree(this.layout.imageRootfs(uuid));
  }

  async cloneImage(imageUuid: string, podUuid: string, app: string): Promise<CloneKind> {
    const dir = this.layout.podAppDir(podUuid, app);
    await mkdir(join(dir, 'rootfs'), { recursive: true, mode: 0o755 });
    if (await this.mountOverlay(imageUuid, podUuid, app)) return 'overlay';
    await tool('cp', ['-a', '--reflink=auto', `${this.layout.imageRootfs(imageUuid)}/.`, join(dir, 'rootfs')]);
    return 'copy';
  }

  async mountPodApp(imageUuid: string, podUuid: string, app: string, kind: CloneKind): Promise<void> {
    if (kind !== 'overlay') return;
    const target = this.layout.podAppRootfs(podUuid, app);
    if ((await mountsUnder(target)).includes(target)) return;
    if (!(await this.mountOverlay(imageUuid, podUuid, app))) {
      throw new JetpackError('environment', `${target}: cannot mount overlayfs`);
    }
  }

  async imageFromPodApp(podUuid: string, app: string, imageUuid: string): Promise<string> {
    const rootfs = await this.createImageRootfs(imageUuid);
    await tool('cp', ['-a', '--reflink=auto', `${this.layout.podAppRootfs(podUuid, app)}/.`, rootfs]);
    return rootfs;
  }

  async imageDependents(_uuid: string): Promise<string[]> {
    return []; // images are independent copies
  }

  async destroyPod(podUuid: string, _apps: readonly string[]): Promise<void> {
    const dir = this.layout.podDir(podUuid);
    await unmountUnder(dir);
    // The clones only: the store removes the rest of the pod directory, its owner marker last.
    await removeTree(join(dir, 'apps'));
  }

  describe(): Array<[string, string]> {
    return [['Store', `dir ${this.layout.root}`]];
  }

  /** Mount the overlay; false when the kernel refuses (then the caller copies). */
  private async mountOverlay(imageUuid: string, podUuid: string, app: string): Promise<boolean> {
    const dir = this.layout.podAppDir(podUuid, app);
    await mkdir(join(dir, 'upper'), { recursive: true, mode: 0o755 });
    await mkdir(join(dir, 'work'), { recursive: true, mode: 0o700 });
    const opts = `lowerdir=${this.layout.imageRootfs(imageUuid)},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`;
    const { execa } = await import('execa');
    const r = await execa('mount', ['-t', 'overlay', 'overlay', '-o', opts, join(dir, 'rootfs')], { reject: false, stdin: 'ignore' });
    return !r.failed;
  }
}
