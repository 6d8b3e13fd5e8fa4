#!/usr/bin/env node
/**
 * Jetpack's benchmark (issue 5): import, clone, run, scale and start-up, each against a bare
 * baseline, in one go on the same data. Prints one JSON document on stdout (medians of BENCH_RUNS
 * runs, default 5, and the ratios against the targets) and a human summary on stderr.
 *
 * Run it with `npm run --silent bench` (scripts/bench.sh: set-up, the zfs-fuse pool, then this file)
 * as root. What each measurement is and why: bench/README.md. No timed assertion lives in the tests;
 * this script never fails because a target is missed (only when a measurement cannot be made).
 *
 * Everything it makes (stores, datasets, pods, mounts, generated archives) is removed at the end,
 * also on an error, SIGINT, SIGTERM or SIGHUP.
 *
 * Environment:
 *   BENCH_RUNS=5            runs per measurement (the median is reported)
 *   BENCH_ONLY=a,b          sections to run (startup,run,import,clone,scale; default all)
 *   BENCH_TMPDIR=/var/tmp   where the work directory is made (needs ~3 GB free)
 *   BENCH_IMPORT_MB=200     uncompressed size of the import ACI
 *   BENCH_CLONE_MB=10,1024  sizes of the two clone images
 *   BENCH_SCALE_N=1000      images and pods of the large scale store (the small one has 10)
 *   BENCH_OUTPUT=FILE       also write the JSON to FILE
 *   JETPACK_BENCH_ZPOOL     the zfs pool for the zfs store (scripts/bench.sh sets it; also
 *                           JETPACK_TEST_ZPOOL); without one the zfs cases are reported unavailable
 */
import { spawnSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const REPO = path.resolve(import.meta.dirname, '..');
const RUNS = Math.max(1, parseInt(process.env.BENCH_RUNS ?? '5', 10) || 5);
const SECTIONS = ['startup', 'run', 'import', 'clone', 'scale'];
const ONLY = (process.env.BENCH_ONLY ?? SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const TMP = process.env.BENCH_TMPDIR ?? '/var/tmp';
const MB = 1024 * 1024;
const IMPORT_BYTES = Number(process.env.BENCH_IMPORT_MB ?? 200) * MB;
const CLONE_SIZES_MB = (process.env.BENCH_CLONE_MB ?? '10,1024').split(',').map(Number);
const SCALE_N = parseInt(process.env.BENCH_SCALE_N ?? '1000', 10);
const SCALE_SMALL = 10;
const POOL = process.env.JETPACK_BENCH_ZPOOL || process.env.JETPACK_TEST_ZPOOL || '';

// ------------------------------------------------------------------------------------------------
// Output and bookkeeping

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
const round = (x, d = 4) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? null : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/** Undo actions, run last-in first-out by cleanupAll (on exit, error and signals). */
const cleanups = [];
const onCleanup = (what, fn) => {
  const entry = { what, fn };
  cleanups.push(entry);
  // Undo now; on failure the entry stays for cleanupAll to try again.
  return () => {
    fn();
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
};
let cleaning = false;
function cleanupAll() {
  if (cleaning) return;
  cleaning = true;
  while (cleanups.length > 0) {
    const c = cleanups.pop();
    try {
      c.fn();
    } catch (err) {
      log(`cleanup of ${c.what} failed: ${err.message}`);
    }
  }
  cleaning = false;
}
const SIGNALS = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
/** Stop at once: clean up and exit 128+N. */
function interrupted(sig) {
  log(`${sig}: cleaning up`);
  cleanupAll();
  process.exit(SIGNALS[sig]);
}
for (const sig of Object.keys(SIGNALS)) process.on(sig, () => interrupted(sig));
process.on('exit', () => cleanupAll());

// ------------------------------------------------------------------------------------------------
// Running things

/** Run a command to completion; throws with its stderr unless it exits 0. Returns stdout (utf8). */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 30,
    encoding: 'utf8',
    ...opts,
  });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.signal in SIGNALS) interrupted(r.signal);
  if (r.status !== 0 && !opts.anyStatus) {
    const why = r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}: ${String(r.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`);
  }
  return opts.anyStatus ? r : r.stdout;
}

const sh = (script, ...args) => run('bash', ['-c', `set -euo pipefail\n${script}`, 'bash', ...args]);

/**
 * Time one run of a command, in seconds (wall clock, process.hrtime around spawnSync: the fork and
 * exec of the child are inside the measurement, the same for every case). stdout goes to /dev/null
 * unless `capture` (then it is returned too); a non-zero exit status is an error.
 */
function timeCmd(cmd, args, { env, capture = false, input } = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    stdio: [input === undefined ? 'ignore' : 'pipe', capture ? 'pipe' : 'ignore', 'pipe'],
    input,
    env: env ? { ...process.env, ...env } : process.env,
    maxBuffer: 1 << 30,
    encoding: 'utf8',
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  // A child killed by SIGINT/SIGTERM/SIGHUP: the terminal's ^C reached the whole process group.
  if (r.signal in SIGNALS) interrupted(r.signal);
  if (r.status !== 0) {
    const why = r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}: ${String(r.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`);
  }
  return { seconds, stdout: r.stdout };
}

/**
 * Measure cases round-robin: round r runs every case once (setup and teardown untimed), so slow
 * drifts of the machine (other load, page cache, writeback) fall on all cases alike.
 * @param cases {name: {run(): seconds, setup?(), teardown?()}}
 * @returns {name: {median, samples}}
 */
