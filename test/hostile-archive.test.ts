/**
 * Hostile archives (issue 5), made byte by byte by the tar writer below (no external fixtures, no
 * other tar writer): what python's tarfile or GNU tar cannot be made to write (repeated leading
 * slashes, names that are not UTF-8, GNU sparse entries of every format, base-256 sizes, truncated
 * extended headers, trailing data) is written here directly.
 *
 * Part 1 runs each archive through extractAci / extractRootfsTarball: refused with
 * JetpackError('invalid') whose one-line message names the entry and the rule, or extracted right;
 * a canary directory outside and /etc/passwd stay untouched either way.
 * Part 2 runs a selection through the real aci-import on both store drivers, limits set in
 * jetpack.conf included: exit 6 and one line on stderr (no warning before it), nothing written
 * outside, the store as it was; or exit 0 with the image as expected.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { decompress } from '../shared/src/archive/decompress.js';
import { extractAci, extractRootfsTarball, type Limits } from '../shared/src/archive/extract.js';
import { JetpackError } from '../shared/src/errors.js';
import { jp, listTree, makeStore, type TestStore } from './lib/fixtures.js';

// ------------------------------------------------------------------------------------------------
// A tar writer that writes exactly what it is told.

type Bytes = string | Buffer;
const enc = (s: Bytes): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
/** A name given as bytes written in hex-free form: `b('rootfs/a', 0xff)`. */
const b = (...parts: Array<string | number>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p, 'utf8'))));

