/**
 * pod-create [POD FLAGS] IMAGE [IMAGE FLAGS] [IMAGE [IMAGE FLAGS]...] — create a pod
 * (`jetpack pod create`, the original jetpack's interface). Each IMAGE becomes an app whose rootfs
 * is a clone of the image. With no IMAGE (and no -f), reads the JSON of a previous command on stdin
 * (e.g. `aci-import x.aci | pod-create`) and uses its `id`. stdout: the pod as JSON (PodJson,
 * man/jetpack.7), or with -dry-run the reified pod manifest.
 *
 * Everything is parsed, resolved and validated before the store is changed: a refused create
 * leaves nothing behind. The flags are in USAGE below and in man/pod-create.1.
 */
import { readFile } from 'node:fs/promises';
import { pipedField, type CommandResult } from '@jetpack/shared/cli';
import { openStore } from '@jetpack/shared/context';
import { JetpackError, notFound, usage } from '@jetpack/shared/errors';
import { formatPod } from '@jetpack/shared/format';
import { podJson } from '@jetpack/shared/json';
import { AC_IDENTIFIER_RULE, AC_NAME_RULE, isAcIdentifier, isAcName } from '@jetpack/shared/appc/names';
import { ENV_NAME_PATTERN } from '@jetpack/shared/appc/schema';
import type { App, NameValue, Volume } from '@jetpack/shared/appc/types';
import { IMAGE_UUID_ANNOTATION, NETWORK_ANNOTATION } from '@jetpack/shared/annotations';
import type { AppSpec, MountSpec, PodOptions } from '@jetpack/shared/podspec';
import { findImage } from '@jetpack/shared/query';
import type { Image } from '@jetpack/shared/store/store';

export const USAGE = `Usage: pod-create [POD FLAGS] IMAGE [IMAGE FLAGS] [IMAGE [IMAGE FLAGS]...]
       COMMAND | pod-create [POD FLAGS]
       jetpack pod create [POD FLAGS] IMAGE [IMAGE FLAGS] [IMAGE [IMAGE FLAGS]...]

Create a pod with one app per IMAGE (after the apps of -f FILE) and print it as JSON. Without
IMAGE and -f, read the JSON of a previous command (aci-import, image-show, image-list) on stdin
and use its image. A flag is written -flag VALUE, -flag=VALUE, --flag VALUE or --flag=VALUE.

Pod flags (before the first IMAGE):
  -v VOLUME          Add a volume to the pod (repeatable; volume names are unique). VOLUME is:
       NAME                 an empty volume (mode 0755, uid 0, gid 0)
       NAME:PATH            a host volume: the host directory PATH (absolute; never created)
       NAME:PATH:ro         the same, read-only (NAME:PATH:rw: read-write, overriding a
                            read-only mount point)
       NAME,KEY=VALUE,...   the full form, KEYs: kind=empty|host (default: host with a source,
                            else empty), source=PATH, readOnly=true|false, recursive=true|false
                            (host only), mode=0755, uid=N, gid=N (empty only)
                            NAME is an AC Name (lowercase letters, digits and -).
  -a NAME=VALUE      Add a pod annotation (repeatable; NAME is an AC Identifier); replaces the
                     annotation of the same NAME from -f
  -f FILE            Start from the pod manifest (JSON) in FILE, or on stdin with -f -. It may
                     be partial: acKind, acVersion, apps and app names may be left out. Its apps
                     name their image by id, or by name and labels; IMAGE arguments add apps,
                     flags add volumes and annotations.
  -net=private|host  The pod's network: its own (private, the default) or the host's; host is
                     stored as the pod annotation ${NETWORK_ANNOTATION}=host
  -dry-run           Print the pod manifest that would be used (JSON), create nothing (the
                     original jetpack's -n, which is the app name flag here)
  -config=PATH       Configuration file (default: $JETPACK_CONF, then /etc/jetpack.conf)
  -help, -h          Print this help

Image flags (after an IMAGE, for its app):
  -n NAME            The app's name in the pod (an AC Name; default: the image name's last
                     component, e.g. example.com/my_app gives my-app); unique in the pod
  -a NAME=VALUE      Add an app annotation (repeatable; NAME is an AC Identifier)
  -m VOLUME[:TARGET] Mount the pod's volume VOLUME (repeatable) at TARGET: the name of a mount
                     point of the image, or an absolute path in the app (default: the mount
                     point named VOLUME)
  -exec ARG          The command to run instead of the image's exec, one argument per -exec:
                     -exec /bin/sh -exec -c -exec 'echo hi' (ARG may start with -; through
                     jetpack, write -exec=-help for an ARG jetpack takes as its own option)
  -user USER         Run as USER (a name or number of the image, or an absolute path)
  -group GROUP       Run with GROUP (likewise)
  -env NAME=VALUE    Set an environment variable (repeatable); replaces the image's value
  -cwd DIR           The working directory (absolute)
  -readonly-rootfs   Make the app's root filesystem read-only
  -exec, -user, -group, -env and -cwd give the app its own copy of the image's app with these
  changes (apps[].app in the pod manifest); an image without an app needs all of -exec, -user
  and -group.

Mount points: a mount point of an image that no -m fills is mounted from the pod's volume of
the same name; when the pod has no such volume, an empty one is added.

IMAGE: a UUID or an unambiguous prefix of one, an image ID (sha512-...) or a prefix of one, or
a query NAME[,LABEL=VALUE...] or NAME:VERSION.

Examples:
  pod-create example.com/busybox
  pod-create example.com/busybox -n web example.com/busybox -n worker
  pod-create -v data:/srv/data:ro example.com/app -m data
  pod-create -v cache,mode=1777 example.com/app -m cache:/var/cache/app -m cache:/tmp
  pod-create -net=host -a hostname=web1 example.com/app -exec /bin/httpd -exec -f -env PORT=80
  pod-create -dry-run example.com/app > pod.json; pod-create -f pod.json
  aci-import app.aci | pod-create -v data`;

