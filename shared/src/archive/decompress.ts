/**
 * Transparent decompression of an ACI stream (appc spec/aci.md § "Image Archives": a tar,
 * optionally gzip, bzip2 or xz compressed; docs/appc-spec-notes.md § 1 "Compression detection").
 *
 * The kind is sniffed from the first bytes (detect.ts); those bytes are put back so the consumer
 * sees the whole stream. Decoders:
 *
 * - gzip: Node's zlib gunzip, which decodes concatenated members as one stream (like Go's
 *   multistream gzip.Reader), so `cat a.gz b.gz` works. It already runs on libuv's thread pool,
 *   in parallel with the extraction (~260 MB/s here).
 * - xz: the system's `xz -dc` in a child process (native.ts), on another CPU than the extraction
 *   (~50 MB/s of output here); when `xz` is not installed, `xz-decompress` (xz-embedded in
 *   WebAssembly, on the main thread, ~35 MB/s; multi-stream and multi-block). Its wasm instance is
 *   guarded by ONE process-wide lock, so only one xz stream decodes at a time and a stream that is
 *   neither read to the end nor destroyed blocks the next one: always consume or destroy the
 *   returned stream.
 * - bzip2: the system's `bzip2 -dc` in a child process (~23 MB/s); when it is not installed,
 *   `unbzip2-stream` (pure JS, main thread, ~5 MB/s). Concatenated streams work with both.
 *
 * Both kinds of decoder accept the same streams and refuse the same broken ones (trailing
 * garbage, a cut, flipped bytes), so the image ID of an archive does not depend on which ran.
 *
 * Corrupt or truncated compressed data surfaces as an 'error' on the returned stream carrying
 * JetpackError('invalid'); errors of the input itself pass through unchanged.
 */
/// <reference path="./unbzip2-stream.d.ts" />
import type { Duplex } from 'node:stream';
import { PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import unbzip2Stream from 'unbzip2-stream';
import xzDecompress from 'xz-decompress';
import { JetpackError, errorMessage, invalid } from '../errors.js';
import { DETECT_BYTES, detectCompression, type Compression } from './detect.js';
import { BZIP2, XZ, spawnDecoder } from './native.js';

export type { Compression } from './detect.js';

/**
 * Read up to `n` bytes from a paused stream and push them back with unshift.
 * @returns the bytes read (fewer than n only when the stream is shorter) and whether the stream
 *   hit its end (then the bytes are the whole stream and cannot be unshifted).
 */
async function peek(input: Readable, n: number): Promise<{ head: Buffer; ended: boolean }> {
  const chunks: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < n && !ended) {
    const chunk = input.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      len += chunk.length;
      continue;
    }
    if (input.readableEnded) break;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        input.off('readable', done);
        input.off('end', onEnd);
        input.off('error', reject);
        input.off('close', done);
        resolve();
      };
      const onEnd = (): void => {
        ended = true;
        done();
      };
      input.on('readable', done);
      input.on('end', onEnd);
      input.on('close', done);
      input.once('error', (err) => {
        done();
        reject(err);
      });
    });
    if (input.destroyed && !input.readableEnded && !ended) {
      throw input.errored ?? new JetpackError('internal', 'input closed before any data was read');
    }
  }
  const head = Buffer.concat(chunks);
  ended ||= input.readableEnded;
  if (!ended && head.length > 0) input.unshift(head);
  return { head, ended };
}

/**
 * Connect `input` → `decoder` and give back a stream of the decoded bytes whose errors are
 * mapped: decoder failures become invalid(`<what>: corrupt <kind> data (...)`), input errors pass
 * unchanged. Destroying the result destroys the input and the decoder.
 */