async function measure(label, cases, { runs = RUNS, warmup = false } = {}) {
  const names = Object.keys(cases);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = warmup ? -1 : 0; r < runs; r++) {
    for (const n of names) {
      const c = cases[n];
      c.setup?.();
      let s;
      try {
        s = c.run();
      } finally {
        c.teardown?.();
      }
      if (r >= 0) samples[n].push(s);
      // Let the event loop turn, so that a signal sent to this process is handled now.
      await new Promise((resolve) => setImmediate(resolve));
    }
    log(`${label}: round ${r < 0 ? 'warm-up' : `${r + 1}/${runs}`} ${names.map((n) => `${n}=${samples[n].length ? samples[n].at(-1).toFixed(3) : '-'}`).join(' ')}`);
  }
  return Object.fromEntries(names.map((n) => [n, { median: round(median(samples[n])), samples: samples[n].map((x) => round(x)) }]));
}

/**
 * bin name → executable (the package.json bin: commands/<dir>/dist/bundle/<name>.mjs, made by
 * scripts/bundle.mjs, what scripts/setup.sh links into /usr/local/bin); PKG: bin name → package directory.
 */
const PKG = {};
const BIN = (() => {
  const out = {};
  for (const d of fs.readdirSync(path.join(REPO, 'commands'))) {
    const pkgFile = path.join(REPO, 'commands', d, 'package.json');
    if (!fs.existsSync(pkgFile)) continue;
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
    for (const [name, rel] of Object.entries(pkg.bin ?? {})) {
      out[name] = path.join(REPO, 'commands', d, rel);
      PKG[name] = path.join(REPO, 'commands', d);
    }
  }
  return out;
})();
function bin(name) {
  const p = BIN[name];
  if (!p || !fs.existsSync(p)) throw new Error(`${name}: not built (run scripts/bench.sh, or pnpm run build)`);
  return p;
}

const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

// ------------------------------------------------------------------------------------------------
// Temporary files, stores and data

let WORK = '';
function workDir() {
  if (WORK === '') {
    WORK = fs.mkdtempSync(path.join(TMP, 'jetpack-bench-'));
    onCleanup(`work directory ${WORK}`, () => {
      unmountUnder(WORK);
      fs.rmSync(WORK, { recursive: true, force: true });
    });
  }
  return WORK;
}

