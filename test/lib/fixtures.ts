/**
 * Test fixtures made from real parts: an image layout from Debian's busybox-static, ACIs packed by
 * Debian's actool (an independent peer), stores on both drivers (a temp directory; a dataset on the
 * zfs-fuse pool named by $JETPACK_TEST_ZPOOL), and the real executables run as a user would.
 */
import { execa, type Result } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const BIN = join(REPO, 'node_modules', '.bin');

/** A temp directory removed by the caller's teardown. */
export function tempDir(prefix = 'jetpack-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface LayoutOptions {
  name?: string;
  labels?: Array<{ name: string; value: string }>;
  app?: Record<string, unknown> | null;
  extraManifest?: Record<string, unknown>;
}

/** Lay out an image: rootfs with busybox-static and its applets, /etc/passwd and /etc/group, and a manifest. */
export function busyboxLayout(dir: string, opts: LayoutOptions = {}): string {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'root', 'tmp', 'home/user']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:User:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nusers:x:100:user\nuser:x:1000:\nnogroup:x:65534:');
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: opts.name ?? 'example.com/busybox',
    labels: opts.labels ?? [{ name: 'version', value: '1.0' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
    ...(opts.app === null ? {} : { app: opts.app ?? { exec: ['/bin/sh', '-c', 'echo hello from $(hostname)'], user: '0', group: '0' } }),
    ...opts.extraManifest,
  };
  writeFileSync(join(dir, 'manifest'), JSON.stringify(manifest, null, 2));
  return dir;
}

/** Pack a layout with Debian's actool (`actool build`, gzip unless noCompression). */
export async function actoolBuild(layout: string, out: string, noCompression = false): Promise<string> {
  await execa('actool', ['build', '--overwrite', ...(noCompression ? ['--no-compression'] : []), layout, out]);
  return out;
}

/** A store for tests: a config file for the dir driver, or for a fresh dataset on the test pool. */
export interface TestStore {
  driver: 'dir' | 'zfs';
  config: string;
  root: string;
  dataset?: string;
  cleanup(): Promise<void>;
}

export async function makeStore(driver: 'dir' | 'zfs'): Promise<TestStore> {
  const base = tempDir('jetpack-store-');
  const root = join(base, 'root');
  const config = join(base, 'jetpack.conf');
  if (driver === 'dir') {
    writeFileSync(config, `# test store\nroot.dir = ${root}\n`);
    return {
      driver,
      config,
      root,
      cleanup: async () => {
        await execa('sh', ['-c', `grep -o " ${root}[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l; rm -rf ${base}`], { reject: false });
      },
    };
  }
  const pool = process.env['JETPACK_TEST_ZPOOL'];
  if (!pool) throw new Error('JETPACK_TEST_ZPOOL is not set: run the tests with `npm test` (scripts/test.sh starts zfs-fuse and a pool)');
  const dataset = `${pool}/t${randomBytes(4).toString('hex')}`;
  writeFileSync(config, `root.zfs = ${dataset}\nroot.zfs.mountpoint = ${root}\n`);
  await execa(join(BIN, 'jetpack'), [`-config=${config}`, 'init']);
  return {
    driver,
    config,
    root,
    dataset,
    cleanup: async () => {
      // zfs-fuse answers "dataset is busy" for a moment after a pod's mounts went away: retry.
      for (let i = 0; i < 30; i++) {
        const r = await execa('zfs', ['destroy', '-R', '-f', dataset], { reject: false });
        if (r.exitCode === 0 || /does not exist/.test(r.stderr)) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      await execa('rm', ['-rf', base], { reject: false });
    },
  };
}

/** Run a Jetpack executable against a store, as a user would; never rejects. */
export async function jp(store: TestStore, cmd: string, args: readonly string[], input?: string): Promise<Result> {
  return execa(join(BIN, cmd), cmd === 'jetpack' ? [`-config=${store.config}`, ...args] : [`--config=${store.config}`, ...args], {
    reject: false,
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
  });
}

/** Every file below a directory (relative paths), for "nothing changed" checks. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      out.push(r);
      if (e.isDirectory() && !e.isSymbolicLink()) walk(join(d, e.name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}
