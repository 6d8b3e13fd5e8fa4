/**
 * `jetpack test`, the built-in smoke test: passes as root and cleans up after itself; refuses,
 * before touching anything, as another user.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { BIN } from './lib/fixtures.js';

const leftovers = (): string[] => readdirSync('/var/tmp').filter((n) => /^jetpack-test-[A-Za-z0-9]{6}$/.test(n));

t.test('jetpack test as root', async (t) => {
  const before = leftovers();
  const r = await execa(join(BIN, 'jetpack'), ['test'], { reject: false, stdin: 'ignore' });
  t.equal(r.exitCode, 0, `jetpack test passes (${r.stderr})`);
  t.match(r.stdout, /^ok 1 - import a base image[^\n]*\nok 2 - build a child image[^\n]*\nok 3 - create a pod[^\n]*\nok 4 - export the child[^\n]*\n4 passed, 0 failed$/);
  t.same(leftovers(), before, 'its throw-away stores are gone');
});

t.test('jetpack test as another user', async (t) => {
  const r = await execa('su', ['nobody', '-s', '/bin/sh', '-c', `env -i PATH=/usr/bin:/bin ${process.execPath} ${join(BIN, '..', '@jetpack', 'jetpack', 'dist', 'bundle', 'jetpack.mjs')} test`], { reject: false });
  t.equal(r.exitCode, 8, 'exit 8: the host lacks something (root)');
  t.equal(r.stderr, 'jetpack: test: needs root (it mounts filesystems and makes namespaces); nothing was touched');
});
