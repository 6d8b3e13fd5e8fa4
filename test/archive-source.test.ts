/**
 * detectCompression, decompress, openSource and compress: magic bytes, short streams, every
 * compression round trip through the real tools, file/stdin/HTTP sources and their errors.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { compress } from '../shared/src/archive/compress.js';
import { decompress } from '../shared/src/archive/decompress.js';
import { detectCompression } from '../shared/src/archive/detect.js';
import { openSource } from '../shared/src/archive/source.js';
import { JetpackError } from '../shared/src/errors.js';

const work = fs.mkdtempSync(path.join(tmpdir(), 'jp-source-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
const sh = (cmd: string, args: string[], input?: Buffer): Buffer => execFileSync(cmd, args, { input, maxBuffer: 1 << 30 });
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

// A real tar of a few MiB (random + compressible parts).
const tarFile = path.join(work, 'data.tar');
fs.mkdirSync(path.join(work, 'src'));
fs.writeFileSync(path.join(work, 'src/random'), sh('head', ['-c', '3000000', '/dev/urandom']));
fs.writeFileSync(path.join(work, 'src/zeros'), Buffer.alloc(2_000_000));
sh('tar', ['-C', work, '-cf', tarFile, 'src']);
const tar = fs.readFileSync(tarFile);

t.test('detectCompression', async (t) => {
  t.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8])), 'gzip');
  t.equal(detectCompression(Buffer.from('BZh91AY')), 'bzip2');
  t.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4])), 'xz');
  t.equal(detectCompression(tar.subarray(0, 512)), 'none');
  t.equal(detectCompression(tar.subarray(0, 262)), 'none', '262 bytes are enough');
  t.throws(() => detectCompression(tar.subarray(0, 261), 'x.aci'), { kind: 'invalid', message: 'x.aci: not a tar, gzip, bzip2 or xz stream' });
  t.throws(() => detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), { kind: 'invalid', message: 'archive: not a tar, gzip, bzip2 or xz stream' });
  t.throws(() => detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x01])), JetpackError, 'xz magic needs its NUL');
  t.throws(() => detectCompression(Buffer.alloc(0)), JetpackError);
});

t.test('decompress every kind made by the real tools, and compress round trips', async (t) => {
  const made: Record<string, Buffer> = {
    none: tar,
    gzip: sh('gzip', ['-c'], tar),
    'gzip (3 members)': Buffer.concat([sh('gzip', ['-c'], tar.subarray(0, 1000)), sh('gzip', ['-1', '-c'], tar.subarray(1000, 3_000_001)), sh('gzip', ['-c'], tar.subarray(3_000_001))]),
    bzip2: sh('bzip2', ['-c'], tar),
    'bzip2 (2 streams)': Buffer.concat([sh('bzip2', ['-c'], tar.subarray(0, 777)), sh('bzip2', ['-c'], tar.subarray(777))]),
    xz: sh('xz', ['-c'], tar),
    'xz (2 streams)': Buffer.concat([sh('xz', ['-c'], tar.subarray(0, 100_000)), sh('xz', ['-c'], tar.subarray(100_000))]),
    'xz (multi-block)': sh('xz', ['-c', '-T2', '--block-size=300000'], tar),
  };
  for (const [name, bytes] of Object.entries(made)) {
    const { stream, compression } = await decompress(Readable.from([bytes.subarray(0, 7), bytes.subarray(7)]));
    t.equal(compression, name.replace(/ .*/, ''), `${name}: detected (magic split across chunks)`);
    t.equal(sha(await readAll(stream)), sha(tar), `${name}: decoded`);
  }
  for (const kind of ['none', 'gzip', 'bzip2', 'xz'] as const) {
    const packed = await readAll(compress(kind, fs.createReadStream(tarFile)));
    const { stream, compression } = await decompress(Readable.from([packed]));
    t.equal(compression, kind, `compress(${kind}) detected back`);
    t.equal(sha(await readAll(stream)), sha(tar), `compress(${kind}) round trip`);
    if (kind !== 'none') {
      const tool = kind === 'gzip' ? 'gzip' : kind;
      t.equal(sha(sh(tool, ['-dc'], packed)), sha(tar), `${tool} -dc reads compress(${kind})`);
    }
  }
});

t.test('streams shorter than the peek', async (t) => {
  const small = sh('gzip', ['-c'], Buffer.from('hello'));
  t.ok(small.length < 512);
  const { stream, compression } = await decompress(Readable.from([small]));
  t.equal(compression, 'gzip');
  t.equal((await readAll(stream)).toString(), 'hello');
  await t.rejects(decompress(Readable.from([Buffer.from('tiny')]), 'tiny.aci'), { kind: 'invalid', message: 'tiny.aci: not a tar, gzip, bzip2 or xz stream' });
  await t.rejects(decompress(Readable.from([])), { kind: 'invalid', message: 'archive: not a tar, gzip, bzip2 or xz stream' });
});

