/**
 * appc user/group resolution against an image rootfs (spec/aci.md § app.user, app.group) and the
 * chroot-like path resolver it relies on (rkt TestMountSymlink cases).
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { chown, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JetpackError } from '../shared/src/errors.js';
import { resolveGroup, resolveInRoot, resolveUser } from '../shared/src/users.js';

const isRoot = process.getuid?.() === 0;

async function tempRoot(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jetpack-users-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The rkt test image's layout (tests/image), plus a few hostile and messy files. */
async function rktImage(t: Test): Promise<string> {
  const root = await tempRoot(t);
  await mkdir(path.join(root, 'etc'));
  await mkdir(path.join(root, 'dir1'));
  await mkdir(path.join(root, 'dir2'));
  await writeFile(path.join(root, 'dir1/file'), 'dir1');
  await writeFile(path.join(root, 'dir2/file'), 'dir2');
  await symlink('/dir2', path.join(root, 'dir1/link_abs_dir2'));
  await symlink('/../dir2', path.join(root, 'dir1/link_abs_dotdot_dir2'));
  await symlink('../dir2', path.join(root, 'dir1/link_rel_dir2'));
  await symlink('/', path.join(root, 'dir1/link_abs_root'));
  await symlink('/notexists', path.join(root, 'dir1/link_abs_notexists'));
  // No trailing newline, as in rkt's test image; plus garbage and short lines.
  await writeFile(
    path.join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\r\n' +
      '\n' +
      '# a comment:x:5:5\n' +
      'garbage line without colons\n' +
      'short:x:7\n' +
      'badnum:x:12a:3::/:\n' +
      ':x:8:8::/:\n' +
      '+nisuser:x:9:9::/:\n' +
      'svc:x:200:300:Service:/srv/svc:/bin/false\n' +
      'user1:x:1000:100::/:',
  );
  await writeFile(path.join(root, 'etc/group'), 'root:x:0:\nbroken\nwheel:x:10:root\ngroup1:x:100:user1');
  return root;
}

t.test('resolveInRoot resolves as if chrooted (rkt TestMountSymlink)', async (t) => {
  const root = await rktImage(t);
  const r = (p: string): Promise<string> => resolveInRoot(root, p);
  t.equal(await r('/dir1/link_abs_dir2/foo'), path.join(root, 'dir2/foo'), 'absolute symlink is relative to the root');
  t.equal(await r('/dir1/link_abs_dotdot_dir2/file'), path.join(root, 'dir2/file'), '/../ clamps at the root');
  t.equal(await r('/dir1/link_rel_dir2/file'), path.join(root, 'dir2/file'), 'relative symlink');
  t.equal(await r('/dir1/link_abs_root/dir1/file'), path.join(root, 'dir1/file'), 'symlink to /');
  t.equal(await r('/dir1/../../../foo'), path.join(root, 'foo'), '.. clamps at the root');
  t.equal(await r('dir1/file'), path.join(root, 'dir1/file'), 'relative input is taken from /');
  t.equal(await r('/'), root);
  t.equal(await r('/../..'), root);
  t.equal(
    await r('/dir1/link_abs_notexists/newdir1/newdir2/foo'),
    path.join(root, 'notexists/newdir1/newdir2/foo'),
    'missing components are kept as they are',
  );
  t.equal(
    await resolveInRoot(root, '/dir1/link_abs_dir2', { followFinal: false }),
    path.join(root, 'dir1/link_abs_dir2'),
    'followFinal: false keeps a final symlink',
  );
  t.equal(await resolveInRoot(root, '/dir1/link_rel_dir2/', { followFinal: false }), path.join(root, 'dir1/link_rel_dir2'));
  t.equal(await r('/dir1/link_abs_root/..'), root, 'a symlink then .. stays in the root');
});