function octal(buf: Buffer, off: number, len: number, n: number): void {
  buf.write(`${n.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
}

/** GNU base-256: high bit set, big-endian two's complement in the rest of the field. */
function base256(buf: Buffer, off: number, len: number, n: bigint): void {
  let x = n < 0n ? (1n << BigInt(len * 8)) + n : n;
  for (let i = len - 1; i >= 0; i--) {
    buf[off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  buf[off] = (buf[off] ?? 0) | 0x80;
}

interface Hdr {
  name: Bytes;
  /** The typeflag character. */
  type?: string;
  data?: Bytes;
  /** The size field, when it is not the data's length. */
  size?: number;
  /** A base-256 size field. */
  bigSize?: bigint;
  linkname?: Bytes;
  prefix?: Bytes;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  /** Old GNU magic (`ustar  \0`) instead of POSIX (`ustar\0` `00`). */
  gnu?: boolean;
  /** Change the block before its checksum is computed. */
  patch?: (block: Buffer) => void;
}

function header(h: Hdr, size: number): Buffer {
  const blk = Buffer.alloc(512);
  const type = h.type ?? '0';
  const name = enc(h.name);
  if (name.length > 100) throw new Error(`name field too long: ${name.length}`);
  name.copy(blk, 0);
  octal(blk, 100, 8, h.mode ?? (type === '5' ? 0o755 : 0o644));
  octal(blk, 108, 8, h.uid ?? 0);
  octal(blk, 116, 8, h.gid ?? 0);
  if (h.bigSize !== undefined) base256(blk, 124, 12, h.bigSize);
  else octal(blk, 124, 12, h.size ?? size);
  octal(blk, 136, 12, h.mtime ?? 1500000000);
  blk.write(type, 156, 1, 'latin1');
  enc(h.linkname ?? '').copy(blk, 157);
  blk.write(h.gnu === true ? 'ustar  \0' : 'ustar\u000000', 257, 8, 'latin1');
  blk.write('root', 265, 'latin1');
  blk.write('root', 297, 'latin1');
  octal(blk, 329, 8, h.devmajor ?? 0);
  octal(blk, 337, 8, h.devminor ?? 0);
  if (h.prefix !== undefined) enc(h.prefix).copy(blk, 345);
  h.patch?.(blk);
  blk.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of blk) sum += x;
  blk.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return blk;
}

const padded = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
const entry = (h: Hdr): Buffer => {
  const data = enc(h.data ?? '');
  return Buffer.concat([header(h, data.length), padded(data)]);
};

/** PAX records, each `"<len> <key>=<value>\n"` with the length counting itself. */
function paxBody(records: Array<[string, Bytes]>): Buffer {
  return Buffer.concat(
    records.map(([k, v]) => {
      const rest = Buffer.concat([Buffer.from(` ${k}=`, 'utf8'), enc(v), Buffer.from('\n')]);
      let len = rest.length + 1;
      while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
      return Buffer.concat([Buffer.from(String(len)), rest]);
    }),
  );
}
const pax = (records: Array<[string, Bytes]>, type = 'x'): Buffer => entry({ name: 'PaxHeaders.0/x', type, data: paxBody(records) });
const gnuLong = (name: Bytes, type: 'L' | 'K' = 'L'): Buffer => entry({ name: '././@LongLink', type, gnu: true, data: Buffer.concat([enc(name), Buffer.from([0])]) });
const file = (name: Bytes, data: Bytes = '', extra: Partial<Hdr> = {}): Buffer => entry({ name, data, ...extra });
const dir = (name: Bytes, extra: Partial<Hdr> = {}): Buffer => entry({ name, type: '5', ...extra });
const symlink = (name: Bytes, target: Bytes): Buffer => entry({ name, type: '2', linkname: target });
const hardlink = (name: Bytes, target: Bytes): Buffer => entry({ name, type: '1', linkname: target });
const END = Buffer.alloc(1024);
const tar = (...parts: Buffer[]): Buffer => Buffer.concat([...parts, END]);

const MANIFEST = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/hostile' });
const base = (): Buffer[] => [file('manifest', MANIFEST), dir('rootfs')];
/** An ACI: manifest, rootfs, then `parts`, then the end-of-archive blocks. */
const aci = (...parts: Buffer[]): Buffer => tar(...base(), ...parts);

// ------------------------------------------------------------------------------------------------
// Running archives through the extractor

const work = fs.mkdtempSync(path.join(tmpdir(), 'jp-hostile-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
let seq = 0;
const fresh = (name: string): string => path.join(work, `${name}-${++seq}`);

const canary = fs.mkdtempSync('/tmp/jp-canary-');
fs.writeFileSync(path.join(canary, 'keep'), 'canary\n');
t.teardown(() => fs.rmSync(canary, { recursive: true, force: true }));
const canaryRel = path.relative('/', canary);
const passwdBefore = fs.statSync('/etc/passwd');
function hostIntact(t: Test, what: string): void {
  t.same(fs.readdirSync(canary), ['keep'], `${what}: nothing written outside`);
  t.equal(fs.readFileSync(path.join(canary, 'keep'), 'utf8'), 'canary\n', `${what}: canary file untouched`);
  const p = fs.statSync('/etc/passwd');
  t.ok(p.nlink === passwdBefore.nlink && p.mtimeMs === passwdBefore.mtimeMs, `${what}: /etc/passwd untouched`);
}

/** Every path below `dir`, as raw bytes decoded latin1 (so nothing is merged). */
function treeBytes(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: Buffer, rel: string): void => {
    for (const n of fs.readdirSync(abs, { encoding: 'buffer' })) {
      const r = rel === '' ? n.toString('latin1') : `${rel}/${n.toString('latin1')}`;
      out.push(r);
      const a = Buffer.concat([abs, Buffer.from('/'), n]);
      if (fs.lstatSync(a).isDirectory()) walk(a, r);
    }
  };
  walk(Buffer.from(dir), '');
  return out.sort();
}

interface Outcome {
  dir: string;
  err?: JetpackError;
  warnings: string[];
  id?: string;
}

async function extract(bytes: Buffer, opts: { limits?: Limits; mode?: 'aci' | 'rootfs'; chunk?: number } = {}): Promise<Outcome> {
  const dir = fresh('img');
  const warnings: string[] = [];
  const size = opts.chunk ?? 65536;
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  try {
    const { stream } = await decompress(Readable.from(chunks, { objectMode: false }), 'test.aci');
    if (opts.mode === 'rootfs') {
      await extractRootfsTarball(stream, path.join(dir, 'rootfs'), opts.limits, (m) => warnings.push(m));
      return { dir, warnings };
    }
    const r = await extractAci(stream, { dir, tarPath: `${dir}.tar`, limits: opts.limits, warn: (m) => warnings.push(m) });
    return { dir, warnings, id: r.id };
  } catch (e) {
    if (!(e instanceof JetpackError)) throw e;
    return { dir, warnings, err: e };
  }
}

async function refused(t: Test, what: string, bytes: Buffer, re: RegExp, opts: { limits?: Limits; mode?: 'aci' | 'rootfs' } = {}): Promise<Outcome> {
  const o = await extract(bytes, opts);
  t.equal(o.err?.kind, 'invalid', `${what}: refused as invalid (${o.err?.message ?? 'accepted'})`);
  t.match(o.err?.message ?? '', re, `${what}: the message names the entry and the rule`);
  t.notOk((o.err?.message ?? '').includes('\n'), `${what}: one line`);
  t.same(o.warnings, [], `${what}: no warning before the refusal`);
  hostIntact(t, what);
  return o;
}

async function accepted(t: Test, what: string, bytes: Buffer, opts: { limits?: Limits; mode?: 'aci' | 'rootfs' } = {}): Promise<Outcome> {
  const o = await extract(bytes, opts);
  t.equal(o.err, undefined, `${what}: accepted${o.err ? ` (${o.err.message})` : ''}`);
  hostIntact(t, what);
  return o;
}

// ------------------------------------------------------------------------------------------------
// Part 1: the extractor

t.test('the writer makes archives the extractor reads back', async (t) => {
  const o = await accepted(t, 'plain', aci(dir('rootfs/etc'), file('rootfs/etc/hosts', 'hosts\n'), symlink('rootfs/l', 'etc/hosts'), hardlink('rootfs/h', 'rootfs/etc/hosts')));
  const r = path.join(o.dir, 'rootfs');
  t.equal(fs.readFileSync(path.join(r, 'etc/hosts'), 'utf8'), 'hosts\n');
  t.equal(fs.readlinkSync(path.join(r, 'l')), 'etc/hosts');
  t.equal(fs.statSync(path.join(r, 'h')).ino, fs.statSync(path.join(r, 'etc/hosts')).ino);
});

t.test('absolute and climbing names, also after normalisation and with repeated slashes', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['two leading slashes', aci(file('//rootfs/x', 'x')), /^\/\/rootfs\/x: absolute name$/],
    ['three leading slashes to /etc', aci(file('///etc/pwned', 'x')), /^\/\/\/etc\/pwned: absolute name$/],
    ['a lone slash', aci(dir('/')), /^\/: absolute name$/],
    ['.. hidden behind ./ and a dir', aci(file('./rootfs/./a/../../../x', 'x')), /^\.\/rootfs\/\.\/a\/\.\.\/\.\.\/\.\.\/x: name climbs out with "\.\."$/],
    ['.. right after rootfs', aci(file(`rootfs/../../../../../../../../${canaryRel}/pwned`, 'x')), /pwned: name climbs out with "\.\."$/],
    ['a trailing ..', aci(dir('rootfs/a/..')), /^rootfs\/a\/\.\.\/?: name climbs out/],
    ['// inside a name', aci(file('rootfs/a//b', 'x')), /^rootfs\/a\/\/b: empty path component/],
    ['PAX path with leading slashes', aci(pax([['path', `//${canaryRel}/pwned`]]), file('rootfs/harmless', 'x')), /pwned: absolute name$/],
    ['GNU long name climbing out', aci(gnuLong(`rootfs/${'d/'.repeat(60)}${'../'.repeat(70)}${canaryRel}/pwned`), file('rootfs/harmless', 'x')), /pwned: name climbs out with "\.\."$/],
    ['ustar prefix climbing out', aci(file('pwned', 'x', { prefix: `rootfs/../../../../${canaryRel}` })), /pwned: name climbs out with "\.\."$/],
    ['hardlink target with leading slashes', aci(hardlink('rootfs/h', '//etc/passwd')), /^rootfs\/h: hardlink target \/\/etc\/passwd: absolute name$/],
    ['hardlink target climbing after normalisation', aci(file('rootfs/f', 'f'), hardlink('rootfs/h', 'rootfs/./f/../../../etc/passwd')), /^rootfs\/h: hardlink target .*climbs out/],
    ['GNU long link name to /etc/passwd', aci(gnuLong('//etc/passwd', 'K'), hardlink('rootfs/h', 'rootfs/f')), /^rootfs\/h: hardlink target \/\/etc\/passwd: absolute name$/],
  ];
  for (const [what, bytes, re] of cases) await refused(t, what, bytes, re);
  // Normalisation that stays inside is fine: `./`, `.` and one trailing `/`.
  const o = await accepted(t, 'dots that stay inside', aci(dir('./rootfs/./a/'), file('rootfs/a/./f', 'f'), hardlink('./rootfs/./h', './rootfs/a/f')));
  t.equal(fs.statSync(path.join(o.dir, 'rootfs/h')).ino, fs.statSync(path.join(o.dir, 'rootfs/a/f')).ino);
});

