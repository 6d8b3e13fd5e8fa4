/**
 * zfs-clone-image IMAGE POD APP — clone an image into a new app rootfs of pod POD, with whatever the
 * store uses: a ZFS clone of IMAGE@seal (zfs driver), an overlayfs mount or, where the kernel refuses
 * one, a copy (dir driver). `pod create` does this for each of its apps; this command exposes the step.
 * stdout: `{"image", "pod", "app", "rootfs", "clone": "zfs"|"overlay"|"copy"}`.
 */
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { isAcName } from '@jetpack/shared/appc/names';
import { findImage } from '@jetpack/shared/query';
import { UUID_RE } from '@jetpack/shared/store/store';

export const USAGE = `zfs-clone-image [--config=PATH] IMAGE POD_UUID APP_NAME

Clone IMAGE's rootfs into ROOT/pods/POD_UUID/apps/APP_NAME/rootfs (no data copied where the store
can clone) and print where it is. Normally called through "pod create".`;

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('zfs-clone-image', argv, USAGE).parse();
  const pos = args._.map(String);
  if (pos.length !== 3) throw usage(`expected IMAGE POD_UUID APP_NAME, got ${pos.length} arguments`);
  const [imageArg, pod, app] = pos as [string, string, string];
  if (!UUID_RE.test(pod)) throw usage(`POD_UUID "${pod}": not a lowercase RFC 4122 UUID`);
  if (!isAcName(app)) throw usage(`APP_NAME "${app}": not an AC Name (lowercase letters, digits and -)`);
  const store = await openStore(args);
  const image = await findImage(store, imageArg);
  const clone = await store.withLock(() => store.cloneApp(image.uuid, pod, app));
  return { json: { image: image.uuid, pod, app, rootfs: store.layout.podAppRootfs(pod, app), clone }, human: store.layout.podAppRootfs(pod, app) };
}