t.test('input errors pass through; decoder errors are invalid', async (t) => {
  const gz = sh('gzip', ['-c'], tar);
  let n = 0;
  const failing = new Readable({
    read(): void {
      if (n++ === 0) this.push(gz.subarray(0, 4096));
      else this.destroy(new Error('disk on fire'));
    },
  });
  const { stream } = await decompress(failing);
  await t.rejects(readAll(stream), { message: 'disk on fire' });
  const bad = Buffer.from(gz);
  bad.fill(0, 5000, 6000);
  const { stream: s2 } = await decompress(Readable.from([bad]), 'bad.aci');
  await t.rejects(readAll(s2), { kind: 'invalid', message: /^bad\.aci: corrupt gzip data/ });
});

t.test('an abandoned xz stream does not block the next one', async (t) => {
  const xz = sh('xz', ['-c'], tar);
  const { stream } = await decompress(Readable.from([xz]));
  const it = stream[Symbol.asyncIterator]();
  await it.next();
  stream.destroy();
  await new Promise((r) => setTimeout(r, 50));
  const { stream: s2 } = await decompress(Readable.from([xz]));
  t.equal(sha(await readAll(s2)), sha(tar), 'second xz stream decodes');
});

t.test('compress errors', async (t) => {
  const failing = new Readable({
    read(): void {
      this.destroy(new Error('source broke'));
    },
  });
  await t.rejects(readAll(compress('xz', failing)), { message: 'source broke' });
  const failing2 = new Readable({
    read(): void {
      this.destroy(new Error('source broke'));
    },
  });
  await t.rejects(readAll(compress('gzip', failing2)), { message: 'source broke' });
});

t.test('openSource: files', async (t) => {
  t.equal(sha(await readAll(await openSource(tarFile))), sha(tar));
  await t.rejects(openSource(path.join(work, 'nope.aci')), { kind: 'not-found', message: `${path.join(work, 'nope.aci')}: no such file or directory` });
  await t.rejects(openSource(work), { kind: 'usage', message: new RegExp(`^${work}: is a directory`) });
});

t.test('openSource: stdin', async (t) => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const script = path.join(work, 'stdin.mts');
  fs.writeFileSync(
    script,
    `import { openSource } from ${JSON.stringify(path.join(here, '../shared/src/archive/source.ts'))};\n` +
      `import { createHash } from 'node:crypto';\n` +
      `const h = createHash('sha256');\n` +
      `for await (const c of await openSource('-')) h.update(c);\n` +
      `process.stdout.write(h.digest('hex'));\n`,
  );
  const loaders = process.execArgv.filter((a) => a.startsWith('--import=') && a.includes('typescript'));
  const r = spawnSync(process.execPath, [...loaders, script], { input: tar, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } });
  t.equal(r.stdout.toString(), sha(tar), `reads stdin ${r.stderr.toString().slice(0, 500)}`);
});

t.test('openSource: HTTP', async (t) => {
  const server = http.createServer((req, res) => {
    if (req.url === '/image.aci') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      fs.createReadStream(tarFile).pipe(res);
    } else if (req.url === '/moved') {
      res.writeHead(302, { location: '/image.aci' });
      res.end();
    } else if (req.url === '/broken') {
      res.writeHead(200, { 'content-length': String(tar.length) });
      res.write(tar.subarray(0, 100_000));
      setTimeout(() => res.destroy(), 20);
    } else if (req.url === '/boom') {
      res.writeHead(500);
      res.end('boom');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.equal(sha(await readAll(await openSource(`${base}/image.aci`))), sha(tar), 'download');
  t.equal(sha(await readAll(await openSource(`${base}/moved`))), sha(tar), 'redirect followed');
  await t.rejects(openSource(`${base}/missing.aci`), { kind: 'not-found', message: `${base}/missing.aci: HTTP 404 Not Found` });
  await t.rejects(openSource(`${base}/boom`), { kind: 'internal', message: `${base}/boom: HTTP 500 Internal Server Error` });
  await t.rejects(readAll(await openSource(`${base}/broken`)), { message: new RegExp(`^${base}/broken: read failed`) });
  await t.rejects(openSource('http://127.0.0.1:1/x.aci'), { message: /^http:\/\/127\.0\.0\.1:1\/x\.aci: download failed/ });
});
