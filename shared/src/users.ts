/**
 * Resolving an app's `user` and `group` against its rootfs, and looking up paths inside a rootfs
 * on the host as if chrooted into it.
 *
 * Source: appc spec/aci.md § app (`user`, `group`): (1) the name in the image's own /etc/passwd or
 * /etc/group, (2) if all digits, the number, (3) if it starts with `/`, the owner of that path in
 * the rootfs. Like rkt (stage1/init/common/pod.go), the literal `root` is 0 even without an
 * /etc/passwd. The image is untrusted: nothing here reads a host file through a symlink or `..`.
 */
import { constants as fsConstants } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import path from 'node:path';
import { JetpackError } from './errors.js';

/** The most symlinks one lookup follows, as Linux (MAXSYMLINKS, path_resolution(7)). */
const MAX_SYMLINKS = 40;
/** Refuse to read an /etc/passwd or /etc/group bigger than this (bytes). */
const MAX_DB_BYTES = 16 * 1024 * 1024;
/** Highest valid uid/gid: 2^32-2, since (uid_t)-1 means "unchanged" to setuid(2). */
const MAX_ID = 4294967294;

/** Options of {@link resolveInRoot}. */
export interface ResolveInRootOptions {
  /** Follow a symlink in the last component too (default true). False gives lstat(2) semantics. */
  followFinal?: boolean;
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && codes.includes(String(err.code));
}

/**
 * The host path of `target` as a process chrooted into `root` would see it.
 *
 * Every component of `target` (absolute or relative, both taken from the rootfs's `/`) is looked
 * up with lstat(2) under `root`: an absolute symlink restarts from `root`, a relative one from its
 * directory, and `..` never climbs above `root`. Components that do not exist (or sit under a
 * non-directory) are appended as they are, so the result may not exist; callers stat it. The
 * result is always `root` or a path below it (`root` is made absolute with path.resolve).
 *
 * Used for the image's /etc/passwd and /etc/group, the working directory check, `/path` users and
 * mount targets (appc spec/ace.md § Volume Setup: targets resolve as if chrooted, rkt TestMountSymlink).
 *
 * It is a snapshot: it is safe for a rootfs nothing is running in yet; a running app can swap a
 * directory for a symlink after the call. Open the result with O_NOFOLLOW where that matters.
 *
 * @throws JetpackError('invalid') after more than 40 symlinks (a loop); fs errors other than
 *   ENOENT/ENOTDIR (e.g. EACCES) as they are.
 */
export async function resolveInRoot(root: string, target: string, options: ResolveInRootOptions = {}): Promise<string> {
  const base = path.resolve(root);
  const followFinal = options.followFinal ?? true;
  const pending = target.split('/');
  const resolved: string[] = [];
  let links = 0;
  for (;;) {
    const component = pending.shift();
    if (component === undefined) break;
    if (component === '' || component === '.') continue;
    if (component === '..') {
      resolved.pop();
      continue;
    }
    const isLast = pending.every((c) => c === '' || c === '.');
    const hostPath = path.join(base, ...resolved, component);
    if (isLast && !followFinal) {
      resolved.push(component);
      continue;
    }
    let isLink: boolean;
    try {
      isLink = (await lstat(hostPath)).isSymbolicLink();
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
      resolved.push(component);
      continue;
    }
    if (!isLink) {
      resolved.push(component);
      continue;
    }
    links += 1;
    if (links > MAX_SYMLINKS) {
      throw new JetpackError('invalid', `${target}: too many levels of symbolic links inside ${base}`);
    }
    const link = await readlink(hostPath);
    if (link.startsWith('/')) resolved.length = 0;
    pending.unshift(...link.split('/'));
  }
  return path.join(base, ...resolved);
}

/**
 * Text of a regular file of the rootfs (`file` is an in-image path), or undefined when there is
 * none there: missing, a symlink loop, or not a regular file (a FIFO or device would hang or
 * never end). Opened with O_NOFOLLOW | O_NONBLOCK after {@link resolveInRoot}.
 */