/** Every mount point at or below dir, deepest first. */
function mountsUnder(dir) {
  const out = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = f[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(`${dir}/`)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}
function unmountUnder(dir) {
  for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
}

/**
 * zfs destroy -R -f, retried while zfs-fuse says the dataset is busy (it does for a while after
 * files in it were closed, longer on a loaded machine); from the fifth try on, every dataset below
 * is unmounted first (zfs unmount -f, then umount -l of what is still mounted).
 */
function zfsDestroy(ds) {
  let last = '';
  for (let i = 0; i < 40; i++) {
    if (i >= 4) {
      const list = spawnSync('zfs', ['list', '-H', '-r', '-o', 'name,mountpoint', ds], { encoding: 'utf8' });
      for (const line of String(list.stdout ?? '').trim().split('\n').reverse()) {
        const [name, mp] = line.split('\t');
        if (!name) continue;
        spawnSync('zfs', ['unmount', '-f', name], { stdio: 'ignore' });
        if (mp && mp.startsWith('/')) unmountUnder(mp);
      }
    }
    const r = spawnSync('zfs', ['destroy', '-R', '-f', ds], { encoding: 'utf8' });
    if (r.status === 0 || /does not exist/.test(r.stderr)) return;
    last = String(r.stderr).trim();
    spawnSync('sleep', [String(Math.min(0.2 * (i + 1), 1))]);
  }
  throw new Error(`zfs destroy -R -f ${ds} kept failing: ${last}`);
}

/**
 * A store in the work directory: a config file for the dir driver (root.dir), or for a fresh
 * dataset on the pool (root.zfs + root.zfs.mountpoint), initialised with `jetpack init`.
 * Commands get it through $JETPACK_CONF.
 */
function makeStore(driver, name) {
  const base = path.join(workDir(), name);
  const root = path.join(base, 'root');
  const config = path.join(base, 'jetpack.conf');
  fs.mkdirSync(base, { recursive: true });
  let dataset;
  if (driver === 'dir') {
    fs.writeFileSync(config, `# jetpack bench store\nroot.dir = ${root}\n`);
  } else {
    dataset = `${POOL}/bench-${randomBytes(4).toString('hex')}`;
    fs.writeFileSync(config, `# jetpack bench store\nroot.zfs = ${dataset}\nroot.zfs.mountpoint = ${root}\n`);
  }
  const store = { driver, base, root, config, dataset, env: { JETPACK_CONF: config } };
  store.destroy = onCleanup(`${driver} store ${dataset ?? root}`, () => {
    if (dataset) zfsDestroy(dataset);
    unmountUnder(base);
    fs.rmSync(base, { recursive: true, force: true });
  });
  run(bin('jetpack'), [`-config=${config}`, 'init'], { env: { ...process.env, ...store.env } });
  return store;
}

/** Import an archive (plus manifest) into a store with aci-import; returns the image JSON. */
function importInto(store, archive, manifest) {
  const out = run(bin('aci-import'), manifest ? [archive, manifest] : [archive], { env: { ...process.env, ...store.env } });
  return JSON.parse(out);
}

let usrEntries = null;
/** Regular files and symlinks of /usr/lib and /usr/share, sorted by path. */
function usrIndex() {
  if (usrEntries === null) {
    const out = run('find', ['/usr/lib', '/usr/share', '-xdev', '(', '-type', 'f', '-o', '-type', 'l', ')', '-printf', '%y %s %p\\0']);
    usrEntries = out
      .split('\0')
      .filter(Boolean)
      .map((l) => {
        const a = l.indexOf(' ');
        const b = l.indexOf(' ', a + 1);
        return { type: l.slice(0, a), size: Number(l.slice(a + 1, b)), path: l.slice(b + 1) };
      })
      .filter((e) => !/[\n\\]/.test(e.path))
      .sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  }
  return usrEntries;
}

/**
 * Pick real files of this machine's /usr/lib and /usr/share adding up to `targetBytes`: every
 * k-th entry of the sorted list (k = total size / target, so the sample spreads over the whole
 * tree: libraries, docs, locales, headers, scripts), symlinks included, files bigger than 1/8 of
 * the target skipped so that no single file dominates, plus the parent directories.
 */
function sampleUsr(targetBytes) {
  const entries = usrIndex();
  const maxFile = Math.max(targetBytes / 8, MB);
  const total = entries.reduce((s, e) => s + (e.type === 'f' && e.size <= maxFile ? e.size : 0), 0);
  if (total < targetBytes) throw new Error(`/usr/lib and /usr/share hold only ${total} bytes of files, need ${targetBytes}`);
  const stride = Math.max(1, Math.floor(total / targetBytes));
  const chosen = new Set();
  let bytes = 0;
  let files = 0;
  done: for (let off = 0; off < stride; off++) {
    for (let i = off; i < entries.length; i += stride) {
      const e = entries[i];
      if (chosen.has(i) || (e.type === 'f' && e.size > maxFile)) continue;
      chosen.add(i);
      if (e.type === 'f') {
        bytes += e.size;
        files++;
        if (bytes >= targetBytes) break done;
      }
    }
  }
  const names = new Set();
  for (const i of chosen) {
    const rel = entries[i].path.slice(1);
    names.add(rel);
    for (let d = path.dirname(rel); d !== '.'; d = path.dirname(d)) names.add(d);
  }
  const list = [...names].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  return { list, files, bytes, entries: list.length };
}

/**
 * Write an ACI tar (uncompressed) of a sample of /usr: `manifest`, `rootfs`, `rootfs/usr/...`
 * (GNU tar, numeric owners, entries in path order). Returns its path and what is in it.
 */
function makeUsrAci(dir, name, targetBytes, manifestExtra = {}) {
  const stage = path.join(dir, `${name}.stage`);
  fs.mkdirSync(path.join(stage, 'rootfs'), { recursive: true });
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: `example.com/bench-${name}`,
    labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
    ...manifestExtra,
  };
  fs.writeFileSync(path.join(stage, 'manifest'), JSON.stringify(manifest, null, 2));
  const sample = sampleUsr(targetBytes);
  const listFile = path.join(dir, `${name}.list`);
  fs.writeFileSync(listFile, sample.list.join('\0') + '\0');
  const tar = path.join(dir, `${name}.aci.tar`);
  run('tar', ['--null', '--no-recursion', '--numeric-owner', '--transform=flags=rh;s,^usr,rootfs/usr,', '-cf', tar, '-C', stage, 'manifest', 'rootfs', '-C', '/', '-T', listFile]);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.rmSync(listFile, { force: true });
  return { tar, files: sample.files, entries: sample.entries + 2, file_bytes: sample.bytes, tar_bytes: fs.statSync(tar).size };
}

/**
 * Lay out a busybox-static image whose app runs /bin/true (like test/lib/fixtures.ts), with the
 * mount points the bare tools need and a /usr/lib/os-release (systemd-nspawn refuses a directory
 * without /usr), and pack it with Debian's actool.
 */
function makeTrueAci(dir) {
  const layout = path.join(dir, 'true.layout');
  const rootfs = path.join(layout, 'rootfs');
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'dev', 'sys', 'usr/lib']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of run('/bin/busybox', ['--list']).split('\n')) {
    if (a !== '' && a !== 'busybox') fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  }
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(rootfs, 'usr/lib/os-release'), 'ID=busybox\nNAME=BusyBox\n');
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/bench-true',
    labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
    app: { exec: ['/bin/true'], user: '0', group: '0' },
  };
  fs.writeFileSync(path.join(layout, 'manifest'), JSON.stringify(manifest, null, 2));
  const aci = path.join(dir, 'true.aci');
  run('actool', ['build', '--overwrite', layout, aci]);
  return { aci, rootfs };
}

const nodeE0 = () => timeCmd(process.execPath, ['-e', '0']).seconds;

// ------------------------------------------------------------------------------------------------
// Sections

/** start-up: every command's --help against `node -e 0`; target each ≤ 1.5x. */
async function benchStartup() {
  const names = Object.keys(BIN).sort();
  const cases = { 'node -e 0': { run: nodeE0 } };
  for (const n of names) cases[n] = { run: () => timeCmd(bin(n), ['--help']).seconds };
  const m = await measure('startup', cases, { warmup: true });
  const base = m['node -e 0'].median;
  const ratio = Object.fromEntries(names.map((n) => [n, round(m[n].median / base, 2)]));
  const worst = names.reduce((a, b) => (ratio[a] >= ratio[b] ? a : b));
  return {
    seconds: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.median])),
    samples: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.samples])),
    ratio,
    worst: { command: worst, ratio: ratio[worst] },
    median_ratio: round(median(Object.values(ratio)), 2),
    target: 'each command --help <= 1.5x node -e 0',
    meets: Object.values(ratio).every((r) => r <= 1.5),
  };
}

