/**
 * Deterministic ACI writer: `manifest` + `dir/rootfs` → an uncompressed ACI tar and its image ID
 * (appc spec/aci.md § "Image Archives", § "Image ID"; layout rules in docs/appc-spec-notes.md § 1).
 *
 * The same tree and manifest always give the same bytes, hence the same ID:
 *  - entries: `manifest` first, then `rootfs` and everything under it sorted bytewise by the UTF-8
 *    bytes of the full name (`rootfs/a` < `rootfs/a-b` < `rootfs/a/c`); no trailing `/` on dirs;
 *  - `manifest`: mode 0644, uid/gid 0, mtime = the mtime of `dir/rootfs` (whole seconds);
 *  - everything else: numeric uid/gid as on disk, empty uname/gname, mode `& 07777` (setuid,
 *    setgid, sticky kept), mtime in whole seconds (truncated); no atime/ctime anywhere;
 *  - POSIX ustar headers (magic `ustar\0`, version `00`); a PAX `x` header only where a value
 *    does not fit ustar: a non-ASCII or too long name (`path`) or link target (`linkpath`), a
 *    uid/gid above 07777777, a size of 8 GiB or more, a negative or huge mtime, and xattrs
 *    (`SCHILY.xattr.<name>`, raw value bytes). Records are sorted by key; the PAX header is
 *    named `<dir>/PaxHeaders.0/<base>` (as Go's archive/tar does), mode 0644, uid/gid 0, mtime 0;
 *  - hardlinks (a second path to an inode with nlink > 1, in sorted order) are typeflag `1`
 *    pointing at the first path (`rootfs/...`), size 0, no xattrs (they live on the inode);
 *  - symlinks keep their target verbatim; char/block devices keep their major/minor; FIFOs are
 *    kept; sockets are skipped with a warning;
 *  - xattrs: the `user.*` namespace and `security.capability` (see extract.ts xattrAllowed), on
 *    regular files and directories, read with one `getfattr -R` run, sorted by name (a name
 *    containing `=` cannot be a PAX key and is skipped with a warning);
 *  - the archive ends with exactly two zero blocks (no padding to a 10 KiB record).
 * `actool validate` accepts the output. File names and link targets must be valid UTF-8.
 */
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import { createInterface } from 'node:readline';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { JetpackError, errorMessage, invalid } from '../errors.js';
import { showName, xattrAllowed, type Warn } from './extract.js';

const BLOCK = 512;
/** Output is coalesced into chunks of about this size. */
const CHUNK = 256 * 1024;

type ItemType = 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo';

interface Item {
  /** Archive name, e.g. `rootfs/bin/sh`. */
  rel: string;
  relBytes: Buffer;
  abs: string;
  type: ItemType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  nlink: number;
  dev: bigint;
  ino: bigint;
  rdev: bigint;
}

/** Whole seconds, floored (also for times before 1970). */
function seconds(ns: bigint): number {
  let s = ns / 1_000_000_000n;
  if (ns < 0n && s * 1_000_000_000n !== ns) s -= 1n;
  return Number(s);
}

function itemOf(rel: string, abs: string, st: BigIntStats): Item | null {
  let type: ItemType;
  if (st.isDirectory()) type = 'dir';
  else if (st.isFile()) type = 'file';
  else if (st.isSymbolicLink()) type = 'symlink';
  else if (st.isCharacterDevice()) type = 'char';
  else if (st.isBlockDevice()) type = 'block';
  else if (st.isFIFO()) type = 'fifo';
  else return null;
  return {
    rel,
    relBytes: Buffer.from(rel, 'utf8'),
    abs,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    mtime: seconds(st.mtimeNs),
    nlink: Number(st.nlink),
    dev: st.dev,
    ino: st.ino,
    rdev: st.rdev,
  };
}

/** Every file under `rootfs` (itself included), in bytewise order of the archive name. */
async function walk(rootfs: string, warn: Warn): Promise<Item[]> {
  const top = itemOf('rootfs', rootfs, await lstat(rootfs, { bigint: true }));
  if (top === null || top.type !== 'dir') throw invalid(`${rootfs}: not a directory`);
  const items: Item[] = [top];
  const dirs: Item[] = [top];
  for (let d = dirs.pop(); d !== undefined; d = dirs.pop()) {
    const names = await readdir(d.abs, { encoding: 'buffer' });
    const parent = d;
    const batch = 128;
    for (let i = 0; i < names.length; i += batch) {
      const got = await Promise.all(
        names.slice(i, i + batch).map(async (nb) => {
          if (!isUtf8(nb)) throw invalid(`${parent.abs}/${nb.toString('latin1')}: file name is not valid UTF-8`);
          const name = nb.toString('utf8');
          const abs = `${parent.abs}/${name}`;
          const rel = `${parent.rel}/${name}`;
          const item = itemOf(rel, abs, await lstat(abs, { bigint: true }));
          if (item === null) warn(`${showName(rel)}: socket skipped`);
          return item;
        }),
      );
      for (const item of got) {
        if (item === null) continue;
        items.push(item);
        if (item.type === 'dir') dirs.push(item);
      }
    }
  }
  return items.sort((a, b) => Buffer.compare(a.relBytes, b.relBytes));
}

