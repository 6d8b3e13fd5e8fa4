/**
 * extractAci / extractRootfsTarball with real archives made by real tools: `actool build` (Debian
 * appc-spec 0.8.11), GNU tar (for xattrs, which actool does not archive), and a python3 tarfile
 * generator for hostile archives. Every hostile case checks the error names the entry and that a
 * canary directory outside the tree stayed untouched.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { decompress } from '../shared/src/archive/decompress.js';
import { extractAci, extractRootfsTarball, type Limits } from '../shared/src/archive/extract.js';
import { openSource } from '../shared/src/archive/source.js';
import { JetpackError } from '../shared/src/errors.js';

const work = fs.mkdtempSync(path.join(tmpdir(), 'jp-extract-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

const sh = (cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer =>
  execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30 });
const sha512 = (b: Buffer): string => createHash('sha512').update(b).digest('hex');
const sha512File = (p: string): string => sha512(fs.readFileSync(p));
let seq = 0;
const fresh = (name: string): string => path.join(work, `${name}-${++seq}`);

// ------------------------------------------------------------------------------------------------
// A layout with everything worth preserving.

const MANIFEST = Buffer.from(
  JSON.stringify({
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/archive-test',
    labels: [
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'amd64' },
    ],
  }),
);
const LONG_DIR = `d${'i'.repeat(70)}`;
const LONG_FILE = `f${'i'.repeat(60)}`;
const VERY_LONG = `${'a'.repeat(200)}/${'b'.repeat(200)}`;
const CAP = '0x0100000200200000000000000000000000000000'; // cap_net_raw+ep, as setcap writes it

function makeLayout(dir: string, withXattrs: boolean): void {
  const r = path.join(dir, 'rootfs');
  fs.mkdirSync(path.join(r, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'manifest'), MANIFEST);
  fs.copyFileSync('/bin/busybox', path.join(r, 'bin/busybox'));
  fs.chmodSync(path.join(r, 'bin/busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(r, 'bin/sh'));
  fs.symlinkSync('/nonexistent/absolute', path.join(r, 'bin/abs-link'));
  fs.linkSync(path.join(r, 'bin/busybox'), path.join(r, 'bin/ls'));
  fs.mkdirSync(path.join(r, 'usr/bin'), { recursive: true });
  fs.writeFileSync(path.join(r, 'usr/bin/suid'), '#!/bin/sh\necho suid\n');
  fs.chmodSync(path.join(r, 'usr/bin/suid'), 0o4755);
  fs.writeFileSync(path.join(r, 'usr/bin/sgid'), 'sgid\n');
  fs.chownSync(path.join(r, 'usr/bin/sgid'), 1234, 5678);
  fs.chmodSync(path.join(r, 'usr/bin/sgid'), 0o2750);
  fs.mkdirSync(path.join(r, 'etc'));
  fs.writeFileSync(path.join(r, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  fs.chownSync(path.join(r, 'etc'), 0, 42);
  fs.chmodSync(path.join(r, 'etc'), 0o750);
  fs.mkdirSync(path.join(r, 'home/user'), { recursive: true });
  fs.chownSync(path.join(r, 'home/user'), 1000, 1000);
  fs.chmodSync(path.join(r, 'home/user'), 0o700);
  fs.mkdirSync(path.join(r, 'tmp'));
  fs.chmodSync(path.join(r, 'tmp'), 0o1777);
  fs.mkdirSync(path.join(r, 'empty'));
  fs.writeFileSync(path.join(r, 'empty-file'), '');
  fs.writeFileSync(path.join(r, 'manifest'), 'not the manifest\n');
  fs.mkdirSync(path.join(r, LONG_DIR));
  fs.writeFileSync(path.join(r, LONG_DIR, LONG_FILE), 'long name\n');
  fs.mkdirSync(path.join(r, VERY_LONG.split('/')[0] as string));
  fs.writeFileSync(path.join(r, VERY_LONG), 'very long name\n');
  fs.writeFileSync(path.join(r, 'ünïcødé ☃'), 'unicode\n');
  fs.writeFileSync(path.join(r, 'capf'), 'capabilities\n');
  if (withXattrs) {
    sh('setfattr', ['-n', 'security.capability', '-v', CAP, path.join(r, 'capf')]);
    sh('setfattr', ['-n', 'user.x', '-v', '0x00ff0a0d3d5c', path.join(r, 'capf')]);
    sh('setfattr', ['-n', 'user.dir', '-v', 'on a directory', path.join(r, 'etc')]);
    sh('setfattr', ['-n', 'user.empty', path.join(r, 'empty-file')]);
  }
  // Distinct mtimes, children first so directory times stick.
  const all = sh('find', [r, '-depth', '-print0']).toString().split('\0').filter(Boolean);
  all.forEach((p, i) => sh('touch', ['-h', '-d', `@${1500000000 + i * 7}`, p]));
}

interface Node {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  sha?: string;
  target?: string;
  linkGroup?: string;
  xattrs?: Record<string, string>;
}

/** A comparable description of a tree: type, mode, owner, mtime, content, link targets, hardlink groups, xattrs (hex). */
function describe(root: string, withXattrs: boolean): Record<string, Node> {
  const out: Record<string, Node> = {};
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    const abs = rel === '' ? root : path.join(root, rel);
    const st = fs.lstatSync(abs);
    const n: Node = {
      type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other',
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      size: st.isFile() ? st.size : 0,
    };
    if (st.isFile()) {
      n.sha = sha512(fs.readFileSync(abs)).slice(0, 16);
      if (st.nlink > 1) {
        n.linkGroup = inodes.get(st.ino) ?? rel;
        inodes.set(st.ino, n.linkGroup);
      }
    }
    if (st.isSymbolicLink()) n.target = fs.readlinkSync(abs);
    out[rel === '' ? '.' : rel] = n;
    if (st.isDirectory()) for (const name of fs.readdirSync(abs).sort()) walk(rel === '' ? name : `${rel}/${name}`);
  };
  walk('');
  if (withXattrs) {
    const dump = sh('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root]).toString();
    let cur: Node | undefined;
    for (const line of dump.split('\n')) {
      if (line.startsWith('# file: ')) {
        const p = line.slice(8);
        cur = out[p === root ? '.' : path.relative(root, p)];
      } else if (line.includes('=') && cur) {
        const eq = line.indexOf('=');
        cur.xattrs ??= {};
        cur.xattrs[line.slice(0, eq)] = line.slice(eq + 1);
      }
    }
  }
  return out;
}

