/**
 * Building a pod manifest (`pod create [FLAGS] IMAGE [IMAGE FLAGS]...`), per appc spec/pods.md.
 *
 * The manifest is reified, as the spec requires before a pod runs:
 * - every app names its image by ID (with the image's name and labels) and gets the annotation
 *   `jetpack/image-uuid` (the image's storage UUID);
 * - the default app name is the last component of the image name made an AC Name
 *   (`example.com/my_app` → `my-app`), as rkt does;
 * - every mount names a volume of the pod (or embeds one, `appVolume`) and an absolute path in the
 *   app: a mount given by mount point name is stored at that mount point's path (spelled as the
 *   image spells it, so that readers can match the two exactly); other paths are normalised;
 * - every mount point of an app (of its `app` override, else of its image) that no mount fills
 *   gets a mount of the volume of the same name, and when the pod has no such volume, an `empty`
 *   one is added (mode 0755, uid 0, gid 0), as the original jetpack's ReifyPodManifest did.
 *
 * A pod manifest template (`pod create -f FILE`, `podTemplate`) may be partial: acKind, acVersion,
 * apps and app names may be left out; its apps name their images by ID, or by name and labels.
 */
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { AC_VERSION, type App, type ExposedPort, type Isolator, type Mount, type NameValue, type PodManifest, type RuntimeApp, type Volume } from './appc/types.js';
import { IMAGE_UUID_ANNOTATION, NETWORK_ANNOTATION } from './annotations.js';
import { sanitizeAcName } from './appc/names.js';
import { parsePodManifest } from './appc/validate.js';
import { invalid, JetpackError, notFound, usage, type ErrorKind } from './errors.js';
import { findImage, imageLabel, matches } from './query.js';
import type { Image, Pod, Store } from './store/store.js';

export { IMAGE_UUID_ANNOTATION, NETWORK_ANNOTATION };

/** Where a mount (or an app) was given, for error messages: `-m data:/srv` (usage), `pod.json: apps[0].mounts[1]` (invalid). */
export interface Origin {
  what: string;
  kind: ErrorKind;
}

/** One mount of an app: a pod volume at one of the app's mount points, by name, or at an absolute path. */
export interface MountSpec {
  volume: string;
  /** A mount point name of the app, or an absolute path inside the app. */
  path: string;
  /** The volume embedded in the mount (appc v0.8.8 `appVolume`) instead of one of the pod's. */
  appVolume?: Volume;
  origin?: Origin;
}

/** One app of the pod to be: its image, and optionally its name and the rest of apps[] (spec/pods.md). */
export interface AppSpec {
  image: Image;
  name?: string;
  /** A full substitute for the image's app (appc spec/pods.md § apps[].app). */
  app?: App;
  readOnlyRootFS?: boolean;
  mounts?: MountSpec[];
  /** App annotations (`jetpack/image-uuid` is set by Jetpack and replaces one given here). */
  annotations?: NameValue[];
}