/** systemd-nspawn's availability here, and the arguments that work (see README). */
function probeNspawn(rootfs) {
  if (!have('systemd-nspawn')) return { available: false, reason: 'systemd-nspawn not installed (apt package systemd-container)' };
  const pid1 = fs.readFileSync('/proc/1/comm', 'utf8').trim();
  // nspawn makes /run/systemd/nspawn (propagate/, locks/) even when it fails: remove it afterwards
  // if it was not there before.
  const dir = '/run/systemd/nspawn';
  if (!fs.existsSync(dir)) onCleanup(dir, () => fs.rmSync(dir, { recursive: true, force: true }));
  const plain = ['-q', '-D', rootfs, '/bin/true'];
  let r = run('systemd-nspawn', plain, { anyStatus: true });
  if (r.status === 0) return { available: true, args: plain, variant: 'systemd-nspawn -q -D ROOTFS /bin/true' };
  const firstError = String(r.stderr).trim().split('\n').slice(0, 2).join(' / ');
  // Without systemd as PID 1 there is no system bus to register the machine or make a scope with:
  // --register=no --keep-unit skips both. nspawn also refuses to clean its propagation directory
  // unless /run/systemd/nspawn is on a tmpfs (it is, where /run is a tmpfs).
  const args = ['-q', '--register=no', '--keep-unit', '-D', rootfs, '/bin/true'];
  const notes = [`PID 1 is ${pid1}`, `plain systemd-nspawn failed: ${firstError}`];
  r = run('systemd-nspawn', args, { anyStatus: true });
  if (r.status !== 0 && /disk file system|propagate/.test(r.stderr)) {
    fs.mkdirSync(dir, { recursive: true });
    run('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'jetpack-bench', dir]);
    onCleanup(`tmpfs on ${dir}`, () => void spawnSync('umount', ['-l', dir], { stdio: 'ignore' }));
    notes.push(`mounted a tmpfs on ${dir} for the run (/run is not a tmpfs here)`);
    r = run('systemd-nspawn', args, { anyStatus: true });
  }
  if (r.status === 0) {
    return { available: true, args, variant: 'systemd-nspawn -q --register=no --keep-unit -D ROOTFS /bin/true', note: notes.join('; ') };
  }
  notes.push(`with --register=no --keep-unit: ${String(r.stderr).trim().split('\n').slice(0, 2).join(' / ')}`);
  return { available: false, reason: notes.join('; ') };
}

/** run: jail-run of a pod running /bin/true against bare namespace tools and node -e 0. */
async function benchRun() {
  const dir = path.join(workDir(), 'run');
  fs.mkdirSync(dir, { recursive: true });
  const { aci, rootfs } = makeTrueAci(dir);
  const store = makeStore('dir', 'run-store');
  const image = importInto(store, aci);
  const pod = JSON.parse(run(bin('pod-create'), [image.uuid], { env: { ...process.env, ...store.env } }));
  const env = store.env;
  const cases = {
    'jail-run': { run: () => timeCmd(bin('jail-run'), [pod.uuid], { env }).seconds },
    'jail-run --net=host': { run: () => timeCmd(bin('jail-run'), ['--net=host', pod.uuid], { env }).seconds },
    'jetpack pod run': { run: () => timeCmd(bin('jetpack'), ['pod', pod.uuid, 'run'], { env }).seconds },
    unshare: { run: () => timeCmd('unshare', ['--fork', '--pid', '--mount', '--uts', '--ipc', '--net', `--root=${rootfs}`, '/bin/true']).seconds },
    'node -e 0': { run: nodeE0 },
  };
  const unavailable = {};
  if (have('bwrap')) {
    cases.bwrap = { run: () => timeCmd('bwrap', ['--bind', rootfs, '/', '--dev', '/dev', '--proc', '/proc', '--unshare-all', '/bin/true']).seconds };
  } else unavailable.bwrap = 'bwrap not installed (apt package bubblewrap)';
  const ns = probeNspawn(rootfs);
  if (ns.available) cases['systemd-nspawn'] = { run: () => timeCmd('systemd-nspawn', ns.args).seconds };
  else unavailable['systemd-nspawn'] = ns.reason;
  const m = await measure('run', cases, { warmup: true });
  store.destroy();
  const s = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.median]));
  const jr = s['jail-run'];
  const bare = s['node -e 0'] + s.unshare;
  const ratio = {
    'jail-run / (node -e 0 + unshare)': round(jr / bare, 2),
    'jail-run / systemd-nspawn': s['systemd-nspawn'] ? round(jr / s['systemd-nspawn'], 2) : null,
    'jail-run / bwrap': s.bwrap ? round(jr / s.bwrap, 2) : null,
    'jail-run --net=host / (node -e 0 + unshare)': round(s['jail-run --net=host'] / bare, 2),
  };
  const meetsNspawn = s['systemd-nspawn'] ? jr <= s['systemd-nspawn'] : null;
  const meetsBare = jr <= 1.3 * bare;
  return {
    seconds: s,
    samples: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.samples])),
    ratio,
    target: 'jail-run <= systemd-nspawn, and <= 1.3x (node -e 0 + bare unshare)',
    meets_nspawn: meetsNspawn,
    meets_bare: meetsBare,
    meets: meetsBare && meetsNspawn !== false,
    ...(ns.available ? { nspawn: { variant: ns.variant, ...(ns.note ? { note: ns.note } : {}) } } : {}),
    ...(Object.keys(unavailable).length ? { unavailable } : {}),
  };
}