async function extractFile(file: string, dest: { dir: string; tarPath: string; limits?: Limits }) {
  const warnings: string[] = [];
  const { stream, compression } = await decompress(await openSource(file), file);
  const res = await extractAci(stream, { ...dest, warn: (m) => warnings.push(m) });
  return { ...res, compression, warnings };
}

// ------------------------------------------------------------------------------------------------
// Good archives

const layout = fresh('layout');
makeLayout(layout, false);
const plainAci = fresh('actool') + '.aci';
sh('actool', ['build', '--no-compression', layout, plainAci]);
const plainTar = fs.readFileSync(plainAci);

/** Compressed variants of a plain tar, made with the real tools. */
function variants(plain: string): Record<string, string> {
  const v: Record<string, string> = { none: plain };
  const data = fs.readFileSync(plain);
  v.gzip = `${plain}.gz.aci`;
  fs.writeFileSync(v.gzip, sh('gzip', ['-c', plain]));
  v['gzip-multi'] = `${plain}.gzm.aci`;
  const cut = 10_007; // not block aligned
  fs.writeFileSync(
    v['gzip-multi'],
    Buffer.concat([sh('gzip', ['-c'], { input: data.subarray(0, cut) }), sh('gzip', ['-c'], { input: data.subarray(cut, 200_000) }), sh('gzip', ['-c'], { input: data.subarray(200_000) })]),
  );
  v.bzip2 = `${plain}.bz2.aci`;
  fs.writeFileSync(v.bzip2, sh('bzip2', ['-c', plain]));
  v.xz = `${plain}.xz.aci`;
  fs.writeFileSync(v.xz, sh('xz', ['-c', plain]));
  v['xz-multiblock'] = `${plain}.xzb.aci`;
  fs.writeFileSync(v['xz-multiblock'], sh('xz', ['-c', '-T2', '--block-size=100000', plain]));
  return v;
}

t.test('actool-built ACI in every compression', async (t) => {
  const expectedId = `sha512-${sha512(plainTar)}`;
  t.equal(sh('actool', ['validate', plainAci]).toString(), '', 'actool accepts the fixture');
  const want = describe(path.join(layout, 'rootfs'), false);
  for (const [kind, file] of Object.entries(variants(plainAci))) {
    const dir = fresh(`img-${kind}`);
    const tarPath = `${dir}.tar`;
    const res = await extractFile(file, { dir, tarPath });
    t.equal(res.compression, kind.replace(/-.*/, ''), `${kind}: detected`);
    t.equal(res.id, expectedId, `${kind}: id is sha512 of the uncompressed tar`);
    t.equal(res.size, plainTar.length, `${kind}: size`);
    t.equal(sha512File(tarPath), sha512(plainTar), `${kind}: kept tar is byte-identical`);
    t.ok(res.manifest.equals(MANIFEST), `${kind}: manifest returned`);
    t.ok(fs.readFileSync(path.join(dir, 'manifest')).equals(MANIFEST), `${kind}: manifest written beside rootfs`);
    t.same(describe(path.join(dir, 'rootfs'), false), want, `${kind}: owners, modes, mtimes, links survive`);
    t.same(res.warnings, [], `${kind}: no warnings`);
  }
});

