/**
 * Reading and validating appc manifests: `parseImageManifest` and `parsePodManifest`.
 *
 * 1. JSON text (Buffer or string) is parsed; a syntax error or a key given twice in one object is
 *    invalid. An already-parsed value is taken as is (and never modified).
 * 2. Keys are matched to the spec's fields case-insensitively, as Go's encoding/json does (so
 *    `Exec`, `ACKIND`, `supplementaryGids` are accepted), and spelled as the spec does in the
 *    result; unknown keys are dropped; a `null` member counts as absent. One field spelled two ways
 *    in one object is invalid.
 * 3. The structure is checked against ./schema.ts by validators that ajv compiled from it at build
 *    time (scripts/gen-validators.mjs, ./validators.generated.ts): no schema is compiled, and ajv
 *    is not loaded, at run time.
 * 4. Code checks what a JSON Schema cannot say: unique names, os/arch pairs, the version is not
 *    0.0.0, dates and URLs of well-known annotations, port ranges, quantities, isolator sets.
 *
 * Verdicts follow the Go reference code (what actool and rkt enforce) with deliberate exceptions,
 * where Jetpack is stricter; test/appc-validate.test.ts lists them and cross-checks with actool.
 * Every failure is `invalid('<source>: <path>: <rule>')`, one line, e.g.
 * `manifest: labels[2].value: os "windows" is not one of darwin, freebsd, linux`.
 */
import { isIP } from 'node:net';
import type { ErrorObject } from 'ajv';
import { invalid } from '../errors.js';
import { isAcIdentifier, isAcName } from './names.js';
import { quantityJsonError, quantityText, parseQuantity } from './quantity.js';
import { IMAGE_ID_PATTERN, VALID_OS_ARCH, type KnownIsolatorName } from './schema.js';
import type { App, ImageManifest, Isolator, NameValue, PodManifest, Port } from './types.js';
import { validators } from './validators.generated.js';

export { isAcIdentifier, isAcName };

export interface PodParseOptions {
  /** A pod manifest template (spec/pods.md): apps may identify their image without `image.id`. */
  template?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Paths and messages

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `a` + key → `a.key`, or `a["odd key"]` for keys that are not identifier-like. */
function joinKey(path: string, key: string): string {
  if (IDENT.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

const joinIndex = (path: string, i: number): string => `${path}[${i}]`;

/** A value as it appears in a message: JSON, shortened. */
function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  if (s === undefined) s = typeof v;
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

class Failure {
  constructor(readonly source: string) {}

  fail(path: string, rule: string): never {
    throw invalid(path === '' ? `${this.source}: ${rule}` : `${this.source}: ${path}: ${rule}`);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON text

/** The first key that appears twice in one object of (valid) JSON text, with its path. */
function findDuplicateKey(text: string): { path: string; key: string } | undefined {
  let i = 0;
  const n = text.length;
  const ws = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      i++;
    }
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): { path: string; key: string } | undefined => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return undefined;
      }
      const keys = new Set<string>();
      for (;;) {
        ws();
        const key = str();
        const p = joinKey(path, key);
        if (keys.has(key)) return { path: p, key };
        keys.add(key);
        ws();
        i++; // ':'
        const r = value(p);
        if (r !== undefined) return r;
        ws();
        if (text[i++] !== ',') return undefined; // '}'
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return undefined;
      }
      for (let k = 0; ; k++) {
        const r = value(joinIndex(path, k));
        if (r !== undefined) return r;
        ws();
        if (text[i++] !== ',') return undefined; // ']'
      }
    }
    if (c === '"') {
      str();
      return undefined;
    }
    while (i < n && !',]} \t\n\r'.includes(text[i] as string)) i++;
    return undefined;
  };
  return value('');
}

/** Parse JSON text; a syntax error or a duplicate key is `invalid` naming the source. */
function parseJsonText(text: string, f: Failure): unknown {
  if (text.charCodeAt(0) === 0xfeff) f.fail('', 'not valid JSON: it starts with a byte order mark (U+FEFF)');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    let msg = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
    const pos = /at position (\d+)/.exec(msg);
    if (pos?.[1] !== undefined) {
      const before = text.slice(0, Number(pos[1]));
      const line = before.split('\n').length;
      const column = before.length - before.lastIndexOf('\n');
      msg += ` (line ${line}, column ${column})`;
    }
    return f.fail('', `not valid JSON: ${msg}`);
  }
  let dup: { path: string; key: string } | undefined;
  try {
    dup = findDuplicateKey(text);
  } catch {
    return f.fail('', 'not valid JSON: nested too deeply');
  }
  if (dup !== undefined) f.fail(dup.path, `key ${JSON.stringify(dup.key)} is given twice in one object`);
  return doc;
}