/** Undo getfattr's quoting (`\ooo` octal escapes) into the original bytes. */
function unquote(s: string): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of s.matchAll(/\\([0-7]{3})/g)) {
    const at = m.index ?? 0;
    parts.push(Buffer.from(s.slice(last, at), 'utf8'), Buffer.from([parseInt(m[1] ?? '0', 8) & 0xff]));
    last = at + m[0].length;
  }
  parts.push(Buffer.from(s.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

/**
 * The carried xattrs (see xattrAllowed) of every file under `rootfs`, with one
 * `getfattr -R -P -h -d -m - -e base64 --absolute-names` run. Keyed by absolute path.
 */
async function readXattrs(rootfs: string, warn: Warn): Promise<Map<string, Array<[string, Buffer]>>> {
  const found = new Map<string, Array<[string, Buffer]>>();
  const child = spawn('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', rootfs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  exited.catch(() => undefined);
  let current: Array<[string, Buffer]> | null = null;
  let path: string | null = null;
  try {
    for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
      if (line.startsWith('# file: ')) {
        path = unquote(line.slice('# file: '.length)).toString('utf8');
        current = [];
        found.set(path, current);
      } else if (line !== '' && current !== null && path !== null) {
        const eq = line.indexOf('=');
        const name = unquote(eq < 0 ? line : line.slice(0, eq)).toString('utf8');
        const raw = eq < 0 ? '' : line.slice(eq + 1);
        let value: Buffer;
        if (raw.startsWith('0s')) value = Buffer.from(raw.slice(2), 'base64');
        else if (raw.startsWith('0x')) value = Buffer.from(raw.slice(2), 'hex');
        else if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) value = unquote(raw.slice(1, -1));
        else value = Buffer.from(raw, 'utf8');
        // A PAX record key ends at the first '=', so such a name cannot be archived.
        if (xattrAllowed(name) && name.includes('=')) warn(`${path}: xattr ${JSON.stringify(name)} skipped (a name with "=" cannot be archived)`);
        else if (xattrAllowed(name)) current.push([name, value]);
      }
    }
  } catch (err) {
    child.kill();
    throw new JetpackError('internal', `getfattr: ${errorMessage(err)}`);
  }
  let code: number | null;
  try {
    code = await exited;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw missing
      ? new JetpackError('environment', 'getfattr: not found (install the attr package; needed to pack xattrs)')
      : new JetpackError('internal', `getfattr: ${errorMessage(err)}`);
  }
  if (code !== 0) {
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    // A filesystem without xattr support (zfs-fuse, some FUSE and network filesystems) has none to pack.
    if (lines.length > 0 && lines.every((l) => /Operation not supported$/.test(l))) return new Map();
    throw new JetpackError('internal', `getfattr -R ${rootfs} failed (exit ${code}): ${lines[0] ?? ''}`);
  }
  for (const [k, v] of found) {
    if (v.length === 0) found.delete(k);
    else v.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  }
  return found;
}

// ------------------------------------------------------------------------------------------------
// Header encoding

const NAME_SIZE = 100;
const PREFIX_SIZE = 155;
const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;

// eslint-disable-next-line no-control-regex
const isAscii = (s: string): boolean => /^[\x01-\x7f]*$/.test(s);

/** Go archive/tar splitUSTARPath: split a long ASCII name into prefix (≤155) and name (≤100) at a `/`. */
function splitUstar(name: string): [string, string] | null {
  let length = name.length;
  if (length <= NAME_SIZE || !isAscii(name)) return null;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name[length - 1] === '/') length--;
  const i = name.lastIndexOf('/', length - 1);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > NAME_SIZE || nlen === 0 || i > PREFIX_SIZE) return null;
  return [name.slice(0, i), name.slice(i + 1)];
}

function writeOctal(buf: Buffer, off: number, len: number, n: number): void {
  buf.write(n.toString(8).padStart(len - 1, '0'), off, len - 1, 'ascii');
  buf[off + len - 1] = 0;
}

