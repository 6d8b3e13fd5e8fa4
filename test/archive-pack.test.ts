/**
 * packAci: deterministic output, accepted by `actool validate`, readable by GNU tar and python's
 * tarfile, and a pack → extract → pack round trip keeps the image ID (so every kept property
 * survives extraction exactly).
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { tmpdir } from 'node:os';
import { decompress } from '../shared/src/archive/decompress.js';
import { extractAci, extractRootfsTarball } from '../shared/src/archive/extract.js';
import { packAci } from '../shared/src/archive/pack.js';
import { openSource } from '../shared/src/archive/source.js';
import { JetpackError } from '../shared/src/errors.js';

const work = fs.mkdtempSync(path.join(tmpdir(), 'jp-pack-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
const sh = (cmd: string, args: string[], input?: Buffer): Buffer => execFileSync(cmd, args, { input, maxBuffer: 1 << 30 });
const sha512 = (b: Buffer): string => createHash('sha512').update(b).digest('hex');
let seq = 0;
const fresh = (name: string): string => path.join(work, `${name}-${++seq}`);

const MANIFEST = Buffer.from(`${JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/pack-test', labels: [{ name: 'os', value: 'linux' }] }, null, 2)}\n`);
const CAP = '0x0100000200200000000000000000000000000000';
const VERY_LONG = `${'a'.repeat(200)}/${'b'.repeat(200)}`;

/** A tree with everything packAci must keep. */
function makeTree(dir: string): void {
  const r = path.join(dir, 'rootfs');
  fs.mkdirSync(path.join(r, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(r, 'bin/busybox'));
  fs.chmodSync(path.join(r, 'bin/busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(r, 'bin/sh'));
  fs.symlinkSync('/usr/lib/../abs/target', path.join(r, 'abs-link'));
  fs.linkSync(path.join(r, 'bin/busybox'), path.join(r, 'bin/ls'));
  fs.linkSync(path.join(r, 'bin/busybox'), path.join(r, 'bin/a-link'));
  fs.writeFileSync(path.join(r, 'suid'), 'suid');
  fs.chmodSync(path.join(r, 'suid'), 0o4755);
  fs.writeFileSync(path.join(r, 'sgid'), 'sgid');
  fs.chownSync(path.join(r, 'sgid'), 1234, 5678);
  fs.chmodSync(path.join(r, 'sgid'), 0o2750);
  fs.writeFileSync(path.join(r, 'big-ids'), 'ids beyond ustar');
  fs.chownSync(path.join(r, 'big-ids'), 3_000_000, 4_000_000);
  fs.writeFileSync(path.join(r, 'old'), 'before 1970');
  fs.mkdirSync(path.join(r, 'etc'));
  fs.writeFileSync(path.join(r, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
  fs.chownSync(path.join(r, 'etc'), 0, 42);
  fs.chmodSync(path.join(r, 'etc'), 0o750);
  fs.mkdirSync(path.join(r, 'a'));
  fs.writeFileSync(path.join(r, 'a-b'), 'sorts between a and a/c');
  fs.writeFileSync(path.join(r, 'a/c'), 'c');
  fs.mkdirSync(path.join(r, VERY_LONG.split('/')[0] as string));
  fs.writeFileSync(path.join(r, VERY_LONG), 'pax path');
  fs.mkdirSync(path.join(r, `${'p'.repeat(90)}`));
  fs.writeFileSync(path.join(r, `${'p'.repeat(90)}/${'q'.repeat(60)}`), 'ustar prefix');
  fs.writeFileSync(path.join(r, 'ünïcødé'), 'utf-8 name');
  fs.symlinkSync('t'.repeat(150), path.join(r, 'long-link'));
  fs.writeFileSync(path.join(r, 'capf'), 'caps');
  sh('setfattr', ['-n', 'security.capability', '-v', CAP, path.join(r, 'capf')]);
  sh('setfattr', ['-n', 'user.bin', '-v', '0x000aff3d0a5c', path.join(r, 'capf')]);
  sh('setfattr', ['-n', 'user.dir', '-v', 'dir value', path.join(r, 'etc')]);
  sh('setfattr', ['-n', 'trusted.skip', '-v', 'not carried', path.join(r, 'etc/passwd')]);
  fs.writeFileSync(path.join(r, 'new\nline \\101 back=slash'), 'odd name');
  // setfattr unquotes \ooo in names: \134 is a literal backslash, so the name is `user.odd<LF>name\101`.
  sh('setfattr', ['-n', 'user.odd\nname\\134101', '-v', '0x0a', path.join(r, 'new\nline \\101 back=slash')]);
  fs.mkdirSync(path.join(r, 'dev'));
  sh('mknod', [path.join(r, 'dev/null'), 'c', '1', '3']);
  sh('mkfifo', [path.join(r, 'fifo')]);
  fs.mkdirSync(path.join(r, 'empty'));
  const all = sh('find', [r, '-depth', '-print0']).toString().split('\0').filter(Boolean);
  all.forEach((p, i) => sh('touch', ['-h', '-d', `@${1600000000 - i * 3}`, p]));
  sh('touch', ['-h', '-d', '@-86400', path.join(r, 'old')]);
}

async function pack(dir: string, file: string | null = null): Promise<{ id: string; size: number; bytes: Buffer | null; warnings: string[] }> {
  const warnings: string[] = [];
  const out = file === null ? null : fs.createWriteStream(file);
  const res = await packAci(dir, MANIFEST, out, { warn: (m) => warnings.push(m) });
  return { ...res, bytes: file === null ? null : fs.readFileSync(file), warnings };
}

const PY_LIST = String.raw`
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1]) as tf:
    for m in tf.getmembers():
        out.append({'name': m.name, 'type': m.type.decode('latin1'), 'mode': m.mode, 'uid': m.uid, 'gid': m.gid,
                    'uname': m.uname, 'gname': m.gname, 'mtime': m.mtime, 'linkname': m.linkname, 'size': m.size,
                    'devmajor': m.devmajor, 'devminor': m.devminor,
                    'pax': {k: v.encode('utf-8', 'surrogateescape').hex() for k, v in m.pax_headers.items()}})
print(json.dumps(out))
`;
interface Member {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  linkname: string;
  size: number;
  devmajor: number;
  devminor: number;
  pax: Record<string, string>;
}
const list = (file: string): Member[] => JSON.parse(sh('python3', ['-c', PY_LIST, file]).toString()) as Member[];

const tree = fresh('tree');
makeTree(tree);

t.test('deterministic, valid, well-formed', async (t) => {
  const a = await pack(tree, `${fresh('a')}.aci`);
  const b = await pack(tree, `${fresh('b')}.aci`);
  const c = await pack(tree, null);
  t.ok(a.bytes !== null && b.bytes !== null && a.bytes.equals(b.bytes), 'same tree twice: same bytes');
  t.equal(a.id, `sha512-${sha512(a.bytes as Buffer)}`, 'id is sha512 of the tar');
  t.equal(a.size, a.bytes?.length);
  t.equal(c.id, a.id, 'out = null gives the same id');
  t.match(a.warnings, [], 'no warnings');
  const file = `${fresh('v')}.aci`;
  fs.writeFileSync(file, a.bytes as Buffer);
  const v = spawnSync('actool', ['validate', file]);
  t.equal(v.status, 0, `actool validate accepts it ${v.stderr.toString()}`);
  t.equal(sh('actool', ['cat-manifest', file]).toString().trimEnd(), MANIFEST.toString().trimEnd(), 'actool reads the manifest back');
  t.equal((a.bytes as Buffer).length % 512, 0, 'whole blocks');
  t.ok((a.bytes as Buffer).subarray(-1024).equals(Buffer.alloc(1024)), 'ends with two zero blocks');

  const members = list(file);
  const names = members.map((m) => m.name);
  t.equal(names[0], 'manifest', 'manifest first');
  t.equal(names[1], 'rootfs', 'then rootfs');
  const rest = names.slice(1).map((n) => Buffer.from(n));
  t.ok(
    rest.every((n, i) => i === 0 || Buffer.compare(rest[i - 1] as Buffer, n) < 0),
    'sorted bytewise',
  );
  t.ok(names.indexOf('rootfs/a') < names.indexOf('rootfs/a-b') && names.indexOf('rootfs/a-b') < names.indexOf('rootfs/a/c'), 'full-name byte order');
  const by = new Map(members.map((m) => [m.name, m]));
  const rootMtime = Math.floor(fs.statSync(path.join(tree, 'rootfs')).mtimeMs / 1000);
  t.match(by.get('manifest'), { type: '0', mode: 0o644, uid: 0, gid: 0, mtime: rootMtime, size: MANIFEST.length, pax: {} }, 'manifest header');
  t.match(by.get('rootfs/bin/a-link'), { type: '0', size: fs.statSync('/bin/busybox').size }, 'first path of an inode holds the data');
  t.match(by.get('rootfs/bin/busybox'), { type: '1', linkname: 'rootfs/bin/a-link', size: 0 }, 'later paths are hardlinks to the first');
  t.match(by.get('rootfs/bin/ls'), { type: '1', linkname: 'rootfs/bin/a-link' });
  t.match(by.get('rootfs/bin/sh'), { type: '2', linkname: 'busybox' });
  t.match(by.get('rootfs/abs-link'), { type: '2', linkname: '/usr/lib/../abs/target', pax: {} });
  t.match(by.get('rootfs/long-link'), { type: '2', linkname: 't'.repeat(150), pax: { linkpath: Buffer.from('t'.repeat(150)).toString('hex') } });
  t.match(by.get('rootfs/suid'), { mode: 0o4755, pax: {} });
  t.match(by.get('rootfs/sgid'), { mode: 0o2750, uid: 1234, gid: 5678, uname: '', gname: '' });
  t.match(by.get('rootfs/big-ids'), { uid: 3_000_000, gid: 4_000_000, pax: { uid: Buffer.from('3000000').toString('hex'), gid: Buffer.from('4000000').toString('hex') } });
  t.match(by.get('rootfs/old'), { mtime: -86400, pax: { mtime: Buffer.from('-86400').toString('hex') } });
  t.match(by.get(`rootfs/${VERY_LONG}`), { pax: { path: Buffer.from(`rootfs/${VERY_LONG}`).toString('hex') } });
  t.same(by.get(`rootfs/${'p'.repeat(90)}/${'q'.repeat(60)}`)?.pax, {}, 'ustar prefix used, no PAX');
  t.match(by.get('rootfs/ünïcødé'), { pax: { path: Buffer.from('rootfs/ünïcødé').toString('hex') } });
  t.same(by.get('rootfs/capf')?.pax, { 'SCHILY.xattr.security.capability': CAP.slice(2), 'SCHILY.xattr.user.bin': '000aff3d0a5c' }, 'xattrs byte for byte');
  t.same(by.get('rootfs/etc')?.pax, { 'SCHILY.xattr.user.dir': Buffer.from('dir value').toString('hex') }, 'directory xattr');
  t.same(by.get('rootfs/etc/passwd')?.pax, {}, 'trusted.* not carried');
  t.same(by.get('rootfs/new\nline \\101 back=slash')?.pax, { 'SCHILY.xattr.user.odd\nname\\101': '0a' }, 'odd names survive getfattr quoting');
  t.match(by.get('rootfs/dev/null'), { type: '3', devmajor: 1, devminor: 3 });
  t.match(by.get('rootfs/fifo'), { type: '6' });
  t.notOk(names.some((n) => n.includes('PaxHeaders')), 'PAX headers are not entries');
  t.notOk(names.some((n) => n.endsWith('/')), 'no trailing slashes');

  // GNU tar agrees on the content.
  const gnu = fresh('gnu');
  fs.mkdirSync(gnu);
  sh('tar', ['--warning=no-timestamp', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', gnu, '-xf', file]);
  t.equal(fs.readFileSync(path.join(gnu, 'rootfs', VERY_LONG), 'utf8'), 'pax path');
  t.equal(fs.statSync(path.join(gnu, 'rootfs/bin/ls')).ino, fs.statSync(path.join(gnu, 'rootfs/bin/busybox')).ino);
  t.equal(sh('getfattr', ['--absolute-names', '--only-values', '-n', 'user.bin', path.join(gnu, 'rootfs/capf')]).toString('hex'), '000aff3d0a5c');
});

t.test('pack → actool validate → extract → pack keeps the ID and every property', async (t) => {
  const first = await pack(tree, `${fresh('rt')}.aci`);
  const file = `${fresh('rt-file')}.aci`;
  fs.writeFileSync(file, first.bytes as Buffer);
  t.equal(spawnSync('actool', ['validate', file]).status, 0, 'actool validate');
  const dir = fresh('rt-img');
  const warnings: string[] = [];
  const xz = `${file}.xz`;
  fs.writeFileSync(xz, sh('xz', ['-c', file]));
  const { stream } = await decompress(await openSource(xz));
  const res = await extractAci(stream, { dir, tarPath: `${dir}.tar`, warn: (m) => warnings.push(m) });
  t.equal(res.id, first.id, 'extract computes the same ID');
  t.ok(fs.readFileSync(`${dir}.tar`).equals(first.bytes as Buffer), 'kept tar identical');
  t.match(warnings.join('\n'), /rootfs\/dev\/null: char device skipped/);
  // Devices are not extracted, so remove them from the original before comparing (FIFOs are).
  const cmp = fresh('rt-cmp');
  sh('cp', ['-a', tree, cmp]);
  fs.rmSync(path.join(cmp, 'rootfs/dev/null'));
  t.ok(fs.lstatSync(path.join(dir, 'rootfs/fifo')).isFIFO(), 'the FIFO was extracted as a FIFO');
  sh('touch', ['-h', '-d', `@${Math.floor(fs.lstatSync(path.join(tree, 'rootfs/dev')).mtimeMs / 1000)}`, path.join(cmp, 'rootfs/dev')]);
  sh('touch', ['-h', '-d', `@${Math.floor(fs.lstatSync(path.join(tree, 'rootfs')).mtimeMs / 1000)}`, path.join(cmp, 'rootfs')]);
  sh('setfattr', ['-x', 'trusted.skip', path.join(cmp, 'rootfs/etc/passwd')]);
  const expected = await pack(cmp, null);
  const again = await pack(dir, null);
  t.equal(again.id, expected.id, 'repacking the extracted tree gives the same bytes');
});

t.test('rootfs tarball → extractRootfsTarball → packAci → extractAci', async (t) => {
  const tarball = `${fresh('base')}.txz`;
  // Like FreeBSD's base.txz: ./-prefixed names, a "." entry, hardlinks, made by GNU tar.
  sh('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', path.join(tree, 'rootfs'), '-cJf', tarball, '--exclude=./dev/null', '--exclude=./fifo', '.']);
  const img = fresh('imported');
  fs.mkdirSync(path.join(img, 'rootfs'), { recursive: true });
  const { stream, compression } = await decompress(await openSource(tarball));
  t.equal(compression, 'xz');
  await extractRootfsTarball(stream, path.join(img, 'rootfs'), undefined, () => undefined);
  const packed = await pack(img, `${fresh('imported')}.aci`);
  const file = `${fresh('imported-file')}.aci`;
  fs.writeFileSync(file, packed.bytes as Buffer);
  t.equal(spawnSync('actool', ['validate', file]).status, 0, 'actool validate');
  const dir = fresh('imported-img');
  const { stream: s2 } = await decompress(await openSource(file));
  const res = await extractAci(s2, { dir, tarPath: `${dir}.tar`, warn: () => undefined });
  t.equal(res.id, packed.id);
  t.equal((await pack(dir, null)).id, packed.id, 'stable through another round');
  t.equal(sh('getfattr', ['--absolute-names', '--only-values', '-n', 'security.capability', '-e', 'hex', path.join(dir, 'rootfs/capf')]).toString('hex'), CAP.slice(2));
});

t.test('refusals and skips', async (t) => {
  const bad = fresh('bad');
  fs.mkdirSync(path.join(bad, 'rootfs'), { recursive: true });
  fs.writeFileSync(Buffer.from(`${path.join(bad, 'rootfs')}/latin1-\xe9`, 'latin1'), 'x');
  await t.rejects(packAci(bad, MANIFEST, null), { name: 'JetpackError', kind: 'invalid', message: /file name is not valid UTF-8/ });

  await t.rejects(packAci(fresh('missing'), MANIFEST, null), JetpackError);
  const linked = fresh('linked');
  fs.mkdirSync(linked);
  fs.symlinkSync(tree, path.join(linked, 'rootfs'));
  await t.rejects(packAci(linked, MANIFEST, null), { kind: 'invalid', message: /rootfs: not a directory/ });

  const sock = fresh('sock');
  fs.mkdirSync(path.join(sock, 'rootfs'), { recursive: true });
  const server = net.createServer().listen(path.join(sock, 'rootfs/s.sock'));
  await new Promise((r) => server.once('listening', r));
  fs.writeFileSync(path.join(sock, 'rootfs/eq'), '');
  sh('setfattr', ['-n', 'user.a=b', '-v', 'x', path.join(sock, 'rootfs/eq')]);
  const warnings: string[] = [];
  await packAci(sock, MANIFEST, null, { warn: (m) => warnings.push(m) });
  server.close();
  t.same(warnings.sort(), [`${fs.realpathSync(sock)}/rootfs/eq: xattr "user.a=b" skipped (a name with "=" cannot be archived)`, 'rootfs/s.sock: socket skipped']);
});