/** import: aci-import of a ~200 MB (uncompressed) xz ACI of real files against xz | tee sha512sum | tar. */
async function benchImport() {
  const dir = path.join(workDir(), 'import');
  fs.mkdirSync(dir, { recursive: true });
  log(`import: sampling ${IMPORT_BYTES / MB} MB of /usr/lib and /usr/share into an ACI`);
  let t0 = process.hrtime.bigint();
  const data = makeUsrAci(dir, 'usr', IMPORT_BYTES);
  const tarSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const aci = `${data.tar}.xz`;
  t0 = process.hrtime.bigint();
  sh('xz -1 -T2 -c "$1" > "$2"', data.tar, aci);
  const xzSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  log(`import: ${data.files} files, ${(data.tar_bytes / MB).toFixed(1)} MB tar, ${(fs.statSync(aci).size / MB).toFixed(1)} MB xz (tar ${tarSeconds.toFixed(1)} s, xz ${xzSeconds.toFixed(1)} s)`);

  const store = makeStore('dir', 'import-store');
  const env = store.env;
  const out = path.join(dir, 'native');
  const importCase = (args) => ({
    run() {
      const r = timeCmd(bin('aci-import'), args, { env, capture: true });
      this.uuid = JSON.parse(r.stdout).uuid;
      return r.seconds;
    },
    teardown() {
      if (this.uuid) run(bin('image-destroy'), [this.uuid], { env: { ...process.env, ...env } });
      this.uuid = undefined;
      spawnSync('sync');
    },
  });
  const nativeCase = (script) => ({
    setup: () => fs.mkdirSync(path.join(out, 'x'), { recursive: true }),
    run: () => timeCmd('bash', ['-c', `set -euo pipefail\n${script}`, 'bash', out, aci]).seconds,
    teardown: () => {
      fs.rmSync(out, { recursive: true, force: true });
      spawnSync('sync');
    },
  });
  // The issue's pipeline, `xz -dc | tee >(sha512sum) | tar -x`, with the process substitution as a
  // FIFO so that the time includes sha512sum finishing.
  const NATIVE = 'mkfifo "$1/h"; sha512sum < "$1/h" > "$1/sum" & xz -dc "$2" | tee "$1/h" | tar -xf - -C "$1/x"; wait';
  // The same plus keeping the uncompressed tar, which aci-import also does (image.tar, for export).
  const NATIVE_KEEP = 'mkfifo "$1/h"; sha512sum < "$1/h" > "$1/sum" & xz -dc "$2" | tee "$1/h" "$1/image.tar" | tar -xf - -C "$1/x"; wait';
  const decodeWasm = [
    '--input-type=module',
    '-e',
    `const { openSource } = await import(${JSON.stringify(pathToFileURL(path.join(REPO, 'shared/dist/archive/source.js')).href)});
     const { decompress } = await import(${JSON.stringify(pathToFileURL(path.join(REPO, 'shared/dist/archive/decompress.js')).href)});
     const { stream } = await decompress(await openSource(process.argv[1]), process.argv[1], { native: false });
     let n = 0; for await (const c of stream) n += c.length;
     if (n !== Number(process.argv[2])) throw new Error('decoded ' + n + ' bytes');`,
    aci,
    String(data.tar_bytes),
  ];
  const cases = {
    'aci-import': importCase([aci]),
    native: nativeCase(NATIVE),
    // Where the time goes:
    'native + keep tar': nativeCase(NATIVE_KEEP),
    'xz -dc > /dev/null': { run: () => timeCmd('xz', ['-dc', aci]).seconds },
    'wasm xz decode (node, shared/archive/decompress)': { run: () => timeCmd(process.execPath, decodeWasm).seconds },
    'aci-import of the uncompressed tar': importCase([data.tar]),
    'cat tar | aci-import -': {
      ...importCase([]),
      run() {
        const r = timeCmd('bash', ['-c', 'set -o pipefail; cat "$1" | "$2" -', 'bash', data.tar, bin('aci-import')], { env, capture: true });
        this.uuid = JSON.parse(r.stdout).uuid;
        return r.seconds;
      },
    },
    'xz -dc | aci-import -': {
      ...importCase([]),
      run() {
        const r = timeCmd('bash', ['-c', 'set -o pipefail; xz -dc "$1" | "$2" -', 'bash', aci, bin('aci-import')], { env, capture: true });
        this.uuid = JSON.parse(r.stdout).uuid;
        return r.seconds;
      },
    },
  };
  const m = await measure('import', cases);
  store.destroy();
  const s = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.median]));
  return {
    data: {
      source: 'a sample of this machine\'s /usr/lib and /usr/share (every k-th file, sorted by path)',
      files: data.files,
      tar_entries: data.entries,
      file_bytes: data.file_bytes,
      uncompressed_bytes: data.tar_bytes,
      xz_bytes: fs.statSync(aci).size,
      compression: 'xz -1 -T2',
      generate_seconds: { tar: round(tarSeconds, 2), xz: round(xzSeconds, 2) },
    },
    seconds: s,
    samples: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.samples])),
    ratio: round(s['aci-import'] / s.native, 2),
    ratios: {
      'aci-import / native': round(s['aci-import'] / s.native, 2),
      'aci-import / (native + keep tar)': round(s['aci-import'] / s['native + keep tar'], 2),
      'wasm decode / xz -dc': round(s['wasm xz decode (node, shared/archive/decompress)'] / s['xz -dc > /dev/null'], 2),
      '(xz -dc | aci-import -) / native': round(s['xz -dc | aci-import -'] / s.native, 2),
      '(xz -dc | aci-import -) / (native + keep tar)': round(s['xz -dc | aci-import -'] / s['native + keep tar'], 2),
    },
    target: 'aci-import <= 1.2x native (xz -dc | tee >(sha512sum) | tar -x)',
    meets: s['aci-import'] <= 1.2 * s.native,
  };
}