t.test('details of the extracted tree', async (t) => {
  const dir = fresh('img-details');
  await extractFile(plainAci, { dir, tarPath: `${dir}.tar` });
  const r = path.join(dir, 'rootfs');
  t.equal(fs.statSync(path.join(r, 'usr/bin/suid')).mode & 0o7777, 0o4755, 'setuid kept');
  t.equal(fs.statSync(path.join(r, 'usr/bin/sgid')).mode & 0o7777, 0o2750, 'setgid kept after chown');
  t.equal(fs.statSync(path.join(r, 'usr/bin/sgid')).uid, 1234);
  t.equal(fs.statSync(path.join(r, 'usr/bin/sgid')).gid, 5678);
  t.equal(fs.statSync(path.join(r, 'bin/ls')).ino, fs.statSync(path.join(r, 'bin/busybox')).ino, 'hardlink');
  t.equal(fs.readlinkSync(path.join(r, 'bin/sh')), 'busybox', 'relative symlink');
  t.equal(fs.readlinkSync(path.join(r, 'bin/abs-link')), '/nonexistent/absolute', 'absolute symlink kept verbatim');
  t.equal(fs.readFileSync(path.join(r, VERY_LONG), 'utf8'), 'very long name\n', 'PAX long name');
  t.equal(fs.readFileSync(path.join(r, LONG_DIR, LONG_FILE), 'utf8'), 'long name\n', 'ustar prefix name');
  t.equal(fs.readFileSync(path.join(r, 'manifest'), 'utf8'), 'not the manifest\n', 'rootfs/manifest is a plain file');
  t.equal(fs.statSync(path.join(r, 'tmp')).mode & 0o7777, 0o1777, 'sticky dir');
  t.equal(sh(path.join(r, 'bin/busybox'), ['echo', 'runs']).toString(), 'runs\n', 'busybox runs');
});

t.test('an existing empty rootfs directory is kept, not replaced', async (t) => {
  const dir = fresh('img-premade');
  fs.mkdirSync(path.join(dir, 'rootfs'), { recursive: true, mode: 0o700 });
  const ino = fs.statSync(path.join(dir, 'rootfs')).ino;
  await extractFile(plainAci, { dir, tarPath: `${dir}.tar` });
  t.equal(fs.statSync(path.join(dir, 'rootfs')).ino, ino, 'same inode');
  t.equal(fs.statSync(path.join(dir, 'rootfs')).mode & 0o7777, fs.statSync(path.join(layout, 'rootfs')).mode & 0o7777, 'metadata applied');
});

t.test('GNU tar PAX archive with xattrs (binary security.capability and user.*)', async (t) => {
  const lay = fresh('layout-x');
  makeLayout(lay, true);
  const aci = `${fresh('gnutar')}.aci`;
  sh('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', lay, '-cf', aci, 'manifest', 'rootfs']);
  t.equal(sh('actool', ['validate', aci]).toString(), '', 'actool accepts it');
  const want = describe(path.join(lay, 'rootfs'), true);
  t.equal(want.capf?.xattrs?.['security.capability'], CAP, 'fixture has the capability');
  const xz = `${aci}.xz`;
  fs.writeFileSync(xz, sh('xz', ['-c', aci]));
  for (const file of [aci, xz]) {
    const dir = fresh('img-x');
    const res = await extractFile(file, { dir, tarPath: `${dir}.tar` });
    t.equal(res.id, `sha512-${sha512File(aci)}`);
    const got = describe(path.join(dir, 'rootfs'), true);
    t.same(got, want, `${path.basename(file)}: tree and xattr bytes identical`);
    t.equal(got.capf?.xattrs?.['user.x'], '0x00ff0a0d3d5c', 'binary user xattr byte for byte');
    t.equal(got['empty-file']?.xattrs?.['user.empty'], '0x', 'empty xattr value');
  }
});

t.test('entries before their parents, ./ prefixes, identical duplicate dirs, GNU long names', async (t) => {
  const { file } = gen({
    format: 'gnu',
    entries: [
      { name: './rootfs/a/b/c', data: 'deep' },
      { name: 'manifest', data: MANIFEST.toString() },
      { name: './rootfs/a', type: 'dir', mode: 0o711, mtime: 1600000000 },
      { name: 'rootfs', type: 'dir', mode: 0o755 },
      { name: './rootfs/', type: 'dir', mode: 0o755 },
      { name: `rootfs/${'n'.repeat(150)}`, data: 'gnu long name' },
      { name: 'rootfs/l', type: 'symlink', linkname: `${'t'.repeat(150)}` },
      { name: './', type: 'dir' },
    ],
  });
  const dir = fresh('img-order');
  await extractFile(file, { dir, tarPath: `${dir}.tar` });
  const r = path.join(dir, 'rootfs');
  t.equal(fs.readFileSync(path.join(r, 'a/b/c'), 'utf8'), 'deep');
  t.equal(fs.statSync(path.join(r, 'a')).mode & 0o7777, 0o711, 'late dir entry applies its mode');
  t.equal(fs.statSync(path.join(r, 'a')).mtimeMs, 1600000000000, 'and its mtime after its children');
  t.equal(fs.statSync(path.join(r, 'a/b')).mode & 0o7777, 0o755, 'implied parent is 0755');
  t.equal(fs.readFileSync(path.join(r, 'n'.repeat(150)), 'utf8'), 'gnu long name');
  t.equal(fs.readlinkSync(path.join(r, 'l')), 't'.repeat(150), 'GNU long link name');
});

t.test('trailing bytes after the end-of-archive blocks are accepted and hashed', async (t) => {
  const garbage = Buffer.from('trailing garbage \x00\x01\x02 not a tar header at all'.repeat(40));
  const withTrailer = Buffer.concat([plainTar, garbage]);
  const file = `${fresh('trailing')}.aci`;
  fs.writeFileSync(file, withTrailer);
  const dir = fresh('img-trailing');
  const res = await extractFile(file, { dir, tarPath: `${dir}.tar` });
  t.equal(res.id, `sha512-${sha512(withTrailer)}`);
  t.equal(res.size, withTrailer.length);
  t.ok(fs.readFileSync(`${dir}.tar`).equals(withTrailer), 'kept tar includes the trailer');
});

