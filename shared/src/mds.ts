/**
 * The App Container Metadata Service (MDS), per appc spec/ace.md § App Container Metadata Service:
 * what a pod's apps learn about themselves over HTTP at `$AC_METADATA_URL`, and the identity
 * endpoint that signs and verifies content with a key only the service holds.
 *
 * This module is the core without a server: the key, the per-pod URL tokens, the URL, and a pure
 * request handler (`handleMdsRequest`) that `metadata-service` puts behind node:http.
 *
 * Keys. One key file per store, `ROOT/mds.key`: 64 random bytes, mode 0600, made atomically on
 * first use. Two sub-keys are derived from it, HMAC-SHA512(key, "token") and HMAC-SHA512(key, "sign"),
 * so that a leaked token says nothing about the signing key.
 *
 * Tokens. A pod's token is the first 32 hex digits (128 bits) of HMAC-SHA512(tokenKey, the 16 raw
 * bytes of its UUID). It is deterministic: the runner computes it when it starts a pod
 * (`metadataUrl(address, port, mdsToken(keys, uuid))`), and the service finds the pod a token
 * names by computing the tokens of the store's pods. The spec asks for at least 128 bits of
 * entropy, not guessable and not the pod UUID: all three hold while the key stays secret.
 *
 * Isolation. A request is answered only for the pod its token names. When that pod's manifest has
 * the pod annotation `ip-address` (its address on the pod network), the request must also come from
 * that address; so a pod that learned another pod's token still cannot read its data or sign as it.
 * Pods on the host's network (no `ip-address`) are identified by their token alone.
 *
 * Endpoints (under `/TOKEN/acMetadata/v1/`; Content-Type exactly as the ACE validator compares it):
 *
 * | path                              | method | Content-Type                   | body                               |
 * |-----------------------------------|--------|--------------------------------|------------------------------------|
 * | pod/annotations                   | GET    | application/json               | the pod manifest's `annotations`   |
 * | pod/annotations/NAME (not spec)   | GET    | text/plain; charset=us-ascii   | that annotation's value            |
 * | pod/manifest                      | GET    | application/json               | the pod manifest (reified)         |
 * | pod/uuid                          | GET    | text/plain; charset=us-ascii   | the pod UUID, canonical form       |
 * | pod/hmac/sign                     | POST   | text/plain; charset=us-ascii   | base64 HMAC-SHA512 of UUID‖content |
 * | pod/hmac/verify                   | POST   | text/plain; charset=us-ascii   | 200 valid, 403 not                 |
 * | apps/APP/annotations              | GET    | application/json               | image ones merged with the app's   |
 * | apps/APP/annotations/NAME (not spec) | GET | text/plain; charset=us-ascii   | that merged annotation's value     |
 * | apps/APP/image/manifest           | GET    | application/json               | the image manifest                 |
 * | apps/APP/image/id                 | GET    | text/plain; charset=us-ascii   | the image ID (`sha512-...`)        |
 *
 * Also `GET /` (a one-line banner, no token) and `GET /NILTOKEN/_info` (the token of the nil UUID;
 * JSON `{pid, address, port, version}`, used by `mdsStatus`). Statuses: 400 malformed request
 * (bad form, bad uuid or base64, bad app name, empty content to sign), 401 unknown token or wrong
 * remote address (the same answer for both), 404 no such path, app or annotation, 405 wrong method.
 * The `Metadata-Flavor: AppContainer` header of older spec versions is neither required nor refused.
 * Sources: appc spec/ace.md; the HMAC message and errors follow rkt's metadata service
 * (rkt/metadata_service.go).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NameValue } from './appc/types.js';
import { isAcName } from './appc/names.js';
import { checkoutPath } from './checkout.js';
import { type Config, get } from './config.js';
import { conflict, JetpackError } from './errors.js';
import { type Image, type Pod, Store, UUID_RE } from './store/store.js';
import { processAlive } from './proc.js';

/** Length of the key in `ROOT/mds.key`, in bytes. */
export const MDS_KEY_BYTES = 64;
/** The default of the `mds.port` configuration key. */
export const MDS_DEFAULT_PORT = 1104;
/** The nil UUID: its token authenticates `/_info`, which only holders of the key can ask. */
export const NIL_UUID = '00000000-0000-0000-0000-000000000000';
/** Content types, exactly as the appc ACE validator compares them. */
export const JSON_TYPE = 'application/json';
export const TEXT_TYPE = 'text/plain; charset=us-ascii';
/** The largest request body `metadata-service` reads, in bytes (larger: 413). */
export const MDS_MAX_BODY = 1024 * 1024;