/** One IMAGE argument and its flags. */
export interface ImageArg {
  image: string;
  name?: string;
  annotations: NameValue[];
  mounts: MountSpec[];
  exec?: string[];
  user?: string;
  group?: string;
  env: NameValue[];
  cwd?: string;
  readOnlyRootFS?: boolean;
}

/** The parsed command line. */
export interface PodArgs {
  help: boolean;
  dryRun: boolean;
  config?: string;
  file?: string;
  net?: 'private' | 'host';
  volumes: Array<{ flag: string; volume: Volume }>;
  annotations: NameValue[];
  images: ImageArg[];
}

const POD_FLAGS = new Set(['v', 'a', 'f', 'net', 'dry-run', 'config']);
const IMAGE_FLAGS = new Set(['n', 'name', 'a', 'm', 'exec', 'user', 'group', 'env', 'cwd', 'readonly-rootfs']);
const BOOLEAN_FLAGS = new Set(['dry-run', 'readonly-rootfs']);

/** `NAME=VALUE` of -a and -env. */
function nameValue(flag: string, value: string, what: string): NameValue {
  const eq = value.indexOf('=');
  if (eq < 0) throw usage(`${flag} ${value}: expected ${what}=VALUE`);
  return { name: value.slice(0, eq), value: value.slice(eq + 1) };
}

/** `-a NAME=VALUE`: NAME an AC Identifier, not given twice. */
function annotation(flag: string, value: string, list: readonly NameValue[]): NameValue {
  const a = nameValue(flag, value, 'NAME');
  if (!isAcIdentifier(a.name)) throw usage(`${flag} ${value}: "${a.name}" ${AC_IDENTIFIER_RULE}`);
  if (list.some((x) => x.name === a.name)) throw usage(`${flag} ${value}: annotation "${a.name}" is given twice`);
  return a;
}

