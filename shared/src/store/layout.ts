/**
 * On-disk layout of a Jetpack store, the same for every driver (see man/jetpack.7 § FILES):
 *
 *   ROOT/images/UUID/manifest        the image manifest (appc spec/aci.md), as imported
 *   ROOT/images/UUID/meta.json       ImageMeta; written last: an image without it is not visible
 *   ROOT/images/UUID/image.tar       the uncompressed ACI tar whose SHA-512 is the image ID
 *   ROOT/images/UUID/rootfs/         the image's root filesystem (a directory, or a ZFS dataset's mount point)
 *   ROOT/images/sha512-HEX -> UUID   index link: claims the image ID for one image
 *   ROOT/pods/UUID/manifest          the pod manifest (appc spec/pods.md)
 *   ROOT/pods/UUID/meta.json         PodMeta; written last: a pod without it is not visible
 *   ROOT/pods/UUID/run.json          the pod's run state (jail-run writes it)
 *   ROOT/pods/UUID/apps/NAME/rootfs  each app's root filesystem: a clone of its image
 *   ROOT/.lock                       lock guarding references between pods and images
 *   ROOT/.lock.owner                 pid of the lock's holder (a dead holder's lock is taken over)
 *   ROOT/{images,pods}/UUID/.importing|.creating|.destroying|.build
 *                                    pid of the process making or removing it (store.ts gc)
 */
import { join } from 'node:path';

export class Layout {
  constructor(readonly root: string) {}

  get images(): string {
    return join(this.root, 'images');
  }
  get pods(): string {
    return join(this.root, 'pods');
  }
  get lockTarget(): string {
    return this.root;
  }
  get lockFile(): string {
    return join(this.root, '.lock');
  }
  imageDir(uuid: string): string {
    return join(this.images, uuid);
  }
  imageRootfs(uuid: string): string {
    return join(this.images, uuid, 'rootfs');
  }
  imageIndex(id: string): string {
    return join(this.images, id);
  }
  podDir(uuid: string): string {
    return join(this.pods, uuid);
  }
  podAppDir(uuid: string, app: string): string {
    return join(this.pods, uuid, 'apps', app);
  }
  podAppRootfs(uuid: string, app: string): string {
    return join(this.pods, uuid, 'apps', app, 'rootfs');
  }
}