/** clone: pod-create on a small and a large image on each driver, against a bare zfs clone + node -e 0. */
async function benchClone() {
  const dir = path.join(workDir(), 'clone');
  fs.mkdirSync(dir, { recursive: true });
  const sizes = CLONE_SIZES_MB.map((mb) => ({ mb, label: mb >= 1024 ? `${mb / 1024}GB` : `${mb}MB` }));
  const images = {};
  for (const sz of sizes) {
    log(`clone: making a ${sz.label} image from /usr`);
    images[sz.label] = makeUsrAci(dir, `clone${sz.mb}`, sz.mb * MB, { app: { exec: ['/bin/true'], user: '0', group: '0' } });
  }
  const drivers = ['dir'];
  const unavailable = {};
  if (POOL && have('zfs') && spawnSync('zpool', ['list', '-H', POOL], { stdio: 'ignore' }).status === 0) drivers.push('zfs');
  else unavailable.zfs = `no zfs pool (set JETPACK_BENCH_ZPOOL; scripts/bench.sh starts zfs-fuse with ${POOL || 'jetpack-test'})`;
  const cases = { 'node -e 0': { run: nodeE0 } };
  const stores = {};
  for (const driver of drivers) {
    const store = makeStore(driver, `clone-${driver}`);
    stores[driver] = store;
    for (const sz of sizes) {
      log(`clone: importing the ${sz.label} image into the ${driver} store`);
      const image = importInto(store, images[sz.label].tar);
      const env = store.env;
      cases[`pod-create ${driver} ${sz.label}`] = {
        run() {
          const r = timeCmd(bin('pod-create'), [image.uuid], { env, capture: true });
          this.pod = JSON.parse(r.stdout).uuid;
          return r.seconds;
        },
        teardown() {
          if (this.pod) run(bin('pod-destroy'), [this.pod], { env: { ...process.env, ...env } });
          this.pod = undefined;
        },
      };
      if (driver === 'zfs') {
        const snap = `${store.dataset}/images/${image.uuid}@seal`;
        let n = 0;
        cases[`zfs clone ${sz.label}`] = {
          setup() {
            this.ds = `${store.dataset}/bare-${sz.mb}-${n++}`;
            this.mp = path.join(store.base, path.basename(this.ds));
          },
          run() {
            return timeCmd('zfs', ['clone', '-o', `mountpoint=${this.mp}`, snap, this.ds]).seconds;
          },
          teardown() {
            zfsDestroy(this.ds);
            fs.rmSync(this.mp, { recursive: true, force: true });
          },
        };
      } else {
        // For reference: the mount the dir driver makes, bare.
        const lower = image.rootfs;
        cases[`mount overlay ${sz.label}`] = {
          setup() {
            this.d = path.join(store.base, `bare-${sz.mb}`);
            for (const s of ['upper', 'work', 'rootfs']) fs.mkdirSync(path.join(this.d, s), { recursive: true });
          },
          run() {
            const o = `lowerdir=${lower},upperdir=${this.d}/upper,workdir=${this.d}/work`;
            return timeCmd('mount', ['-t', 'overlay', 'overlay', '-o', o, `${this.d}/rootfs`]).seconds;
          },
          teardown() {
            unmountUnder(this.d);
            fs.rmSync(this.d, { recursive: true, force: true });
          },
        };
      }
    }
  }
  for (const sz of sizes) fs.rmSync(images[sz.label].tar, { force: true });
  const m = await measure('clone', cases, { warmup: true });
  for (const store of Object.values(stores)) store.destroy();
  const s = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.median]));
  const [small, large] = sizes.map((z) => z.label);
  const ratios = {};
  const checks = [];
  for (const driver of drivers) {
    const a = s[`pod-create ${driver} ${small}`];
    const b = s[`pod-create ${driver} ${large}`];
    const r = round(Math.max(a, b) / Math.min(a, b), 2);
    ratios[`${driver}: ${large} vs ${small}`] = r;
    checks.push(r <= 1.2);
    if (drivers.includes('zfs')) {
      for (const sz of [small, large]) {
        const base = s[`zfs clone ${sz}`] + s['node -e 0'];
        const rb = round(s[`pod-create ${driver} ${sz}`] / base, 2);
        ratios[`${driver} ${sz} / (zfs clone + node -e 0)`] = rb;
        checks.push(rb <= 2);
      }
    }
  }
  if (drivers.length === 2) {
    for (const sz of [small, large]) {
      const a = s[`pod-create dir ${sz}`];
      const b = s[`pod-create zfs ${sz}`];
      ratios[`zfs vs dir ${sz} (for reference)`] = round(Math.max(a, b) / Math.min(a, b), 2);
    }
  }
  return {
    images: Object.fromEntries(sizes.map((z) => [z.label, { files: images[z.label].files, uncompressed_bytes: images[z.label].tar_bytes }])),
    seconds: s,
    samples: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.samples])),
    ratios,
    target: `per driver, pod-create on the ${small} and the ${large} image within 1.2x of each other, and each <= 2x (bare zfs clone + node -e 0)`,
    meets: checks.every(Boolean) && drivers.includes('zfs'),
    ...(Object.keys(unavailable).length ? { unavailable } : {}),
  };
}

