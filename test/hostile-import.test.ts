/**
 * Hostile archives through the real aci-import, on both store drivers: each is refused with a
 * one-line error naming the entry, exit 6, and leaves the host and the store untouched.
 * The archives are written by python3's tarfile (an independent tar writer), not by Jetpack.
 */
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { jp, listTree, makeStore, tempDir } from './lib/fixtures.js';

/** Python that writes a tar with the given entries: [name, type, data-or-linkname]. */
async function hostileTar(path: string, entries: Array<[string, 'file' | 'dir' | 'symlink' | 'hardlink', string]>): Promise<void> {
  const script = `
import tarfile, io, json, sys
entries = json.loads(sys.argv[2])
with tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT) as tf:
    for name, kind, data in entries:
        ti = tarfile.TarInfo(name)
        ti.mode = 0o755 if kind == 'dir' else 0o644
        if kind == 'dir':
            ti.type = tarfile.DIRTYPE; tf.addfile(ti)
        elif kind == 'symlink':
            ti.type = tarfile.SYMTYPE; ti.linkname = data; tf.addfile(ti)
        elif kind == 'hardlink':
            ti.type = tarfile.LNKTYPE; ti.linkname = data; tf.addfile(ti)
        else:
            b = data.encode(); ti.size = len(b); tf.addfile(ti, io.BytesIO(b))
`;
  await execa('python3', ['-c', script, path, JSON.stringify(entries)]);
}

const manifest = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/evil' });

for (const driver of ['dir', 'zfs'] as const) {
  t.test(`hostile archives on the ${driver} store`, async (t) => {
    const store = await makeStore(driver);
    t.teardown(store.cleanup);
    const work = tempDir();
    t.teardown(() => execa('rm', ['-rf', work]));
    const canary = join(work, 'canary');
    mkdirSync(canary);
    writeFileSync(join(canary, 'keep'), 'untouched');
    const passwdBefore = readFileSync('/etc/passwd', 'utf8');
    const init = await jp(store, 'image-list', []);
    t.equal(init.exitCode, 0);
    const storeBefore = listTree(store.root);

    const cases: Array<[string, Array<[string, 'file' | 'dir' | 'symlink' | 'hardlink', string]>, RegExp]> = [
      ['a ../ entry', [['manifest', 'file', manifest], ['rootfs', 'dir', ''], [`rootfs/../../../../../../..${canary}/pwned`, 'file', 'x']], /\.\./],
      ['an absolute symlink, then a file through it', [['manifest', 'file', manifest], ['rootfs', 'dir', ''], ['rootfs/link', 'symlink', canary], ['rootfs/link/pwned', 'file', 'x']], /rootfs\/link\/pwned/],
      ['a relative symlink climbing out, then a file through it', [['manifest', 'file', manifest], ['rootfs', 'dir', ''], ['rootfs/up', 'symlink', `../../../../../../../..${canary}`], ['rootfs/up/pwned', 'file', 'x']], /rootfs\/up\/pwned/],
      ['a hardlink to /etc/passwd', [['manifest', 'file', manifest], ['rootfs', 'dir', ''], ['rootfs/passwd', 'hardlink', '/etc/passwd']], /rootfs\/passwd/],
      ['a hardlink to the manifest', [['manifest', 'file', manifest], ['rootfs', 'dir', ''], ['rootfs/m', 'hardlink', 'manifest']], /rootfs\/m/],
      ['an extra top-level entry', [['manifest', 'file', manifest], ['rootfs', 'dir', ''], ['etc/passwd', 'file', 'x']], /etc\/passwd/],
      ['no manifest', [['rootfs', 'dir', ''], ['rootfs/a', 'file', 'x']], /manifest/],
      ['an invalid manifest', [['manifest', 'file', '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"Bad Name"}'], ['rootfs', 'dir', '']], /name/],
    ];
    for (const [what, entries, names] of cases) {
      const tar = join(work, 'evil.tar');
      await hostileTar(tar, entries);
      const r = await jp(store, 'aci-import', [tar]);
      t.equal(r.exitCode, 6, `${what}: refused with exit 6`);
      t.match(r.stderr, /^aci-import: [^\n]+$/, `${what}: one-line error`);
      t.match(r.stderr, names, `${what}: the error names the entry or field (${r.stderr.trim()})`);
      t.same(listTree(canary), ['keep'], `${what}: nothing written outside`);
      t.equal(readFileSync(join(canary, 'keep'), 'utf8'), 'untouched');
      t.equal(readFileSync('/etc/passwd', 'utf8'), passwdBefore, `${what}: /etc/passwd untouched`);
      t.same(listTree(store.root), storeBefore, `${what}: the store is as it was`);
    }
    t.notOk(existsSync('/pwned'));
  });
}