t.test('devices are skipped with a warning; FIFOs are created with their owner, mode and mtime', async (t) => {
  const { file } = gen({
    entries: [
      { name: 'manifest', data: MANIFEST.toString() },
      { name: 'rootfs', type: 'dir' },
      { name: 'rootfs/dev', type: 'dir' },
      { name: 'rootfs/dev/null', type: 'char', devmajor: 1, devminor: 3 },
      { name: 'rootfs/fifo', type: 'fifo', mode: 0o620, uid: 1234, gid: 5678, mtime: 1500000000 },
      { name: 'rootfs/ok', data: 'ok' },
    ],
  });
  const dir = fresh('img-dev');
  const res = await extractFile(file, { dir, tarPath: `${dir}.tar` });
  t.same(res.warnings, ['rootfs/dev/null: char device skipped'], 'one warning, for the device only');
  t.notOk(fs.existsSync(path.join(dir, 'rootfs/dev/null')));
  const st = fs.lstatSync(path.join(dir, 'rootfs/fifo'));
  t.ok(st.isFIFO(), 'rootfs/fifo is a FIFO');
  t.equal(st.mode & 0o7777, 0o620, 'its mode');
  if (process.getuid?.() === 0) t.same([st.uid, st.gid], [1234, 5678], 'its owner');
  t.equal(Math.round(st.mtimeMs / 1000), 1500000000, 'its mtime');
  t.same(fs.readdirSync(dir).sort(), ['manifest', 'rootfs'], 'no scratch name left in the image directory');
  t.equal(fs.readFileSync(path.join(dir, 'rootfs/ok'), 'utf8'), 'ok');
});

// ------------------------------------------------------------------------------------------------
// Hostile archives, made with python3's tarfile (or patched bytes).

interface GenEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'char';
  data?: string;
  zeros?: number;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}
interface GenSpec {
  format?: 'pax' | 'gnu' | 'ustar';
  /** Records of a PAX global header written first. */
  global?: Record<string, string>;
  entries: GenEntry[];
}

const GENERATOR = String.raw`
import io, json, sys, tarfile
spec = json.loads(sys.argv[1])
fmt = {'pax': tarfile.PAX_FORMAT, 'gnu': tarfile.GNU_FORMAT, 'ustar': tarfile.USTAR_FORMAT}[spec.get('format', 'pax')]
types = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE,
         'fifo': tarfile.FIFOTYPE, 'char': tarfile.CHRTYPE}
class Zeros(io.RawIOBase):
    def __init__(self, n): self.n = n
    def readable(self): return True
    def readinto(self, b):
        k = min(len(b), self.n); b[:k] = bytes(k); self.n -= k; return k
with open(sys.argv[2], 'wb') as out, tarfile.open(fileobj=out, mode='w', format=fmt, pax_headers=spec.get('global')) as tf:
    for e in spec['entries']:
        ti = tarfile.TarInfo(e['name'])
        ti.type = types[e.get('type', 'file')]
        ti.mode = e.get('mode', 0o755 if ti.type == tarfile.DIRTYPE else 0o644)
        ti.mtime = e.get('mtime', 1500000000)
        ti.uid = e.get('uid', 0); ti.gid = e.get('gid', 0)
        ti.linkname = e.get('linkname', '')
        ti.devmajor = e.get('devmajor', 0); ti.devminor = e.get('devminor', 0)
        if 'pax' in e: ti.pax_headers = e['pax']
        f = None
        if ti.type == tarfile.REGTYPE:
            if 'zeros' in e:
                ti.size = e['zeros']; f = io.BufferedReader(Zeros(e['zeros']))
            else:
                data = e.get('data', '').encode(); ti.size = len(data); f = io.BytesIO(data)
        tf.addfile(ti, f)
`;

function gen(spec: GenSpec): { file: string; bytes: () => Buffer } {
  const file = `${fresh('gen')}.aci`;
  sh('python3', ['-c', GENERATOR, JSON.stringify(spec), file]);
  return { file, bytes: () => fs.readFileSync(file) };
}

const base: GenEntry[] = [
  { name: 'manifest', data: MANIFEST.toString() },
  { name: 'rootfs', type: 'dir' },
];

const canary = fs.mkdtempSync('/tmp/jp-canary-');
fs.writeFileSync(path.join(canary, 'keep'), 'canary\n');
t.teardown(() => fs.rmSync(canary, { recursive: true, force: true }));
const passwdBefore = fs.statSync('/etc/passwd');
const canaryIntact = (t: Test): void => {
  t.same(fs.readdirSync(canary), ['keep'], 'canary dir untouched');
  t.equal(fs.readFileSync(path.join(canary, 'keep'), 'utf8'), 'canary\n', 'canary file untouched');
  const p = fs.statSync('/etc/passwd');
  t.equal(p.nlink, passwdBefore.nlink, '/etc/passwd not linked');
  t.equal(p.mtimeMs, passwdBefore.mtimeMs, '/etc/passwd not written');
};

