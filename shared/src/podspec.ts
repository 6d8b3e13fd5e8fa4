/**
 * Building a pod manifest from images (`pod create IMAGE [IMAGE FLAGS]...`), per appc spec/pods.md:
 * each app names its image by ID (a reified manifest) and gets the annotation `jetpack/image-uuid`.
 * The default app name is the last component of the image name made an AC Name
 * (`example.com/my_app` → `my-app`), as rkt does.
 */
import { randomUUID } from 'node:crypto';
import { AC_VERSION, type App, type PodManifest, type RuntimeApp } from './appc/types.js';
import { sanitizeAcName } from './appc/names.js';
import { parsePodManifest } from './appc/validate.js';
import { usage } from './errors.js';
import type { Image, Pod, Store } from './store/store.js';

/** One app of the pod to be: its image, and optionally its name in the pod. */
export interface AppSpec {
  image: Image;
  name?: string;
  /** A full substitute for the image's app (appc spec/pods.md § apps[].app). */
  app?: App;
}

/** The pod manifest for these apps (validated). */
export function podManifest(apps: readonly AppSpec[]): PodManifest {
  const seen = new Set<string>();
  const runtimeApps: RuntimeApp[] = apps.map(({ image, name, app }) => {
    const appName = name ?? sanitizeAcName(image.manifest.name);
    if (seen.has(appName)) throw usage(`app name "${appName}" is used twice in the pod; name the apps apart with -n NAME`);
    seen.add(appName);
    const ra: RuntimeApp = {
      name: appName,
      image: { id: image.id, name: image.manifest.name },
      annotations: [{ name: 'jetpack/image-uuid', value: image.uuid }],
    };
    if (image.manifest.labels !== undefined && image.manifest.labels.length > 0) ra.image.labels = image.manifest.labels;
    if (app !== undefined) ra.app = app;
    return ra;
  });
  const manifest: PodManifest = { acKind: 'PodManifest', acVersion: AC_VERSION, apps: runtimeApps, volumes: [], annotations: [] };
  return parsePodManifest(manifest, 'pod manifest');
}

/** Create a pod from the apps: validates the manifest, clones every image, returns the pod. */
export async function createPod(store: Store, apps: readonly AppSpec[]): Promise<Pod> {
  if (apps.length === 0) throw usage('a pod needs at least one IMAGE');
  const manifest = podManifest(apps);
  await store.gc();
  return store.createPod(
    randomUUID(),
    manifest,
    manifest.apps.map((a, i) => ({ name: a.name, image: (apps[i] as AppSpec).image })),
  );
}