/** Run async tasks with a concurrency limit. */
async function pool(tasks, limit) {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** A command run as a child process, asynchronously; rejects unless it exits 0. */
function spawnAsync(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim()}`))));
  });
}

/** A command's main(argv) from its dist/command.js (what its executable's bundle is made from), or null. */
async function commandMain(name) {
  try {
    bin(name);
    const mod = await import(pathToFileURL(path.join(PKG[name], 'dist', 'command.js')).href);
    return typeof mod.main === 'function' ? mod.main : null;
  } catch {
    return null;
  }
}

/**
 * Fill a dir store with n images (one tiny rootfs tarball imported n times with n different
 * manifests, so n different image IDs) and n pods (pod i from image i), with the real commands:
 * aci-import ARCHIVE MANIFEST and pod-create. To be quick they run in this process, one after the
 * other, through each command's main(argv) (the code its executable runs, minus node's start-up);
 * if that is not possible, as child processes, two at a time.
 */
async function populate(store, n, dir) {
  const tiny = path.join(dir, 'tiny.tar');
  if (!fs.existsSync(tiny)) {
    const root = path.join(dir, 'tiny');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/hello'), 'hello\n');
    run('tar', ['--numeric-owner', '-cf', tiny, '-C', root, '.']);
  }
  const mdir = path.join(dir, `manifests-${n}`);
  fs.mkdirSync(mdir, { recursive: true });
  const manifest = (i) => {
    const mf = path.join(mdir, `${i}.json`);
    fs.writeFileSync(mf, JSON.stringify({ name: `example.com/scale-${i}`, labels: [{ name: 'version', value: '1' }], app: { exec: ['/bin/true'], user: '0', group: '0' } }));
    return mf;
  };
  /** Run a command: in process when its main is at hand, else as a child; returns its JSON. */
  const saved = process.env.JETPACK_CONF;
  const viaMain = async (main, argv) => {
    process.env.JETPACK_CONF = store.config;
    try {
      const r = await main(argv);
      if (!r || !('json' in r)) throw new Error(`no JSON (status ${r?.status})`);
      return r.json;
    } finally {
      if (saved === undefined) delete process.env.JETPACK_CONF;
      else process.env.JETPACK_CONF = saved;
    }
  };
  const many = async (name, argvOf) => {
    const main = await commandMain(name);
    const out = new Array(n);
    let i = 0;
    if (main !== null) {
      try {
        out[0] = await viaMain(main, argvOf(0));
        for (i = 1; i < n; i++) out[i] = await viaMain(main, argvOf(i));
        return { out, how: 'in process' };
      } catch (err) {
        if (i > 0) throw err;
        log(`scale: ${name} in process failed (${err.message}); using child processes`);
      }
    }
    await pool(Array.from({ length: n }, (_, k) => async () => void (out[k] = JSON.parse(await spawnAsync(bin(name), argvOf(k), store.env)))), 2);
    return { out, how: 'child processes, 2 at a time' };
  };
  let t0 = Date.now();
  const images = await many('aci-import', (i) => [tiny, manifest(i)]);
  const imagesSeconds = (Date.now() - t0) / 1000;
  log(`scale: ${n} images imported in ${imagesSeconds.toFixed(1)} s (${images.how})`);
  t0 = Date.now();
  const pods = await many('pod-create', (i) => [images.out[i].uuid]);
  const podsSeconds = (Date.now() - t0) / 1000;
  log(`scale: ${n} pods created in ${podsSeconds.toFixed(1)} s (${pods.how})`);
  fs.rmSync(mdir, { recursive: true, force: true });
  // Not a target: how long filling the store took (each import and pod-create sees a fuller store).
  return { images_seconds: round(imagesSeconds, 1), pods_seconds: round(podsSeconds, 1), how: images.how === pods.how ? images.how : `${images.how} / ${pods.how}` };
}

/** scale: image list and pod list with SCALE_N images and pods against 10 of each (dir stores). */
async function benchScale() {
  const dir = path.join(workDir(), 'scale');
  fs.mkdirSync(dir, { recursive: true });
  const small = makeStore('dir', 'scale-small');
  const large = makeStore('dir', 'scale-large');
  const fill = { [SCALE_SMALL]: await populate(small, SCALE_SMALL, dir), [SCALE_N]: await populate(large, SCALE_N, dir) };
  const count = (store, what) => JSON.parse(run(bin('jetpack'), ['-json', what, 'list'], { env: { ...process.env, ...store.env } })).length;
  const counts = { small: { images: count(small, 'image'), pods: count(small, 'pod') }, large: { images: count(large, 'image'), pods: count(large, 'pod') } };
  const cases = {};
  for (const [label, store] of [[`${SCALE_SMALL}`, small], [`${SCALE_N}`, large]]) {
    cases[`image list ${label}`] = { run: () => timeCmd(bin('jetpack'), ['image', 'list'], { env: store.env }).seconds };
    cases[`pod list ${label}`] = { run: () => timeCmd(bin('jetpack'), ['pod', 'list'], { env: store.env }).seconds };
  }
  const m = await measure('scale', cases, { warmup: true });
  const s = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.median]));
  const ratios = {
    'image list': round(s[`image list ${SCALE_N}`] / s[`image list ${SCALE_SMALL}`], 2),
    'pod list': round(s[`pod list ${SCALE_N}`] / s[`pod list ${SCALE_SMALL}`], 2),
  };
  // Unmount and remove the 1,000 pods' overlays now rather than at exit.
  large.destroy();
  small.destroy();
  return {
    counts,
    populate: fill,
    seconds: s,
    samples: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.samples])),
    ratios,
    target: `image list and pod list with ${SCALE_N} images and pods < 2x with ${SCALE_SMALL}`,
    meets: Object.values(ratios).every((r) => r < 2),
  };
}

// ------------------------------------------------------------------------------------------------
// Main

function machine() {
  const cpus = os.cpus();
  const tool = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return r.status === 0 ? (r.stdout || r.stderr).split('\n')[0].trim() : null;
  };
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? null,
    memory: os.totalmem(),
    memory_gib: round(os.totalmem() / 1024 ** 3, 1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    loadavg_at_start: os.loadavg().map((x) => round(x, 2)),
    tools: { xz: tool('xz', ['--version']), tar: tool('tar', ['--version']), bwrap: tool('bwrap', ['--version']), 'systemd-nspawn': tool('systemd-nspawn', ['--version']) },
  };
}

function summary(doc) {
  const lines = [`Jetpack benchmark: ${doc.machine.cpus} CPUs, ${doc.machine.memory_gib} GiB, ${doc.machine.kernel}, node ${doc.machine.node}; medians of ${doc.runs} runs; load ${doc.machine.loadavg_at_start.join(' ')} at start`];
  const mark = (ok) => (ok === true ? 'MET ' : ok === false ? 'MISS' : 'N/A ');
  const r = doc.results;
  const f = (x) => (x === null || x === undefined ? '  n/a' : `${x.toFixed(3)}s`);
  if (r.import?.seconds) {
    const s = r.import.seconds;
    lines.push(`${mark(r.import.meets)} import   aci-import ${f(s['aci-import'])} vs xz|tee sha512sum|tar ${f(s.native)} = ${r.import.ratio}x (target <= 1.2x)`);
    lines.push(`          xz -dc ${f(s['xz -dc > /dev/null'])}, wasm decode ${f(s['wasm xz decode (node, shared/archive/decompress)'])}, aci-import of plain tar ${f(s['aci-import of the uncompressed tar'])}, xz -dc | aci-import - ${f(s['xz -dc | aci-import -'])} = ${r.import.ratios['(xz -dc | aci-import -) / native']}x native`);
  }
  if (r.clone?.seconds) {
    lines.push(`${mark(r.clone.meets)} clone    ${Object.entries(r.clone.seconds).filter(([k]) => k.startsWith('pod-create')).map(([k, v]) => `${k.slice(11)} ${f(v)}`).join(', ')}`);
    lines.push(`          ${Object.entries(r.clone.ratios).map(([k, v]) => `${k}: ${v}x`).join('; ')}`);
  }
  if (r.run?.seconds) {
    const s = r.run.seconds;
    lines.push(`${mark(r.run.meets)} run      jail-run ${f(s['jail-run'])}; unshare ${f(s.unshare)}, bwrap ${f(s.bwrap)}, systemd-nspawn ${f(s['systemd-nspawn'])}, node -e 0 ${f(s['node -e 0'])}; jail-run / (node + unshare) = ${r.run.ratio['jail-run / (node -e 0 + unshare)']}x (<= 1.3x), / nspawn = ${r.run.ratio['jail-run / systemd-nspawn'] ?? 'n/a'}x (<= 1x)`);
  }
  if (r.scale?.seconds) {
    lines.push(`${mark(r.scale.meets)} scale    ${Object.entries(r.scale.seconds).map(([k, v]) => `${k} ${f(v)}`).join(', ')}; ratios image list ${r.scale.ratios['image list']}x, pod list ${r.scale.ratios['pod list']}x (< 2x)`);
  }
  if (r.startup?.seconds) {
    lines.push(`${mark(r.startup.meets)} start-up node -e 0 ${f(r.startup.seconds['node -e 0'])}; --help median ${r.startup.median_ratio}x, worst ${r.startup.worst.command} ${r.startup.worst.ratio}x (target <= 1.5x)`);
  }
  for (const [k, v] of Object.entries(r)) if (v.error) lines.push(`ERROR    ${k}: ${v.error}`);
  return lines.join('\n');
}

async function main() {
  if (process.getuid?.() !== 0) {
    log('must run as root (namespaces, mounts, zfs); use `npm run bench`');
    process.exit(8);
  }
  const doc = { machine: machine(), runs: RUNS, results: {} };
  const t0 = Date.now();
  const fns = { startup: benchStartup, run: benchRun, import: benchImport, clone: benchClone, scale: benchScale };
  let failed = false;
  for (const name of SECTIONS) {
    if (!ONLY.includes(name)) continue;
    log(`== ${name}`);
    try {
      doc.results[name] = await fns[name]();
    } catch (err) {
      failed = true;
      log(`${name}: ${err.stack ?? err.message}`);
      doc.results[name] = { error: err.message };
    }
  }
  doc.machine.loadavg_at_end = os.loadavg().map((x) => round(x, 2));
  doc.total_seconds = round((Date.now() - t0) / 1000, 1);
  const json = `${JSON.stringify(doc, null, 2)}\n`;
  if (process.env.BENCH_OUTPUT) fs.writeFileSync(process.env.BENCH_OUTPUT, json);
  process.stdout.write(json);
  process.stderr.write(`\n${summary(doc)}\n`);
  cleanupAll();
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  log(err.stack ?? String(err));
  cleanupAll();
  process.exitCode = 1;
});