t.test('resolveInRoot never leaves the root, through symlinks to host paths', async (t) => {
  const root = await tempRoot(t);
  await mkdir(path.join(root, 'etc'));
  await symlink('/hostetc', path.join(root, 'hostetc'));
  await symlink('../../../../../../../../etc/shadow', path.join(root, 'shadow'));
  await symlink('loop2', path.join(root, 'loop1'));
  await symlink('loop1', path.join(root, 'loop2'));
  await t.rejects(resolveInRoot(root, '/hostetc/passwd'), JetpackError, 'x -> /x is the root\'s x again: a loop');
  t.equal(await resolveInRoot(root, '/shadow'), path.join(root, 'etc/shadow'));
  await t.rejects(resolveInRoot(root, '/loop1/x'), JetpackError, 'a symlink loop is an error');
  const err = await resolveInRoot(root, '/loop1').catch((e: unknown) => e);
  t.ok(err instanceof JetpackError && err.kind === 'invalid' && /too many levels of symbolic links/.test(err.message));
});

t.test('a symlink chain stays inside the root', async (t) => {
  const root = await tempRoot(t);
  await mkdir(path.join(root, 'a/b'), { recursive: true });
  await symlink('../../../../x', path.join(root, 'a/b/up'));
  await symlink('/a/b/up/y', path.join(root, 'chain'));
  t.equal(await resolveInRoot(root, '/chain/z'), path.join(root, 'x/y/z'));
});

t.test('resolveUser: spec/aci.md rules, in order', async (t) => {
  const root = await rktImage(t);
  t.same(await resolveUser(root, 'user1'), { uid: 1000, gid: 100, home: '/', name: 'user1' }, 'name from a passwd without trailing newline');
  t.same(await resolveUser(root, 'svc'), { uid: 200, gid: 300, home: '/srv/svc', name: 'svc' });
  t.same(await resolveUser(root, 'root'), { uid: 0, gid: 0, home: '/root', name: 'root' }, 'CRLF line');
  t.same(await resolveUser(root, '1000'), { uid: 1000, gid: 100, home: '/', name: 'user1' }, 'number, enriched from passwd');
  t.same(await resolveUser(root, '4321'), { uid: 4321, gid: undefined, home: undefined, name: undefined }, 'number not in passwd');
  t.same(await resolveUser(root, '0'), { uid: 0, gid: 0, home: '/root', name: 'root' });
  for (const bad of ['short', 'badnum', 'garbage line without colons', '+nisuser', 'nosuchuser', '4294967295', '-1', 'user1 ']) {
    const err = await resolveUser(root, bad).catch((e: unknown) => e);
    t.ok(err instanceof JetpackError && err.kind === 'invalid', `"${bad}" is refused`);
    t.match(err instanceof Error ? err.message : '', bad.trim(), 'the message names the user');
  }
  const err = await resolveUser(root, 'nosuchuser').catch((e: unknown) => e);
  t.match(err instanceof Error ? err.message : '', /spec\/aci\.md/, 'the message names the rule');
  await t.rejects(resolveUser(root, ''), JetpackError);
});

t.test('resolveUser and resolveGroup: /path is the owner in the rootfs', { skip: isRoot ? false : 'needs root (chown)' }, async (t) => {
  const root = await rktImage(t);
  await mkdir(path.join(root, 'srv'));
  await writeFile(path.join(root, 'srv/owned'), '');
  await chown(path.join(root, 'srv/owned'), 1234, 5678);
  await symlink('/srv/owned', path.join(root, 'srv/link'));
  t.same(await resolveUser(root, '/srv/owned'), { uid: 1234, gid: undefined, home: undefined, name: undefined });
  t.equal(await resolveGroup(root, '/srv/owned'), 5678);
  t.equal((await resolveUser(root, '/srv/link')).uid, process.getuid?.(), 'a final symlink itself (lstat), like rkt');
  await chown(path.join(root, 'dir1'), 1000, 100);
  t.same(await resolveUser(root, '/dir1/link_rel_dir2/../dir1'), { uid: 1000, gid: 100, home: '/', name: 'user1' });
  const err = await resolveUser(root, '/no/such/file').catch((e: unknown) => e);
  t.ok(err instanceof JetpackError && err.kind === 'invalid' && err.message.includes('/no/such/file'));
  await t.rejects(resolveGroup(root, '/no/such/file'), JetpackError);
});