/** Extract `file`; expect JetpackError('invalid') whose message matches `re` (which should name the entry). */
async function refused(t: Test, file: string | Readable, re: RegExp, limits?: Limits, mode: 'aci' | 'rootfs' = 'aci'): Promise<string> {
  const dir = fresh('img-bad');
  let err: unknown;
  try {
    if (mode === 'rootfs') {
      const { stream } = await decompress(typeof file === 'string' ? await openSource(file) : file);
      await extractRootfsTarball(stream, path.join(dir, 'rootfs'), limits, () => undefined);
    } else if (typeof file === 'string') {
      await extractFile(file, { dir, tarPath: `${dir}.tar`, limits });
    } else {
      const { stream } = await decompress(file);
      await extractAci(stream, { dir, tarPath: `${dir}.tar`, limits, warn: () => undefined });
    }
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof JetpackError, 'a JetpackError');
  const je = err as JetpackError;
  t.equal(je?.kind, 'invalid', `kind invalid (${je?.message})`);
  t.match(je?.message ?? '', re, 'message names the entry and the rule');
  canaryIntact(t);
  return je?.message ?? '';
}

const rel = path.relative('/', canary);
const cases: Array<[string, GenSpec, RegExp]> = [
  ['.. escape', { entries: [...base, { name: 'rootfs/../../x', data: 'x' }] }, /^rootfs\/\.\.\/\.\.\/x: .*"\.\."/],
  ['absolute name', { entries: [...base, { name: '/rootfs/etc/x', data: 'x' }] }, /^\/rootfs\/etc\/x: absolute name/],
  ['.. after a dir', { entries: [...base, { name: 'rootfs/a/../../..', type: 'dir' }] }, /^rootfs\/a\/\.\.\/\.\.\/\.\.\/: .*"\.\."/],
  ['.. in a canary path', { entries: [...base, { name: `rootfs/../../../../../../../../${rel}/pwned`, data: 'x' }] }, /pwned: .*"\.\."/],
  ['double slash', { entries: [...base, { name: 'rootfs//etc', data: 'x' }] }, /^rootfs\/\/etc: empty path component/],
  [
    'absolute symlink then a file through it',
    { entries: [...base, { name: 'rootfs/l', type: 'symlink', linkname: canary }, { name: 'rootfs/l/pwned', data: 'x' }] },
    /^rootfs\/l\/pwned: parent rootfs\/l is a symlink/,
  ],
  [
    'relative symlink climbing out then a file through it',
    {
      entries: [
        ...base,
        { name: 'rootfs/sub', type: 'dir' },
        { name: 'rootfs/sub/r', type: 'symlink', linkname: `../../../../../../../../../../${rel}` },
        { name: 'rootfs/sub/r/pwned', data: 'x' },
      ],
    },
    /^rootfs\/sub\/r\/pwned: parent rootfs\/sub\/r is a symlink/,
  ],
  [
    'symlink then a dir through it',
    { entries: [...base, { name: 'rootfs/l', type: 'symlink', linkname: canary }, { name: 'rootfs/l/d', type: 'dir' }] },
    /^rootfs\/l\/d\/: parent rootfs\/l is a symlink/,
  ],
  [
    'symlink then a hardlink through it',
    {
      entries: [
        ...base,
        { name: 'rootfs/f', data: 'f' },
        { name: 'rootfs/l', type: 'symlink', linkname: canary },
        { name: 'rootfs/l/h', type: 'hardlink', linkname: 'rootfs/f' },
      ],
    },
    /^rootfs\/l\/h: parent rootfs\/l is a symlink/,
  ],
  [
    'symlink then a symlink through it',
    { entries: [...base, { name: 'rootfs/l', type: 'symlink', linkname: canary }, { name: 'rootfs/l/s', type: 'symlink', linkname: '/x' }] },
    /^rootfs\/l\/s: parent rootfs\/l is a symlink/,
  ],
  ['hardlink to /etc/passwd', { entries: [...base, { name: 'rootfs/h', type: 'hardlink', linkname: '/etc/passwd' }] }, /^rootfs\/h: hardlink target \/etc\/passwd: absolute/],
  ['hardlink to ../ path', { entries: [...base, { name: 'rootfs/h', type: 'hardlink', linkname: 'rootfs/../../../../etc/passwd' }] }, /^rootfs\/h: hardlink target .*"\.\."/],
  ['hardlink to manifest', { entries: [...base, { name: 'rootfs/h', type: 'hardlink', linkname: 'manifest' }] }, /^rootfs\/h: hardlink target manifest is not a regular file extracted earlier under rootfs\//],
  ['hardlink to a path never in the archive', { entries: [...base, { name: 'rootfs/h', type: 'hardlink', linkname: 'rootfs/nope' }] }, /^rootfs\/h: hardlink target rootfs\/nope is not/],
  [
    'hardlink to a later file',
    { entries: [...base, { name: 'rootfs/h', type: 'hardlink', linkname: 'rootfs/later' }, { name: 'rootfs/later', data: 'x' }] },
    /^rootfs\/h: hardlink target rootfs\/later is not/,
  ],
  [
    'hardlink to a symlink',
    { entries: [...base, { name: 'rootfs/s', type: 'symlink', linkname: '/etc/passwd' }, { name: 'rootfs/h', type: 'hardlink', linkname: 'rootfs/s' }] },
    /^rootfs\/h: hardlink target rootfs\/s is not/,
  ],
  ['hardlink to a directory', { entries: [...base, { name: 'rootfs/d', type: 'dir' }, { name: 'rootfs/h', type: 'hardlink', linkname: 'rootfs/d' }] }, /^rootfs\/h: hardlink target rootfs\/d is not/],
  [
    'a dir replaced by a symlink midway',
    {
      entries: [
        ...base,
        { name: 'rootfs/d', type: 'dir' },
        { name: 'rootfs/d/a', data: 'a' },
        { name: 'rootfs/d', type: 'symlink', linkname: canary },
        { name: 'rootfs/d/pwned', data: 'x' },
      ],
    },
    /^rootfs\/d: duplicate entry/,
  ],
  [
    'an implied dir replaced by a symlink',
    { entries: [...base, { name: 'rootfs/d/a', data: 'a' }, { name: './rootfs/d', type: 'symlink', linkname: canary }, { name: 'rootfs/d/pwned', data: 'x' }] },
    /^\.\/rootfs\/d: duplicate entry/,
  ],
  ['a file replaced by a symlink', { entries: [...base, { name: 'rootfs/f', data: 'a' }, { name: 'rootfs/./f', type: 'symlink', linkname: canary }] }, /^rootfs\/\.\/f: duplicate entry/],
  ['duplicate file', { entries: [...base, { name: 'rootfs/a', data: 'a' }, { name: 'rootfs/a', data: 'b' }] }, /^rootfs\/a: duplicate entry/],
  ['duplicate dir with other metadata', { entries: [...base, { name: 'rootfs/d', type: 'dir' }, { name: 'rootfs/d', type: 'dir', mode: 0o700 }] }, /^rootfs\/d\/: duplicate entry/],
  ['duplicate manifest', { entries: [...base, { name: 'manifest', data: '{}' }] }, /^manifest: duplicate entry/],
  ['file under a file', { entries: [...base, { name: 'rootfs/f', data: 'a' }, { name: 'rootfs/f/g', data: 'b' }] }, /^rootfs\/f\/g: parent rootfs\/f is not a directory/],
  ['file under the manifest', { entries: [...base, { name: 'manifest/x', data: 'b' }] }, /^manifest\/x: only "manifest" and "rootfs\/\.\.\." may be in an ACI/],
  ['extra top-level entry', { entries: [...base, { name: 'extra', data: 'x' }] }, /^extra: only "manifest" and "rootfs\/\.\.\." may be in an ACI/],
  ['rootfsX', { entries: [...base, { name: 'rootfsX/a', data: 'x' }] }, /^rootfsX\/a: only/],
  ['missing rootfs entry', { entries: [{ name: 'manifest', data: MANIFEST.toString() }, { name: 'rootfs/a', data: 'x' }] }, /^rootfs: the archive has no rootfs directory entry/],
  ['rootfs/manifest is not the manifest', { entries: [{ name: 'rootfs', type: 'dir' }, { name: 'rootfs/manifest', data: MANIFEST.toString() }] }, /^manifest: the archive has no manifest/],
  ['rootfs as a symlink', { entries: [{ name: 'manifest', data: '{}' }, { name: 'rootfs', type: 'symlink', linkname: canary }] }, /^rootfs: rootfs must be a directory/],
  ['manifest as a symlink', { entries: [{ name: 'rootfs', type: 'dir' }, { name: 'manifest', type: 'symlink', linkname: '/etc/passwd' }] }, /^manifest: manifest must be a regular file/],
  ['manifest as a hardlink', { entries: [{ name: 'rootfs', type: 'dir' }, { name: 'rootfs/f', data: 'f' }, { name: 'manifest', type: 'hardlink', linkname: 'rootfs/f' }] }, /^manifest: manifest must be a regular file/],
  [
    'PAX path overriding a harmless ustar name',
    { entries: [...base, { name: 'rootfs/harmless', data: 'x', pax: { path: `../../../../../../${rel}/pwned` } }] },
    /pwned: .*"\.\."/,
  ],
  [
    'PAX linkpath overriding a hardlink target',
    { entries: [...base, { name: 'rootfs/f', data: 'f' }, { name: 'rootfs/h', type: 'hardlink', linkname: 'rootfs/f', pax: { linkpath: '/etc/passwd' } }] },
    /^rootfs\/h: hardlink target \/etc\/passwd: absolute/,
  ],
  ['GNU sparse file', { entries: [...base, { name: 'rootfs/s', data: 'x', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } }] }, /^rootfs\/s: sparse files are not supported/],
];

