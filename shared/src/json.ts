/**
 * The JSON documents commands print on stdout. Shapes are stable; see man/jetpack.7 § JSON OUTPUT.
 */
import type { ImageManifest, PodManifest } from './appc/types.js';
import type { Image, Pod, PodState, RunState } from './store/store.js';

/** An image: `aci-import`, `image-list` (array), `image-show`. */
export interface ImageJson {
  /** Storage UUID. */
  uuid: string;
  /** Image ID, `sha512-` + 128 hex (appc spec/aci.md § Image ID). */
  id: string;
  name: string;
  labels: Record<string, string>;
  /** ARCHIVE location it was imported from. */
  origin: string;
  /** Import time, RFC 3339 UTC. */
  timestamp: string;
  /** Uncompressed ACI size in bytes. */
  size: number;
  /** Host path of the image's rootfs. */
  rootfs: string;
  manifest: ImageManifest;
}

export function imageJson(i: Image): ImageJson {
  const labels: Record<string, string> = {};
  for (const l of i.manifest.labels ?? []) labels[l.name] = l.value;
  return { uuid: i.uuid, id: i.id, name: i.manifest.name, labels, origin: i.origin, timestamp: i.timestamp, size: i.size, rootfs: i.rootfs, manifest: i.manifest };
}

/** A pod: `pod-create`, `pod-list` (array), `pod-show`. */
export interface PodJson {
  uuid: string;
  /** Creation time, RFC 3339 UTC. */
  created: string;
  /** prepared | running | dying | exited. */
  state: PodState;
  /** Exit status of the last run (128+N for signal N), when exited: the first failing app's, else 0. */
  status?: number;
  /** Each app; `status`: its exit status in the last run (128+N for signal N), once it ended. */
  apps: Array<{ name: string; image: { uuid: string; id: string }; rootfs: string; clone: string; status?: number }>;
  run: RunState;
  manifest: PodManifest;
}

export function podJson(p: Pod, rootfs: (app: string) => string): PodJson {
  const out: PodJson = {
    uuid: p.uuid,
    created: p.created,
    state: p.state,
    apps: p.apps.map((a) => ({
      name: a.name,
      image: { uuid: a.image, id: p.manifest.apps.find((m) => m.name === a.name)?.image.id ?? '' },
      rootfs: rootfs(a.name),
      clone: a.clone,
      ...(p.run.apps?.[a.name] === undefined ? {} : { status: p.run.apps[a.name] }),
    })),
    run: p.run,
    manifest: p.manifest,
  };
  if (p.state === 'exited' && p.run.status !== undefined) out.status = p.run.status;
  return out;
}