/** The Jetpack version, from the shared package's package.json (reported by `/` and `/_info`). */
export const MDS_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(checkoutPath('shared', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** The two sub-keys derived from `ROOT/mds.key`. */
export interface MdsKeys {
  /** HMAC-SHA512(key, "token"), 64 bytes: keys the pod URL tokens. */
  token: Buffer;
  /** HMAC-SHA512(key, "sign"), 64 bytes: keys `pod/hmac/sign` and `pod/hmac/verify`. */
  sign: Buffer;
}

/** Paths of the service's files in a store root. */
export function mdsFiles(root: string): { key: string; pid: string; url: string } {
  return { key: join(root, 'mds.key'), pid: join(root, 'mds.pid'), url: join(root, 'mds.url') };
}

/** Derive the token and signing sub-keys from the 64-byte master key. */
export function deriveMdsKeys(master: Buffer): MdsKeys {
  return {
    token: createHmac('sha512', master).update('token').digest(),
    sign: createHmac('sha512', master).update('sign').digest(),
  };
}

/** Read and check a key file; null when it does not exist. */
async function readKeyFile(path: string): Promise<Buffer | null> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new JetpackError('config', `${path}: cannot read the metadata service key: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!st.isFile() || st.size !== MDS_KEY_BYTES) {
    throw new JetpackError('config', `${path}: the metadata service key must be a file of ${MDS_KEY_BYTES} bytes; remove it to make a new one`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new JetpackError('config', `${path}: the metadata service key must be readable by its owner only (chmod 600 ${path})`);
  }
  const key = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new JetpackError('config', `${path}: cannot read the metadata service key: ${err.code ?? String(err)}`);
  });
  if (key.length !== MDS_KEY_BYTES) throw new JetpackError('config', `${path}: the metadata service key must be ${MDS_KEY_BYTES} bytes`);
  return key;
}

/**
 * The store's metadata service keys, from `ROOT/mds.key`, without creating it.
 * @returns the derived keys, or null when the store has no key file yet
 * @throws JetpackError('config') when the file is unreadable, not 64 bytes, or readable by others
 */
export async function loadMdsKey(store: Store): Promise<MdsKeys | null> {
  const key = await readKeyFile(mdsFiles(store.layout.root).key);
  return key === null ? null : deriveMdsKeys(key);
}

/**
 * The store's metadata service keys, from `ROOT/mds.key`, creating the file on first use:
 * 64 random bytes written to a private temporary file (mode 0600) which is then link(2)ed into
 * place, so a reader never sees a partial key and, of two racing creators, the loser (EEXIST)
 * takes the winner's key.
 * @returns the derived token and signing keys (64 bytes each)
 * @throws JetpackError('config') when the file cannot be made or read, or is malformed
 */
export async function loadOrCreateMdsKey(store: Store): Promise<MdsKeys> {
  const path = mdsFiles(store.layout.root).key;
  const existing = await readKeyFile(path);
  if (existing !== null) return deriveMdsKeys(existing);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(store.layout.root, { recursive: true });
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(randomBytes(MDS_KEY_BYTES));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } catch (err) {
    if (err instanceof JetpackError) throw err;
    throw new JetpackError('config', `${path}: cannot create the metadata service key: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const key = await readKeyFile(path);
  if (key === null) throw new JetpackError('config', `${path}: the metadata service key vanished after it was made`);
  return deriveMdsKeys(key);
}

/**
 * The 16 raw bytes of a UUID. Accepts the canonical form, upper case, and the undashed 32-hex form
 * (as the Go parser does).
 * @returns the bytes, or null when `uuid` is not a UUID
 */
export function uuidBytes(uuid: string): Buffer | null {
  const hex = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid)
    ? uuid.replace(/-/g, '')
    : /^[0-9a-f]{32}$/i.test(uuid)
      ? uuid
      : null;
  return hex === null ? null : Buffer.from(hex, 'hex');
}

/**
 * A pod's metadata URL token: the first 32 lowercase hex digits (128 bits) of
 * HMAC-SHA512(keys.token, the pod UUID's 16 raw bytes). Deterministic for a given store key.
 * @throws JetpackError('internal') when `podUuid` is not a UUID
 */
export function mdsToken(keys: MdsKeys, podUuid: string): string {
  const bytes = uuidBytes(podUuid);
  if (bytes === null) throw new JetpackError('internal', `mdsToken: "${podUuid}" is not a UUID`);
  return createHmac('sha512', keys.token).update(bytes).digest('hex').slice(0, 32);
}

/**
 * A pod's `AC_METADATA_URL`: `http://ADDRESS[:PORT]/TOKEN`, the port left out when it is 80 and an
 * IPv6 address put in brackets. No trailing slash: apps append `/acMetadata/v1/...`.
 */
export function metadataUrl(address: string, port: number, token: string): string {
  return `${baseUrl(address, port)}/${token}`;
}

/** `http://ADDRESS[:PORT]`, as in `metadataUrl`. */
export function baseUrl(address: string, port: number): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `http://${host}${port === 80 ? '' : `:${port}`}`;
}