function wire(input: Readable, decoder: Duplex | Readable, feed: (() => void) | null, kind: Compression, what: string): Readable {
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  // The decoder may fail before anyone reads (bzip2 decodes eagerly); the error stays in the
  // stream's state and is what a later read, for-await or pipeline gets, so no crash meanwhile.
  out.on('error', () => undefined);
  let inputError: unknown;
  let failed = false;
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    const mapped =
      err instanceof JetpackError || err === inputError ? err : invalid(`${what}: corrupt ${kind} data (${errorMessage(err)})`);
    out.destroy(mapped instanceof Error ? mapped : new Error(String(mapped)));
    input.destroy();
    decoder.destroy();
  };
  input.on('error', (err) => {
    inputError = err;
    fail(err);
  });
  decoder.on('error', fail);
  out.on('close', () => {
    if (!out.readableEnded) {
      input.destroy();
      decoder.destroy();
    }
  });
  // An input that failed before it was wired (while a decoder process started): same as later.
  if (input.errored !== null) {
    inputError = input.errored;
    fail(input.errored);
  }
  feed?.();
  decoder.pipe(out);
  return out;
}

/** Options of {@link decompress}. */
export interface DecompressOptions {
  /**
   * Decode xz and bzip2 with the system's `xz` / `bzip2` in a child process when they are
   * installed (default true); false: always with the in-process decoders (WebAssembly xz, JS bzip2).
   */
  native?: boolean;
}

/**
 * Detect the compression of `input` and return a stream of the uncompressed bytes.
 *
 * @param input the raw bytes of an archive (e.g. from openSource); it must not have been read from.
 * @param what how to name the input in error messages (its location); default `archive`.
 * @param options see {@link DecompressOptions}.
 * @returns `stream`: the uncompressed bytes (for `none`, the input itself with its first bytes
 *   put back); `compression`: what was detected; `decoder`: what decodes it (`native` for a
 *   child process, `js` for Node's zlib or an in-process decoder, `none` for a plain tar).
 * @throws JetpackError('invalid') `<what>: not a tar, gzip, bzip2 or xz stream` when the magic is
 *   unknown (the input is destroyed). Corrupt data shows up later as an 'error' event on `stream`
 *   carrying JetpackError('invalid').
 */
export async function decompress(
  input: Readable,
  what = 'archive',
  options: DecompressOptions = {},
): Promise<{ stream: Readable; compression: Compression; decoder: 'native' | 'js' | 'none' }> {
  let head: Buffer;
  let ended: boolean;
  try {
    ({ head, ended } = await peek(input, DETECT_BYTES));
  } catch (err) {
    input.destroy();
    throw err;
  }
  let compression: Compression;
  try {
    compression = detectCompression(head, what);
  } catch (err) {
    input.destroy();
    throw err;
  }
  // A stream shorter than the peek: replay the bytes from memory.
  const source = ended ? Readable.from([head], { objectMode: false }) : input;
  if ((compression === 'xz' || compression === 'bzip2') && options.native !== false) {
    // Until wire() listens: an input error meanwhile must not be an uncaught 'error' (wire() sees it in `errored`).
    const meanwhile = (): void => undefined;
    source.on('error', meanwhile);
    const decoded = await spawnDecoder(compression === 'xz' ? XZ : BZIP2, source, what).finally(() => source.off('error', meanwhile));
    if (decoded !== null) return { stream: wire(source, decoded.stream, decoded.feed, compression, what), compression, decoder: 'native' };
  }
  switch (compression) {
    case 'none':
      return { stream: source, compression, decoder: 'none' };
    case 'gzip': {
      const gunzip = createGunzip({ chunkSize: 64 * 1024 });
      return { stream: wire(source, gunzip, () => source.pipe(gunzip), compression, what), compression, decoder: 'js' };
    }
    case 'bzip2': {
      // Not Readable.wrap(): `through` closes right after 'end', and wrap() then destroys the
      // wrapper before its buffered data is read. The classic pipe() ends the target properly.
      const through = unbzip2Stream();
      const decoded = new PassThrough({ highWaterMark: 256 * 1024 });
      through.on('error', (err: Error) => decoded.destroy(err));
      decoded.on('close', () => through.destroy());
      const feed = (): void => {
        source.pipe(through);
        through.pipe(decoded);
      };
      return { stream: wire(source, decoded, feed, compression, what), compression, decoder: 'js' };
    }
    case 'xz': {
      const web = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
      const decoded = Readable.fromWeb(new xzDecompress.XzReadableStream(web) as unknown as WebReadableStream<Uint8Array>, {
        highWaterMark: 256 * 1024,
      });
      return { stream: wire(source, decoded, null, compression, what), compression, decoder: 'js' };
    }
  }
}
