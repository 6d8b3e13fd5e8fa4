/**
 * xz and bzip2 decoding in a child process (`xz -dc`, `bzip2 -dc`; shared/src/archive/native.ts)
 * against the in-process decoders it falls back to (WebAssembly xz, JS bzip2): the same bytes and
 * the same image ID, the same refusals of broken streams (one line, exit 6, nothing in the store),
 * and no decoder process left behind by a refusal, a SIGINT or a SIGKILL of aci-import.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { decompress } from '../shared/src/archive/decompress.js';
import { extractAci } from '../shared/src/archive/extract.js';
import { busyboxLayout, listTree, makeStore, REPO, tempDir, type TestStore } from './lib/fixtures.js';
import { sleep } from './lib/store-checks.js';

const work = tempDir('jp-decoders-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
const sh = (cmd: string, args: string[], input?: Buffer): Buffer => execFileSync(cmd, args, { input, maxBuffer: 1 << 30 });
const sha512 = (b: Buffer): string => `sha512-${createHash('sha512').update(b).digest('hex')}`;

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Live children of `pid` running `comm` (zombies, already dead, are left out). */
function children(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ...
    const m = /^\d+ \((.*)\) (\S) (\d+) /s.exec(stat);
    if (m !== null && m[1] === comm && m[2] !== 'Z' && Number(m[3]) === pid) out.push(Number(d));
  }
  return out;
}