/** The pod-level parts of the manifest. */
export interface PodOptions {
  volumes?: Volume[];
  annotations?: NameValue[];
  isolators?: Isolator[];
  ports?: ExposedPort[];
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

/** A mount's path made canonical: absolute, normalised, no trailing `/`. */
function canonicalPath(p: string): string {
  const n = posix.normalize(posix.join('/', p));
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** A mount point's path as stored in a mount: as given when absolute, else made absolute. */
const storedPath = (p: string): string => (p.startsWith('/') ? p : canonicalPath(p));

const list = (names: readonly string[]): string => names.map((n) => `"${n}"`).join(', ');

/** The reified pod manifest for these apps (validated by parsePodManifest). */
export function podManifest(apps: readonly AppSpec[], pod: PodOptions = {}): PodManifest {
  const seen = new Set<string>();
  const volumes: Volume[] = (pod.volumes ?? []).map((v) => ({ ...v }));
  const volumeNames = new Set(volumes.map((v) => v.name));
  const implicit: Volume[] = [];
  const runtimeApps: RuntimeApp[] = apps.map(({ image, name, app, readOnlyRootFS, mounts, annotations }) => {
    const appName = name ?? sanitizeAcName(image.manifest.name);
    if (seen.has(appName)) throw usage(`app name "${appName}" is used twice in the pod; name the apps apart with -n NAME`);
    seen.add(appName);
    const mountPoints = (app ?? image.manifest.app ?? undefined)?.mountPoints ?? [];
    const out: Mount[] = [];
    const targets = new Set<string>();
    for (const m of mounts ?? []) {
      const origin = m.origin ?? { what: `app "${appName}": mount of volume "${m.volume}" at "${m.path}"`, kind: 'usage' };
      const fail = (rule: string): JetpackError => new JetpackError(origin.kind, `${origin.what}: ${rule}`);
      let path: string;
      if (m.path.startsWith('/')) path = canonicalPath(m.path);
      else {
        const mp = mountPoints.find((p) => p.name === m.path);
        if (mp === undefined) {
          const has = mountPoints.length === 0 ? 'it has none' : `it has ${list(mountPoints.map((p) => p.name))}`;
          throw fail(`image ${image.manifest.name} has no mount point "${m.path}" (${has}; or give an absolute path)`);
        }
        path = canonicalPath(mp.path);
      }
      if (path === '/') throw fail('a volume cannot be mounted on the root of the app');
      // At a mount point's path, it is stored as the image spells it, so that readers match it exactly.
      const stored = storedPath(mountPoints.find((p) => canonicalPath(p.path) === path)?.path ?? path);
      if (m.appVolume === undefined && !volumeNames.has(m.volume)) {
        const known = volumes.length === 0 ? 'the pod has no volumes' : `the pod's volumes are ${list(volumes.map((v) => v.name))}`;
        const hint = origin.kind === 'usage' ? `; add it with -v ${m.volume}[:PATH]` : '';
        throw fail(`no volume "${m.volume}" in the pod (${known}${hint})`);
      }
      if (targets.has(path)) throw fail(`app "${appName}" already has a mount at ${path}`);
      targets.add(path);
      out.push(m.appVolume === undefined ? { volume: m.volume, path: stored } : { volume: m.volume, path: stored, appVolume: m.appVolume });
    }
    for (const mp of mountPoints) {
      const path = canonicalPath(mp.path);
      if (targets.has(path)) continue;
      targets.add(path);
      out.push({ volume: mp.name, path: storedPath(mp.path) });
      if (!volumeNames.has(mp.name)) {
        volumeNames.add(mp.name);
        implicit.push({ name: mp.name, kind: 'empty', mode: '0755', uid: 0, gid: 0 });
      }
    }
    const ra: RuntimeApp = { name: appName, image: { id: image.id, name: image.manifest.name } };
    if (image.manifest.labels !== undefined && image.manifest.labels.length > 0) ra.image.labels = image.manifest.labels;
    if (app !== undefined) ra.app = app;
    if (readOnlyRootFS !== undefined) ra.readOnlyRootFS = readOnlyRootFS;
    if (out.length > 0) ra.mounts = out;
    ra.annotations = [{ name: IMAGE_UUID_ANNOTATION, value: image.uuid }, ...(annotations ?? []).filter((a) => a.name !== IMAGE_UUID_ANNOTATION)];
    return ra;
  });
  const annotations = pod.annotations ?? [];
  const network = annotations.find((a) => a.name === NETWORK_ANNOTATION);
  if (network !== undefined && network.value !== 'host' && network.value !== 'private') {
    throw invalid(`pod annotation ${NETWORK_ANNOTATION}: "${network.value}" is not host or private`);
  }
  const manifest: PodManifest = { acKind: 'PodManifest', acVersion: AC_VERSION, apps: runtimeApps, volumes: [...volumes, ...implicit] };
  if (pod.isolators !== undefined && pod.isolators.length > 0) manifest.isolators = pod.isolators;
  manifest.annotations = annotations;
  if (pod.ports !== undefined && pod.ports.length > 0) manifest.ports = pod.ports;
  if (pod.userAnnotations !== undefined) manifest.userAnnotations = pod.userAnnotations;
  if (pod.userLabels !== undefined) manifest.userLabels = pod.userLabels;
  return parsePodManifest(manifest, 'pod manifest');
}

/**
 * Create a pod from the apps: builds and validates the manifest, then clones every image and
 * stores the pod (nothing is stored when anything fails). `build`: an image-build's pod, which gc
 * removes once its builder is gone (Store.createPod).
 */
export async function createPod(store: Store, apps: readonly AppSpec[], pod: PodOptions = {}, opts: { build?: boolean } = {}): Promise<Pod> {
  if (apps.length === 0) throw usage('a pod needs at least one IMAGE');
  const manifest = podManifest(apps, pod);
  await store.gc();
  return store.createPod(
    randomUUID(),
    manifest,
    manifest.apps.map((a, i) => ({ name: a.name, image: (apps[i] as AppSpec).image })),
    opts,
  );
}

// ---------------------------------------------------------------------------------------------
// Pod manifest templates (`-f FILE`)

/** A pod manifest template read and resolved against the store: its apps and the pod-level parts. */
export interface PodTemplate {
  apps: AppSpec[];
  pod: PodOptions;
}

/** The first key given twice in one object of (valid) JSON text, or undefined. */
function duplicateKey(text: string): string | undefined {
  const token = /\s*("(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,"]+)/gy;
  const stack: Array<Set<string> | null> = []; // per open object its keys, per open array null
  let prev = '';
  let key: string | undefined;
  for (let m = token.exec(text); m !== null; m = token.exec(text)) {
    const t = m[1] as string;
    const keys = stack[stack.length - 1];
    if (t === '{') stack.push(new Set());
    else if (t === '[') stack.push(null);
    else if (t === '}' || t === ']') stack.pop();
    else if (t === ':' && keys && key !== undefined) {
      if (keys.has(key)) return key;
      keys.add(key);
    }
    key = keys && t.startsWith('"') && (prev === '{' || prev === ',') ? (JSON.parse(t) as string) : undefined;
    prev = t;
  }
  return undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Give `obj[field]` a value when no key spelled like it (case-insensitively, as Go) has one. */
function fillIn(obj: Record<string, unknown>, field: string, value: unknown): boolean {
  const keys = Object.keys(obj).filter((k) => k.toLowerCase() === field.toLowerCase());
  if (keys.some((k) => obj[k] !== null && obj[k] !== undefined)) return false;
  for (const k of keys) delete obj[k];
  obj[field] = value;
  return true;
}

/** Rewrap an error with a prefix naming where it comes from, keeping its kind. */
function within(where: string, err: unknown): unknown {
  return err instanceof JetpackError ? new JetpackError(err.kind, `${where}: ${err.message}`, err.detail) : err;
}

/** The image an app of a template names: by ID (or an unambiguous prefix), else by name and labels. */
async function templateImage(store: Store, ref: RuntimeApp['image'], where: string): Promise<Image> {
  if (ref.id !== undefined) {
    let image: Image;
    try {
      image = await findImage(store, ref.id);
    } catch (err) {
      throw within(`${where}.id`, err);
    }
    if (ref.name !== undefined && ref.name !== image.manifest.name) {
      throw invalid(`${where}.name: "${ref.name}" is not the name of image ${image.id.slice(0, 19)}... (${image.manifest.name})`);
    }
    for (const l of ref.labels ?? []) {
      const v = image.manifest.labels?.find((x) => x.name === l.name)?.value;
      if (v !== l.value) throw invalid(`${where}.labels: image ${imageLabel(image)} has no label ${l.name}=${l.value}`);
    }
    return image;
  }
  if (ref.name === undefined) throw invalid(`${where}: names no image (give its id, or its name and labels)`);
  const labels = new Map<string, string[]>();
  for (const l of ref.labels ?? []) labels.set(l.name, [l.value]);
  const query = [ref.name, ...(ref.labels ?? []).map((l) => `${l.name}=${l.value}`)].join(',');
  const found = (await store.images()).filter((i) => matches(i, { name: ref.name as string, labels }));
  if (found.length === 0) throw notFound(`${where}: no image matches ${query}`);
  if (found.length > 1) {
    const all = found.map((i) => `${i.uuid} ${imageLabel(i)}`).join('; ');
    throw new JetpackError('ambiguous', `${where}: ${query} is ambiguous, ${found.length} images match: ${all}`, found.map((i) => i.uuid));
  }
  return found[0] as Image;
}

/**
 * Read a whole or partial pod manifest (JSON text) and resolve its apps' images in the store.
 * Missing acKind, acVersion, apps and app names are filled in; the rest is validated as a pod
 * manifest template (spec/pods.md).
 * @param source names the input in error messages (the file name, or `stdin`)
 * @throws JetpackError('invalid') for bad JSON or an invalid manifest; not-found / ambiguous for images
 */
export async function podTemplate(store: Store, text: string, source: string): Promise<PodTemplate> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalid(`${source}: not valid JSON: ${(err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ')}`);
  }
  const dup = duplicateKey(text);
  if (dup !== undefined) throw invalid(`${source}: key ${JSON.stringify(dup)} is given twice in one object`);
  if (!isRecord(doc)) throw invalid(`${source}: not a pod manifest: expected a JSON object`);
  fillIn(doc, 'acKind', 'PodManifest');
  fillIn(doc, 'acVersion', AC_VERSION);
  fillIn(doc, 'apps', []);
  // App names may be left out: placeholders, replaced by the default name once the image is known.
  const unnamed = new Set<number>();
  const rawApps = Object.entries(doc).find(([k, v]) => k.toLowerCase() === 'apps' && v !== null)?.[1];
  if (Array.isArray(rawApps)) {
    rawApps.forEach((a, i) => {
      if (isRecord(a) && fillIn(a, 'name', `jetpack-unnamed-app-${i}`)) unnamed.add(i);
    });
  }
  const m = parsePodManifest(doc, source, { template: true });
  const apps: AppSpec[] = [];
  for (const [i, a] of m.apps.entries()) {
    const where = `${source}: apps[${i}]`;
    const spec: AppSpec = { image: await templateImage(store, a.image, `${where}.image`) };
    if (!unnamed.has(i)) spec.name = a.name;
    if (a.app !== undefined) spec.app = a.app;
    if (a.readOnlyRootFS !== undefined) spec.readOnlyRootFS = a.readOnlyRootFS;
    if (a.mounts !== undefined) {
      spec.mounts = a.mounts.map((x, j) => ({ ...x, origin: { what: `${where}.mounts[${j}]`, kind: 'invalid' } }));
    }
    if (a.annotations !== undefined) spec.annotations = a.annotations;
    apps.push(spec);
  }
  const pod: PodOptions = {};
  if (m.volumes !== undefined) pod.volumes = m.volumes;
  if (m.annotations !== undefined) pod.annotations = m.annotations;
  if (m.isolators !== undefined) pod.isolators = m.isolators;
  if (m.ports !== undefined) pod.ports = m.ports;
  if (m.userAnnotations !== undefined) pod.userAnnotations = m.userAnnotations;
  if (m.userLabels !== undefined) pod.userLabels = m.userLabels;
  return { apps, pod };
}