for (const [title, spec, re] of cases) {
  t.test(`refused: ${title}`, async (t) => {
    await refused(t, gen(spec).file, re);
  });
}

t.test('refused: trailing slash on a file (type 0)', async (t) => {
  // python adds no slash to files; patch the name bytes and the checksum by regenerating via ustar header edit
  const g = gen({ format: 'ustar', entries: [...base, { name: 'rootfs/fileX', data: 'x' }] });
  const b = g.bytes();
  const at = b.indexOf('rootfs/fileX');
  b.write('/', at + 'rootfs/file'.length, 'latin1');
  fixChecksum(b, at);
  fs.writeFileSync(g.file, b);
  await refused(t, g.file, /^rootfs\/file\/: name ends with "\/" but the entry is not a directory/);
});

/** Recompute the checksum of the header block starting at `at`. */
function fixChecksum(b: Buffer, at: number): void {
  b.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += b[i] ?? 0;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
}

t.test('refused: corrupt header checksum', async (t) => {
  const g = gen({ entries: [...base, { name: 'rootfs/a', data: 'x' }] });
  const b = g.bytes();
  const at = b.indexOf('rootfs/a');
  b[at + 120] = 0x37; // change the gid without fixing the checksum
  fs.writeFileSync(g.file, b);
  await refused(t, g.file, /^rootfs\/a: bad tar header checksum/);
});