/** Whether process `pid` is gone or a zombie (dead, not yet reaped). */
function dead(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z /s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(20)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

// An ACI of busybox-static (~2 MiB) as a plain tar, and its compressed forms.
const layout = busyboxLayout(path.join(work, 'layout'), { name: 'example.com/decoders' });
const aciTar = sh('tar', ['-C', layout, '--numeric-owner', '-cf', '-', 'manifest', 'rootfs']);
const ID = sha512(aciTar);
const packed = {
  xz: sh('xz', ['-c'], aciTar),
  'xz (2 streams, multi-block)': Buffer.concat([sh('xz', ['-c', '-T2', '--block-size=300000'], aciTar.subarray(0, 700_001)), sh('xz', ['-c'], aciTar.subarray(700_001))]),
  bzip2: sh('bzip2', ['-c'], aciTar),
  'bzip2 (2 streams)': Buffer.concat([sh('bzip2', ['-c'], aciTar.subarray(0, 12345)), sh('bzip2', ['-c'], aciTar.subarray(12345))]),
};
const kindOf = (name: string): 'xz' | 'bzip2' => (name.startsWith('xz') ? 'xz' : 'bzip2');
/** The three ways a compressed stream breaks: bytes after it, cut short, bytes flipped. */
const broken = (good: Buffer): Array<[string, Buffer]> => {
  const flipped = Buffer.from(good);
  flipped.fill(0xa5, Math.floor(good.length / 2), Math.floor(good.length / 2) + 16);
  return [
    ['followed by garbage', Buffer.concat([good, Buffer.alloc(3000, 0x5a)])],
    ['cut short', good.subarray(0, good.length - 100)],
    ['with flipped bytes', flipped],
  ];
};

t.test('decompress: a child process and the in-process decoder give the same bytes', async (t) => {
  for (const [name, bytes] of Object.entries(packed)) {
    for (const native of [true, false]) {
      const r = await decompress(Readable.from([bytes]), 'x.aci', { native });
      t.equal(r.compression, kindOf(name), `${name}: detected`);
      t.equal(r.decoder, native ? 'native' : 'js', `${name}: decoded by ${native ? 'a child process' : 'the in-process decoder'}`);
      t.equal(sha512(await readAll(r.stream)), ID, `${name}, ${r.decoder}: the original tar`);
    }
  }
});

t.test('decompress: broken streams are refused by both decoders', async (t) => {
  for (const kind of ['xz', 'bzip2'] as const) {
    for (const [how, bytes] of broken(packed[kind])) {
      for (const native of [true, false]) {
        const { stream } = await decompress(Readable.from([bytes]), 'x.aci', { native });
        await t.rejects(readAll(stream), { kind: 'invalid', message: new RegExp(`^x\\.aci: corrupt ${kind} data \\(.+\\)$`) }, `${kind} ${how} (${native ? 'native' : 'js'})`);
      }
    }
  }
  t.same(children(process.pid, 'xz').concat(children(process.pid, 'bzip2')), [], 'no decoder left running');
});

t.test('decompress: destroying the stream kills the decoder; its input errors pass through', async (t) => {
  // Kept open: the decoder waits for the rest.
  const input = new Readable({ read: () => undefined });
  input.push(packed.xz.subarray(0, packed.xz.length >> 1));
  const { stream, decoder } = await decompress(input, 'x.aci');
  t.equal(decoder, 'native');
  await until('an xz child', () => children(process.pid, 'xz').length === 1);
  const [pid] = children(process.pid, 'xz');
  const first = await stream[Symbol.asyncIterator]().next();
  t.equal(first.done, false, 'output before the input ended');
  stream.destroy();
  await until('the xz child to die', () => dead(pid ?? 0));
  t.ok(input.destroyed, 'the input is released');

  let n = 0;
  const failing = new Readable({
    read(): void {
      if (n++ === 0) this.push(packed.xz.subarray(0, 4096));
      else this.destroy(new Error('disk on fire'));
    },
  });
  const r = await decompress(failing, 'x.aci');
  await t.rejects(readAll(r.stream), { message: 'disk on fire' }, 'an input error is not a corrupt stream');
  await until('no xz child', () => children(process.pid, 'xz').length === 0);
});

t.test('an xz bomb stops at maxBytes, and its decoder with it', async (t) => {
  // 64 MiB of zeros in a few KiB.
  const zeros = path.join(work, 'bomb');
  fs.mkdirSync(path.join(zeros, 'rootfs'), { recursive: true });
  fs.writeFileSync(path.join(zeros, 'manifest'), '{}');
  fs.writeFileSync(path.join(zeros, 'rootfs/zeros'), Buffer.alloc(64 * 1024 * 1024));
  const bomb = sh('sh', ['-c', `tar -C ${zeros} -cf - manifest rootfs | xz -c`]);
  t.ok(bomb.length < 100_000, `${bomb.length} bytes`);
  for (const native of [true, false]) {
    const { stream } = await decompress(Readable.from([bomb]), 'bomb.aci', { native });
    const dir = path.join(work, `bomb-out-${native}`);
    await t.rejects(extractAci(stream, { dir, tarPath: `${dir}.tar`, limits: { maxBytes: 1024 * 1024 } }), {
      kind: 'invalid',
      message: /^rootfs\/zeros: more than 1048576 bytes of uncompressed data \(limit\)$/,
    }, native ? 'native' : 'js');
    t.ok(fs.statSync(`${dir}.tar`).size <= 2 * 1024 * 1024, `${native ? 'native' : 'js'}: stopped at the limit`);
  }
  await until('no xz child', () => children(process.pid, 'xz').length === 0);
});

// ------------------------------------------------------------------------------------------------
// The real aci-import, as a user runs it

/** A command's executable as installed (its package's bin: tsc's output or a bundle), run with this node. */
const bin = (name: string): string => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'commands', name, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  return path.join(REPO, 'commands', name, pkg.bin[name] ?? 'dist/main.js');
};
/** A directory of links to every program in PATH but the xz and bzip2 ones (the zfs store still needs zfs, mount, ...). */
const pathWithoutDecoders = path.join(work, 'path-without-decoders');
fs.mkdirSync(pathWithoutDecoders);
const DECODERS = new Set(['xz', 'unxz', 'xzcat', 'lzma', 'unlzma', 'lzcat', 'xzdec', 'lzmadec', 'bzip2', 'bunzip2', 'bzcat']);
for (const dir of (process.env['PATH'] ?? '').split(':')) {
  if (dir === '' || !fs.existsSync(dir)) continue;
  for (const name of fs.readdirSync(dir)) {
    const link = path.join(pathWithoutDecoders, name);
    if (!DECODERS.has(name) && !fs.existsSync(link)) fs.symlinkSync(path.join(dir, name), link);
  }
}
/** An environment without NODE_OPTIONS (tap's hook) and, with `noDecoders`, a PATH without xz and bzip2. */
const envFor = (noDecoders: boolean): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, ...(noDecoders ? { PATH: pathWithoutDecoders } : {}) };
  delete env['NODE_OPTIONS'];
  return env;
};
const importArgs = (store: TestStore, archive: string): string[] => [bin('aci-import'), `--config=${store.config}`, archive];
/** Make the store's directories (an empty image list), then list its tree: what must stay. */
async function emptyTree(store: TestStore): Promise<string[]> {
  const r = await execa(process.execPath, [bin('image-list'), `--config=${store.config}`], { env: envFor(false), reject: false });
  if (r.exitCode !== 0) throw new Error(`image-list: ${r.stderr}`);
  return listTree(store.root);
}