t.test('writing through a symlink the archive made', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['a file under a symlink to a dir inside', aci(dir('rootfs/d'), symlink('rootfs/l', 'd'), file('rootfs/l/f', 'x')), /^rootfs\/l\/f: parent rootfs\/l is a symlink$/],
    ['a dir under a symlink to /', aci(symlink('rootfs/root', '/'), dir(`rootfs/root/${canaryRel}/pwned`)), /^rootfs\/root\/.*pwned: parent rootfs\/root is a symlink$/],
    ['a hardlink under a symlink', aci(file('rootfs/f', 'f'), symlink('rootfs/l', canary), hardlink('rootfs/l/h', 'rootfs/f')), /^rootfs\/l\/h: parent rootfs\/l is a symlink$/],
    ['a hardlink whose target is reached through a symlink', aci(symlink('rootfs/etc', '/etc'), hardlink('rootfs/p', 'rootfs/etc/passwd')), /^rootfs\/p: hardlink target rootfs\/etc\/passwd is not a regular file extracted earlier under rootfs\/$/],
    ['a symlink chain, then a file', aci(symlink('rootfs/a', 'b'), symlink('rootfs/b', canary), file('rootfs/a/pwned', 'x')), /^rootfs\/a\/pwned: parent rootfs\/a is a symlink$/],
    ['a symlink over the rootfs itself', aci(symlink('rootfs/', canary)), /^rootfs\/: (duplicate entry|name ends with)/],
    ['a symlink then a dir of the same name', aci(symlink('rootfs/l', canary), dir('rootfs/l'), file('rootfs/l/pwned', 'x')), /^rootfs\/l\/?: duplicate entry$/],
    ['a symlink under a symlink (PAX path)', aci(symlink('rootfs/l', canary), pax([['path', 'rootfs/l/s']]), symlink('rootfs/x', '/')), /^rootfs\/l\/s: parent rootfs\/l is a symlink$/],
  ];
  for (const [what, bytes, re] of cases) await refused(t, what, bytes, re);
});

t.test('hardlinks outside the rootfs or never in the archive; a directory replaced midway', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['hardlink to the archive root', aci(hardlink('rootfs/h', '.')), /^rootfs\/h: hardlink target \. is not a regular file/],
    ['hardlink to rootfs itself', aci(hardlink('rootfs/h', 'rootfs')), /^rootfs\/h: hardlink target rootfs is not a regular file/],
    ['hardlink to a device skipped earlier', aci(entry({ name: 'rootfs/null', type: '3', devmajor: 1, devminor: 3 }), hardlink('rootfs/h', 'rootfs/null')), /^rootfs\/h: hardlink target rootfs\/null is not/],
    ['hardlink to itself', aci(hardlink('rootfs/h', 'rootfs/h')), /^rootfs\/h: hardlink target rootfs\/h is not/],
    ['hardlink to an implied dir', aci(file('rootfs/d/f', 'f'), hardlink('rootfs/h', 'rootfs/d')), /^rootfs\/h: hardlink target rootfs\/d is not/],
    ['a dir replaced by a file midway', aci(dir('rootfs/d'), file('rootfs/d/a', 'a'), file('rootfs/d', 'x'), file('rootfs/d/b', 'b')), /^rootfs\/d: duplicate entry/],
    ['a dir replaced by a hardlink midway', aci(file('rootfs/f', 'f'), dir('rootfs/d'), hardlink('rootfs/d', 'rootfs/f')), /^rootfs\/d: duplicate entry/],
  ];
  for (const [what, bytes, re] of cases) await refused(t, what, bytes, re);
});