async function readRootFile(root: string, file: string): Promise<string | undefined> {
  let hostPath: string;
  try {
    hostPath = await resolveInRoot(root, file);
  } catch (err) {
    if (err instanceof JetpackError) return undefined; // symlink loop: the image has no usable file
    throw err;
  }
  let fh;
  try {
    fh = await open(hostPath, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP')) return undefined;
    throw new JetpackError('invalid', `cannot read ${file} of the image: ${(err as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(Math.min(st.size, MAX_DB_BYTES) + 1);
    let length = 0;
    while (length < buf.length) {
      const { bytesRead } = await fh.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_DB_BYTES) {
      throw new JetpackError('invalid', `${file} of the image is bigger than ${MAX_DB_BYTES} bytes`);
    }
    return buf.subarray(0, length).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** A number if `s` is all decimal digits within 0 .. 2^32-2, else undefined. */
function parseId(s: string | undefined): number | undefined {
  if (s === undefined || !/^[0-9]{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/** The colon-separated records of a passwd(5)/group(5) file: no comments, NIS lines or blanks. */
function records(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    out.push(line.split(':'));
  }
  return out;
}

/** One line of /etc/passwd (passwd(5)); lines without a name and numeric uid and gid are skipped. */
interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string | undefined;
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of records(text)) {
    const name = f[0];
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (!name || uid === undefined || gid === undefined) continue;
    const home = f[5];
    out.push({ name, uid, gid, home: home ? home : undefined });
  }
  return out;
}

/** Name and gid of each line of /etc/group (group(5)); malformed lines are skipped. */
function parseGroup(text: string): Array<{ name: string; gid: number }> {
  const out: Array<{ name: string; gid: number }> = [];
  for (const f of records(text)) {
    const name = f[0];
    const gid = parseId(f[2]);
    if (!name || gid === undefined) continue;
    out.push({ name, gid });
  }
  return out;
}

/** Owner of an in-image path, not following a final symlink (rkt does lstat), or undefined. */
async function ownerOf(root: string, file: string): Promise<{ uid: number; gid: number } | undefined> {
  let hostPath: string;
  try {
    hostPath = await resolveInRoot(root, file, { followFinal: false });
    const st = await lstat(hostPath);
    return { uid: st.uid, gid: st.gid };
  } catch (err) {
    if (err instanceof JetpackError || isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
    throw err;
  }
}

/** Who an app runs as, per {@link resolveUser}. */
export interface ResolvedUser {
  /** Numeric user ID (0 .. 2^32-2). */
  uid: number;
  /** Primary group from the image's /etc/passwd, when it has a line for this user. */
  gid: number | undefined;
  /** Home directory from the image's /etc/passwd (an in-image path), when set there. */
  home: string | undefined;
  /** Login name from the image's /etc/passwd, when it has a line for this user. */
  name: string | undefined;
}

const USER_RULE = 'appc spec/aci.md § app.user: a name in the image\'s /etc/passwd, a number, or an absolute path';
const GROUP_RULE = 'appc spec/aci.md § app.group: a name in the image\'s /etc/group, a number, or an absolute path';

/**
 * Resolve an appc `user` string against the app's rootfs (a host directory).
 *
 * Rules, in order (appc spec/aci.md § app.user): the name in the rootfs's /etc/passwd; all digits:
 * that uid; starting with `/`: the uid owning that path in the rootfs (lstat); finally the literal
 * `root` is uid 0 (rkt compatibility, for images without /etc/passwd). `gid`, `home` and `name`
 * come from the image's passwd line of the resolved uid, if any. /etc/passwd is read with
 * {@link resolveInRoot}, so a symlink to a host file reads nothing of the host.
 *
 * @throws JetpackError('invalid') naming the user and the rule when nothing matches.
 */
export async function resolveUser(rootfs: string, user: string): Promise<ResolvedUser> {
  const text = await readRootFile(rootfs, '/etc/passwd');
  const entries = text === undefined ? [] : parsePasswd(text);
  const byUid = (uid: number): ResolvedUser => {
    const e = entries.find((x) => x.uid === uid);
    return { uid, gid: e?.gid, home: e?.home, name: e?.name };
  };
  if (user === '') throw new JetpackError('invalid', `app user is empty (${USER_RULE})`);

  const named = entries.find((e) => e.name === user);
  if (named) return { uid: named.uid, gid: named.gid, home: named.home, name: named.name };

  if (/^[0-9]+$/.test(user)) {
    const uid = parseId(user);
    if (uid === undefined) throw new JetpackError('invalid', `app user "${user}": uid out of range 0..${MAX_ID}`);
    return byUid(uid);
  }
  if (user.startsWith('/')) {
    const owner = await ownerOf(rootfs, user);
    if (!owner) throw new JetpackError('invalid', `app user "${user}": no such path in the image (${USER_RULE})`);
    return byUid(owner.uid);
  }
  if (user === 'root') return byUid(0);
  const where = text === undefined ? 'the image has no /etc/passwd' : 'not in the image\'s /etc/passwd';
  throw new JetpackError('invalid', `app user "${user}" cannot be resolved: ${where} (${USER_RULE})`);
}

/**
 * Resolve an appc `group` string against the app's rootfs (a host directory) to a gid.
 *
 * Rules, in order (appc spec/aci.md § app.group): the name in the rootfs's /etc/group; all digits:
 * that gid; starting with `/`: the gid owning that path in the rootfs (lstat); finally `root` is 0.
 *
 * @throws JetpackError('invalid') naming the group and the rule when nothing matches.
 */
export async function resolveGroup(rootfs: string, group: string): Promise<number> {
  if (group === '') throw new JetpackError('invalid', `app group is empty (${GROUP_RULE})`);
  const text = await readRootFile(rootfs, '/etc/group');
  const entries = text === undefined ? [] : parseGroup(text);
  const named = entries.find((e) => e.name === group);
  if (named) return named.gid;

  if (/^[0-9]+$/.test(group)) {
    const gid = parseId(group);
    if (gid === undefined) throw new JetpackError('invalid', `app group "${group}": gid out of range 0..${MAX_ID}`);
    return gid;
  }
  if (group.startsWith('/')) {
    const owner = await ownerOf(rootfs, group);
    if (!owner) throw new JetpackError('invalid', `app group "${group}": no such path in the image (${GROUP_RULE})`);
    return owner.gid;
  }
  if (group === 'root') return 0;
  const where = text === undefined ? 'the image has no /etc/group' : 'not in the image\'s /etc/group';
  throw new JetpackError('invalid', `app group "${group}" cannot be resolved: ${where} (${GROUP_RULE})`);
}

/**
 * uid → user name from the rootfs's own /etc/passwd (first entry wins), for showing a pod's
 * processes (pod-ps). An image without a readable passwd gives an empty map.
 */
export async function userNames(rootfs: string): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  const text = await readRootFile(rootfs, '/etc/passwd');
  for (const e of text === undefined ? [] : parsePasswd(text)) if (!names.has(e.uid)) names.set(e.uid, e.name);
  return names;
}

/**
 * The login shell of `uid` in the rootfs's own /etc/passwd (the 7th field of its first line), or
 * undefined when it has no line or the field is empty (login(1) then uses /bin/sh). For `pod console`.
 */
export async function loginShell(rootfs: string, uid: number): Promise<string | undefined> {
  const text = await readRootFile(rootfs, '/etc/passwd');
  for (const f of text === undefined ? [] : records(text)) {
    if (!f[0] || parseId(f[2]) !== uid || parseId(f[3]) === undefined) continue;
    const shell = f[6]?.trim();
    return shell ? shell : undefined;
  }
  return undefined;
}

/**
 * The gids of the rootfs's /etc/group entries that list `name` among their members (4th field),
 * in file order without repeats: the supplementary groups of a login (initgroups(3)).
 */
export async function memberGroups(rootfs: string, name: string): Promise<number[]> {
  const text = await readRootFile(rootfs, '/etc/group');
  const gids: number[] = [];
  for (const f of text === undefined ? [] : records(text)) {
    const gid = parseId(f[2]);
    if (!f[0] || gid === undefined || gids.includes(gid)) continue;
    if ((f[3] ?? '').split(',').map((m) => m.trim()).includes(name)) gids.push(gid);
  }
  return gids;
}