function decode(input: unknown, f: Failure): unknown {
  if (typeof input === 'string') return parseJsonText(input, f);
  if (input instanceof Uint8Array) return parseJsonText(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8'), f);
  return input;
}

// ---------------------------------------------------------------------------------------------
// Key normalisation (Go's encoding/json matching)

type Shape =
  | { readonly k: 'any' }
  | { readonly k: 'map' }
  | { readonly k: 'isolator' }
  | { readonly k: 'array'; readonly items: Shape }
  | { readonly k: 'object'; readonly fields: Readonly<Record<string, Shape>>; readonly defaults?: Readonly<Record<string, string>> };

const ANY: Shape = { k: 'any' };
const MAP: Shape = { k: 'map' };
const obj = (fields: Record<string, Shape>, defaults?: Record<string, string>): Shape =>
  defaults === undefined ? { k: 'object', fields } : { k: 'object', fields, defaults };
const arr = (items: Shape): Shape => ({ k: 'array', items });
const fieldsOf = (...names: string[]): Record<string, Shape> => Object.fromEntries(names.map((n) => [n, ANY]));

const NAME_VALUE = arr(obj(fieldsOf('name', 'value'), { value: '' }));
const PORT = obj(fieldsOf('name', 'protocol', 'port', 'count', 'socketActivated'));
const VOLUME = obj(fieldsOf('name', 'kind', 'source', 'readOnly', 'recursive', 'mode', 'uid', 'gid'));
const APP = obj({
  ...fieldsOf('exec', 'user', 'group', 'supplementaryGIDs', 'workingDirectory'),
  eventHandlers: arr(obj(fieldsOf('name', 'exec'))),
  environment: NAME_VALUE,
  isolators: arr({ k: 'isolator' }),
  mountPoints: arr(obj(fieldsOf('name', 'path', 'readOnly'))),
  ports: arr(PORT),
  userAnnotations: MAP,
  userLabels: MAP,
});
const IMAGE_SHAPE = obj({
  ...fieldsOf('acKind', 'acVersion', 'name', 'pathWhitelist'),
  labels: NAME_VALUE,
  app: APP,
  dependencies: arr(obj({ ...fieldsOf('imageName', 'imageID', 'size'), labels: NAME_VALUE })),
  annotations: NAME_VALUE,
});
const POD_SHAPE = obj({
  ...fieldsOf('acVersion', 'acKind'),
  apps: arr(
    obj({
      ...fieldsOf('name', 'readOnlyRootFS'),
      image: obj({ ...fieldsOf('id', 'name'), labels: NAME_VALUE }),
      app: APP,
      mounts: arr(obj({ ...fieldsOf('volume', 'path'), appVolume: VOLUME })),
      annotations: NAME_VALUE,
    }),
  ),
  volumes: arr(VOLUME),
  isolators: arr({ k: 'isolator' }),
  annotations: NAME_VALUE,
  ports: arr(obj({ ...fieldsOf('name', 'hostPort', 'hostIP'), podPort: PORT })),
  userAnnotations: MAP,
  userLabels: MAP,
});

const RESOURCE_VALUE = obj(fieldsOf('default', 'request', 'limit'));
const ISOLATOR_VALUE_SHAPES: Readonly<Record<KnownIsolatorName, Shape>> = {
  'resource/cpu': RESOURCE_VALUE,
  'resource/memory': RESOURCE_VALUE,
  'resource/block-bandwidth': RESOURCE_VALUE,
  'resource/block-iops': RESOURCE_VALUE,
  'resource/network-bandwidth': RESOURCE_VALUE,
  'os/linux/capabilities-retain-set': obj(fieldsOf('set')),
  'os/linux/capabilities-remove-set': obj(fieldsOf('set')),
  'os/linux/no-new-privileges': ANY,
  'os/linux/seccomp-retain-set': obj(fieldsOf('set', 'errno')),
  'os/linux/seccomp-remove-set': obj(fieldsOf('set', 'errno')),
  'os/linux/oom-score-adj': ANY,
  'os/linux/cpu-shares': ANY,
  'os/linux/selinux-context': obj(fieldsOf('user', 'role', 'type', 'level')),
  'os/linux/apparmor-profile': obj(fieldsOf('profile')),
  'os/unix/sysctl': MAP,
};
const ISOLATOR_SHAPE = obj(fieldsOf('name', 'value'));

/**
 * Go's case-insensitive key comparison (encoding/json `equalFoldRight`): ASCII letters fold,
 * and so do KELVIN SIGN (U+212A) with k and LATIN SMALL LETTER LONG S (U+017F) with s.
 */
function goFold(key: string): string {
  return key.replace(/\u212a/g, 'k').replace(/\u017f/g, 's').replace(/[A-Z]/g, (c) => c.toLowerCase());
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `obj[key] = value` as an own property, even for `__proto__`. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A deep copy of plain JSON data (undefined members skipped). */
function cloneJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(cloneJson);
  if (isRecord(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) setOwn(out, k, cloneJson(x));
    return out;
  }
  return v;
}

function normalise(v: unknown, shape: Shape, path: string, f: Failure): unknown {
  switch (shape.k) {
    case 'any':
      return cloneJson(v);
    case 'array':
      return Array.isArray(v) ? v.map((x, i) => normalise(x, shape.items, joinIndex(path, i), f)) : cloneJson(v);
    case 'map': {
      if (!isRecord(v)) return cloneJson(v);
      const out: Record<string, unknown> = {};
      // Go decodes a null map value into "".
      for (const [k, x] of Object.entries(v)) if (x !== undefined) setOwn(out, k, x === null ? '' : cloneJson(x));
      return out;
    }
    case 'isolator': {
      const iso = normalise(v, ISOLATOR_SHAPE, path, f);
      if (isRecord(iso) && typeof iso['name'] === 'string' && iso['value'] !== undefined) {
        const name = iso['name'];
        if (Object.hasOwn(ISOLATOR_VALUE_SHAPES, name)) {
          iso['value'] = normalise(iso['value'], ISOLATOR_VALUE_SHAPES[name as KnownIsolatorName], joinKey(path, 'value'), f);
        }
      }
      return iso;
    }
    case 'object': {
      if (!isRecord(v)) return cloneJson(v);
      const names = Object.keys(shape.fields);
      const folded = new Map(names.map((n) => [goFold(n), n]));
      const out: Record<string, unknown> = {};
      const spelledAs = new Map<string, string>();
      const keys = Object.keys(v);
      for (const key of keys) {
        // An exact match wins; otherwise the case-insensitive one (only when the key is not itself a field).
        const field = Object.hasOwn(shape.fields, key) ? key : folded.get(goFold(key));
        if (field === undefined) continue;
        const other = spelledAs.get(field);
        if (other !== undefined) f.fail(joinKey(path, field), `given twice, as ${JSON.stringify(other)} and ${JSON.stringify(key)}`);
        spelledAs.set(field, key);
        const x = v[key];
        if (x === null || x === undefined) continue;
        out[field] = normalise(x, shape.fields[field] ?? ANY, joinKey(path, field), f);
      }
      for (const [field, dflt] of Object.entries(shape.defaults ?? {})) if (!(field in out)) out[field] = dflt;
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ajv's errors (its validators generated at build time: ./validators.generated.ts)

/** The JSON Pointer of an ajv error as a path such as `apps[0].image.id`, walking the data. */
function pointerToPath(pointer: string, root: unknown): string {
  let path = '';
  let cur: unknown = root;
  if (pointer === '') return path;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      path = joinIndex(path, Number(seg));
      cur = cur[Number(seg)];
    } else {
      path = joinKey(path, seg);
      cur = isRecord(cur) ? cur[seg] : undefined;
    }
  }
  return path;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function typeWords(t: unknown): string {
  const list = (Array.isArray(t) ? t : String(t).split(',')).map((x) => TYPE_WORDS[String(x)] ?? String(x));
  return list.join(' or ');
}

/** One ajv error as `[path, rule]`. */
function describeAjvError(e: ErrorObject, root: unknown): [string, string] {
  const path = pointerToPath(e.instancePath, root);
  const params = e.params as Record<string, unknown>;
  const parent: unknown = e.parentSchema;
  const phrase = isRecord(parent) && typeof parent['x-invalid'] === 'string' ? parent['x-invalid'] : undefined;
  switch (e.keyword) {
    case 'required':
      return [joinKey(path, String(params['missingProperty'])), 'is required'];
    case 'type':
      return [path, `must be ${typeWords(params['type'])} (got ${show(e.data)})`];
    case 'minLength':
    case 'minItems':
      if (params['limit'] === 1) return [path, 'must not be empty'];
      break;
    default:
      break;
  }
  if (phrase !== undefined) return [path, `${show(e.data)} ${phrase}`];
  switch (e.keyword) {
    case 'enum':
      return [path, `${show(e.data)} is not one of ${(params['allowedValues'] as unknown[]).map((x) => String(x)).join(', ')}`];
    case 'const':
      return [path, `${show(e.data)} is not ${show(params['allowedValue'])}`];
    default:
      return [path, `${show(e.data)} ${e.message ?? 'is invalid'}`];
  }
}

function checkStructure(doc: unknown, kind: 'image' | 'pod' | 'template', f: Failure): void {
  // The kind first: a pod manifest read as an image is reported as such, not as a missing name.
  const acKind = kind === 'image' ? 'ImageManifest' : 'PodManifest';
  if (isRecord(doc) && typeof doc['acKind'] === 'string' && doc['acKind'] !== acKind) f.fail('acKind', `${show(doc['acKind'])} is not ${show(acKind)}`);
  const validate = validators[kind];
  if (validate(doc)) return;
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if');
  const first = errors[0];
  if (first === undefined) f.fail('', 'is not a valid manifest');
  const [path, rule] = describeAjvError(first, doc);
  f.fail(path, rule);
}

// ---------------------------------------------------------------------------------------------
// Rules beyond the schema

const MAX_INT64 = 2n ** 63n - 1n;

function checkVersion(v: string, path: string, f: Failure): void {
  const [core = '', ...rest] = v.split('+');
  const meta = rest.join('+');
  const dash = core.indexOf('-');
  const pre = dash < 0 ? '' : core.slice(dash + 1);
  const nums = (dash < 0 ? core : core.slice(0, dash)).split('.').map((x) => BigInt(x));
  if (nums.some((x) => x > MAX_INT64)) f.fail(path, `${show(v)} is not a version: a number is too large`);
  if (nums.every((x) => x === 0n) && pre === '' && meta === '') f.fail(path, `${show(v)} is not a version: 0.0.0 is not allowed`);
}

function checkLabels(labels: readonly NameValue[], path: string, f: Failure): void {
  const seen = new Map<string, number>();
  labels.forEach((l, i) => {
    if (l.name === 'name') f.fail(`${joinIndex(path, i)}.name`, '"name" is not allowed as a label name (the image name is a field of its own)');
    const j = seen.get(l.name);
    if (j !== undefined) f.fail(`${joinIndex(path, i)}.name`, `duplicate label ${show(l.name)} (also ${joinIndex(path, j)})`);
    seen.set(l.name, i);
  });
  const osAt = seen.get('os');
  if (osAt === undefined) return;
  const os = labels[osAt]?.value ?? '';
  const arches = Object.hasOwn(VALID_OS_ARCH, os) ? VALID_OS_ARCH[os] : undefined;
  if (arches === undefined) f.fail(`${joinIndex(path, osAt)}.value`, `os ${show(os)} is not one of ${Object.keys(VALID_OS_ARCH).sort().join(', ')}`);
  const archAt = seen.get('arch');
  if (archAt === undefined) return;
  const arch = labels[archAt]?.value ?? '';
  if (!arches.includes(arch)) f.fail(`${joinIndex(path, archAt)}.value`, `arch ${show(arch)} is not one of ${arches.join(', ')} (for os ${os})`);
}

const daysIn = (y: number, m: number): number => new Date(Date.UTC(y, m, 0)).getUTCDate();

/** RFC 3339 date-time with a `T` (Go's time.RFC3339 layout, with RFC 3339's field ranges). */
export function isRfc3339(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/.exec(s);
  if (m === null) return false;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || se > 59) return false;
  return m[9] === undefined || (Number(m[9]) <= 23 && Number(m[10]) <= 59);
}

const HEX2 = /^%[0-9A-Fa-f]{2}/;

function escapesOk(s: string): boolean {
  for (let i = s.indexOf('%'); i >= 0; i = s.indexOf('%', i + 1)) if (!HEX2.test(s.slice(i))) return false;
  return true;
}

/** Go's net/url.Parse verdict for an http(s) URL (schema/types/url.go): undefined when OK, else why not. */
export function httpUrlError(s: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(s)) return 'contains a control character';
  let rest = s;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    if (!escapesOk(rest.slice(hash + 1))) return 'has a bad %-escape';
    rest = rest.slice(0, hash);
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest);
  if (scheme === null || !['http', 'https'].includes((scheme[1] ?? '').toLowerCase())) return 'is not an http(s) URL';
  rest = rest.slice(scheme[0].length);
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  if (!rest.startsWith('/')) return undefined; // opaque, e.g. http:foo
  let pathPart = rest;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    pathPart = slash < 0 ? '' : rest.slice(slash);
    const at = authority.lastIndexOf('@');
    if (at >= 0 && !/^([A-Za-z0-9\-._:~!$&'()*+,;=@]|%[0-9A-Fa-f]{2})*$/.test(authority.slice(0, at))) return 'has bad user information';
    let host = authority.slice(at + 1);
    if (host.startsWith('[')) {
      const close = host.lastIndexOf(']');
      if (close < 0) return 'has a "[" without "]" in the host';
      if (!/^(:[0-9]*)?$/.test(host.slice(close + 1))) return 'has a bad port';
      host = host.slice(1, close);
    } else {
      const colon = host.lastIndexOf(':');
      if (colon >= 0) {
        if (!/^:[0-9]*$/.test(host.slice(colon))) return 'has a bad port';
        host = host.slice(0, colon);
      }
    }
    for (let i = 0; i < host.length; i++) {
      const c = host[i] as string;
      if (c === '%') {
        if (!/^%[89A-Fa-f][0-9A-Fa-f]/.test(host.slice(i)) && !host.slice(i).startsWith('%25')) return 'has a bad %-escape in the host';
        i += 2;
      } else if (c.charCodeAt(0) < 0x80 && !/[A-Za-z0-9!$&'()*+,;=:[\]<>"\-_.~]/.test(c)) {
        return `has an invalid character ${JSON.stringify(c)} in the host`;
      }
    }
  }
  return escapesOk(pathPart) ? undefined : 'has a bad %-escape';
}

function checkAnnotations(list: readonly NameValue[], path: string, f: Failure): void {
  const seen = new Map<string, number>();
  list.forEach((a, i) => {
    const p = joinIndex(path, i);
    const j = seen.get(a.name);
    if (j !== undefined) f.fail(`${p}.name`, `duplicate annotation ${show(a.name)} (also ${joinIndex(path, j)})`);
    seen.set(a.name, i);
    if (a.name === 'created' && !isRfc3339(a.value)) f.fail(`${p}.value`, `created ${show(a.value)} is not an RFC 3339 date-time (e.g. 2006-01-02T15:04:05Z)`);
    if (a.name === 'homepage' || a.name === 'documentation') {
      const why = httpUrlError(a.value);
      if (why !== undefined) f.fail(`${p}.value`, `${a.name} ${show(a.value)} ${why}`);
    }
  });
}

function checkArgv(argv: readonly string[] | undefined, path: string, f: Failure): void {
  if (argv !== undefined && argv.length > 0 && argv[0] === '') f.fail(`${path}[0]`, 'must not be empty (it names the program to run)');
}

function checkPort(p: Port, path: string, f: Failure): void {
  const count = Math.max(p.count ?? 0, 1);
  if (p.port + count > 65536) f.fail(`${path}.count`, `ports ${p.port}..${p.port + count - 1} go past 65535`);
}

interface IsolatorRule {
  multiple: boolean;
  conflicts: readonly string[];
}

/** Set rules of app isolators (schema/types/isolator*.go; capabilities conflicts per spec/ace.md). */
const ISOLATOR_RULES: Readonly<Record<KnownIsolatorName, IsolatorRule>> = {
  'resource/cpu': { multiple: true, conflicts: [] },
  'resource/memory': { multiple: true, conflicts: [] },
  'resource/block-bandwidth': { multiple: true, conflicts: [] },
  'resource/block-iops': { multiple: true, conflicts: [] },
  'resource/network-bandwidth': { multiple: true, conflicts: [] },
  'os/linux/capabilities-retain-set': { multiple: true, conflicts: ['os/linux/capabilities-remove-set'] },
  'os/linux/capabilities-remove-set': { multiple: true, conflicts: ['os/linux/capabilities-retain-set'] },
  'os/linux/no-new-privileges': { multiple: true, conflicts: [] },
  'os/linux/seccomp-retain-set': { multiple: false, conflicts: ['os/linux/seccomp-remove-set'] },
  'os/linux/seccomp-remove-set': { multiple: false, conflicts: ['os/linux/seccomp-retain-set'] },
  'os/linux/oom-score-adj': { multiple: false, conflicts: [] },
  'os/linux/cpu-shares': { multiple: false, conflicts: [] },
  'os/linux/selinux-context': { multiple: false, conflicts: [] },
  'os/linux/apparmor-profile': { multiple: false, conflicts: [] },
  'os/unix/sysctl': { multiple: false, conflicts: [] },
};

const ruleOf = (name: string): IsolatorRule | undefined => (Object.hasOwn(ISOLATOR_RULES, name) ? ISOLATOR_RULES[name as KnownIsolatorName] : undefined);

function checkIsolatorValue(iso: Isolator, path: string, f: Failure): void {
  if (!iso.name.startsWith('resource/') || ruleOf(iso.name) === undefined || !isRecord(iso.value)) return;
  for (const key of ['request', 'limit'] as const) {
    const v = iso.value[key];
    if (v === undefined) continue;
    const p = `${path}.value.${key}`;
    const why = quantityJsonError(v);
    if (why !== undefined) f.fail(p, `${show(v)} is not a quantity: it ${why}`);
    const text = quantityText(v) ?? '';
    if (!/[0-9]/.test(text)) f.fail(p, `${show(v)} is not a quantity: it has no digits`);
    if (parseQuantity(text).nanos < 0n) f.fail(p, `${show(v)} is negative`);
  }
}

function checkIsolators(list: readonly Isolator[], path: string, scope: 'app' | 'pod', f: Failure): void {
  const seen = new Map<string, number>();
  list.forEach((iso, i) => {
    const p = joinIndex(path, i);
    checkIsolatorValue(iso, p, f);
    if (scope === 'pod') return; // Go validates pod isolator values only, not the set
    const rule = ruleOf(iso.name);
    if (rule === undefined) f.fail(`${p}.name`, `${show(iso.name)} is not a known isolator`);
    const j = seen.get(iso.name);
    if (j !== undefined && !rule.multiple) f.fail(`${p}.name`, `only one ${show(iso.name)} isolator is allowed (also ${joinIndex(path, j)})`);
    for (const c of rule.conflicts) {
      const k = seen.get(c);
      if (k !== undefined) f.fail(`${p}.name`, `${show(iso.name)} cannot be combined with ${show(c)} (${joinIndex(path, k)})`);
    }
    if (j === undefined) seen.set(iso.name, i);
  });
}

function checkApp(app: App, path: string, f: Failure): void {
  checkArgv(app.exec, `${path}.exec`, f);
  const handlers = new Map<string, number>();
  (app.eventHandlers ?? []).forEach((h, i) => {
    const p = joinIndex(`${path}.eventHandlers`, i);
    const j = handlers.get(h.name);
    if (j !== undefined) f.fail(`${p}.name`, `only one ${show(h.name)} event handler is allowed (also ${joinIndex(`${path}.eventHandlers`, j)})`);
    handlers.set(h.name, i);
    checkArgv(h.exec, `${p}.exec`, f);
  });
  const env = new Map<string, number>();
  (app.environment ?? []).forEach((e, i) => {
    const j = env.get(e.name);
    if (j !== undefined) f.fail(`${joinIndex(`${path}.environment`, i)}.name`, `duplicate environment variable ${show(e.name)} (also ${joinIndex(`${path}.environment`, j)})`);
    env.set(e.name, i);
  });
  checkIsolators(app.isolators ?? [], `${path}.isolators`, 'app', f);
  (app.ports ?? []).forEach((p, i) => checkPort(p, joinIndex(`${path}.ports`, i), f));
  if (app.workingDirectory === '') delete app.workingDirectory; // Go: "" means unset
}

function checkImage(m: ImageManifest, f: Failure): void {
  checkVersion(m.acVersion, 'acVersion', f);
  if (m.labels !== undefined) checkLabels(m.labels, 'labels', f);
  if (m.app !== undefined && m.app !== null) checkApp(m.app, 'app', f);
  (m.dependencies ?? []).forEach((d, i) => {
    if (d.labels !== undefined) checkLabels(d.labels, `${joinIndex('dependencies', i)}.labels`, f);
  });
  if (m.annotations !== undefined) checkAnnotations(m.annotations, 'annotations', f);
}

function checkPod(m: PodManifest, f: Failure): void {
  checkVersion(m.acVersion, 'acVersion', f);
  const names = new Map<string, number>();
  m.apps.forEach((a, i) => {
    const p = joinIndex('apps', i);
    const j = names.get(a.name);
    if (j !== undefined) f.fail(`${p}.name`, `duplicate app name ${show(a.name)} (also ${joinIndex('apps', j)})`);
    names.set(a.name, i);
    if (a.image.labels !== undefined) checkLabels(a.image.labels, `${p}.image.labels`, f);
    if (a.app !== undefined) checkApp(a.app, `${p}.app`, f);
    if (a.annotations !== undefined) checkAnnotations(a.annotations, `${p}.annotations`, f);
  });
  const volumes = new Map<string, number>();
  (m.volumes ?? []).forEach((v, i) => {
    const j = volumes.get(v.name);
    if (j !== undefined) f.fail(`${joinIndex('volumes', i)}.name`, `duplicate volume name ${show(v.name)} (also ${joinIndex('volumes', j)})`);
    volumes.set(v.name, i);
  });
  checkIsolators(m.isolators ?? [], 'isolators', 'pod', f);
  if (m.annotations !== undefined) checkAnnotations(m.annotations, 'annotations', f);
  (m.ports ?? []).forEach((p, i) => {
    const path = joinIndex('ports', i);
    if (p.hostIP !== undefined && p.hostIP !== '' && (isIP(p.hostIP) === 0 || p.hostIP.includes('%'))) f.fail(`${path}.hostIP`, `${show(p.hostIP)} is not an IP address`);
    if (p.podPort !== undefined) checkPort(p.podPort, `${path}.podPort`, f);
  });
}

// ---------------------------------------------------------------------------------------------
// API

/**
 * Read and validate an image manifest (spec/aci.md § Image Manifest Schema).
 * @param input JSON text (Buffer or string) or an already-parsed value (not modified)
 * @param source names the input in error messages, e.g. `image.aci: manifest`
 * @returns the manifest with keys spelled as the spec does and unknown keys dropped
 * @throws JetpackError('invalid') `<source>: <path>: <rule>`
 */
export function parseImageManifest(input: Buffer | string | unknown, source: string): ImageManifest {
  const f = new Failure(source);
  const doc = normalise(decode(input, f), IMAGE_SHAPE, '', f);
  checkStructure(doc, 'image', f);
  const m = doc as ImageManifest;
  checkImage(m, f);
  return m;
}

/**
 * Read and validate a pod manifest (spec/pods.md § Pod Manifest Schema). A reified manifest
 * (the default) names every app's image by ID; `{ template: true }` allows apps identified by
 * image name and labels only.
 * @throws JetpackError('invalid') `<source>: <path>: <rule>`
 */
export function parsePodManifest(input: Buffer | string | unknown, source: string, opts: PodParseOptions = {}): PodManifest {
  const f = new Failure(source);
  const doc = normalise(decode(input, f), POD_SHAPE, '', f);
  checkStructure(doc, opts.template === true ? 'template' : 'pod', f);
  const m = doc as PodManifest;
  checkPod(m, f);
  return m;
}

const IMAGE_ID_RE = new RegExp(IMAGE_ID_PATTERN);

/**
 * Check an image ID (spec/types.md § Image ID Type): `sha512-` and a non-empty hash
 * (as Go's types.NewHash: only sha512, and no second `-`).
 * @returns the ID as given
 * @throws JetpackError('invalid') otherwise
 */
export function parseImageId(s: string): string {
  if (typeof s === 'string' && IMAGE_ID_RE.test(s)) return s;
  throw invalid(`${show(s)} is not an image ID (sha512- and the hash)`);
}
