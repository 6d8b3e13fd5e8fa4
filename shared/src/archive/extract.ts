/**
 * Safe, single-pass reading of ACI archives and rootfs tarballs.
 *
 * Sources: appc spec/aci.md (§ "Image Archives", § "Image ID", § "Image Layout") and the behaviour
 * of actool/rkt summarised in docs/appc-spec-notes.md § 1 ("Archive entries, ownership, devices,
 * hardlinks", "What a validator rejects") and § 9 ("Edge cases a runtime should handle").
 *
 * One streaming pass over the *uncompressed* tar:
 *  1. hashes every byte to EOF with SHA-512 (headers, padding, end-of-archive blocks and any
 *     trailing bytes; appc § Image ID: "the hash of the uncompressed tar file"),
 *  2. copies the same bytes to a kept raw tar (so export gives back identical bytes),
 *  3. decodes the tar and extracts it, enforcing the rules below with its own path model.
 *
 * The copy (2) runs on libuv's thread pool, one write of everything queued at a time, behind the
 * hash (1) and the extraction (3) on the main thread. The extraction uses synchronous file-system
 * calls: an entry costs a handful of them (mkdir or open, write, fchown, fchmod, futimes, close),
 * and a thread-pool round trip for each, awaited one after the other, was most of the time of an
 * import. The event loop still gets a turn every millisecond (SLICE_MS), so that a decompressor
 * in a child process (native.ts) is read from and fed while the extraction runs.
 *
 * ## Why a tar decoder of our own (node-tar is not used to parse)
 * node-tar 7.5's Parser was evaluated and rejected as the authority for this job:
 *  - it drops `SCHILY.xattr.*` PAX records, and decodes PAX bodies as UTF-8 text truncated at the
 *    first NUL, so binary xattrs such as `security.capability` cannot be recovered from it;
 *  - it sniffs gzip/zstd magic on its input, so an "uncompressed" stream could be parsed as
 *    something other than the bytes being hashed;
 *  - it honours the size field of link/device headers, where Go's archive/tar (what actool and rkt
 *    use) treats them as header-only: the two would disagree on where the next header starts;
 *  - a truncated archive or a corrupt header is only a warning, and Unpack chowns after setting
 *    the mode (which clears setuid bits) and does not restore directory mtimes.
 * The decoder below follows Go's archive/tar reader (ustar, PAX, GNU long names, base-256
 * numbers, signed or unsigned header checksums) and is strict where Go is lenient.
 *
 * ## Rules (any breach: JetpackError('invalid') `<entry name>: <rule>`; reading stops at once)
 *  - Names: `./` and `.` components are dropped; a name must be relative (no leading `/`, however
 *    many), must not contain a `..` component or an empty component (`//`), no component may be
 *    longer than NAME_MAX (255 bytes), and it must respect the limits. Names are byte strings:
 *    never decoded, so names that are not UTF-8 are extracted as the same bytes, and two names
 *    differing only in such bytes stay two files. Exception: a rootfs tarball (repacked by pack.ts,
 *    which writes UTF-8 names) must have UTF-8 names and symlink targets.
 *  - ACI top level: only `manifest` (a regular file, kept in memory and returned, not extracted
 *    into the rootfs) and `rootfs` / `rootfs/...`; an explicit `rootfs` directory entry is
 *    required (as actool requires); `rootfs/manifest` is an ordinary file of the rootfs.
 *  - No duplicates: a second entry for a path is refused, except an identical directory
 *    (same mode, owner, mtime and xattrs). A directory implied by deeper entries may still get
 *    its own entry later (entries before their parents are fine; parents are made 0755).
 *  - Nothing is written through a symlink or under a non-directory: the parent of every entry
 *    must be, in the model, a directory created by this archive (or an implied one), never a
 *    symlink, file or device. Symlinks themselves may point anywhere (absolute targets are
 *    in-container paths): they are created, never followed.
 *  - Hardlinks must name (relatively, `..`-free) a regular file extracted earlier by this archive,
 *    under `rootfs/` for an ACI: not `manifest`, not a missing path, not a symlink or directory.
 *  - Devices are skipped with a warning (the path still counts as taken): never created, as a
 *    device node in an image would be a way to the host's devices. FIFOs are created (mkfifo(1)
 *    under a scratch name at the top of the rootfs, then rename(2) into place, since Node has no
 *    mkfifo and argv cannot carry non-UTF-8 names), with their owner, mode and mtime; where
 *    mkfifo cannot run they are skipped with a warning like devices. Nothing may be created under
 *    a FIFO.
 *  - Entry types other than file, hardlink, symlink, directory, device and FIFO (e.g. GNU sparse
 *    files: old type `S` and the PAX GNU.sparse.* formats 0.0, 0.1 and 1.0; volume headers) are
 *    refused; PAX global headers are ignored (as rkt does).
 *  - The archive must end with the end-of-archive zero block(s); bytes after them are hashed and
 *    kept but not parsed, up to maxTrailingBytes (default 1 MiB).
 *  - A name the host cannot take (ENAMETOOLONG: the image directory counts towards PATH_MAX) is
 *    refused like a broken rule.
 * Warnings (skipped devices, xattrs) are held back and delivered only when the whole archive was
 * read without error, so they never precede a refusal.
 * As a second line of defence on disk: files are created with O_CREAT|O_EXCL|O_NOFOLLOW, every
 * directory is checked with realpath() before anything is created in it, and xattrs are only set
 * on files and directories whose real path is still where the model says.
 *
 * ## What is kept
 * Numeric uid/gid (when running as root; names are ignored), mode including setuid/setgid/sticky
 * (re-applied after chown, which clears them), mtime (atime is set to the mtime; directory times
 * are set after all their children exist), hardlinks, symlinks, and xattrs from PAX
 * `SCHILY.xattr.*` (and `LIBARCHIVE.xattr.*`) records in the `user.*` namespace and
 * `security.capability` (the set rkt restores; others are skipped with a warning), applied at the
 * end with one `setfattr -h --restore=-` run, values base64 so binary bytes survive.
 */
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import { lstat, mkdir, open, realpath, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import { execa } from 'execa';
import { JetpackError, errorMessage, invalid } from '../errors.js';

// ------------------------------------------------------------------------------------------------
// Limits

/** Resource limits while reading an archive; exceeding one is JetpackError('invalid'). */
export interface Limits {
  /** Maximum uncompressed bytes read (headers, data, padding and trailing bytes). Default 64 GiB. */
  maxBytes?: number;
  /** Maximum tar headers (entries, counting PAX and GNU long-name headers). Default 10 000 000. */
  maxEntries?: number;
  /** Maximum number of components of an entry name (after dropping `.`). Default 256. */
  maxPathDepth?: number;
  /** Maximum length of an entry name or link target, in bytes. Default 4096 (PATH_MAX). */
  maxPathLength?: number;
  /** Maximum size of the ACI manifest, in bytes (it is held in memory). Default 4 MiB. */
  maxManifestBytes?: number;
  /** Maximum size of one PAX extended header or GNU long name body, in bytes. Default 1 MiB. */
  maxMetaBytes?: number;
  /** Maximum bytes after the end-of-archive blocks (kept and hashed, never parsed). Default 1 MiB. */
  maxTrailingBytes?: number;
}

/** The defaults of {@link Limits}. */
export const DEFAULT_LIMITS: Readonly<Required<Limits>> = Object.freeze({
  maxBytes: 64 * 1024 ** 3,
  maxEntries: 10_000_000,
  maxPathDepth: 256,
  maxPathLength: 4096,
  maxManifestBytes: 4 * 1024 ** 2,
  maxMetaBytes: 1024 ** 2,
  maxTrailingBytes: 1024 ** 2,
});

const withDefaults = (limits?: Limits): Required<Limits> => ({
  maxBytes: limits?.maxBytes ?? DEFAULT_LIMITS.maxBytes,
  maxEntries: limits?.maxEntries ?? DEFAULT_LIMITS.maxEntries,
  maxPathDepth: limits?.maxPathDepth ?? DEFAULT_LIMITS.maxPathDepth,
  maxPathLength: limits?.maxPathLength ?? DEFAULT_LIMITS.maxPathLength,
  maxManifestBytes: limits?.maxManifestBytes ?? DEFAULT_LIMITS.maxManifestBytes,
  maxMetaBytes: limits?.maxMetaBytes ?? DEFAULT_LIMITS.maxMetaBytes,
  maxTrailingBytes: limits?.maxTrailingBytes ?? DEFAULT_LIMITS.maxTrailingBytes,
});

/** The longest path component Linux and FreeBSD file systems take (NAME_MAX). */
export const NAME_MAX = 255;

/** Where warnings go (skipped devices, skipped xattrs). Default: one line on stderr. */
export type Warn = (message: string) => void;
const stderrWarn: Warn = (message) => {
  process.stderr.write(`warning: ${message}\n`);
};

// ------------------------------------------------------------------------------------------------
// Xattrs (shared with pack.ts)

/**
 * Whether an xattr is carried between archives and trees: `user.*` and `security.capability`,
 * the set rkt restores (pkg/tar TestExtractTarXattr). Host-specific labels (`security.selinux`),
 * `trusted.*` (e.g. overlayfs metadata) and ACLs are left out in both directions.
 */
export function xattrAllowed(name: string): boolean {
  return (name.startsWith('user.') && name.length > 5) || name === 'security.capability';
}

/** Quote a byte string for a getfattr/setfattr dump: every byte outside a safe set becomes `\ooo` (setfattr unquotes any `\ooo`). */
export function dumpQuote(s: string | Buffer): string {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  let out = '';
  for (const b of bytes) {
    const safe =
      (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2e || b === 0x2f || b === 0x5f || b === 0x2d || b === 0x2b;
    out += safe ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Tar decoding

/** A decoded tar entry (all extended headers applied). */
interface Entry {
  /** The name as in the archive (PAX path, GNU long name, or ustar prefix/name). */
  name: string;
  kind: 'file' | 'hardlink' | 'symlink' | 'dir' | 'char' | 'block' | 'fifo';
  /** Bytes of data following the header (0 for every kind but file). */
  size: number;
  /** Permission bits incl. setuid/setgid/sticky (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, seconds since the epoch (PAX times may be fractional). */
  mtime: number;
  linkname: string;
  /** Xattrs from PAX records, name → raw value bytes. */
  xattrs: Map<string, Buffer>;
}

/**
 * Receives decoded entries in archive order. The calls are synchronous (the extractor uses
 * synchronous file-system calls: one entry costs a handful of system calls, and a thread-pool
 * round trip for each of them was most of the time of an import); a throw stops the decoding.
 */
interface EntrySink {
  begin(entry: Entry): void;
  data(chunk: Buffer): void;
  end(): void;
}

/** PAX / GNU extended values waiting for the next real header. */
interface Pending {
  /** PAX path / linkpath (win over GNU long names, as in Go's reader). */
  path?: Buffer;
  linkpath?: Buffer;
  /** GNU long name / long link name ('L' / 'K' headers). */
  gnuPath?: Buffer;
  gnuLinkpath?: Buffer;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  xattrs: Map<string, Buffer>;
  /** GNU.sparse.* records seen: the sparse format ('0.0', '0.1', '1.0', …), else null. */
  sparse: string | null;
  /** GNU.sparse.name (format 1.0: the real name behind `GNUSparseFile.N/…`), for messages. */
  sparseName?: Buffer;
  sparseMajor?: string;
  sparseMinor?: string;
  /** Name of the (last) extended header, for messages. */
  from: string;
}

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** A printable form of an entry name for one-line messages. */
export function showName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(name) || name === '' ? JSON.stringify(name) : name;
}

/**
 * A printable form of an entry name held as a byte string (one character per byte, as decoded
 * with `latin1`): the UTF-8 text when the bytes are UTF-8, else a quoted form with every byte
 * outside printable ASCII written `\xNN`.
 */
export function showEntryName(name: string): string {
  const bytes = Buffer.from(name, 'latin1');
  if (isUtf8(bytes)) return showName(bytes.toString('utf8'));
  let out = '"';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return `${out}"`;
}

const cstring = (field: Buffer): Buffer => {
  const nul = field.indexOf(0);
  return nul >= 0 ? field.subarray(0, nul) : field;
};

/** Go archive/tar parseNumeric: octal (spaces/NULs trimmed at both ends) or base-256 (high bit set). */
function parseNumber(field: Buffer, what: string): number {
  const first = field[0] ?? 0;
  if (first & 0x80) {
    const inv = first & 0x40 ? 0xff : 0;
    let x = 0n;
    for (let i = 0; i < field.length; i++) {
      let c = (field[i] ?? 0) ^ inv;
      if (i === 0) c &= 0x7f;
      x = (x << 8n) | BigInt(c);
    }
    if (inv) x = -x - 1n;
    if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`${what} out of range`);
    return Number(x);
  }
  const s = field.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`bad ${what} field ${JSON.stringify(s)}`);
  const n = parseInt(s, 8);
  if (!Number.isSafeInteger(n)) throw new Error(`${what} out of range`);
  return n;
}

function checksumOk(block: Buffer): boolean {
  let stored: number;
  try {
    stored = parseNumber(block.subarray(148, 156), 'checksum');
  } catch {
    return false;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

const utf8 = (bytes: Buffer, what: string): string => {
  if (!isUtf8(bytes)) throw new Error(`${what} is not valid UTF-8`);
  return bytes.toString('utf8');
};

/**
 * Parse a PAX extended header body (records `"<len> <key>=<value>\n"`, binary-safe) into `p`.
 * Keys used: path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*, LIBARCHIVE.xattr.*; GNU.sparse.*
 * marks a sparse file (refused). Others (atime, uname, comments, …) are ignored. Path values are
 * kept as bytes (POSIX says UTF-8, but `hdrcharset=BINARY` and real archives carry any bytes).
 */
function parsePax(body: Buffer, p: Pending): void {
  let pos = 0;
  while (pos < body.length) {
    const sp = body.indexOf(0x20, pos);
    const lenStr = sp > pos ? body.toString('latin1', pos, sp) : '';
    if (!/^[0-9]{1,9}$/.test(lenStr)) throw new Error('malformed PAX record length');
    const len = parseInt(lenStr, 10);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > body.length || body[end - 1] !== 0x0a) throw new Error('malformed PAX record');
    const kv = body.subarray(sp + 1, end - 1);
    const eq = kv.indexOf(0x3d);
    if (eq <= 0) throw new Error('malformed PAX record (no key)');
    const key = utf8(kv.subarray(0, eq), 'PAX key');
    const value = kv.subarray(eq + 1);
    pos = end;
    const text = (): string => value.toString('latin1');
    const int = (what: string): number | undefined => {
      if (value.length === 0) return undefined;
      if (!/^[0-9]{1,16}$/.test(text())) throw new Error(`malformed PAX ${what} ${JSON.stringify(text())}`);
      const n = Number(text());
      if (!Number.isSafeInteger(n)) throw new Error(`PAX ${what} out of range`);
      return n;
    };
    if (key === 'path' || key === 'linkpath') {
      if (value.includes(0)) throw new Error(`PAX ${key} contains a NUL byte`);
      p[key] = value.length > 0 ? Buffer.from(value) : undefined;
    } else if (key === 'size' || key === 'uid' || key === 'gid') {
      p[key] = int(key);
    } else if (key === 'mtime') {
      if (value.length === 0) p.mtime = undefined;
      else if (!/^-?[0-9]{1,15}(\.[0-9]{0,12})?$/.test(text())) throw new Error(`malformed PAX mtime ${JSON.stringify(text())}`);
      else p.mtime = Number(text());
    } else if (key.startsWith('SCHILY.xattr.')) {
      p.xattrs.set(key.slice('SCHILY.xattr.'.length), Buffer.from(value));
    } else if (key.startsWith('LIBARCHIVE.xattr.')) {
      let name: string;
      try {
        name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
      } catch {
        throw new Error(`malformed PAX key ${JSON.stringify(key)}`);
      }
      // SCHILY records (binary, exact) win over libarchive's base64 copy of the same xattr.
      if (!p.xattrs.has(name)) p.xattrs.set(name, Buffer.from(text(), 'base64'));
    } else if (key.startsWith('GNU.sparse.')) {
      // GNU tar's PAX sparse formats: 0.0 (offset/numbytes records), 0.1 (map), 1.0 (major/minor,
      // map in the data). Recognised only to be refused by name.
      if (key === 'GNU.sparse.name') p.sparseName = Buffer.from(value);
      else if (key === 'GNU.sparse.major') p.sparseMajor = text();
      else if (key === 'GNU.sparse.minor') p.sparseMinor = text();
      p.sparse = p.sparseMajor !== undefined ? `${p.sparseMajor}.${p.sparseMinor ?? '0'}` : key === 'GNU.sparse.map' ? '0.1' : (p.sparse ?? '0.0');
    }
  }
}

type State = 'header' | 'meta' | 'data' | 'skip' | 'pad' | 'zero' | 'done';

/**
 * A streaming tar decoder following Go's archive/tar reader. Feed it bytes with {@link write}
 * (synchronous; in order, possibly in several calls per chunk), then call {@link end} at EOF.
 */
class TarDecoder {
  private state: State = 'header';
  private readonly hdr = Buffer.alloc(BLOCK);
  private hdrFill = 0;
  /** Bytes left in the current body (data, meta or skipped). */
  private remain = 0;
  /** Padding bytes left after the current body. */
  private pad = 0;
  private metaType = '';
  private meta: Buffer[] = [];
  private pending: Pending | null = null;
  private headers = 0;
  /** Bytes seen after the end-of-archive blocks. */
  private trailing = 0;
  /** Name of the entry being read or last read (a byte string), for messages. */
  current = '';

  constructor(
    private readonly limits: Required<Limits>,
    private readonly sink: EntrySink,
  ) {}

  private fail(rule: string): never {
    throw invalid(`${this.current === '' ? 'archive' : showEntryName(this.current)}: ${rule}`);
  }

  /**
   * Decode `chunk` (and extract its entries through the sink).
   * @param deadline a `performance.now()` time (ms): once it is past, return early, between two
   *   steps (a header, a piece of data), after at least one step; default never.
   * @returns how many bytes of `chunk` were consumed (all of them unless the deadline passed);
   *   the caller passes the rest again.
   * @throws JetpackError('invalid') for a broken rule (from here or the sink).
   */
  write(chunk: Buffer, deadline = Infinity): number {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (pos > 0 && deadline !== Infinity && performance.now() > deadline) return pos;
      switch (this.state) {
        case 'done':
          // Kept and hashed by the caller, never parsed; bounded so a huge tail is not stored.
          this.trailing += len - pos;
          if (this.trailing > this.limits.maxTrailingBytes) {
            throw invalid(`archive: more than ${this.limits.maxTrailingBytes} bytes after the end-of-archive blocks (limit)`);
          }
          return len;
        case 'header':
        case 'zero': {
          let block: Buffer;
          if (this.hdrFill === 0 && len - pos >= BLOCK) {
            block = chunk.subarray(pos, pos + BLOCK);
            pos += BLOCK;
          } else {
            const take = Math.min(BLOCK - this.hdrFill, len - pos);
            chunk.copy(this.hdr, this.hdrFill, pos, pos + take);
            this.hdrFill += take;
            pos += take;
            if (this.hdrFill < BLOCK) break;
            this.hdrFill = 0;
            block = this.hdr;
          }
          this.block(block);
          break;
        }
        case 'meta': {
          const take = Math.min(this.remain, len - pos);
          this.meta.push(Buffer.from(chunk.subarray(pos, pos + take)));
          this.remain -= take;
          pos += take;
          if (this.remain === 0) {
            this.endMeta();
            this.state = this.pad > 0 ? 'pad' : 'header';
          }
          break;
        }
        case 'data': {
          const take = Math.min(this.remain, len - pos);
          this.sink.data(chunk.subarray(pos, pos + take));
          this.remain -= take;
          pos += take;
          if (this.remain === 0) {
            this.sink.end();
            this.state = this.pad > 0 ? 'pad' : 'header';
          }
          break;
        }
        case 'skip': {
          const take = Math.min(this.remain, len - pos);
          this.remain -= take;
          pos += take;
          if (this.remain === 0) this.state = this.pad > 0 ? 'pad' : 'header';
          break;
        }
        case 'pad': {
          const take = Math.min(this.pad, len - pos);
          this.pad -= take;
          pos += take;
          if (this.pad === 0) this.state = 'header';
          break;
        }
      }
    }
    return len;
  }

  /** At EOF: refuse a truncated archive. */
  end(): void {
    switch (this.state) {
      case 'done':
      case 'zero':
        return;
      case 'header':
        if (this.hdrFill > 0) this.fail('archive truncated inside a header');
        if (this.pending !== null) this.fail('archive ends after an extended header');
        if (this.headers === 0) this.fail('empty archive');
        return this.fail('archive ends without its end-of-archive blocks (truncated?)');
      default:
        return this.fail(`archive truncated (${this.remain + this.pad} bytes of this entry missing)`);
    }
  }

  private setBody(size: number, state: 'meta' | 'data' | 'skip'): void {
    this.remain = size;
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    this.state = size > 0 ? state : 'header';
  }

  private block(block: Buffer): void {
    if (block.equals(ZERO_BLOCK)) {
      if (this.state === 'zero') {
        this.state = 'done';
        return;
      }
      if (this.pending !== null) this.fail('extended header not followed by an entry');
      this.state = 'zero';
      return;
    }
    if (this.state === 'zero') this.fail('data after an end-of-archive block');
    this.headers++;
    if (!checksumOk(block)) {
      this.current = cstring(block.subarray(0, 100)).toString('latin1');
      this.fail(`bad tar header checksum at entry ${this.headers}`);
    }
    const typeflag = String.fromCharCode(block[156] ?? 0);
    const magic = block.toString('latin1', 257, 265);
    const ustar = magic === 'ustar\u000000';
    const star = ustar && block.toString('latin1', 508, 512) === 'tar\u0000';
    let rawName = cstring(block.subarray(0, 100));
    if (ustar) {
      const prefix = cstring(block.subarray(345, star ? 476 : 500));
      if (prefix.length > 0) rawName = Buffer.concat([prefix, Buffer.from('/'), rawName]);
    }
    const p = this.pending;
    // Names and link names are byte strings (one char per byte): never decoded, so two names that
    // differ only in bytes that are not UTF-8 stay two names.
    const name = (p?.path ?? p?.gnuPath ?? rawName).toString('latin1');
    this.current = name;
    if (this.headers > this.limits.maxEntries) this.fail(`more than ${this.limits.maxEntries} entries (limit)`);
    let size: number;
    let mode: number;
    let uid: number;
    let gid: number;
    let mtime: number;
    try {
      size = parseNumber(block.subarray(124, 136), 'size');
      mode = parseNumber(block.subarray(100, 108), 'mode');
      uid = parseNumber(block.subarray(108, 116), 'uid');
      gid = parseNumber(block.subarray(116, 124), 'gid');
      mtime = parseNumber(block.subarray(136, 148), 'mtime');
    } catch (err) {
      return this.fail(errorMessage(err));
    }
    if (size < 0) this.fail('negative size');

    // Extended headers describe the next real entry.
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > this.limits.maxMetaBytes) this.fail(`extended header of ${size} bytes (limit ${this.limits.maxMetaBytes})`);
      if (typeflag === 'g') {
        // Global PAX headers are ignored, as rkt does (Go returns them as entries; rkt skips them).
        this.setBody(size, 'skip');
        return;
      }
      this.pending ??= { xattrs: new Map(), sparse: null, from: name };
      this.pending.from = name;
      this.metaType = typeflag;
      this.meta = [];
      this.setBody(size, 'meta');
      if (size === 0) this.endMeta();
      return;
    }

    const linkname = (p?.linkpath ?? p?.gnuLinkpath ?? cstring(block.subarray(157, 257))).toString('latin1');
    this.pending = null;
    if (p?.sparse != null) {
      if (p.sparseName !== undefined) this.current = p.sparseName.toString('latin1');
      this.fail(`sparse files are not supported (GNU sparse format ${p.sparse})`);
    }
    if (typeflag === 'S') this.fail('sparse files are not supported (old GNU sparse entry, type "S")');
    let kind: Entry['kind'];
    switch (typeflag) {
      case '0':
      case '7':
        kind = 'file';
        break;
      case '\0':
        kind = name.endsWith('/') ? 'dir' : 'file';
        break;
      case '1':
        kind = 'hardlink';
        break;
      case '2':
        kind = 'symlink';
        break;
      case '3':
        kind = 'char';
        break;
      case '4':
        kind = 'block';
        break;
      case '5':
        kind = 'dir';
        break;
      case '6':
        kind = 'fifo';
        break;
      default:
        return this.fail(`unsupported entry type ${JSON.stringify(typeflag)}`);
    }
    // Only regular files have data; Go's reader treats every other type as header-only.
    const dataSize = kind === 'file' ? (p?.size ?? size) : 0;
    const entry: Entry = {
      name,
      kind,
      size: dataSize,
      mode: mode & 0o7777,
      uid: p?.uid ?? uid,
      gid: p?.gid ?? gid,
      mtime: p?.mtime ?? mtime,
      linkname,
      xattrs: p?.xattrs ?? new Map(),
    };
    this.sink.begin(entry);
    if (dataSize === 0) {
      this.sink.end();
      this.state = 'header';
    } else {
      this.setBody(dataSize, 'data');
    }
  }

  private endMeta(): void {
    const body = Buffer.concat(this.meta);
    this.meta = [];
    const p = this.pending;
    if (p === null) return;
    try {
      if (this.metaType === 'x') parsePax(body, p);
      else if (this.metaType === 'L') p.gnuPath = Buffer.from(cstring(body));
      else if (this.metaType === 'K') p.gnuLinkpath = Buffer.from(cstring(body));
    } catch (err) {
      this.fail(errorMessage(err));
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Path model and extraction

type NodeType = 'dir' | 'implied' | 'file' | 'symlink' | 'special' | 'manifest';

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  xattrs: Map<string, Buffer>;
}

const sameXattrs = (a: Map<string, Buffer>, b: Map<string, Buffer>): boolean =>
  a.size === b.size && [...a].every(([k, v]) => b.get(k)?.equals(v) === true);

/**
 * Split and check a name (a byte string): drop `.` components and one trailing `/`; refuse
 * absolute names, `..` and empty components, components longer than NAME_MAX, and names beyond
 * the limits. Returns the components ([] for the root).
 * @throws Error with the broken rule as message.
 */
function components(name: string, limits: Required<Limits>): string[] {
  if (name === '') throw new Error('empty name');
  if (name.length > limits.maxPathLength) throw new Error(`name longer than ${limits.maxPathLength} bytes (limit)`);
  if (name.startsWith('/')) throw new Error('absolute name');
  const parts = (name.endsWith('/') ? name.slice(0, -1) : name).split('/');
  const out: string[] = [];
  for (const part of parts) {
    if (part === '..') throw new Error('name climbs out with ".."');
    if (part === '') throw new Error('empty path component ("//")');
    if (part.length > NAME_MAX) throw new Error(`path component longer than ${NAME_MAX} bytes (NAME_MAX)`);
    if (part !== '.') out.push(part);
  }
  if (out.length > limits.maxPathDepth) throw new Error(`name deeper than ${limits.maxPathDepth} components (limit)`);
  return out;
}

const isRoot = process.getuid?.() === 0;

/** A time for utimes: a Date, because Node turns a negative number of seconds into "now". */
const when = (seconds: number): Date => new Date(seconds * 1000);

interface ExtractorOptions {
  /** 'aci': top level is manifest + rootfs; 'rootfs': the whole archive is a root filesystem. */
  mode: 'aci' | 'rootfs';
  /** The directory the archive's names are relative to (ACI: the image dir; rootfs: the rootfs). */
  root: string;
  limits: Required<Limits>;
  warn: Warn;
}

class Extractor implements EntrySink {
  /** The real path of the root, as bytes. */
  private rootReal = Buffer.alloc(0);
  /** The path model: key (components joined with `/`, '' = root) → what this archive put there. */
  private readonly nodes = new Map<string, NodeType>();
  /** Directory keys whose real path was checked on disk. */
  private readonly verified = new Set<string>();
  /** Metadata of directories (and of the root in rootfs mode), applied at the end. */
  private readonly dirs = new Map<string, DirMeta>();
  /** Xattrs to apply at the end: key → (entry name, xattrs). */
  private readonly xattrs = new Map<string, { name: string; attrs: Map<string, Buffer> }>();
  /** The regular file being written: its descriptor (opened O_EXCL|O_NOFOLLOW), entry and key. */
  private file: { fd: number; entry: Entry; key: string } | null = null;
  private manifestChunks: Buffer[] | null = null;
  manifest: Buffer | null = null;
  private readonly skippedXattrs = new Set<string>();

  constructor(private readonly opt: ExtractorOptions) {}

  async init(): Promise<void> {
    await mkdir(this.opt.root, { recursive: true });
    this.rootReal = await realpath(this.opt.root, { encoding: 'buffer' });
    this.verified.add('');
  }

  /** The host path of a key, as bytes (keys are byte strings: names are never decoded). */
  private abs(key: string): Buffer {
    return key === '' ? this.rootReal : Buffer.concat([this.rootReal, Buffer.from(`/${key}`, 'latin1')]);
  }

  private refuse(entry: Entry | string, rule: string): never {
    throw invalid(`${showEntryName(typeof entry === 'string' ? entry : entry.name)}: ${rule}`);
  }

  /** Run a (synchronous) file-system step; wrap a failure so it names the entry. */
  private fs<T>(entry: Entry, op: () => T): T {
    try {
      return op();
    } catch (err) {
      if (err instanceof JetpackError) throw err;
      // The name passed every rule of the archive but is too long for this host's paths (the
      // image directory prefix counts towards PATH_MAX): a bad archive here, not a crash.
      if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG') this.refuse(entry, 'name too long for the file system (ENAMETOOLONG)');
      throw new JetpackError('internal', `${showEntryName(entry.name)}: ${errorMessage(err)}`);
    }
  }

  /** Second line of defence: the directory `key` must really be where the model says (no symlink anywhere on its path). */
  private verifyDir(entry: Entry, key: string): void {
    if (this.verified.has(key)) return;
    const abs = this.abs(key);
    let real: Buffer;
    try {
      // realpath(3) itself (the JS realpathSync walks the path with an lstat per component).
      real = realpathSync.native(abs, { encoding: 'buffer' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG') this.refuse(entry, 'name too long for the file system (ENAMETOOLONG)');
      throw new JetpackError('internal', `${showEntryName(entry.name)}: ${errorMessage(err)}`);
    }
    if (!real.equals(abs)) this.refuse(entry, `refusing to write through ${showEntryName(key)}, which resolves to ${showEntryName(real.toString('latin1'))}`);
    const st = this.fs(entry, () => lstatSync(abs));
    if (!st.isDirectory()) this.refuse(entry, `refusing to write under ${showEntryName(key)}, which is not a directory on disk`);
    this.verified.add(key);
  }

  /** Make room at `abs` for a new non-directory: an existing non-directory that this archive did not create is replaced (never followed). */
  private clearSpot(entry: Entry, abs: Buffer): void {
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return;
    if (st.isDirectory()) this.refuse(entry, 'a directory already exists at this path on disk');
    unlinkSync(abs);
  }

  /** Create a directory (mode 0700 until its metadata is applied at the end); an existing directory is kept, anything else replaced. */
  private makeDir(key: string): void {
    const abs = this.abs(key);
    try {
      mkdirSync(abs, 0o700);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!lstatSync(abs).isDirectory()) {
        unlinkSync(abs);
        mkdirSync(abs, 0o700);
      }
    }
  }

  /** Check the parents of `comps` in the model, then create the missing ones (0755, as rkt does). */
  private parents(entry: Entry, comps: string[]): string {
    const missing: string[] = [];
    for (let i = 1; i < comps.length; i++) {
      const key = comps.slice(0, i).join('/');
      const node = this.nodes.get(key);
      if (node === undefined) missing.push(key);
      else if (node === 'symlink') this.refuse(entry, `parent ${showEntryName(key)} is a symlink`);
      else if (node !== 'dir' && node !== 'implied') this.refuse(entry, `parent ${showEntryName(key)} is not a directory`);
    }
    for (const key of missing) {
      const parent = key.includes('/') ? key.slice(0, key.lastIndexOf('/')) : '';
      this.verifyDir(entry, parent);
      this.fs(entry, () => {
        this.makeDir(key);
        chmodSync(this.abs(key), 0o755);
      });
      this.nodes.set(key, 'implied');
    }
    const parent = comps.slice(0, -1).join('/');
    this.verifyDir(entry, parent);
    return parent;
  }

  private keepXattrs(key: string, entry: Entry): void {
    if (entry.xattrs.size === 0) return;
    const attrs = new Map<string, Buffer>();
    for (const [name, value] of entry.xattrs) {
      if (!xattrAllowed(name)) this.skippedXattrs.add(name);
      // dumpQuote escapes everything else for setfattr; a NUL cannot be in a name at all.
      else if (name.includes('\0')) this.refuse(entry, `unusable xattr name ${JSON.stringify(name)}`);
      else attrs.set(name, value);
    }
    if (attrs.size > 0) this.xattrs.set(key, { name: entry.name, attrs });
  }

  begin(entry: Entry): void {
    const { limits } = this.opt;
    let comps: string[];
    try {
      comps = components(entry.name, limits);
    } catch (err) {
      return this.refuse(entry, errorMessage(err));
    }
    if (entry.name.endsWith('/') && entry.kind !== 'dir') this.refuse(entry, 'name ends with "/" but the entry is not a directory');
    if (this.opt.mode === 'rootfs') {
      // A rootfs tarball is repacked into an ACI (pack.ts), which writes UTF-8 names only: refuse
      // here, naming the entry, rather than after extraction.
      if (!isUtf8(Buffer.from(entry.name, 'latin1'))) this.refuse(entry, 'name is not valid UTF-8 (a rootfs tarball is repacked, which needs UTF-8 names)');
      if (entry.kind === 'symlink' && !isUtf8(Buffer.from(entry.linkname, 'latin1'))) this.refuse(entry, 'symlink target is not valid UTF-8 (a rootfs tarball is repacked, which needs UTF-8 names)');
    }

    if (this.opt.mode === 'aci') {
      if (comps.length === 0) {
        // `.` / `./` at the top of an ACI is ignored (actool does too) but must be a directory.
        if (entry.kind !== 'dir') this.refuse(entry, 'the archive root must be a directory');
        return;
      }
      const top = comps[0];
      if (top === 'manifest' && comps.length === 1) return this.beginManifest(entry);
      if (top !== 'rootfs') this.refuse(entry, 'only "manifest" and "rootfs/..." may be in an ACI');
      if (comps.length === 1 && entry.kind !== 'dir') this.refuse(entry, 'rootfs must be a directory');
    }
    const key = comps.join('/');

    if (comps.length === 0) {
      // rootfs mode: `.` is the root itself.
      if (entry.kind !== 'dir') this.refuse(entry, 'the archive root must be a directory');
      return this.beginDir(entry, key, null);
    }

    const existing = this.nodes.get(key);
    if (existing !== undefined) {
      if (entry.kind === 'dir' && existing !== 'implied') {
        const prev = this.dirs.get(key);
        const same =
          existing === 'dir' &&
          prev !== undefined &&
          prev.mode === entry.mode &&
          prev.uid === entry.uid &&
          prev.gid === entry.gid &&
          prev.mtime === entry.mtime &&
          sameXattrs(prev.xattrs, entry.xattrs);
        if (same) return;
        this.refuse(entry, 'duplicate entry');
      }
      if (entry.kind !== 'dir') this.refuse(entry, existing === 'implied' ? 'duplicate entry (a directory is already there)' : 'duplicate entry');
    }

    switch (entry.kind) {
      case 'dir':
        return this.beginDir(entry, key, comps);
      case 'file':
        return this.beginFile(entry, key, comps);
      case 'hardlink':
        return this.beginHardlink(entry, key, comps);
      case 'symlink':
        return this.beginSymlink(entry, key, comps);
      case 'fifo':
        return this.beginFifo(entry, key, comps);
      case 'char':
      case 'block':
        this.parents(entry, comps);
        this.nodes.set(key, 'special');
        this.opt.warn(`${showEntryName(entry.name)}: ${entry.kind} device skipped`);
        return;
    }
  }

  private beginManifest(entry: Entry): void {
    if (entry.kind !== 'file') this.refuse(entry, 'manifest must be a regular file');
    if (this.nodes.has('manifest')) this.refuse(entry, 'duplicate entry');
    if (entry.size > this.opt.limits.maxManifestBytes) this.refuse(entry, `manifest larger than ${this.opt.limits.maxManifestBytes} bytes (limit)`);
    this.nodes.set('manifest', 'manifest');
    this.manifestChunks = [];
  }

  private beginDir(entry: Entry, key: string, comps: string[] | null): void {
    if (comps !== null) {
      this.parents(entry, comps);
      if (this.nodes.get(key) !== 'implied') this.fs(entry, () => this.makeDir(key));
    } else if (this.dirs.has(key)) {
      const prev = this.dirs.get(key);
      const same = prev !== undefined && prev.mode === entry.mode && prev.uid === entry.uid && prev.gid === entry.gid && prev.mtime === entry.mtime;
      if (!same) this.refuse(entry, 'duplicate entry');
      return;
    }
    this.nodes.set(key, 'dir');
    this.dirs.set(key, { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime, xattrs: entry.xattrs });
    this.keepXattrs(key, entry);
  }

  private beginFile(entry: Entry, key: string, comps: string[]): void {
    this.parents(entry, comps);
    const abs = this.abs(key);
    const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
    const fd = this.fs(entry, () => {
      try {
        return openSync(abs, flags, 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        this.clearSpot(entry, abs);
        return openSync(abs, flags, 0o600);
      }
    });
    this.nodes.set(key, 'file');
    this.file = { fd, entry, key };
    this.keepXattrs(key, entry);
  }

  private beginHardlink(entry: Entry, key: string, comps: string[]): void {
    const target = entry.linkname;
    let tcomps: string[];
    try {
      if (target.endsWith('/')) throw new Error('ends with "/"');
      tcomps = components(target, this.opt.limits);
    } catch (err) {
      return this.refuse(entry, `hardlink target ${showEntryName(target)}: ${errorMessage(err)}`);
    }
    const tkey = tcomps.join('/');
    const underRootfs = this.opt.mode === 'rootfs' || (tcomps[0] === 'rootfs' && tcomps.length > 1);
    if (!underRootfs || this.nodes.get(tkey) !== 'file') {
      const where = this.opt.mode === 'aci' ? ' under rootfs/' : '';
      this.refuse(entry, `hardlink target ${showEntryName(target)} is not a regular file extracted earlier${where}`);
    }
    this.parents(entry, comps);
    const abs = this.abs(key);
    this.fs(entry, () => {
      try {
        linkSync(this.abs(tkey), abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        this.clearSpot(entry, abs);
        linkSync(this.abs(tkey), abs);
      }
    });
    this.nodes.set(key, 'file');
    this.keepXattrs(key, entry);
  }

  private beginSymlink(entry: Entry, key: string, comps: string[]): void {
    const target = entry.linkname;
    if (target === '') this.refuse(entry, 'symlink with an empty target');
    if (target.length > this.opt.limits.maxPathLength) this.refuse(entry, `symlink target longer than ${this.opt.limits.maxPathLength} bytes (limit)`);
    this.parents(entry, comps);
    const abs = this.abs(key);
    this.fs(entry, () => {
      try {
        symlinkSync(Buffer.from(target, 'latin1'), abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        this.clearSpot(entry, abs);
        symlinkSync(Buffer.from(target, 'latin1'), abs);
      }
      if (isRoot) lchownSync(abs, entry.uid, entry.gid);
      lutimesSync(abs, when(entry.mtime), when(entry.mtime));
    });
    this.nodes.set(key, 'symlink');
  }

  private fifos = 0;

  /**
   * A FIFO: made by mkfifo(1) at a scratch name at the top of the (already verified) tree, which
   * argv can carry, then renamed to its place (rename(2) takes the name's bytes as
   * they are); then owner, mode (after chown) and mtime. Skipped with a warning when mkfifo cannot
   * run or the root's path is not UTF-8.
   */
  private beginFifo(entry: Entry, key: string, comps: string[]): void {
    this.parents(entry, comps);
    this.nodes.set(key, 'special');
    // The scratch name lies at the top of the tree being extracted (rootfs/ of an ACI), on the
    // same file system as every entry: on ZFS the image directory and its rootfs are not.
    const topKey = this.opt.mode === 'aci' ? 'rootfs' : '';
    this.verifyDir(entry, topKey);
    const top = this.abs(topKey);
    const rootText = top.toString('utf8');
    if (!Buffer.from(rootText, 'utf8').equals(top)) {
      this.opt.warn(`${showEntryName(entry.name)}: FIFO skipped (the image directory's path is not UTF-8)`);
      return;
    }
    const abs = this.abs(key);
    this.fs(entry, () => {
      let scratch: string;
      do scratch = `${rootText}/.jetpack-fifo-${process.pid}-${this.fifos++}`;
      while (lstatSync(scratch, { throwIfNoEntry: false }) !== undefined);
      const r = spawnSync('mkfifo', ['-m', '600', '--', scratch], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      if (r.error !== undefined || r.status !== 0) {
        const why = r.error !== undefined ? errorMessage(r.error) : r.stderr.trim().split('\n').pop() || `exit status ${String(r.status)}`;
        this.opt.warn(`${showEntryName(entry.name)}: FIFO skipped (mkfifo: ${why})`);
        return;
      }
      try {
        this.clearSpot(entry, abs);
        renameSync(scratch, abs);
      } finally {
        rmSync(scratch, { force: true });
      }
      if (isRoot) lchownSync(abs, entry.uid, entry.gid);
      // chmod follows a symlink, but this path was just renamed into a directory verified above.
      chmodSync(abs, entry.mode & 0o7777);
      lutimesSync(abs, when(entry.mtime), when(entry.mtime));
    });
  }

  data(chunk: Buffer): void {
    if (this.file !== null) {
      const { fd, entry } = this.file;
      this.fs(entry, () => {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      });
    } else if (this.manifestChunks !== null) {
      this.manifestChunks.push(Buffer.from(chunk));
    }
  }

  end(): void {
    if (this.file !== null) {
      const { fd, entry } = this.file;
      this.file = null;
      this.fs(entry, () => {
        try {
          if (isRoot) fchownSync(fd, entry.uid, entry.gid);
          // After chown, which clears setuid/setgid.
          fchmodSync(fd, entry.mode);
          futimesSync(fd, when(entry.mtime), when(entry.mtime));
        } finally {
          closeSync(fd);
        }
      });
    } else if (this.manifestChunks !== null) {
      this.manifest = Buffer.concat(this.manifestChunks);
      this.manifestChunks = null;
    }
  }

  /** Close what is open after a failure (the caller removes the tree). */
  abort(): void {
    const f = this.file;
    this.file = null;
    if (f === null) return;
    try {
      closeSync(f.fd);
    } catch {
      // Already failed; the caller removes the tree.
    }
  }

  /** After the last entry: check completeness, then apply xattrs and directory metadata. */
  async finish(): Promise<void> {
    if (this.opt.mode === 'aci') {
      if (this.nodes.get('rootfs') !== 'dir') this.refuse('rootfs', 'the archive has no rootfs directory entry');
      if (this.manifest === null) this.refuse('manifest', 'the archive has no manifest');
    }
    if (this.skippedXattrs.size > 0) {
      this.opt.warn(`xattrs not restored (only user.* and security.capability are): ${[...this.skippedXattrs].sort().join(', ')}`);
    }
    await this.applyXattrs();
    // Deepest first, so a directory made unsearchable does not hide its children (matters when not root).
    const dirs = [...this.dirs].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [key, meta] of dirs) {
      const abs = this.abs(key);
      try {
        // chmod follows symlinks: make sure the path is still the directory we made.
        if (!lstatSync(abs).isDirectory()) this.refuse(key || '.', 'no longer a directory on disk');
        if (isRoot) lchownSync(abs, meta.uid, meta.gid);
        chmodSync(abs, meta.mode);
        lutimesSync(abs, when(meta.mtime), when(meta.mtime));
      } catch (err) {
        if (err instanceof JetpackError) throw err;
        throw new JetpackError('internal', `${showEntryName(key || '.')}: ${errorMessage(err)}`);
      }
    }
  }

  private async applyXattrs(): Promise<void> {
    if (this.xattrs.size === 0) return;
    let dump = '';
    for (const [key, { name, attrs }] of this.xattrs) {
      const abs = this.abs(key);
      // Only regular files and directories still really at their place in the tree.
      const st = await lstat(abs).catch(() => null);
      const real = await realpath(abs, { encoding: 'buffer' }).catch(() => null);
      if (st === null || real === null || !real.equals(abs) || !(st.isFile() || st.isDirectory())) {
        this.opt.warn(`${showEntryName(name)}: xattrs not restored (not a regular file or directory inside the tree)`);
        continue;
      }
      dump += `# file: ${dumpQuote(abs)}\n`;
      for (const [attr, value] of attrs) dump += `${dumpQuote(attr)}=0s${value.toString('base64')}\n`;
      dump += '\n';
    }
    if (dump === '') return;
    let res;
    try {
      res = await execa('setfattr', ['-h', '--restore=-'], { input: dump, reject: false, stripFinalNewline: true });
    } catch (err) {
      this.opt.warn(`xattrs not restored: setfattr: ${errorMessage(err)}`);
      return;
    }
    if (res.failed) {
      const why = res.code === 'ENOENT' ? 'setfattr not found (install the attr package)' : String(res.stderr || res.shortMessage);
      this.opt.warn(`some xattrs were not restored: ${why}`);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Driver

/**
 * Writes a stream of chunks to a file behind the caller's back: chunks are queued and written
 * by one `writev` for everything queued since the last write, on libuv's thread pool, while the
 * caller goes on (the chunks must not be modified afterwards).
 */
class WriteBehind {
  private queue: Buffer[] = [];
  private queued = 0;
  private writing: Promise<void> | null = null;
  private failure: { err: unknown } | null = null;

  /**
   * @param fh the file, written at its current position.
   * @param limit bytes that may be queued (not yet handed to the kernel) before {@link write}
   *   asks the caller to wait.
   */
  constructor(
    private readonly fh: FileHandle,
    private readonly limit: number,
  ) {}

  /**
   * Queue `chunk`. @returns undefined, or a promise to await before queueing more when the queue
   *   is over its limit. @throws (the promise rejects with) the error of an earlier write.
   */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure !== null) return Promise.reject(this.failure.err);
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.writing ??= this.drain();
    return this.queued > this.limit ? this.settled() : undefined;
  }

  /** Wait until everything queued is written. @throws the error of any write. */
  async flush(): Promise<void> {
    await this.settled();
    if (this.failure !== null) throw this.failure.err;
  }

  /** Wait until no write is running (errors are kept for {@link flush}, not thrown). */
  async settled(): Promise<void> {
    while (this.writing !== null) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const bufs = this.queue;
        const total = this.queued;
        this.queue = [];
        this.queued = 0;
        const { bytesWritten } = await this.fh.writev(bufs);
        // libuv writes a regular file to the end; should the kernel stop short, finish plainly.
        const rest = Buffer.concat(bufs).subarray(bytesWritten, total);
        for (let off = 0; off < rest.length; ) off += (await this.fh.write(rest, off, rest.length - off)).bytesWritten;
      }
    } catch (err) {
      this.failure = { err };
      this.queue = [];
      this.queued = 0;
    } finally {
      this.writing = null;
    }
  }
}

/**
 * Longest stretch of synchronous extraction between two turns of the event loop, in ms. The
 * extraction's file-system calls are synchronous; while they run, nothing reads the decoder's
 * output (a child process writing into a socket that holds ~190 KiB, or zlib on the thread pool)
 * nor feeds its input. xz fills that socket in about 4 ms here (~50 MB/s), so a turn every
 * millisecond keeps it from ever waiting for us; a turn costs some 30 µs.
 */
const SLICE_MS = 1;

/** Let the event loop poll for I/O once (setImmediate runs after the poll phase). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Feed `tar` through the decoder into the extractor; hash and copy every byte on the way.
 * `onBytes` (the hash and the copy) sees each chunk before it is decoded; when it returns a
 * promise, that is settled before the next chunk and before returning or throwing. The event
 * loop gets a turn at least every {@link SLICE_MS} of decoding.
 */
async function pump(
  tar: Readable,
  decoder: TarDecoder,
  extractor: Extractor,
  limits: Required<Limits>,
  onBytes: ((chunk: Buffer) => Promise<void> | undefined) | null,
): Promise<number> {
  let size = 0;
  let copying: Promise<void> | undefined;
  let polled = performance.now();
  let asked = polled;
  try {
    for await (const c of tar) {
      // A chunk that was not already buffered came through a poll of the event loop.
      const now = performance.now();
      if (now - asked > 0.05) polled = now;
      const chunk = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
      size += chunk.length;
      if (size > limits.maxBytes) {
        const who = decoder.current === '' ? 'archive' : showEntryName(decoder.current);
        throw invalid(`${who}: more than ${limits.maxBytes} bytes of uncompressed data (limit)`);
      }
      copying = onBytes?.(chunk);
      for (let pos = decoder.write(chunk, polled + SLICE_MS); pos < chunk.length; pos += decoder.write(chunk.subarray(pos), polled + SLICE_MS)) {
        await turn();
        polled = performance.now();
      }
      await copying;
      copying = undefined;
      asked = performance.now();
    }
    decoder.end();
    await extractor.finish();
  } catch (err) {
    await copying?.catch(() => undefined);
    extractor.abort();
    tar.destroy();
    throw err;
  }
  return size;
}

/** Where {@link extractAci} puts an image. */
export interface AciDestination {
  /** The image directory: the tree goes to `dir/rootfs/...` and the manifest to `dir/manifest`. Created if missing; `dir/rootfs` may already exist as an empty directory (e.g. a mounted dataset) and is kept. */
  dir: string;
  /** Where to write the raw uncompressed tar, byte for byte (created or truncated). */
  tarPath: string;
  limits?: Limits;
  /** Where warnings go (skipped devices, skipped xattrs); default stderr. They are held back and delivered only when the archive was read to its end without error. */
  warn?: Warn;
}

/**
 * Read an ACI from its uncompressed tar stream in one pass: hash it, keep it, validate it and
 * extract its rootfs (rules in the module comment).
 *
 * @param tar the uncompressed tar bytes (e.g. `(await decompress(...)).stream`).
 * @param dest see {@link AciDestination}.
 * @returns `id`: the image ID, `sha512-` + 128 lowercase hex digits of the SHA-512 of every byte of
 *   the stream (appc spec/aci.md § Image ID); `size`: the uncompressed byte count; `manifest`: the
 *   manifest bytes exactly as archived (not validated here; also written to `dest.dir/manifest`).
 * @throws JetpackError('invalid') `<entry name>: <rule>` for a broken or hostile archive or a
 *   limit exceeded, or the decompressor's invalid error; JetpackError('internal') for filesystem
 *   failures. Reading stops at the first error; partial output is left for the caller to delete
 *   (`dest.dir` and `dest.tarPath`).
 */
export async function extractAci(tar: Readable, dest: AciDestination): Promise<{ id: string; size: number; manifest: Buffer }> {
  const limits = withDefaults(dest.limits);
  const held: string[] = [];
  const extractor = new Extractor({ mode: 'aci', root: dest.dir, limits, warn: (m) => held.push(m) });
  const decoder = new TarDecoder(limits, extractor);
  const hash = createHash('sha512');
  let raw: FileHandle;
  try {
    await extractor.init();
  } catch (err) {
    tar.destroy();
    throw new JetpackError('internal', `${dest.dir}: ${errorMessage(err)}`);
  }
  try {
    raw = await open(dest.tarPath, 'w', 0o644);
  } catch (err) {
    tar.destroy();
    throw new JetpackError('internal', `${dest.tarPath}: ${errorMessage(err)}`);
  }
  let size: number;
  const copy = new WriteBehind(raw, 16 * 1024 * 1024);
  try {
    const failed = (err: unknown): never => {
      throw new JetpackError('internal', `${dest.tarPath}: ${errorMessage(err)}`);
    };
    size = await pump(tar, decoder, extractor, limits, (chunk) => {
      hash.update(chunk);
      return copy.write(chunk)?.catch(failed);
    });
    await copy.flush().catch(failed);
  } finally {
    await copy.settled();
    await raw.close().catch(() => undefined);
  }
  const manifest = extractor.manifest ?? Buffer.alloc(0);
  await writeFile(`${dest.dir}/manifest`, manifest, { mode: 0o644, flag: fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW });
  // Warnings never precede a refusal: only an archive read to its end gets them.
  for (const m of held) (dest.warn ?? stderrWarn)(m);
  return { id: `sha512-${hash.digest('hex')}`, size, manifest };
}

/**
 * Extract a plain root-filesystem tarball (entries like `./bin/sh`, `bin/sh`, `.`; e.g. FreeBSD's
 * base.txz) into `rootfs`, with the same safety rules as {@link extractAci}: no absolute or `..`
 * names, nothing written through a symlink, hardlinks only to regular files extracted earlier,
 * no duplicates. A `.` entry sets the metadata of `rootfs` itself.
 *
 * @param tar the uncompressed tar bytes.
 * @param rootfs the directory to fill (created if missing; expected empty).
 * @param limits see {@link Limits}.
 * @param warn where warnings go; default stderr. Held back and delivered only on success.
 * @returns `size`: the uncompressed byte count.
 * @throws as {@link extractAci}.
 */
export async function extractRootfsTarball(tar: Readable, rootfs: string, limits?: Limits, warn?: Warn): Promise<{ size: number }> {
  const lim = withDefaults(limits);
  const held: string[] = [];
  const extractor = new Extractor({ mode: 'rootfs', root: rootfs, limits: lim, warn: (m) => held.push(m) });
  const decoder = new TarDecoder(lim, extractor);
  try {
    await extractor.init();
  } catch (err) {
    tar.destroy();
    throw new JetpackError('internal', `${rootfs}: ${errorMessage(err)}`);
  }
  const size = await pump(tar, decoder, extractor, lim, null);
  for (const m of held) (warn ?? stderrWarn)(m);
  return { size };
}