/** Truncate to at most `max` bytes without splitting a UTF-8 sequence. */
function truncateBytes(s: string, max: number): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return b;
  let end = max;
  while (end > 0 && ((b[end] ?? 0) & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

interface HeaderFields {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** One ustar header block; values that do not fit are expected to be carried by a PAX header and are written as 0 / truncated. */
function ustarBlock(h: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  const split = Buffer.byteLength(h.name) <= NAME_SIZE ? (['', h.name] as [string, string]) : splitUstar(h.name);
  if (split !== null) {
    Buffer.from(split[1], 'utf8').copy(b, 0);
    Buffer.from(split[0], 'utf8').copy(b, 345);
  } else {
    truncateBytes(h.name, NAME_SIZE).copy(b, 0);
  }
  writeOctal(b, 100, 8, h.mode);
  writeOctal(b, 108, 8, h.uid <= MAX_OCTAL_8 ? h.uid : 0);
  writeOctal(b, 116, 8, h.gid <= MAX_OCTAL_8 ? h.gid : 0);
  writeOctal(b, 124, 12, h.size <= MAX_OCTAL_12 ? h.size : 0);
  writeOctal(b, 136, 12, h.mtime >= 0 && h.mtime <= MAX_OCTAL_12 ? h.mtime : 0);
  b.write(h.typeflag, 156, 1, 'latin1');
  truncateBytes(h.linkname, NAME_SIZE).copy(b, 157);
  b.write('ustar\u000000', 257, 8, 'latin1');
  writeOctal(b, 329, 8, h.devmajor);
  writeOctal(b, 337, 8, h.devminor);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  writeOctal(b, 148, 7, sum);
  b[155] = 0x20;
  return b;
}

/** One PAX record `"<len> <key>=<value>\n"`, the length counting itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`, 'utf8'), value, Buffer.from('\n')]);
}

const pad = (n: number): Buffer => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);

/** The header block(s) of one entry: a PAX `x` header when needed, then the ustar header. */
function encodeHeader(h: HeaderFields, xattrs: Array<[string, Buffer]>): Buffer[] {
  const records: Array<[string, Buffer]> = [];
  const nameFits = isAscii(h.name) && (h.name.length <= NAME_SIZE || splitUstar(h.name) !== null);
  if (!nameFits) records.push(['path', Buffer.from(h.name, 'utf8')]);
  if (!isAscii(h.linkname) || h.linkname.length > NAME_SIZE) records.push(['linkpath', Buffer.from(h.linkname, 'utf8')]);
  if (h.uid > MAX_OCTAL_8) records.push(['uid', Buffer.from(String(h.uid))]);
  if (h.gid > MAX_OCTAL_8) records.push(['gid', Buffer.from(String(h.gid))]);
  if (h.size > MAX_OCTAL_12) records.push(['size', Buffer.from(String(h.size))]);
  if (h.mtime < 0 || h.mtime > MAX_OCTAL_12) records.push(['mtime', Buffer.from(String(h.mtime))]);
  for (const [name, value] of xattrs) records.push([`SCHILY.xattr.${name}`, value]);
  const header = ustarBlock(h);
  if (records.length === 0) return [header];
  records.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  const dir = posix.dirname(h.name);
  const base = posix.basename(h.name).replace(/[^\x20-\x7e]/g, '_');
  const paxName = `${dir === '.' ? '' : `${dir.replace(/[^\x20-\x7e]/g, '_')}/`}PaxHeaders.0/${base}`;
  const paxHeader = ustarBlock({
    name: paxName.length <= NAME_SIZE || splitUstar(paxName) !== null ? paxName : paxName.slice(0, NAME_SIZE),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return [paxHeader, body, pad(body.length), header];
}

const major = (rdev: bigint): number => Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
const minor = (rdev: bigint): number => Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));

/** The bytes of the archive, in chunks of about {@link CHUNK} (file data may come in larger ones). */
async function* archive(
  items: Item[],
  manifest: Buffer,
  xattrs: Map<string, Array<[string, Buffer]>>,
): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let partLen = 0;
  const put = (b: Buffer): void => {
    if (b.length === 0) return;
    parts.push(b);
    partLen += b.length;
  };
  const flush = (): Buffer => {
    const out = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, partLen);
    parts = [];
    partLen = 0;
    return out;
  };

  const rootMtime = items[0]?.mtime ?? 0;
  for (const b of encodeHeader(
    { name: 'manifest', mode: 0o644, uid: 0, gid: 0, size: manifest.length, mtime: rootMtime, typeflag: '0', linkname: '', devmajor: 0, devminor: 0 },
    [],
  ))
    put(b);
  put(manifest);
  put(pad(manifest.length));

  const seen = new Map<string, string>();
  for (const item of items) {
    const h: HeaderFields = {
      name: item.rel,
      mode: item.mode,
      uid: item.uid,
      gid: item.gid,
      size: 0,
      mtime: item.mtime,
      typeflag: '5',
      linkname: '',
      devmajor: 0,
      devminor: 0,
    };
    let attrs: Array<[string, Buffer]> = [];
    let data = false;
    switch (item.type) {
      case 'dir':
        attrs = xattrs.get(item.abs) ?? [];
        break;
      case 'symlink': {
        const target = await readlink(item.abs, { encoding: 'buffer' });
        if (!isUtf8(target)) throw invalid(`${item.abs}: symlink target is not valid UTF-8`);
        h.typeflag = '2';
        h.linkname = target.toString('utf8');
        break;
      }
      case 'char':
      case 'block':
      case 'fifo':
        h.typeflag = item.type === 'char' ? '3' : item.type === 'block' ? '4' : '6';
        if (item.type !== 'fifo') {
          h.devmajor = major(item.rdev);
          h.devminor = minor(item.rdev);
        }
        break;
      case 'file': {
        const inode = `${item.dev}:${item.ino}`;
        const first = item.nlink > 1 ? seen.get(inode) : undefined;
        if (first !== undefined) {
          h.typeflag = '1';
          h.linkname = first;
        } else {
          if (item.nlink > 1) seen.set(inode, item.rel);
          h.typeflag = '0';
          h.size = item.size;
          attrs = xattrs.get(item.abs) ?? [];
          data = true;
        }
        break;
      }
    }
    for (const b of encodeHeader(h, attrs)) put(b);
    if (data && item.size > 0) {
      const fh = await open(item.abs, fsc.O_RDONLY | fsc.O_NOFOLLOW).catch((err: unknown) => {
        throw new JetpackError('internal', `${item.abs}: ${errorMessage(err)}`);
      });
      try {
        const st = await fh.stat({ bigint: true });
        if (!st.isFile() || st.ino !== item.ino || Number(st.size) !== item.size) {
          throw new JetpackError('conflict', `${item.abs}: changed while packing`);
        }
        let left = item.size;
        while (left > 0) {
          const want = Math.min(left, 1024 * 1024);
          const buf = Buffer.allocUnsafe(want);
          let got = 0;
          while (got < want) {
            const { bytesRead } = await fh.read(buf, got, want - got, null);
            if (bytesRead === 0) throw new JetpackError('conflict', `${item.abs}: changed while packing (shorter than ${item.size} bytes)`);
            got += bytesRead;
          }
          left -= want;
          if (want >= CHUNK) {
            if (partLen > 0) yield flush();
            yield buf;
          } else {
            put(buf);
          }
        }
      } finally {
        await fh.close();
      }
      put(pad(item.size));
    }
    if (partLen >= CHUNK) yield flush();
  }
  put(Buffer.alloc(2 * BLOCK));
  yield flush();
}

/** Options of {@link packAci}. */
export interface PackOptions {
  /** Where warnings go (skipped sockets and unarchivable xattr names); default stderr. */
  warn?: Warn;
}

/**
 * Write the deterministic uncompressed ACI of `manifest` + `dir/rootfs` (format in the module
 * comment) and compute its image ID.
 *
 * @param dir the image directory; only `dir/rootfs` is read (a real directory, not a symlink).
 * @param manifest the manifest bytes, written verbatim as the `manifest` entry.
 * @param out where the tar goes; it is ended when the archive is complete. `null` only computes
 *   the ID and size.
 * @returns `id`: `sha512-` + lowercase hex SHA-512 of the tar bytes (appc spec/aci.md § Image ID);
 *   `size`: the tar's length in bytes.
 * @throws JetpackError('invalid') for a name or link target that is not UTF-8 or a missing rootfs;
 *   JetpackError('conflict') when a file changes while being packed; JetpackError('environment')
 *   when `getfattr` is missing; errors of `out` as they come.
 */
export async function packAci(dir: string, manifest: Buffer, out: Writable | null, options: PackOptions = {}): Promise<{ id: string; size: number }> {
  const warn: Warn = options.warn ?? ((m) => void process.stderr.write(`warning: ${m}\n`));
  let rootfs: string;
  try {
    rootfs = `${await realpath(dir)}/rootfs`;
    const st = await lstat(rootfs);
    if (!st.isDirectory()) throw invalid(`${dir}/rootfs: not a directory`);
  } catch (err) {
    out?.destroy();
    if (err instanceof JetpackError) throw err;
    throw invalid(`${dir}/rootfs: ${errorMessage(err)}`);
  }
  let items: Item[];
  let xattrs: Map<string, Array<[string, Buffer]>>;
  try {
    [items, xattrs] = await Promise.all([walk(rootfs, warn), readXattrs(rootfs, warn)]);
  } catch (err) {
    out?.destroy();
    throw err;
  }
  const hash = createHash('sha512');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb): void {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const sink =
    out ??
    new Writable({
      write(_chunk, _enc, cb): void {
        cb();
      },
    });
  await pipeline(archive(items, manifest, xattrs), tap, sink);
  return { id: `sha512-${hash.digest('hex')}`, size };
}