/**
 * The configured service port, `mds.port` (default 1104).
 * @throws JetpackError('config') when it is not an integer from 1 to 65535
 */
export function mdsPort(config: Config): number {
  const v = get(config, 'mds.port') || String(MDS_DEFAULT_PORT);
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n < 1 || n > 65535) {
    throw new JetpackError('config', `${config.path ?? 'configuration'}: mds.port = ${v}: must be a port number from 1 to 65535`);
  }
  return n;
}

/** What `GET /NILTOKEN/_info` reports about the running service. */
export interface MdsInfo {
  /** Process ID of the service. */
  pid: number;
  /** Address it listens on. */
  address: string;
  /** TCP port it listens on. */
  port: number;
  /** Jetpack version (MDS_VERSION). */
  version: string;
}

/** What the request handler needs: the store, the keys, and a token → pod UUID cache. */
export interface MdsContext {
  store: Store;
  keys: MdsKeys;
  info: MdsInfo;
  /** Token → pod UUID for the store's pods, rebuilt when a token is not found in it. */
  tokens: Map<string, string>;
  /** The token of the nil UUID (authenticates `/_info`). */
  nilToken: string;
  /** A rebuild of `tokens` under way, shared by concurrent misses. */
  refreshing: Promise<void> | null;
}

/** A handler context for a store and its keys; `info` is what `/_info` reports (mutable). */
export function createMdsContext(store: Store, keys: MdsKeys, info: MdsInfo): MdsContext {
  return { store, keys, info, tokens: new Map(), nilToken: mdsToken(keys, NIL_UUID), refreshing: null };
}

/** One HTTP request, as `handleMdsRequest` sees it. */
export interface MdsRequest {
  /** HTTP method (HEAD is answered as GET; the server drops the body). */
  method: string;
  /** The request target: path and query, e.g. `/TOKEN/acMetadata/v1/pod/uuid`. */
  url: string;
  /** The peer's IP address (an IPv4-mapped IPv6 address counts as the IPv4 one). */
  remoteAddress?: string | undefined;
  /** The request body (form fields of POSTs), raw bytes. */
  body?: Buffer | string | undefined;
  /** The request's Content-Type header; the body is read as a form when it is absent or urlencoded. */
  contentType?: string | undefined;
}

/** The answer to one request. */
export interface MdsResponse {
  status: number;
  /** Exactly `application/json` or `text/plain; charset=us-ascii`. */
  contentType: string;
  /** JSON text, or plain text (no trailing newline on data; error messages end with one). */
  body: string;
  /** Extra headers (`Allow` on a 405). */
  headers?: Record<string, string>;
  /** The UUID of the pod the request was authenticated as, for the log. */
  pod?: string;
}