const bool = (flag: string, key: string, v: string): boolean => {
  if (v === 'true' || v === 'false') return v === 'true';
  throw usage(`${flag}: ${key}=${v}: expected true or false`);
};

/**
 * A -v VOLUME: `NAME`, `NAME:PATH`, `NAME:PATH:ro|rw`, or `NAME,KEY=VALUE,...`
 * (kind, source, readOnly, recursive, mode, uid, gid).
 * @throws JetpackError('usage') naming the flag and the rule
 */
export function parseVolume(value: string): Volume {
  const flag = `-v ${value}`;
  const fail = (rule: string): JetpackError => usage(`${flag}: ${rule}`);
  const checkName = (name: string): string => {
    if (name.startsWith('-')) throw fail('a volume NAME cannot start with "-" (for a read-only host volume write NAME:PATH:ro)');
    if (!isAcName(name)) throw fail(`"${name}" ${AC_NAME_RULE}`);
    return name;
  };
  const checkSource = (source: string): string => {
    if (!source.startsWith('/')) throw fail(`the host path "${source}" is not absolute`);
    return source;
  };
  if (value.includes(',')) {
    const [name = '', ...pairs] = value.split(',');
    const v: Partial<Volume> & { name: string } = { name: checkName(name) };
    const seen = new Set<string>();
    for (const p of pairs) {
      const eq = p.indexOf('=');
      if (eq <= 0) throw fail(`"${p}" is not KEY=VALUE`);
      const key = p.slice(0, eq).toLowerCase();
      const val = p.slice(eq + 1);
      if (seen.has(key)) throw fail(`${p.slice(0, eq)} is given twice`);
      seen.add(key);
      switch (key) {
        case 'kind':
          if (val !== 'empty' && val !== 'host') throw fail(`kind=${val}: expected empty or host`);
          v.kind = val;
          break;
        case 'source':
          v.source = checkSource(val);
          break;
        case 'readonly':
          v.readOnly = bool(flag, 'readOnly', val);
          break;
        case 'recursive':
          v.recursive = bool(flag, 'recursive', val);
          break;
        case 'mode':
          if (!/^[0-7]{3,4}$/.test(val)) throw fail(`mode=${val}: expected an octal mode such as 0755`);
          v.mode = val.padStart(4, '0');
          break;
        case 'uid':
        case 'gid':
          if (!/^\d{1,10}$/.test(val) || Number(val) > 0xfffffffe) throw fail(`${key}=${val}: expected a number (0..4294967294)`);
          v[key] = Number(val);
          break;
        default:
          throw fail(`unknown key "${p.slice(0, eq)}" (kind, source, readOnly, recursive, mode, uid, gid)`);
      }
    }
    const kind = v.kind ?? (v.source !== undefined ? 'host' : 'empty');
    if (kind === 'host') {
      if (v.source === undefined) throw fail('a host volume needs source=PATH');
      for (const k of ['mode', 'uid', 'gid'] as const) if (v[k] !== undefined) throw fail(`${k} is for empty volumes only`);
      const out: Volume = { name: v.name, kind, source: v.source };
      if (v.readOnly !== undefined) out.readOnly = v.readOnly;
      if (v.recursive !== undefined) out.recursive = v.recursive;
      return out;
    }
    if (v.source !== undefined) throw fail('an empty volume has no source (kind=host for a host directory)');
    if (v.recursive !== undefined) throw fail('recursive is for host volumes only');
    const out: Volume = { name: v.name, kind };
    if (v.readOnly !== undefined) out.readOnly = v.readOnly;
    return { ...out, mode: v.mode ?? '0755', uid: v.uid ?? 0, gid: v.gid ?? 0 };
  }
  const colon = value.indexOf(':');
  if (colon < 0) return { name: checkName(value), kind: 'empty', mode: '0755', uid: 0, gid: 0 };
  const name = checkName(value.slice(0, colon));
  let path = value.slice(colon + 1);
  let readOnly: boolean | undefined;
  const opt = /^(.*):(ro|rw)$/.exec(path);
  if (opt) {
    path = opt[1] as string;
    readOnly = opt[2] === 'ro';
  } else if (path.includes(':')) {
    throw fail(`"${path.slice(path.lastIndexOf(':') + 1)}" is not ro or rw (for a PATH with ":" write NAME,source=PATH)`);
  }
  if (path === '') throw fail('NAME:PATH needs a PATH');
  const v: Volume = { name, kind: 'host', source: checkSource(path) };
  if (readOnly !== undefined) v.readOnly = readOnly;
  return v;
}

