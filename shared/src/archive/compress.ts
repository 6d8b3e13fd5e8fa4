/**
 * Compression of an outgoing ACI (export). appc spec/aci.md § "Image Archives" allows gzip, bzip2
 * or xz around the tar; the image ID is always the hash of the uncompressed tar, so the compressed
 * bytes need not be reproducible.
 *
 * - `gzip`: Node's zlib (level 6).
 * - `xz`: the `xz -c -T0` binary (multi-threaded; multi-block output, which every xz decoder reads).
 * - `bzip2`: the `bzip2 -c` binary.
 * - `none`: the input unchanged.
 */
import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { JetpackError, errorMessage } from '../errors.js';
import type { Compression } from './detect.js';

export type { Compression } from './detect.js';

/** Pipe `input` through an external filter; errors (tool missing, non-zero exit, input error) surface on the result. */
function filter(cmd: string, args: string[], input: Readable): Readable {
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  // Errors stay in the stream's state for whoever reads it; none may crash the process meanwhile.
  out.on('error', () => undefined);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let failed = false;
  const fail = (err: Error): void => {
    if (failed) return;
    failed = true;
    out.destroy(err);
    input.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  child.on('error', (err) => {
    const code = (err as NodeJS.ErrnoException).code;
    fail(
      code === 'ENOENT'
        ? new JetpackError('environment', `${cmd}: not found (needed for ${cmd} compression)`)
        : new JetpackError('internal', `${cmd}: ${errorMessage(err)}`),
    );
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  input.on('error', (err) => fail(err));
  // EPIPE when the child dies early: the exit status tells the story.
  child.stdin.on('error', () => undefined);
  input.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.on('close', (code, signal) => {
    if (failed) return;
    if (code === 0) out.end();
    else fail(new JetpackError('internal', `${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
  });
  out.on('close', () => {
    if (!out.writableFinished) fail(new Error('output closed'));
  });
  return out;
}

/**
 * Compress `input` for export.
 *
 * @param kind `xz`, `gzip`, `bzip2` or `none`.
 * @param input the uncompressed tar bytes.
 * @returns the compressed byte stream. Destroying it stops the work and destroys `input`.
 *   A missing `xz`/`bzip2` binary is an 'error' event with JetpackError('environment'); a failing
 *   tool one with JetpackError('internal'); errors of `input` pass through.
 */
export function compress(kind: Compression, input: Readable): Readable {
  switch (kind) {
    case 'none':
      return input;
    case 'gzip': {
      const gz = createGzip();
      input.on('error', (err) => gz.destroy(err));
      gz.on('close', () => input.destroy());
      return input.pipe(gz);
    }
    case 'xz':
      return filter('xz', ['-c', '-T0'], input);
    case 'bzip2':
      return filter('bzip2', ['-c'], input);
  }
}
