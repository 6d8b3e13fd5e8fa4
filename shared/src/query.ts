/**
 * The IMAGE and POD arguments (original jetpack's `jetpack help` § Needs Explanation):
 *
 * IMAGE is one of
 *  - a storage UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`), or an unambiguous prefix of at least 4 hex digits,
 *  - an image ID `sha512-HEX`, full or any unambiguous prefix of at least `sha512-` + 1 hex digit,
 *  - a QUERY: `NAME[,LABEL=VALUE...]`, or `NAME:VERSION` (short for `NAME,version=VERSION`).
 *    NAME must equal the manifest name; each LABEL must be present with that VALUE (a label
 *    repeated means any of its values).
 * A query or prefix matching several images is an error (exit 4) that lists the candidates.
 *
 * POD is a pod UUID, or an unambiguous prefix of one.
 */
import { JetpackError, notFound, usage } from './errors.js';
import type { Image, Pod, Store } from './store/store.js';
import { UUID_RE } from './store/store.js';

/** A parsed QUERY: the image name and the label constraints (name → accepted values). */
export interface ImageQuery {
  name: string;
  labels: Map<string, string[]>;
}

/** Parse `NAME[,LABEL=VALUE...]` or `NAME:VERSION[,LABEL=VALUE...]`. */
export function parseQuery(q: string): ImageQuery {
  const parts = q.split(',');
  let name = parts.shift() ?? '';
  const labels = new Map<string, string[]>();
  const colon = name.indexOf(':');
  if (colon >= 0) {
    labels.set('version', [name.slice(colon + 1)]);
    name = name.slice(0, colon);
  }
  if (name === '') throw usage(`"${q}": a query needs an image NAME (NAME[,LABEL=VALUE...] or NAME:VERSION)`);
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw usage(`"${q}": "${p}" is not LABEL=VALUE`);
    const k = p.slice(0, eq);
    labels.set(k, [...(labels.get(k) ?? []), p.slice(eq + 1)]);
  }
  return { name, labels };
}

/** Does the image match the query? */
export function matches(image: Image, q: ImageQuery): boolean {
  if (image.manifest.name !== q.name) return false;
  for (const [k, values] of q.labels) {
    const v = image.manifest.labels?.find((l) => l.name === k)?.value;
    if (v === undefined || !values.includes(v)) return false;
  }
  return true;
}

/** Images matching an `image list [QUERY]` argument (all images for no query). */
export async function findImages(store: Store, query?: string): Promise<Image[]> {
  const all = await store.images();
  if (query === undefined || query === '') return all;
  if (UUID_RE.test(query)) return all.filter((i) => i.uuid === query);
  if (query.startsWith('sha512-')) return all.filter((i) => i.id.startsWith(query));
  const q = parseQuery(query);
  return all.filter((i) => matches(i, q));
}

/** Resolve an IMAGE argument to exactly one image (exit 3 if none, 4 if several). */
export async function findImage(store: Store, arg: string): Promise<Image> {
  if (UUID_RE.test(arg)) {
    const img = await store.image(arg);
    if (img === null) throw notFound(`image ${arg}: no such image`);
    return img;
  }
  if (/^sha512-[0-9a-f]{128}$/.test(arg)) {
    const img = await store.imageById(arg);
    if (img === null) throw notFound(`image ${arg}: no such image`);
    return img;
  }
  if (arg.startsWith('sha512-') && !/^sha512-[0-9a-f]+$/.test(arg)) {
    throw usage(`image "${arg}": an image ID is sha512- followed by hex digits`);
  }
  let found: Image[] = [];
  if (/^[0-9a-f]{4,}(-[0-9a-f]*)*$/.test(arg) && arg.length < 36) {
    // An unambiguous prefix of a storage UUID, as for pods; a name that merely looks hex falls through.
    found = (await store.images()).filter((i) => i.uuid.startsWith(arg));
  }
  if (found.length === 0) found = await findImages(store, arg);
  if (found.length === 0) throw notFound(`image "${arg}": no such image`);
  if (found.length > 1) {
    const list = found.map((i) => `${i.uuid} ${imageLabel(i)}`).join('; ');
    throw new JetpackError('ambiguous', `image "${arg}" is ambiguous, ${found.length} images match: ${list}`, found.map((i) => i.uuid));
  }
  return found[0] as Image;
}

/** `name:version,label=value,...` — a short human name for an image. */
export function imageLabel(i: Image): string {
  const labels = i.manifest.labels ?? [];
  const version = labels.find((l) => l.name === 'version');
  const rest = labels.filter((l) => l.name !== 'version').map((l) => `${l.name}=${l.value}`).sort();
  return [`${i.manifest.name}${version ? `:${version.value}` : ''}`, ...rest].join(',');
}

/** Resolve a POD argument (UUID or unambiguous UUID prefix) to one pod. */
export async function findPod(store: Store, arg: string): Promise<Pod> {
  if (UUID_RE.test(arg)) {
    const pod = await store.pod(arg);
    if (pod === null) throw notFound(`pod ${arg}: no such pod`);
    return pod;
  }
  if (!/^[0-9a-f-]+$/.test(arg)) throw usage(`pod "${arg}": a POD is a UUID or a prefix of one`);
  const found = (await store.pods()).filter((p) => p.uuid.startsWith(arg));
  if (found.length === 0) throw notFound(`pod ${arg}: no such pod`);
  if (found.length > 1) {
    throw new JetpackError('ambiguous', `pod "${arg}" is ambiguous: ${found.map((p) => p.uuid).join(', ')}`);
  }
  return found[0] as Pod;
}