t.test('resolveGroup', async (t) => {
  const root = await rktImage(t);
  t.equal(await resolveGroup(root, 'group1'), 100, 'name from a group file without trailing newline');
  t.equal(await resolveGroup(root, 'wheel'), 10);
  t.equal(await resolveGroup(root, '77'), 77);
  t.equal(await resolveGroup(root, 'root'), 0);
  const err = await resolveGroup(root, 'nosuchgroup').catch((e: unknown) => e);
  t.ok(err instanceof JetpackError && err.kind === 'invalid');
  t.match(err instanceof Error ? err.message : '', /nosuchgroup.*spec\/aci\.md/);
  await t.rejects(resolveGroup(root, 'broken'), JetpackError);
  await t.rejects(resolveGroup(root, '99999999999'), JetpackError);
});

t.test('an image without /etc/passwd or /etc/group', async (t) => {
  const root = await tempRoot(t);
  t.same(await resolveUser(root, 'root'), { uid: 0, gid: undefined, home: undefined, name: undefined }, '"root" is 0 (rkt)');
  t.same(await resolveUser(root, '55'), { uid: 55, gid: undefined, home: undefined, name: undefined });
  t.equal(await resolveGroup(root, 'root'), 0);
  const err = await resolveUser(root, 'user1').catch((e: unknown) => e);
  t.match(err instanceof Error ? err.message : '', /no \/etc\/passwd/);
});

t.test('hostile images never read host files', async (t) => {
  const hostPasswd = await readFile('/etc/passwd', 'utf8');
  // Host users that exist in the host's /etc/passwd (and, with numeric fields, /etc/shadow).
  const hostUser = ['daemon', 'bin', 'sys', 'nobody'].find((u) => hostPasswd.split('\n').some((l) => l.startsWith(`${u}:`)));
  t.ok(hostUser, 'the host has a well-known user to look for');
  if (!hostUser) return;

  const cases: Array<[string, (root: string) => Promise<void>]> = [
    ['etc/passwd -> /etc/shadow', async (root) => {
      await mkdir(path.join(root, 'etc'));
      await symlink('/etc/shadow', path.join(root, 'etc/passwd'));
      await symlink('/etc/group', path.join(root, 'etc/group'));
    }],
    ['etc/passwd -> /etc/passwd (itself, a loop)', async (root) => {
      await mkdir(path.join(root, 'etc'));
      await symlink('/etc/passwd', path.join(root, 'etc/passwd'));
    }],
    ['etc/passwd -> ../../../../etc/passwd', async (root) => {
      await mkdir(path.join(root, 'etc'));
      await symlink('../../../../../../../../etc/passwd', path.join(root, 'etc/passwd'));
    }],
    ['etc -> /etc', async (root) => {
      await symlink('/etc', path.join(root, 'etc'));
    }],
    ['etc -> ../../../../etc', async (root) => {
      await symlink('../../../../../../../etc', path.join(root, 'etc'));
    }],
  ];
  for (const [name, make] of cases) {
    const root = await tempRoot(t);
    await make(root);
    const err = await resolveUser(root, hostUser).catch((e: unknown) => e);
    t.ok(err instanceof JetpackError && err.kind === 'invalid', `${name}: host user ${hostUser} is not resolved`);
    t.same(await resolveUser(root, 'root'), { uid: 0, gid: undefined, home: undefined, name: undefined }, `${name}: nothing read from the host`);
    await t.rejects(resolveGroup(root, hostUser), JetpackError, `${name}: host group ${hostUser} is not resolved`);
  }
});

t.test('a FIFO or a directory as /etc/passwd does not hang or crash', { skip: isRoot ? false : 'mkfifo as any user works, but keep it with the root tests' }, async (t) => {
  const root = await tempRoot(t);
  await mkdir(path.join(root, 'etc'));
  execFileSync('mkfifo', [path.join(root, 'etc/passwd')]);
  await mkdir(path.join(root, 'etc/group'));
  t.same(await resolveUser(root, '12'), { uid: 12, gid: undefined, home: undefined, name: undefined });
  await t.rejects(resolveUser(root, 'user1'), JetpackError);
  t.equal(await resolveGroup(root, '12'), 12);
});
