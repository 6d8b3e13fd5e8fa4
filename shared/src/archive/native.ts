/**
 * Decompression in a child process running the system's own decoder (`xz -dc`, `bzip2 -dc`),
 * so that decoding runs on another CPU, in parallel with the extraction on Node's main thread.
 *
 * Why a child process (and not a worker thread running the WebAssembly decoder): native xz decodes
 * about 1.5x faster than xz-embedded in WebAssembly, bzip2 about 4x faster than unbzip2-stream;
 * a child process needs no script file (so it works the same from `shared/dist` and from a bundle);
 * and the kernel keeps it apart from Node's event loop. decompress.ts falls back to the in-process
 * decoders when the program is not installed.
 *
 * The decoder's output is read into a large buffer (DECODED_BUFFER_BYTES) at every turn of the
 * event loop (at least every millisecond while extracting: extract.ts SLICE_MS), so the decoder
 * keeps running while the extraction is busy with a stretch of small files, and the extraction
 * keeps running while the decoder is busy with a stretch of large ones. Measured on 2 CPUs
 * (bench/bench.mjs, import): aci-import of a 208 MB tar as xz went from 2.4x the time of
 * `xz -dc | tee >(sha512sum) | tar -x` to 0.8x (with the synchronous extraction of extract.ts).
 *
 * Life cycle: the child is killed (SIGKILL) when the returned stream is destroyed before its end
 * (a refused archive, a limit, SIGINT/SIGTERM through the caller's abort). If Node itself dies
 * (SIGKILL), the child reads EOF on its standard input and gets EPIPE/SIGPIPE on its standard
 * output, and exits.
 */
import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { invalid } from '../errors.js';

/** How many decoded bytes may wait, read from the decoder, for the extraction (bytes). */
export const DECODED_BUFFER_BYTES = 32 * 1024 * 1024;

/** Longest part of the decoder's stderr that is kept for the error message (bytes). */
const STDERR_KEEP = 4096;

/** A decoder program and how to call it to decode standard input to standard output. */
export interface NativeDecoder {
  /** The program, looked up in PATH (`xz`, `bzip2`). */
  command: string;
  args: readonly string[];
  /** The compression's name in messages (`corrupt <kind> data`). */
  kind: string;
  /**
   * Whether the decoder's stderr, after a zero exit status, still means a broken input (e.g.
   * bzip2 exits 0 after "trailing garbage after EOF ignored"); default: never.
   */
  failsDespiteSuccess?: (stderr: string) => boolean;
}

/**
 * `xz -dc`: concatenated streams, stream padding, every check type; trailing garbage is an error.
 * Short options: BusyBox's xz applet takes them too.
 */
export const XZ: NativeDecoder = { command: 'xz', args: ['-d', '-c'], kind: 'xz' };

/** `bzip2 -dc`: concatenated streams; trailing garbage (only a warning for bzip2) is refused. */
export const BZIP2: NativeDecoder = {
  command: 'bzip2',
  args: ['-d', '-c'],
  kind: 'bzip2',
  failsDespiteSuccess: (stderr) => /trailing garbage/i.test(stderr),
};

/** The decoder's complaint, one line: `xz: (stdin): Compressed data is corrupt` → `Compressed data is corrupt`. */
function complaint(stderr: string, d: NativeDecoder, code: number | null, signal: NodeJS.Signals | null): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const line = lines.find((l) => !/^(Input|Output) file =/i.test(l)) ?? '';
  const msg = line.replace(new RegExp(`^${d.command}:\\s*`), '').replace(/^\(stdin\):\s*/, '').replace(/[.;:,]+$/, '');
  if (msg !== '') return msg;
  return signal !== null ? `${d.command} killed by ${signal}` : `${d.command} exited with status ${code ?? '?'}`;
}

/**
 * Start `d` as a child process decoding `input`.
 *
 * @param d the decoder (see {@link XZ}, {@link BZIP2}).
 * @param input the compressed bytes, not yet read from (its first bytes may have been put back
 *   with unshift); it is piped to the child's standard input.
 * @param what how to name the input in error messages (its location).
 * @param bufferBytes how many decoded bytes may be read ahead of the consumer; default
 *   {@link DECODED_BUFFER_BYTES}.
 * @returns `null` when the program cannot be started (not installed: then `input` was not touched
 *   and another decoder may be used); else `stream`, the decoded bytes, and `feed`, which starts
 *   piping `input` to the child (call it once the caller listens for errors of `input`; they are
 *   not handled here). The stream ends only after the child exited with status 0; otherwise it
 *   fails with JetpackError('invalid') `<what>: corrupt <kind> data (<the decoder's message>)`.
 *   Destroying the stream kills the child.
 */
export async function spawnDecoder(
  d: NativeDecoder,
  input: Readable,
  what: string,
  bufferBytes = DECODED_BUFFER_BYTES,
): Promise<{ stream: Readable; feed: () => void } | null> {
  // Fixed behaviour whatever the environment: no XZ_OPT / XZ_DEFAULTS / BZIP2 options, C messages.
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  for (const k of ['XZ_OPT', 'XZ_DEFAULTS', 'BZIP', 'BZIP2']) delete env[k];
  let child;
  try {
    child = spawn(d.command, [...d.args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  } catch {
    return null;
  }
  const started = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  if (!started) return null;
  const proc = child;

  const out = new PassThrough({ highWaterMark: bufferBytes });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (s: string) => {
    if (stderr.length < STDERR_KEEP) stderr += s.slice(0, STDERR_KEEP - stderr.length);
  });
  // EPIPE when the decoder stops reading (it found an error and exits): its status tells why.
  proc.stdin.on('error', () => undefined);
  proc.stdout.on('error', () => undefined);
  proc.on('error', () => undefined);
  proc.stdout.pipe(out, { end: false });

  let exited = false;
  proc.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
    exited = true;
    if (out.destroyed) return;
    if (code === 0 && !(d.failsDespiteSuccess?.(stderr) ?? false)) out.end();
    else out.destroy(invalid(`${what}: corrupt ${d.kind} data (${complaint(stderr, d, code, signal)})`));
  });
  out.once('close', () => {
    if (exited) return;
    input.unpipe(proc.stdin);
    proc.stdout.unpipe(out);
    proc.stdin.destroy();
    proc.stdout.destroy();
    proc.kill('SIGKILL');
  });
  return { stream: out, feed: () => input.pipe(proc.stdin) };
}