/** The banner `GET /` answers with. */
export function mdsBanner(): string {
  return `Jetpack metadata service version ${MDS_VERSION}\n`;
}

/**
 * The request path (no query) with its first segment, the token, replaced by `*`, for logs:
 * tokens are credentials.
 */
export function mdsLogPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  const m = /^\/[^/]+(\/.*)?$/.exec(path);
  return m === null ? path : `/*${m[1] ?? ''}`;
}

const text = (status: number, body: string, extra: Partial<MdsResponse> = {}): MdsResponse => ({ status, contentType: TEXT_TYPE, body, ...extra });
const json = (value: unknown, pod: string): MdsResponse => ({ status: 200, contentType: JSON_TYPE, body: JSON.stringify(value), pod });
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
};
const fail = (status: number, why?: string, extra: Partial<MdsResponse> = {}): MdsResponse =>
  text(status, `${status} ${STATUS_TEXT[status] ?? ''}${why === undefined ? '' : `: ${why}`}\n`, extra);

/** Rebuild the token → pod map from the UUID-named entries of the store's pods directory. */
async function refreshTokens(ctx: MdsContext): Promise<void> {
  if (ctx.refreshing === null) {
    ctx.refreshing = (async () => {
      const names = await readdir(ctx.store.layout.pods).catch(() => [] as string[]);
      const map = new Map<string, string>();
      for (const n of names) if (UUID_RE.test(n)) map.set(mdsToken(ctx.keys, n), n);
      ctx.tokens = map;
    })().finally(() => {
      ctx.refreshing = null;
    });
  }
  await ctx.refreshing;
}

/** The pod a token names (the map is rebuilt on a miss), or null. */
async function podForToken(ctx: MdsContext, token: string): Promise<Pod | null> {
  if (!/^[0-9a-f]{32}$/.test(token)) return null;
  let uuid = ctx.tokens.get(token);
  if (uuid === undefined) {
    await refreshTokens(ctx);
    uuid = ctx.tokens.get(token);
  }
  if (uuid === undefined) return null;
  const pod = await ctx.store.pod(uuid);
  if (pod === null) ctx.tokens.delete(token);
  return pod;
}

/** An address without IPv4-mapping (`::ffff:10.0.0.2` → `10.0.0.2`), IPv6 zone or prefix length, lowercase. */
function normalizeAddress(a: string): string {
  let s = a.trim().toLowerCase().replace(/\/\d+$/, '').replace(/%.*$/, '');
  if (s.startsWith('::ffff:') && /^\d+\.\d+\.\d+\.\d+$/.test(s.slice(7))) s = s.slice(7);
  return s;
}

/** The value of the annotation `name` (matched case-insensitively, as appc's ACIdentifier.Equals). */
function annotation(list: readonly NameValue[] | undefined, name: string): string | undefined {
  const n = name.toLowerCase();
  return list?.find((a) => a.name.toLowerCase() === n)?.value;
}

/**
 * An app's annotations per appc: the image manifest's, in order; then each of the pod app's
 * annotations replaces the value of one with the same name (case-insensitive) in place, taking its
 * name, or is appended (what the ACE validator expects, and rkt does).
 */
export function mergeAnnotations(image: readonly NameValue[] | undefined, app: readonly NameValue[] | undefined): NameValue[] {
  const out: NameValue[] = (image ?? []).map((a) => ({ name: a.name, value: a.value }));
  for (const a of app ?? []) {
    const i = out.findIndex((o) => o.name.toLowerCase() === a.name.toLowerCase());
    if (i >= 0) out[i] = { name: a.name, value: a.value };
    else out.push({ name: a.name, value: a.value });
  }
  return out;
}

/** Percent-decode one form component (`+` is a space) to raw bytes; null on a malformed escape. */
function formDecode(s: string): Buffer | null {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) out.push(0x20);
    else if (c === 0x25) {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return null;
      out.push(parseInt(h, 16));
      i += 2;
    } else out.push(c & 0xff);
  }
  return Buffer.from(out);
}