for (const driver of ['dir', 'zfs'] as const) {
  t.test(`aci-import on the ${driver} store: the same image with and without xz/bzip2 installed`, async (t) => {
    const store = await makeStore(driver);
    t.teardown(store.cleanup);
    const before = await emptyTree(store);
    for (const kind of ['xz', 'bzip2'] as const) {
      const file = path.join(work, `good.aci.${kind}`);
      fs.writeFileSync(file, packed[kind]);
      for (const noDecoders of [false, true]) {
        const how = noDecoders ? `without ${kind} in PATH` : `with ${kind}`;
        const r = await execa(process.execPath, importArgs(store, file), { env: envFor(noDecoders), reject: false });
        t.equal(r.exitCode, 0, `${kind} ${how}: imported (${r.stderr})`);
        const image = JSON.parse(r.stdout) as { id: string; uuid: string };
        t.equal(image.id, ID, `${kind} ${how}: the image ID is the SHA-512 of the tar`);
        t.equal(r.stderr, '', `${kind} ${how}: nothing on stderr`);
        const d = await execa(process.execPath, [bin('image-destroy'), `--config=${store.config}`, image.uuid], { env: envFor(false), reject: false });
        t.equal(d.exitCode, 0, `${kind} ${how}: destroyed (${d.stderr})`);
      }
    }

    for (const kind of ['xz', 'bzip2'] as const) {
      for (const [how, bytes] of broken(packed[kind])) {
        const file = path.join(work, `bad.aci.${kind}`);
        fs.writeFileSync(file, bytes);
        for (const noDecoders of [false, true]) {
          const what = `${kind} ${how}, ${noDecoders ? `without ${kind} in PATH` : `with ${kind}`}`;
          const r = await execa(process.execPath, importArgs(store, file), { env: envFor(noDecoders), reject: false });
          t.equal(r.exitCode, 6, `${what}: exit 6`);
          t.match(r.stderr, new RegExp(`^aci-import: ${file.replace(/[.]/g, '\\.')}: corrupt ${kind} data \\(.+\\)$`), `${what}: one line`);
          t.equal(r.stdout, '', `${what}: nothing on stdout`);
          t.same(listTree(store.root), before, `${what}: nothing left in the store`);
        }
      }
    }
  });
}

t.test('aci-import: SIGINT and SIGKILL while xz decodes leave no xz process and no image', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const before = await emptyTree(store);
  for (const sig of ['SIGINT', 'SIGKILL'] as const) {
    // The archive comes on stdin, half of it, then nothing: xz is running, waiting for the rest.
    const child = spawn(process.execPath, importArgs(store, '-'), { env: envFor(false), stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.write(packed.xz.subarray(0, packed.xz.length >> 1));
    const pid = child.pid ?? 0;
    await until('aci-import to start xz', () => children(pid, 'xz').length === 1);
    const [xz] = children(pid, 'xz');
    // Some of the tree is already there.
    await until('extraction to begin', () => listTree(store.root).some((p) => p.includes('rootfs/bin')));
    child.kill(sig);
    const [code, signal] = await exited;
    if (sig === 'SIGINT') {
      t.equal(code, 130, 'SIGINT: exit 130');
      t.equal(stderr, '', 'SIGINT: nothing on stderr');
    } else {
      t.equal(signal, 'SIGKILL', 'SIGKILL: killed');
    }
    await until(`${sig}: xz to die`, () => dead(xz ?? 0));
    t.pass(`${sig}: the xz child died`);
    child.stdin.destroy();
    if (sig === 'SIGINT') t.same(listTree(store.root), before, 'SIGINT: nothing left in the store');
  }
  // After a SIGKILL the half-made image is garbage that the next import's gc removes.
  const file = path.join(work, 'good.aci.xz');
  fs.writeFileSync(file, packed.xz);
  const r = await execa(process.execPath, importArgs(store, file), { env: envFor(false), reject: false });
  t.equal(r.exitCode, 0, 'the next import succeeds');
  t.equal((JSON.parse(r.stdout) as { id: string }).id, ID);
});

t.test('aci-import: SIGINT when xz already holds the whole archive stops the import and publishes nothing', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const before = await emptyTree(store);
  // 128 MiB of zeros: a tiny xz file that xz has read whole long before the extraction ends.
  const big = path.join(work, 'big-layout');
  fs.cpSync(layout, big, { recursive: true });
  sh('sh', ['-c', `head -c 134217728 /dev/zero > '${big}/rootfs/zeros.bin'`]);
  const file = path.join(work, 'big.aci.xz');
  sh('sh', ['-c', `tar -C '${big}' --numeric-owner -cf - manifest rootfs | xz -0 -T2 > '${file}'`]);
  const child = spawn(process.execPath, importArgs(store, file), { env: envFor(false), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  // The signal lands once xz has read the whole archive (its rchar in /proc/PID/io), while the
  // extraction is still writing.
  const size = fs.statSync(file).size;
  await until('aci-import to start xz', () => children(child.pid ?? 0, 'xz').length === 1);
  const xz = children(child.pid ?? 0, 'xz');
  // (An xz that has exited has read it all.)
  const rchar = (pid: number): number => {
    try {
      return Number(/rchar: (\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
    } catch {
      return Infinity;
    }
  };
  await until('xz to have read the whole archive', () => rchar(xz[0] as number) >= size);
  t.notOk(listTree(store.root).some((p) => p.endsWith('/meta.json')), 'the image is not published yet when the signal comes');
  child.kill('SIGINT');
  t.equal(await exited, 130, 'exit 130');
  t.equal(stdout, '', 'no image printed');
  for (const pid of xz) await until('xz to die', () => dead(pid));
  t.same(listTree(store.root), before, 'nothing published, nothing left in the store');
});