/** A -m VOLUME[:TARGET]; TARGET a mount point name or an absolute path (default: the mount point VOLUME). */
export function parseMount(value: string): MountSpec {
  const flag = `-m ${value}`;
  const colon = value.indexOf(':');
  const volume = colon < 0 ? value : value.slice(0, colon);
  const target = colon < 0 ? value : value.slice(colon + 1);
  if (!isAcName(volume)) throw usage(`${flag}: the volume "${volume}" ${AC_NAME_RULE}`);
  if (!target.startsWith('/') && !isAcName(target)) {
    throw usage(`${flag}: "${target}" is neither a mount point name (an AC Name) nor an absolute path`);
  }
  return { volume, path: target, origin: { what: flag, kind: 'usage' } };
}

/**
 * Split the command line into pod flags, IMAGE arguments and their flags, checking each value.
 * Only -help (-h, --help) stops it early.
 * @throws JetpackError('usage') naming the flag and the rule
 */
export function parseArgs(argv: readonly string[]): PodArgs {
  const args: PodArgs = { help: false, dryRun: false, volumes: [], annotations: [], images: [] };
  const once = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i] as string;
    const cur = args.images[args.images.length - 1];
    if (!tok.startsWith('-') || tok === '-') {
      if (tok === '-' || tok === '') throw usage(`"${tok}" is not an IMAGE`);
      args.images.push({ image: tok, annotations: [], mounts: [], env: [] });
      continue;
    }
    const m = /^--?([A-Za-z][A-Za-z0-9-]*)(?:=([\s\S]*))?$/.exec(tok);
    const flag = m?.[1];
    if (m === null || flag === undefined) throw usage(`${tok}: unknown flag (see pod-create -help)`);
    if (flag === 'help' || flag === 'h') return { ...args, help: true };
    if (cur === undefined && !POD_FLAGS.has(flag)) {
      if (flag === 'n') throw usage(`${tok}: -n NAME is an image flag, it must follow an IMAGE (a dry run of the pod is -dry-run)`);
      if (IMAGE_FLAGS.has(flag)) throw usage(`${tok}: an image flag, it must follow an IMAGE`);
      throw usage(`${tok}: unknown flag (see pod-create -help)`);
    }
    if (cur !== undefined && !IMAGE_FLAGS.has(flag)) {
      if (POD_FLAGS.has(flag)) throw usage(`${tok}: a pod flag, it must come before the first IMAGE`);
      throw usage(`${tok}: unknown image flag (see pod-create -help)`);
    }
    const dash = `-${flag === 'name' ? 'n' : flag}`;
    let value: string;
    if (BOOLEAN_FLAGS.has(flag)) {
      value = m[2] ?? 'true';
      if (value !== 'true' && value !== 'false') throw usage(`${dash}=${value}: expected true or false (or just ${dash})`);
    } else if (m[2] !== undefined) value = m[2];
    else {
      const next = argv[++i];
      if (next === undefined) throw usage(`${dash}: needs a value (see pod-create -help)`);
      value = next;
    }
    // Flags that take one value per pod (images.length 0) or per app.
    const key = `${args.images.length}:${dash}`;
    if (['-n', '-f', '-net', '-config', '-user', '-group', '-cwd', '-dry-run', '-readonly-rootfs'].includes(dash)) {
      if (once.has(key)) throw usage(`${dash}: given twice${cur === undefined ? '' : ` for ${cur.image}`}`);
      once.add(key);
    }
    if (cur === undefined) {
      switch (flag) {
        case 'config':
          args.config = value;
          break;
        case 'f':
          if (value === '') throw usage('-f: needs a FILE, or - for stdin');
          args.file = value;
          break;
        case 'net':
          if (value !== 'private' && value !== 'host') throw usage(`-net=${value}: expected private or host`);
          args.net = value;
          break;
        case 'dry-run':
          args.dryRun = value === 'true';
          break;
        case 'a': {
          const a = annotation('-a', value, args.annotations);
          if (a.name === NETWORK_ANNOTATION) throw usage(`-a ${value}: set the network with -net=private|host`);
          args.annotations.push(a);
          break;
        }
        case 'v': {
          const volume = parseVolume(value);
          const before = args.volumes.find((v) => v.volume.name === volume.name);
          if (before !== undefined) throw usage(`-v ${value}: volume "${volume.name}" is already defined (-v ${before.flag})`);
          args.volumes.push({ flag: value, volume });
          break;
        }
      }
      continue;
    }
    switch (flag) {
      case 'n':
      case 'name':
        if (!isAcName(value)) throw usage(`-n ${value}: "${value}" ${AC_NAME_RULE}`);
        cur.name = value;
        break;
      case 'a': {
        const a = annotation('-a', value, cur.annotations);
        if (a.name === IMAGE_UUID_ANNOTATION) throw usage(`-a ${value}: ${IMAGE_UUID_ANNOTATION} is set by Jetpack`);
        cur.annotations.push(a);
        break;
      }
      case 'm':
        cur.mounts.push(parseMount(value));
        break;
      case 'exec':
        if (cur.exec === undefined && value === '') throw usage('-exec: the program (the first -exec) cannot be empty');
        (cur.exec ??= []).push(value);
        break;
      case 'user':
      case 'group':
        if (value === '') throw usage(`${dash}: needs a ${flag.toUpperCase()}`);
        cur[flag] = value;
        break;
      case 'env': {
        const e = nameValue('-env', value, 'NAME');
        if (!new RegExp(ENV_NAME_PATTERN).test(e.name)) throw usage(`-env ${value}: "${e.name}" is not an environment variable name ([A-Za-z_][A-Za-z_0-9.-]*)`);
        if (cur.env.some((x) => x.name === e.name)) throw usage(`-env ${value}: "${e.name}" is given twice for ${cur.image}`);
        cur.env.push(e);
        break;
      }
      case 'cwd':
        if (!value.startsWith('/')) throw usage(`-cwd ${value}: the working directory must be an absolute path`);
        cur.cwd = value;
        break;
      case 'readonly-rootfs':
        cur.readOnlyRootFS = value === 'true';
        break;
    }
  }
  return args;
}