t.test('refused: unsupported entry type', async (t) => {
  const g = gen({ format: 'ustar', entries: [...base, { name: 'rootfs/v', data: '' }] });
  const b = g.bytes();
  const at = b.indexOf('rootfs/v');
  b.write('V', at + 156, 'latin1');
  fixChecksum(b, at);
  fs.writeFileSync(g.file, b);
  await refused(t, g.file, /^rootfs\/v: unsupported entry type "V"/);
});

t.test('refused: truncated archives', async (t) => {
  const cutMid = `${fresh('trunc')}.aci`;
  const busyboxAt = plainTar.indexOf('rootfs/bin/busybox');
  fs.writeFileSync(cutMid, plainTar.subarray(0, busyboxAt + 512 + 100_000));
  await refused(t, cutMid, /^rootfs\/bin\/busybox: archive truncated \(\d+ bytes of this entry missing\)/);
  // Cut at a header boundary: the end-of-archive blocks are missing.
  const g = gen({ entries: [...base, { name: 'rootfs/a', data: 'x' }] });
  const b = g.bytes();
  const end = b.indexOf('rootfs/a') + 1024;
  fs.writeFileSync(g.file, b.subarray(0, end));
  await refused(t, g.file, /^rootfs\/a: archive ends without its end-of-archive blocks/);
  // Truncated inside a header.
  fs.writeFileSync(g.file, b.subarray(0, end + 100));
  await refused(t, g.file, /archive truncated inside a header/);
  // Truncated gzip and xz.
  const gz = sh('gzip', ['-c'], { input: plainTar });
  fs.writeFileSync(`${g.file}.gz`, gz.subarray(0, Math.floor(gz.length / 2)));
  await refused(t, `${g.file}.gz`, /corrupt gzip data/);
  const xz = sh('xz', ['-c'], { input: plainTar });
  fs.writeFileSync(`${g.file}.xz`, xz.subarray(0, Math.floor(xz.length / 2)));
  await refused(t, `${g.file}.xz`, /corrupt xz data/);
  const bz = sh('bzip2', ['-c'], { input: plainTar });
  fs.writeFileSync(`${g.file}.bz2`, bz.subarray(0, Math.floor(bz.length / 2)));
  await refused(t, `${g.file}.bz2`, /corrupt bzip2 data/);
});

t.test('refused: corrupt compressed data', async (t) => {
  for (const [tool, kind] of [
    ['gzip', 'gzip'],
    ['xz', 'xz'],
    ['bzip2', 'bzip2'],
  ] as const) {
    const c = sh(tool, ['-c'], { input: plainTar });
    const at = Math.floor(c.length / 2);
    c.fill(0x55, at, at + 64);
    const file = `${fresh('corrupt')}.${tool}.aci`;
    fs.writeFileSync(file, c);
    await refused(t, file, new RegExp(`corrupt ${kind} data`));
  }
});

t.test('refused: unknown magic', async (t) => {
  for (const [name, bytes] of [
    ['zstd', Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(600, 1)])],
    ['json', MANIFEST],
    ['empty', Buffer.alloc(0)],
    ['v7 tar', Buffer.alloc(1024)],
  ] as const) {
    const file = `${fresh(name)}.aci`;
    fs.writeFileSync(file, bytes);
    await refused(t, file, /: not a tar, gzip, bzip2 or xz stream$/);
  }
});

t.test('limits', async (t) => {
  // A decompression bomb: 64 MiB of zeros gzip to ~64 KiB.
  const bomb = gen({ entries: [...base, { name: 'rootfs/bomb', zeros: 64 * 1024 * 1024 }] });
  const gz = `${bomb.file}.gz`;
  fs.writeFileSync(gz, sh('gzip', ['-c', bomb.file]));
  t.ok(fs.statSync(gz).size < 200_000, 'small compressed');
  await refused(t, gz, /^rootfs\/bomb: more than 8388608 bytes of uncompressed data \(limit\)/, { maxBytes: 8 * 1024 * 1024 });

  const many = gen({ entries: [...base, ...Array.from({ length: 20 }, (_, i) => ({ name: `rootfs/f${i}`, data: 'x' }))] });
  await refused(t, many.file, /^rootfs\/f8: more than 10 entries \(limit\)/, { maxEntries: 10 });

  const deep = gen({ entries: [...base, { name: `rootfs/${Array.from({ length: 12 }, () => 'd').join('/')}`, data: 'x' }] });
  await refused(t, deep.file, /^rootfs\/d\/.*: name deeper than 10 components \(limit\)/, { maxPathDepth: 10 });

  const long = gen({ entries: [...base, { name: `rootfs/${'x'.repeat(300)}`, data: 'x' }] });
  await refused(t, long.file, /: name longer than 200 bytes \(limit\)/, { maxPathLength: 200 });

  const bigManifest = gen({ entries: [{ name: 'manifest', data: 'x'.repeat(5000) }, { name: 'rootfs', type: 'dir' }] });
  await refused(t, bigManifest.file, /^manifest: manifest larger than 4096 bytes \(limit\)/, { maxManifestBytes: 4096 });
});