t.test('duplicates: identical directories pass, anything else is refused', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['a file twice, same content', aci(file('rootfs/f', 'x'), file('rootfs/f', 'x')), /^rootfs\/f: duplicate entry$/],
    ['a file, then a dir', aci(file('rootfs/f', 'x'), dir('rootfs/f')), /^rootfs\/f: duplicate entry$/],
    ['a symlink twice, same target', aci(symlink('rootfs/l', 'a'), symlink('rootfs/l', 'a')), /^rootfs\/l: duplicate entry$/],
    ['a hardlink twice', aci(file('rootfs/f', 'x'), hardlink('rootfs/h', 'rootfs/f'), hardlink('rootfs/h', 'rootfs/f')), /^rootfs\/h: duplicate entry$/],
    ['a FIFO, then a file', aci(entry({ name: 'rootfs/p', type: '6' }), file('rootfs/p', 'x')), /^rootfs\/p: duplicate entry$/],
    ['a dir twice, other owner', aci(dir('rootfs/d'), dir('rootfs/d', { uid: 1 })), /^rootfs\/d: duplicate entry$/],
    ['a dir twice, other xattrs', aci(dir('rootfs/d'), pax([['SCHILY.xattr.user.a', 'b']]), dir('rootfs/d')), /^rootfs\/d: duplicate entry$/],
    ['rootfs twice, other mode', aci(dir('rootfs', { mode: 0o700 })), /^rootfs: duplicate entry$/],
  ];
  for (const [what, bytes, re] of cases) await refused(t, what, bytes, re);
  const o = await accepted(t, 'identical dirs, spelled three ways', aci(dir('rootfs/d', { mode: 0o750 }), dir('./rootfs/d/', { mode: 0o750 }), dir('rootfs/./d', { mode: 0o750 }), dir('rootfs')));
  t.equal(fs.statSync(path.join(o.dir, 'rootfs/d')).mode & 0o7777, 0o750);
});

t.test('top level: only manifest and rootfs; a manifest below rootfs is just a file', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['an extra file', aci(file('etc/passwd', 'x')), /^etc\/passwd: only "manifest" and "rootfs\/\.\.\." may be in an ACI$/],
    ['an extra dir', aci(dir('tmp')), /^tmp\/?: only "manifest"/],
    ['an extra symlink', aci(symlink('evil', '/')), /^evil: only "manifest"/],
    ['MANIFEST in capitals', aci(file('MANIFEST', '{}')), /^MANIFEST: only "manifest"/],
    ['the manifest as a directory', tar(dir('manifest'), dir('rootfs')), /^manifest\/?: manifest must be a regular file$/],
    ['only a deep manifest', tar(dir('rootfs'), dir('rootfs/a'), file('rootfs/a/manifest', MANIFEST)), /^manifest: the archive has no manifest$/],
  ];
  for (const [what, bytes, re] of cases) await refused(t, what, bytes, re);
  const deep = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/decoy' });
  const o = await accepted(t, 'decoy manifests below rootfs', tar(dir('rootfs'), file('rootfs/manifest', deep), file('rootfs/a/manifest', deep), file('./manifest', MANIFEST)));
  t.equal(fs.readFileSync(path.join(o.dir, 'manifest'), 'utf8'), MANIFEST, 'the top-level manifest is the one taken');
  t.equal(fs.readFileSync(path.join(o.dir, 'rootfs/manifest'), 'utf8'), deep, 'rootfs/manifest is an ordinary file');
});

t.test('devices: skipped with a warning, never fatal, never before a refusal; FIFOs: made', async (t) => {
  const nodes = [
    entry({ name: 'rootfs/dev/null', type: '3', devmajor: 1, devminor: 3 }),
    entry({ name: 'rootfs/dev/sda', type: '4', devmajor: 8, devminor: 0, mode: 0o666 }),
    entry({ name: 'rootfs/run/fifo', type: '6' }),
  ];
  const ok = await accepted(t, 'device nodes', aci(...nodes, file('rootfs/ok', 'ok')));
  t.same(ok.warnings, ['rootfs/dev/null: char device skipped', 'rootfs/dev/sda: block device skipped']);
  t.same(treeBytes(path.join(ok.dir, 'rootfs')), ['dev', 'ok', 'run', 'run/fifo'], 'no device node made; the FIFO is there');
  t.ok(fs.lstatSync(path.join(ok.dir, 'rootfs/run/fifo')).isFIFO(), 'run/fifo is a FIFO');
  // A refusal after the devices: the warnings are dropped with the image.
  await refused(t, 'devices, then a bad entry', aci(...nodes, file('rootfs/../x', 'x')), /^rootfs\/\.\.\/x: name climbs out/);
  await refused(t, 'devices, then a truncated end', aci(...nodes).subarray(0, -1024), /archive ends without its end-of-archive blocks/);
  const rootfs = await extract(tar(dir('.'), entry({ name: './dev/zero', type: '3', devmajor: 1, devminor: 5 }), file('./../x', 'x')), { mode: 'rootfs' });
  t.match(rootfs.err?.message, /^\.\/\.\.\/x: name climbs out/);
  t.same(rootfs.warnings, [], 'rootfs tarball: no warning before the refusal either');
});

/** Every path in `dir` containing `GNUSparseFile`. */
const sparseLeftovers = (d: string): string[] => (fs.existsSync(d) ? treeBytes(d).filter((p) => p.includes('GNUSparseFile')) : []);