/** The app's own copy of the image's app with the -exec/-user/-group/-env/-cwd changes, or undefined without any. */
export function overrideApp(arg: ImageArg, image: Image): App | undefined {
  if (arg.exec === undefined && arg.user === undefined && arg.group === undefined && arg.env.length === 0 && arg.cwd === undefined) return undefined;
  const base = image.manifest.app ?? undefined;
  let app: App;
  if (base !== undefined) app = structuredClone(base);
  else {
    if (arg.exec === undefined || arg.user === undefined || arg.group === undefined) {
      throw usage(`${arg.image}: image ${image.manifest.name} has no app to change: give -exec, -user and -group`);
    }
    app = { user: arg.user, group: arg.group };
  }
  if (arg.exec !== undefined) app.exec = [...arg.exec];
  if (arg.user !== undefined) app.user = arg.user;
  if (arg.group !== undefined) app.group = arg.group;
  if (arg.cwd !== undefined) app.workingDirectory = arg.cwd;
  for (const e of arg.env) {
    const env = (app.environment ??= []);
    const have = env.find((x) => x.name === e.name);
    if (have !== undefined) have.value = e.value;
    else env.push({ ...e });
  }
  return app;
}

/** All of stdin as text ('' when it is a terminal and not asked for). */
async function readStdinText(force: boolean): Promise<string> {
  if (process.stdin.isTTY && !force) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The -f FILE text. */
async function readManifestFile(file: string): Promise<string> {
  if (file === '-') return readStdinText(true);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound(`-f ${file}: no such file`);
    throw usage(`-f ${file}: cannot read it (${code ?? String(err)})`);
  }
}