t.test('an endless stream stops at the byte limit', async (t) => {
  let sent = 0;
  const head = fs.readFileSync(gen({ entries: [...base, { name: 'rootfs/big', zeros: 1 }] }).file).subarray(0, 1024);
  const endless = new Readable({
    read(): void {
      this.push(sent === 0 ? head : Buffer.alloc(65536));
      sent++;
    },
  });
  await refused(t, endless, /more than 1048576 bytes of uncompressed data \(limit\)/, { maxBytes: 1024 * 1024 });
  t.ok(endless.destroyed, 'input destroyed');
  t.ok(sent < 40, 'stopped reading early');
});

t.test('a pre-existing dest rootfs that is a symlink is replaced, not followed', async (t) => {
  const dir = fresh('img-presymlink');
  fs.mkdirSync(dir);
  fs.symlinkSync(canary, path.join(dir, 'rootfs'));
  const { file } = gen({ entries: [{ name: 'rootfs/early', data: 'x' }, ...base, { name: 'rootfs/late', data: 'y' }] });
  await extractFile(file, { dir, tarPath: `${dir}.tar` });
  t.ok(fs.lstatSync(path.join(dir, 'rootfs')).isDirectory(), 'now a real directory');
  t.equal(fs.readFileSync(path.join(dir, 'rootfs/late'), 'utf8'), 'y');
  canaryIntact(t);
});

t.test('a PAX global header is ignored (as rkt does)', async (t) => {
  const { file } = gen({ global: { path: 'rootfs/../../evil', comment: 'from git archive' }, entries: [...base, { name: 'rootfs/a', data: 'a' }] });
  const dir = fresh('img-global');
  await extractFile(file, { dir, tarPath: `${dir}.tar` });
  t.equal(fs.readFileSync(path.join(dir, 'rootfs/a'), 'utf8'), 'a');
  canaryIntact(t);
});

// ------------------------------------------------------------------------------------------------
// Rootfs tarballs (image import ROOTFS.tar MANIFEST)

t.test('extractRootfsTarball', async (t) => {
  const { file } = gen({
    format: 'pax',
    entries: [
      { name: '.', type: 'dir', mode: 0o755, mtime: 1400000000, uid: 0, gid: 0 },
      { name: './bin', type: 'dir', mode: 0o755 },
      { name: './bin/sh', data: '#!sh\n', mode: 0o555 },
      { name: './bin/test', type: 'hardlink', linkname: './bin/sh' },
      { name: 'bin/[', type: 'hardlink', linkname: 'bin/sh' },
      { name: './lib', type: 'symlink', linkname: 'usr/lib' },
      { name: 'usr/lib/libc.so', data: 'libc', uid: 7, gid: 8 },
      { name: './sbin/ping', data: 'ping', pax: { 'SCHILY.xattr.security.capability': 'x' } },
    ],
  });
  const rootfs = path.join(fresh('rootfs-tarball'), 'rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  const { stream } = await decompress(await openSource(file));
  const warnings: string[] = [];
  const { size } = await extractRootfsTarball(stream, rootfs, undefined, (m) => warnings.push(m));
  t.equal(size, fs.statSync(file).size);
  t.equal(fs.readFileSync(path.join(rootfs, 'bin/sh'), 'utf8'), '#!sh\n');
  t.equal(fs.statSync(path.join(rootfs, 'bin/test')).ino, fs.statSync(path.join(rootfs, 'bin/sh')).ino);
  t.equal(fs.statSync(path.join(rootfs, 'bin/[')).ino, fs.statSync(path.join(rootfs, 'bin/sh')).ino);
  t.equal(fs.readlinkSync(path.join(rootfs, 'lib')), 'usr/lib');
  t.equal(fs.statSync(path.join(rootfs, 'usr/lib/libc.so')).uid, 7);
  t.equal(fs.statSync(rootfs).mtimeMs, 1400000000000, '"." sets the root metadata');
  t.match(warnings.join('\n'), /some xattrs were not restored/, 'an invalid capability value is a warning, not fatal');
});

t.test('extractRootfsTarball refuses the same attacks', async (t) => {
  const specs: Array<[GenEntry[], RegExp]> = [
    [[{ name: './l', type: 'symlink', linkname: canary }, { name: './l/pwned', data: 'x' }], /^\.\/l\/pwned: parent l is a symlink/],
    [[{ name: '../x', data: 'x' }], /^\.\.\/x: .*"\.\."/],
    [[{ name: '/etc/x', data: 'x' }], /^\/etc\/x: absolute name/],
    [[{ name: './h', type: 'hardlink', linkname: '/etc/passwd' }], /^\.\/h: hardlink target \/etc\/passwd: absolute/],
    [[{ name: './h', type: 'hardlink', linkname: 'etc/passwd' }], /^\.\/h: hardlink target etc\/passwd is not a regular file extracted earlier$/],
    [[{ name: '.', type: 'symlink', linkname: canary }], /^\.: the archive root must be a directory/],
    [[{ name: 'a', data: 'x' }, { name: './a', data: 'y' }], /^\.\/a: duplicate entry/],
  ];
  for (const [entries, re] of specs) await refused(t, gen({ entries }).file, re, undefined, 'rootfs');
});