/** Parse `application/x-www-form-urlencoded` bytes into name → first value (raw bytes); null if malformed. */
function parseForm(raw: string, into: Map<string, Buffer>): boolean {
  if (raw === '') return true;
  for (const pair of raw.split(/[&]/)) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const k = formDecode(eq < 0 ? pair : pair.slice(0, eq));
    const v = formDecode(eq < 0 ? '' : pair.slice(eq + 1));
    if (k === null || v === null) return false;
    const name = k.toString('utf8');
    if (!into.has(name)) into.set(name, v);
  }
  return true;
}

/**
 * The form fields of a request: the urlencoded body (when the Content-Type is absent or
 * `application/x-www-form-urlencoded`), then the query string for fields the body lacks (as Go's
 * `FormValue`). Values are raw bytes, so the content signed is exactly the bytes sent.
 * @returns the fields, or null when the form is malformed
 */
function formFields(req: MdsRequest, query: string): Map<string, Buffer> | null {
  const fields = new Map<string, Buffer>();
  const ct = (req.contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (ct === '' || ct === 'application/x-www-form-urlencoded') {
    const body = req.body === undefined ? '' : Buffer.isBuffer(req.body) ? req.body.toString('latin1') : Buffer.from(req.body, 'utf8').toString('latin1');
    if (!parseForm(body, fields)) return null;
  }
  if (!parseForm(query, fields)) return null;
  return fields;
}

/** Strict standard base64 with padding (CR and LF ignored, as Go's decoder does); null if malformed. */
function decodeBase64(s: string): Buffer | null {
  const t = s.replace(/[\r\n]/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(t)) return null;
  return Buffer.from(t, 'base64');
}

/** HMAC-SHA512(keys.sign, UUID bytes ‖ content), 64 bytes. */
export function mdsSignature(keys: MdsKeys, podUuid: string, content: Buffer | string): Buffer {
  const bytes = uuidBytes(podUuid);
  if (bytes === null) throw new JetpackError('internal', `mdsSignature: "${podUuid}" is not a UUID`);
  return createHmac('sha512', keys.sign).update(bytes).update(content).digest();
}

/** The image of a pod app: by the manifest's image ID, else by the storage UUID the pod recorded. */
async function appImage(ctx: MdsContext, pod: Pod, app: string, id: string): Promise<Image | null> {
  const byId = await ctx.store.imageById(id);
  if (byId !== null) return byId;
  const uuid = pod.apps.find((a) => a.name === app)?.image;
  const byUuid = uuid === undefined ? null : await ctx.store.image(uuid);
  return byUuid !== null && byUuid.id === id ? byUuid : null;
}

/** Split a path into decoded segments; null when a segment's escapes are malformed. */
function segments(path: string): string[] | null {
  try {
    return path.split('/').slice(1).map((s) => decodeURIComponent(s));
  } catch {
    return null;
  }
}

/**
 * Answer one metadata service request (see the endpoint table at the top of this module). Never
 * throws: an unexpected failure (an unreadable store) is a 500 with a one-line message.
 * @param ctx from `createMdsContext`
 * @param req the request: method, target, peer address, body
 * @returns status, exact Content-Type, body, and the authenticated pod's UUID
 */
export async function handleMdsRequest(ctx: MdsContext, req: MdsRequest): Promise<MdsResponse> {
  try {
    return await route(ctx, req);
  } catch (err) {
    return fail(500, err instanceof Error ? err.message.replace(/\s*\n\s*/g, '; ') : String(err));
  }
}

async function route(ctx: MdsContext, req: MdsRequest): Promise<MdsResponse> {
  const method = req.method.toUpperCase() === 'HEAD' ? 'GET' : req.method.toUpperCase();
  const q = req.url.indexOf('?');
  let path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  if (/^[a-z]+:\/\//i.test(path)) path = path.replace(/^[a-z]+:\/\/[^/]*/i, '') || '/';
  const only = (m: 'GET' | 'POST', answer: () => Promise<MdsResponse> | MdsResponse, pod?: string): Promise<MdsResponse> | MdsResponse =>
    method === m ? answer() : fail(405, `use ${m}`, { headers: { Allow: m === 'GET' ? 'GET, HEAD' : 'POST' }, ...(pod === undefined ? {} : { pod }) });

  if (path === '/' || path === '') return only('GET', () => text(200, mdsBanner()));
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  const segs = segments(path);
  if (segs === null) return fail(400, 'malformed percent-escape in the path');
  const [token = '', ...rest] = segs;

  if (token === ctx.nilToken && rest.length === 1 && rest[0] === '_info') {
    return only('GET', () => ({ status: 200, contentType: JSON_TYPE, body: JSON.stringify(ctx.info) }));
  }
  const pod = await podForToken(ctx, token);
  if (pod === null) return fail(401, 'not a pod of this metadata service');
  const ip = annotation(pod.manifest.annotations, 'ip-address');
  if (ip !== undefined && ip !== '' && normalizeAddress(req.remoteAddress ?? '') !== normalizeAddress(ip)) {
    return fail(401, 'not a pod of this metadata service');
  }
  const uuid = pod.uuid;
  const notFound = (why: string): MdsResponse => fail(404, why, { pod: uuid });
  const badRequest = (why: string): MdsResponse => fail(400, why, { pod: uuid });

  if (rest[0] !== 'acMetadata' || rest[1] !== 'v1') return notFound('no such path (endpoints are under /acMetadata/v1/)');
  const [kind, ...sub] = rest.slice(2);

  if (kind === 'pod') {
    const [what, ...more] = sub;
    if (what === 'annotations' && more.length === 0) return only('GET', () => json(pod.manifest.annotations ?? [], uuid), uuid);
    if (what === 'annotations' && more.length > 0) {
      return only('GET', () => {
        const v = annotation(pod.manifest.annotations, more.join('/'));
        return v === undefined ? notFound(`the pod has no annotation "${more.join('/')}"`) : text(200, v, { pod: uuid });
      }, uuid);
    }
    if (what === 'manifest' && more.length === 0) return only('GET', () => json(pod.manifest, uuid), uuid);
    if (what === 'uuid' && more.length === 0) return only('GET', () => text(200, uuid, { pod: uuid }), uuid);
    if (what === 'hmac' && more.length === 1 && more[0] === 'sign') {
      return only('POST', () => {
        const form = formFields(req, query);
        if (form === null) return badRequest('malformed form');
        const content = form.get('content');
        if (content === undefined || content.length === 0) return badRequest('the form field "content" is missing or empty');
        return text(200, mdsSignature(ctx.keys, uuid, content).toString('base64'), { pod: uuid });
      }, uuid);
    }
    if (what === 'hmac' && more.length === 1 && more[0] === 'verify') {
      return only('POST', () => {
        const form = formFields(req, query);
        if (form === null) return badRequest('malformed form');
        const signer = form.get('uuid')?.toString('latin1') ?? '';
        const signerBytes = uuidBytes(signer);
        if (signerBytes === null) return badRequest('the form field "uuid" is not a UUID');
        const sig = decodeBase64(form.get('signature')?.toString('latin1') ?? '');
        if (sig === null) return badRequest('the form field "signature" is not base64');
        const content = form.get('content') ?? Buffer.alloc(0);
        const want = createHmac('sha512', ctx.keys.sign).update(signerBytes).update(content).digest();
        const ok = sig.length === want.length && timingSafeEqual(sig, want);
        return ok ? text(200, 'OK', { pod: uuid }) : fail(403, 'the signature does not match', { pod: uuid });
      }, uuid);
    }
    return notFound('no such path');
  }

  if (kind === 'apps' && sub.length >= 2) {
    const [name = '', what, ...more] = sub;
    if (!isAcName(name)) return badRequest(`"${name}" is not an AC Name`);
    const known =
      (what === 'annotations') ||
      (what === 'image' && more.length === 1 && (more[0] === 'manifest' || more[0] === 'id'));
    if (!known) return notFound('no such path');
    const app = pod.manifest.apps.find((a) => a.name === name);
    if (app === undefined) return notFound(`the pod has no app "${name}"`);
    return only('GET', async () => {
      if (what === 'image' && more[0] === 'id') return text(200, app.image.id, { pod: uuid });
      const image = await appImage(ctx, pod, name, app.image.id);
      if (image === null) return notFound(`the image of app "${name}" (${app.image.id}) is not in the store`);
      if (what === 'image') return json(image.manifest, uuid);
      const merged = mergeAnnotations(image.manifest.annotations, app.annotations);
      if (more.length === 0) return json(merged, uuid);
      const v = annotation(merged, more.join('/'));
      return v === undefined ? notFound(`app "${name}" has no annotation "${more.join('/')}"`) : text(200, v, { pod: uuid });
    }, uuid);
  }
  return notFound('no such path');
}

/** What `mdsStatus` found. */
export interface MdsStatus {
  /** True when the service answered `/_info` with the pid its pidfile names. */
  up: boolean;
  /** Base URL of the service, `http://ADDRESS[:PORT]` (no token). */
  url?: string;
  /** Its process ID. */
  pid?: number;
  /** Why it is not up, one line. */
  error?: string;
}

/**
 * Record the running service in the store root: `ROOT/mds.pid` (the PID and a newline) and
 * `ROOT/mds.url` (its base URL and a newline), for `mdsStatus`.
 * @throws JetpackError('conflict') when the pidfile names another live process
 */
export async function writeMdsPidFile(store: Store, url: string): Promise<void> {
  const files = mdsFiles(store.layout.root);
  const other = Number((await readFile(files.pid, 'utf8').catch(() => '')).trim());
  if (other > 0 && other !== process.pid && processAlive(other)) {
    throw conflict(`${files.pid}: a metadata service is already running for this store (pid ${other})`);
  }
  await mkdir(store.layout.root, { recursive: true });
  await writeFile(files.url, `${url}\n`, { mode: 0o644 });
  await writeFile(`${files.pid}.tmp-${process.pid}`, `${process.pid}\n`, { mode: 0o644 });
  await rename(`${files.pid}.tmp-${process.pid}`, files.pid);
}

/** Remove `ROOT/mds.pid` and `ROOT/mds.url` if they are this process's. */
export async function removeMdsPidFile(store: Store): Promise<void> {
  const files = mdsFiles(store.layout.root);
  const pid = Number((await readFile(files.pid, 'utf8').catch(() => '')).trim());
  if (pid !== process.pid) return;
  await unlink(files.url).catch(() => undefined);
  await unlink(files.pid).catch(() => undefined);
}


/**
 * Is the store's metadata service up? Reads `ROOT/mds.pid` and `ROOT/mds.url`, then asks
 * `GET URL/NILTOKEN/_info` (1 s timeout) and checks the answer names the same process.
 * Never throws.
 * @param config the configuration naming the store
 * @returns `{up: true, url, pid}`, or `{up: false, error}` (with `url` / `pid` when known)
 */
export async function mdsStatus(config: Config, timeoutMs = 1000): Promise<MdsStatus> {
  let store: Store;
  try {
    store = new Store(config);
  } catch (err) {
    return { up: false, error: err instanceof Error ? err.message : String(err) };
  }
  const files = mdsFiles(store.layout.root);
  const pidText = (await readFile(files.pid, 'utf8').catch(() => '')).trim();
  if (pidText === '') return { up: false, error: `not running (no ${files.pid})` };
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return { up: false, error: `${files.pid}: not a process ID` };
  if (!processAlive(pid)) return { up: false, pid, error: `not running (${files.pid} names pid ${pid}, which is gone)` };
  const url = (await readFile(files.url, 'utf8').catch(() => '')).trim();
  if (url === '') return { up: false, pid, error: `no ${files.url}` };
  let keys: MdsKeys | null;
  try {
    keys = await loadMdsKey(store);
  } catch (err) {
    return { up: false, url, pid, error: err instanceof Error ? err.message : String(err) };
  }
  if (keys === null) return { up: false, url, pid, error: `no ${files.key}` };
  try {
    const res = await fetch(`${url}/${mdsToken(keys, NIL_UUID)}/_info`, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) return { up: false, url, pid, error: `${url}: /_info answered ${res.status}` };
    const info = (await res.json()) as Partial<MdsInfo>;
    if (info.pid !== pid) return { up: false, url, pid, error: `${url}: answered by pid ${String(info.pid)}, not ${pid}` };
    return { up: true, url, pid };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
    return { up: false, url, pid, error: `${url}: ${why}` };
  }
}