/** The IMAGE of a previous command's JSON on stdin (`aci-import x.aci | pod-create`). */
async function stdinImage(): Promise<string> {
  const text = (await readStdinText(false)).trim();
  let doc: unknown = null;
  if (text !== '') {
    try {
      doc = JSON.parse(text) as unknown;
    } catch {
      throw usage(`stdin: expected the JSON output of a Jetpack command, got "${text.slice(0, 40)}"`);
    }
  }
  const id = pipedField(doc, 'id');
  if (id === null) throw usage('expected IMAGE arguments, -f FILE, or the JSON of an image on stdin (see pod-create -help)');
  return id;
}

export async function main(argv: string[]): Promise<CommandResult> {
  const args = parseArgs(argv);
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return { status: 0 };
  }
  const text = args.file === undefined ? undefined : await readManifestFile(args.file);
  if (text === undefined && args.images.length === 0) args.images.push({ image: await stdinImage(), annotations: [], mounts: [], env: [] });
  // The pod manifest's making and validation (ajv), loaded once the command line is known good.
  const { createPod, podManifest, podTemplate } = await import('@jetpack/shared/podspec');
  const store = await openStore(args);

  const source = args.file === '-' ? 'stdin' : args.file;
  const template = text === undefined || source === undefined ? { apps: [], pod: {} } : await podTemplate(store, text, source);
  const pod: PodOptions = { ...template.pod };
  // -v adds volumes; one of a name the manifest already has is refused.
  const volumes = [...(pod.volumes ?? [])];
  for (const { flag, volume } of args.volumes) {
    if (volumes.some((v) => v.name === volume.name)) throw usage(`-v ${flag}: volume "${volume.name}" is already defined in ${source}`);
    volumes.push(volume);
  }
  pod.volumes = volumes;
  // -a sets annotations (replacing the manifest's of the same name); -net sets or clears jetpack/network.
  let annotations = (pod.annotations ?? []).filter((a) => !args.annotations.some((b) => b.name === a.name));
  annotations.push(...args.annotations);
  if (args.net !== undefined) {
    annotations = annotations.filter((a) => a.name !== NETWORK_ANNOTATION);
    if (args.net === 'host') annotations.push({ name: NETWORK_ANNOTATION, value: 'host' });
  }
  pod.annotations = annotations;

  const apps: AppSpec[] = [...template.apps];
  for (const a of args.images) {
    const image = await findImage(store, a.image);
    const spec: AppSpec = { image };
    if (a.name !== undefined) spec.name = a.name;
    const app = overrideApp(a, image);
    if (app !== undefined) spec.app = app;
    if (a.readOnlyRootFS !== undefined) spec.readOnlyRootFS = a.readOnlyRootFS;
    if (a.mounts.length > 0) spec.mounts = a.mounts;
    if (a.annotations.length > 0) spec.annotations = a.annotations;
    apps.push(spec);
  }
  if (apps.length === 0) throw usage(`a pod needs at least one app: ${source ?? 'the manifest'} has none and no IMAGE is given`);

  if (args.dryRun) return { json: podManifest(apps, pod) };
  const created = await createPod(store, apps, pod);
  return { json: podJson(created, (a) => store.layout.podAppRootfs(created.uuid, a)), human: formatPod(created) };
}

