/**
 * The storage driver interface: how an image's root filesystem is made, sealed, cloned into
 * pods and destroyed. Two drivers exist: `zfs` (datasets, snapshots and clones, zfs(8)) and `dir`
 * (plain directories; pod apps are overlayfs mounts over the image where the kernel allows, else
 * copies). Everything else about the store (manifests, metadata, visibility, locking) is common
 * and lives in ./store.ts.
 */

/** How a pod app's rootfs was made from its image. */
export type CloneKind = 'zfs' | 'overlay' | 'copy';

export interface StoreDriver {
  readonly kind: 'dir' | 'zfs';
  /** Create the store (datasets or directories). Idempotent. */
  init(): Promise<void>;
  /** Throws JetpackError('config') if the store is not usable (e.g. ZFS root dataset missing). */
  check(): Promise<void>;
  /** Make an empty, writable rootfs for a new image; returns its path. */
  createImageRootfs(uuid: string): Promise<string>;
  /** Make the image's rootfs read-only for good (ZFS: `@seal` snapshot and readonly=on). */
  sealImage(uuid: string): Promise<void>;
  /** Remove an image's rootfs. Idempotent: a missing one is not an error. */
  destroyImageRootfs(uuid: string): Promise<void>;
  /** Clone a sealed image into a pod app's rootfs without copying where possible; returns the kind used. */
  cloneImage(imageUuid: string, podUuid: string, app: string): Promise<CloneKind>;
  /** Make sure a pod app's rootfs is mounted (overlays do not survive a reboot). */
  mountPodApp(imageUuid: string, podUuid: string, app: string, kind: CloneKind): Promise<void>;
  /**
   * Turn a pod app's rootfs into a new image's rootfs (image-build): ZFS renames the clone into
   * the images dataset (it stays a clone of the parent's @seal, sharing its blocks); dir copies the
   * app's merged view into a fresh directory. The pod app's rootfs is gone or stale afterwards.
   */
  imageFromPodApp(podUuid: string, app: string, imageUuid: string): Promise<string>;
  /** Images whose rootfs depends on this one's (ZFS clones of its @seal); [] when none. */
  imageDependents(uuid: string): Promise<string[]>;
  /** Remove a pod's app rootfs clones. Idempotent. */
  destroyPod(podUuid: string, apps: readonly string[]): Promise<void>;
  /** Driver facts for `jetpack info`. */
  describe(): Array<[string, string]>;
}