t.test('GNU sparse files of every format are refused, never extracted as GNUSparseFile.N/', async (t) => {
  const data = Buffer.alloc(512, 0x61);
  // Old GNU format: type S, sparse map in the header (offset 386: offset/numbytes pairs; 483: real size).
  const oldGnu = entry({
    name: 'rootfs/sparse-S',
    type: 'S',
    gnu: true,
    data,
    patch: (blk) => {
      octal(blk, 386, 12, 1024 * 1024);
      octal(blk, 398, 12, 512);
      octal(blk, 483, 12, 1024 * 1024 + 512);
    },
  });
  const real = 'rootfs/sparse-real';
  const cases: Array<[string, Buffer, RegExp]> = [
    ['old GNU type S', aci(oldGnu), /^rootfs\/sparse-S: sparse files are not supported \(old GNU sparse entry, type "S"\)$/],
    [
      'PAX 0.0 (offset/numbytes records)',
      aci(pax([['GNU.sparse.size', '1049088'], ['GNU.sparse.numblocks', '1'], ['GNU.sparse.offset', '1048576'], ['GNU.sparse.numbytes', '512']]), file('rootfs/sparse-00', data)),
      /^rootfs\/sparse-00: sparse files are not supported \(GNU sparse format 0\.0\)$/,
    ],
    [
      'PAX 0.1 (map)',
      aci(pax([['GNU.sparse.size', '1049088'], ['GNU.sparse.numblocks', '1'], ['GNU.sparse.map', '1048576,512']]), file('rootfs/sparse-01', data)),
      /^rootfs\/sparse-01: sparse files are not supported \(GNU sparse format 0\.1\)$/,
    ],
    [
      'PAX 1.0 (map in the data, GNUSparseFile.N name)',
      aci(
        pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', real], ['GNU.sparse.realsize', '1049088']]),
        file('rootfs/GNUSparseFile.4242/sparse-real', Buffer.concat([padded(Buffer.from('1\n1048576\n512\n')), data])),
      ),
      /^rootfs\/sparse-real: sparse files are not supported \(GNU sparse format 1\.0\)$/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    const o = await refused(t, what, bytes, re);
    t.same(sparseLeftovers(o.dir), [], `${what}: no GNUSparseFile directory`);
  }
  const o = await refused(t, 'PAX 1.0 in a rootfs tarball', tar(pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', './big']]), file('./GNUSparseFile.1/big', data)), /^\.\/big: sparse files are not supported/, { mode: 'rootfs' });
  t.same(sparseLeftovers(o.dir), []);
});

t.test('long names, PAX headers, binary xattrs', async (t) => {
  const d150 = `rootfs/${'p'.repeat(140)}`;
  const long = `rootfs/${'x'.repeat(200)}/${'y'.repeat(250)}/${'z'.repeat(250)}`;
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
  const weird = Buffer.from([0x00, 0xff, 0x0a, 0x3d, 0x5c, 0x20, 0x80, 0x00]);
  const o = await accepted(
    t,
    'long names and xattrs',
    aci(
      file(`${'n'.repeat(99)}`, 'ustar name', { prefix: d150 }),
      gnuLong(`rootfs/${'g'.repeat(230)}`),
      file('rootfs/ignored-gnu', 'gnu long name'),
      pax([['path', long]]),
      file('rootfs/ignored-pax', 'pax long name'),
      gnuLong(`rootfs/${'k'.repeat(240)}`),
      gnuLong('t'.repeat(300), 'K'),
      symlink('rootfs/ignored-link', 'x'),
      pax([
        ['SCHILY.xattr.security.capability', cap],
        ['SCHILY.xattr.user.weird', weird],
        ['LIBARCHIVE.xattr.user.b64', Buffer.from([1, 2, 0, 255]).toString('base64')],
      ]),
      file('rootfs/capf', 'caps'),
    ),
  );
  const r = path.join(o.dir, 'rootfs');
  t.equal(fs.readFileSync(path.join(r, 'p'.repeat(140), 'n'.repeat(99)), 'utf8'), 'ustar name', 'ustar prefix + name (248 bytes)');
  t.equal(fs.readFileSync(path.join(r, 'g'.repeat(230)), 'utf8'), 'gnu long name', 'GNU long name');
  t.equal(fs.readFileSync(path.join(o.dir, long), 'utf8'), 'pax long name', 'PAX path of 714 bytes');
  t.equal(fs.readlinkSync(path.join(r, 'k'.repeat(240))), 't'.repeat(300), 'GNU long link name');
  const hex = (name: string): string => execFileSync('getfattr', ['--only-values', '-n', name, path.join(r, 'capf')]).toString('hex');
  t.equal(hex('security.capability'), cap.toString('hex'), 'security.capability byte for byte');
  t.equal(hex('user.weird'), weird.toString('hex'), 'NUL, 0xff, newline, "=", backslash kept');
  t.equal(hex('user.b64'), '010200ff', 'LIBARCHIVE base64 xattr');
  t.same(o.warnings, []);
});

t.test('names that are not UTF-8: kept as bytes, never merged', async (t) => {
  const fffd = b('rootfs/a', 0xef, 0xbf, 0xbd); // U+FFFD, what a lossy decoder makes of any bad byte
  const o = await accepted(
    t,
    'latin1 and broken names',
    aci(
      file(b('rootfs/a', 0xff), 'ff'),
      file(b('rootfs/a', 0xfe), 'fe'),
      file(fffd, 'fffd'),
      dir(b('rootfs/d', 0xe9)),
      file(b('rootfs/d', 0xe9, '/caf', 0xe9), 'latin1 café'),
      symlink('rootfs/s', b('target-', 0x80)),
      hardlink(b('rootfs/h', 0xff), b('rootfs/a', 0xff)),
      pax([['path', b('rootfs/pax-', 0xc0, 0xaf)]]),
      file('rootfs/ignored', 'overlong slash'),
    ),
  );
  const r = path.join(o.dir, 'rootfs');
  const names = treeBytes(r);
  t.same(
    names,
    [b('a', 0xef, 0xbf, 0xbd), b('a', 0xfe), b('a', 0xff), b('d', 0xe9), b('d', 0xe9, '/caf', 0xe9), b('h', 0xff), b('pax-', 0xc0, 0xaf), b('s')].map((x) => x.toString('latin1')).sort(),
    'eight names, each as archived',
  );
  const at = (...parts: Array<string | number>): Buffer => Buffer.concat([Buffer.from(`${r}/`), b(...parts)]);
  t.equal(fs.readFileSync(at('a', 0xff), 'utf8'), 'ff');
  t.equal(fs.readFileSync(at('a', 0xfe), 'utf8'), 'fe');
  t.equal(fs.readFileSync(at('a', 0xef, 0xbf, 0xbd), 'utf8'), 'fffd');
  t.equal(fs.readFileSync(at('d', 0xe9, '/caf', 0xe9), 'utf8'), 'latin1 café');
  t.ok(fs.readlinkSync(at('s'), { encoding: 'buffer' }).equals(b('target-', 0x80)), 'symlink target bytes kept');
  t.equal(fs.statSync(at('h', 0xff)).ino, fs.statSync(at('a', 0xff)).ino, 'hardlink between byte names');
  // Duplicates are decided on bytes too.
  await refused(t, 'the same bytes twice', aci(file(b('rootfs/a', 0xff), '1'), file(b('rootfs/./a', 0xff), '2')), /^"rootfs\/\.\/a\\xff": duplicate entry$/);
  await refused(t, 'a bad name climbing out', aci(file(b('rootfs/', 0xff, '/../../x'), 'x')), /^"rootfs\/\\xff\/\.\.\/\.\.\/x": name climbs out/);
  // A rootfs tarball is repacked into an ACI, which takes UTF-8 names only: refused up front.
  await refused(t, 'rootfs tarball with a latin1 name', tar(file(b('./caf', 0xe9), 'x')), /^"\.\/caf\\xe9": name is not valid UTF-8/, { mode: 'rootfs' });
  await refused(t, 'rootfs tarball with a latin1 symlink target', tar(symlink('./s', b('caf', 0xe9))), /^\.\/s: symlink target is not valid UTF-8/, { mode: 'rootfs' });
});

t.test('sizes beyond 8 GiB (base-256) are handled without allocating', async (t) => {
  const nine = 9n * 1024n ** 3n;
  const rssBefore = process.memoryUsage().rss;
  const trunc = (parts: Buffer[]): Buffer => Buffer.concat([...base(), ...parts]);
  await refused(t, '9 GiB file, stream cut after 4 KiB', trunc([file('rootfs/huge', Buffer.alloc(4096, 1), { bigSize: nine })]), /^rootfs\/huge: archive truncated \(9663672320 bytes of this entry missing\)$/);
  await refused(t, '9 GiB PAX size, stream cut', trunc([pax([['size', String(nine)]]), file('rootfs/huge', Buffer.alloc(512))]), /^rootfs\/huge: archive truncated \(\d+ bytes of this entry missing\)$/);
  await refused(t, '9 GiB manifest', trunc([file('manifest', '{}', { bigSize: nine })]).subarray(1024 + 512), /^manifest: manifest larger than 4194304 bytes \(limit\)$/);
  await refused(t, '9 GiB extended header', trunc([entry({ name: 'x', type: 'x', bigSize: nine })]), /extended header of 9663676416 bytes \(limit 1048576\)$/);
  await refused(t, 'negative base-256 size', aci(file('rootfs/neg', '', { bigSize: -1n })), /^rootfs\/neg: negative size$/);
  await refused(t, 'base-256 size beyond 2^53', aci(file('rootfs/big', '', { bigSize: 1n << 80n })), /^rootfs\/big: size out of range$/);
  t.ok(process.memoryUsage().rss - rssBefore < 512 * 1024 ** 2, 'no gigabytes allocated');
  // A base-256 size that is small is read right.
  const o = await accepted(t, 'base-256 size of 5 bytes', aci(file('rootfs/five', 'hello', { bigSize: 5n })));
  t.equal(fs.readFileSync(path.join(o.dir, 'rootfs/five'), 'utf8'), 'hello');
});

t.test('truncated streams, trailing garbage, corrupt compression', async (t) => {
  const good = aci(file('rootfs/a', 'a'.repeat(3000)));
  await refused(t, 'cut inside a PAX body', Buffer.concat([...base(), pax([['path', `rootfs/${'p'.repeat(600)}`]])]).subarray(0, 1536 + 512 + 300), /archive truncated \(\d+ bytes of this entry missing\)$/);
  await refused(t, 'cut right after a PAX header', Buffer.concat([...base(), pax([['path', 'rootfs/p']])]), /archive ends after an extended header$/);
  await refused(t, 'PAX header then end of archive', aci(pax([['path', 'rootfs/p']])), /extended header not followed by an entry$/);
  await refused(t, 'one zero block, then garbage', Buffer.concat([...base(), Buffer.alloc(512), file('rootfs/late', 'x'), END]), /data after an end-of-archive block$/);
  await refused(t, 'malformed PAX record', aci(pax([['path', 'x']]).fill(0x39, 512, 514), file('rootfs/a')), /malformed PAX record/);
  await refused(t, 'trailing garbage over the limit', Buffer.concat([good, Buffer.alloc(5000, 0x41)]), /^archive: more than 4096 bytes after the end-of-archive blocks \(limit\)$/, { limits: { maxTrailingBytes: 4096 } });
  await refused(t, '2 MiB of trailing zeros, default limit', Buffer.concat([good, Buffer.alloc(2 * 1024 * 1024)]), /^archive: more than 1048576 bytes after the end-of-archive blocks \(limit\)$/);
  const tail = Buffer.concat([good, Buffer.alloc(9216), Buffer.from('garbage')]);
  const o = await accepted(t, 'record padding and a short tail within the limit', tail);
  t.equal(fs.readFileSync(`${o.dir}.tar`).length, tail.length, 'kept byte for byte');
  const junk = Buffer.alloc(3000, 0x5a);
  const sh = (cmd: string, input: Buffer): Buffer => execFileSync(cmd, ['-c'], { input, maxBuffer: 1 << 26 });
  for (const [kind, packed] of [
    ['gzip', gzipSync(good)],
    ['bzip2', sh('bzip2', good)],
    ['xz', sh('xz', good)],
  ] as const) {
    await refused(t, `${kind} followed by garbage`, Buffer.concat([packed, junk]), new RegExp(`^test\\.aci: corrupt ${kind} data`));
    const cut = Buffer.from(packed.subarray(0, packed.length - 9));
    await refused(t, `${kind} cut short`, cut, new RegExp(`^test\\.aci: corrupt ${kind} data|archive truncated|end-of-archive`));
    const flipped = Buffer.from(packed);
    flipped.fill(0xa5, 20, 40);
    await refused(t, `${kind} with flipped bytes`, flipped, new RegExp(`^test\\.aci: corrupt ${kind} data`));
  }
});

t.test('limits: size, trailing data, entries, depth, length, NAME_MAX', async (t) => {
  const bomb = gzipSync(aci(file('rootfs/zeros', Buffer.alloc(32 * 1024 * 1024))));
  t.ok(bomb.length < 100_000, `a 32 MiB bomb in ${bomb.length} bytes`);
  await refused(t, 'gzip bomb', bomb, /^rootfs\/zeros: more than 1048576 bytes of uncompressed data \(limit\)$/, { limits: { maxBytes: 1024 * 1024 } });
  await refused(t, 'entries', aci(...Array.from({ length: 8 }, (_, i) => file(`rootfs/f${i}`))), /^rootfs\/f3: more than 5 entries \(limit\)$/, { limits: { maxEntries: 5 } });
  await refused(t, 'depth', aci(file(`rootfs/${'d/'.repeat(9)}f`)), /: name deeper than 8 components \(limit\)$/, { limits: { maxPathDepth: 8 } });
  await refused(t, 'length', aci(pax([['path', `rootfs/${'l'.repeat(100)}`]]), file('x')), /: name longer than 64 bytes \(limit\)$/, { limits: { maxPathLength: 64 } });
  await refused(t, 'symlink target length', aci(symlink('rootfs/s', 't'.repeat(80))), /^rootfs\/s: symlink target longer than 64 bytes \(limit\)$/, { limits: { maxPathLength: 64 } });
  await refused(t, 'a component of 256 bytes', aci(gnuLong(`rootfs/${'c'.repeat(256)}`), file('x')), /: path component longer than 255 bytes \(NAME_MAX\)$/);
  await refused(t, 'a hardlink target component of 256 bytes', aci(gnuLong(`rootfs/${'c'.repeat(256)}`, 'K'), hardlink('rootfs/h', 'x')), /^rootfs\/h: hardlink target .*: path component longer than 255 bytes/);
  const o = await accepted(t, 'a component of 255 bytes', aci(gnuLong(`rootfs/${'c'.repeat(255)}`), file('x', 'ok')));
  t.equal(fs.readFileSync(path.join(o.dir, 'rootfs', 'c'.repeat(255)), 'utf8'), 'ok');
  // Within every limit, but too long for a path below the image directory (PATH_MAX 4096).
  const deepName = `rootfs/${Array.from({ length: 16 }, (_, i) => `${i}`.padEnd(254, 'q')).join('/')}`;
  t.ok(deepName.length <= 4096 && path.join(work, 'img-99', deepName).length > 4096, 'the name fits the limit, its host path does not');
  await refused(t, 'a name the host cannot take', aci(pax([['path', deepName]]), file('x', 'x')), /: name too long for the file system \(ENAMETOOLONG\)$/);
});

// ------------------------------------------------------------------------------------------------
// Part 2: the real aci-import on both drivers

const depManifest = JSON.stringify({
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/child',
  dependencies: [{ imageName: 'example.com/base' }],
});
const badManifest = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/x', labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'x86_64' }] });
const devices = [entry({ name: 'rootfs/dev/null', type: '3', devmajor: 1, devminor: 3 }), entry({ name: b('rootfs/fifo', 0xfd), type: '6' })];

/** [what, archive bytes, extra jetpack.conf lines, the error's pattern] */
const IMPORT_CASES: Array<[string, Buffer, string, RegExp]> = [
  ['repeated leading slashes', aci(file(`//${canaryRel}/pwned`, 'x')), '', /: absolute name$/],
  ['.. after normalisation', aci(file(`./rootfs/./a/../../../../../../../../${canaryRel}/pwned`, 'x')), '', /pwned: name climbs out with "\.\."$/],
  ['a hardlink written through a symlink', aci(file('rootfs/f', 'f'), symlink('rootfs/l', canary), hardlink('rootfs/l/h', 'rootfs/f')), '', /^aci-import: rootfs\/l\/h: parent rootfs\/l is a symlink$/],
  ['a dir replaced by a symlink', aci(dir('rootfs/d'), symlink('rootfs/d', canary), file('rootfs/d/pwned', 'x')), '', /^aci-import: rootfs\/d: duplicate entry$/],
  ['a hardlink to a file never in the archive', aci(hardlink('rootfs/shadow', 'rootfs/etc/shadow')), '', /^aci-import: rootfs\/shadow: hardlink target rootfs\/etc\/shadow is not a regular file extracted earlier under rootfs\/$/],
  ['devices, then a refusal (no warning first)', aci(...devices, file('rootfs/../x', 'x')), '', /^aci-import: rootfs\/\.\.\/x: name climbs out/],
  ['devices, then an invalid manifest (no warning first)', tar(file('manifest', badManifest), dir('rootfs'), ...devices), '', /^aci-import: [^:]+: manifest: labels\[1\]\.value: /],
  ['an image with dependencies (not rendered: refused)', tar(file('manifest', depManifest), dir('rootfs'), symlink('rootfs/etc', canary)), '', /dependencies: images with dependencies are not supported yet$/],
  ['a GNU sparse 1.0 entry', aci(pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', 'rootfs/s']]), file('rootfs/GNUSparseFile.1/s', Buffer.alloc(1024))), '', /^aci-import: rootfs\/s: sparse files are not supported \(GNU sparse format 1\.0\)$/],
  ['a truncated 9 GiB entry', Buffer.concat([...base(), file('rootfs/huge', Buffer.alloc(2048), { bigSize: 9n * 1024n ** 3n })]), '', /^aci-import: rootfs\/huge: archive truncated/],
  ['a path component of 300 bytes', aci(gnuLong(`rootfs/${'c'.repeat(300)}`), file('x')), '', /: path component longer than 255 bytes \(NAME_MAX\)$/],
  ['a path too long for the store', aci(pax([['path', `rootfs/${Array.from({ length: 16 }, () => 'p'.repeat(250)).join('/')}`]]), file('x')), '', /: name too long for the file system \(ENAMETOOLONG\)$/],
  ['trailing data over images.import.maxTrailingBytes', Buffer.concat([aci(), Buffer.alloc(4096, 0x41)]), 'images.import.maxTrailingBytes = 2K', /^aci-import: archive: more than 2048 bytes after the end-of-archive blocks \(limit\)$/],
  ['a bomb over images.import.maxBytes', gzipSync(aci(file('rootfs/zeros', Buffer.alloc(8 * 1024 * 1024)))), 'images.import.maxBytes = 1M', /^aci-import: rootfs\/zeros: more than 1048576 bytes of uncompressed data \(limit\)$/],
  ['entries over images.import.maxEntries', aci(file('rootfs/a'), file('rootfs/b'), file('rootfs/c')), 'images.import.maxEntries = 3', /^aci-import: rootfs\/b: more than 3 entries \(limit\)$/],
  ['depth over images.import.maxPathDepth', aci(file('rootfs/a/b/c/d')), 'images.import.maxPathDepth = 4', /^aci-import: rootfs\/a\/b\/c\/d: name deeper than 4 components \(limit\)$/],
  ['length over images.import.maxPathLength', aci(file(`rootfs/${'x'.repeat(40)}`)), 'images.import.maxPathLength = 32', /: name longer than 32 bytes \(limit\)$/],
];

const ON_ZFS = new Set([
  'repeated leading slashes',
  'a hardlink written through a symlink',
  'devices, then an invalid manifest (no warning first)',
  'an image with dependencies (not rendered: refused)',
  'a truncated 9 GiB entry',
  'a path too long for the store',
  'trailing data over images.import.maxTrailingBytes',
]);

for (const driver of ['dir', 'zfs'] as const) {
  t.test(`aci-import of hostile archives on the ${driver} store`, async (t) => {
    t.ok([...ON_ZFS].every((w) => IMPORT_CASES.some(([what]) => what === w)), 'the zfs selection names real cases');
    const store = await makeStore(driver);
    t.teardown(store.cleanup);
    const conf = fs.readFileSync(store.config, 'utf8');
    t.equal((await jp(store, 'image-list', [])).exitCode, 0);
    const before = listTree(store.root);
    const archive = fresh('import.aci');
    for (const [what, bytes, extra, re] of IMPORT_CASES) {
      fs.writeFileSync(archive, bytes);
      // The rules do not depend on the driver: on zfs, a selection shows each failure point
      // (while extracting, after it, at a limit) leaves no dataset behind.
      if (driver === 'zfs' && !ON_ZFS.has(what)) continue;
      let s: TestStore = store;
      if (extra !== '') {
        const config = `${fresh('conf')}.conf`;
        fs.writeFileSync(config, `${conf}${extra}\n`);
        s = { ...store, config };
      }
      const r = await jp(s, 'aci-import', [archive]);
      t.equal(r.exitCode, 6, `${what}: exit 6`);
      t.match(r.stderr, /^aci-import: [^\n]+$/, `${what}: one line, nothing before it (${r.stderr})`);
      t.match(r.stderr, re, `${what}: names the entry and the rule`);
      t.equal(r.stdout, '', `${what}: nothing on stdout`);
      hostIntact(t, what);
      t.same(listTree(store.root), before, `${what}: the store is as it was (no half image)`);
    }

    // Accepted: device nodes give warnings on success only; names that are not UTF-8 stay bytes,
    // a FIFO's too.
    fs.writeFileSync(archive, aci(...devices, file('rootfs/ok', 'ok'), file(b('rootfs/a', 0xff), 'ff'), file(b('rootfs/a', 0xfe), 'fe')));
    const ok = await jp(store, 'aci-import', [archive]);
    t.equal(ok.exitCode, 0, `accepted (${ok.stderr})`);
    t.same(String(ok.stderr).trim().split('\n'), ['warning: rootfs/dev/null: char device skipped'], 'the warning, after success');
    const img = JSON.parse(String(ok.stdout)) as { rootfs: string; uuid: string };
    t.same(treeBytes(img.rootfs), ['a\xfe', 'a\xff', 'dev', 'fifo\xfd', 'ok'], 'three byte names, no device node');
    t.ok(fs.lstatSync(Buffer.concat([Buffer.from(`${img.rootfs}/`), b('fifo', 0xfd)])).isFIFO(), 'the FIFO, under its byte name');
    hostIntact(t, 'accepted image');
    t.equal((await jp(store, 'image-destroy', [img.uuid])).exitCode, 0);
  });
}
