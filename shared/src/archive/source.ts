/**
 * Opening the byte stream of an archive (or any small document such as a manifest) named on the
 * command line: a filesystem path, `-` for standard input, or an `http://` / `https://` URL.
 *
 * Only transport lives here: nothing is decompressed or interpreted (see decompress.ts).
 */
import { open } from 'node:fs/promises';
import { PassThrough, Readable, finished } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { JetpackError, errorMessage, notFound, usage } from '../errors.js';

const isUrl = (location: string): boolean => /^https?:\/\//i.test(location);

/**
 * Re-emit every error of `stream` as a JetpackError naming `location` (errors that already are
 * JetpackErrors pass unchanged). Destroying the result destroys `stream` at once, even while a
 * read is pending (stdin from an idle pipe, a stalled download), so a SIGINT is not held up.
 */
function nameErrors(stream: Readable, location: string): Readable {
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  // An error, or a close before the end (ERR_STREAM_PREMATURE_CLOSE), fails the result.
  finished(stream, { writable: false }, (err) => {
    if (err === undefined || err === null) return;
    out.destroy(err instanceof JetpackError ? err : new JetpackError('internal', `${location}: read failed: ${errorMessage(err)}`));
  });
  out.once('close', () => stream.destroy());
  stream.pipe(out);
  return out;
}

async function openUrl(url: string): Promise<Readable> {
  let res: Response;
  try {
    // identity: the bytes read must be the bytes served (a signature covers them), so no
    // transparent Content-Encoding decoding.
    res = await fetch(url, { redirect: 'follow', headers: { 'accept-encoding': 'identity' } });
  } catch (err) {
    const cause = err instanceof Error && err.cause !== undefined ? `: ${errorMessage(err.cause)}` : '';
    throw new JetpackError('internal', `${url}: download failed: ${errorMessage(err)}${cause}`);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    const msg = `${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    throw res.status === 404 || res.status === 410 ? notFound(msg) : new JetpackError('internal', msg);
  }
  if (res.body === null) return Readable.from([], { objectMode: false });
  return nameErrors(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), url);
}

async function openPath(path: string): Promise<Readable> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound(`${path}: no such file or directory`);
    throw new JetpackError('internal', `${path}: ${errorMessage(err)}`);
  }
  const st = await fh.stat();
  if (st.isDirectory()) {
    await fh.close();
    throw usage(`${path}: is a directory, expected an archive file`);
  }
  return nameErrors(fh.createReadStream({ highWaterMark: 256 * 1024 }), path);
}

/**
 * Open `location` for reading.
 *
 * @param location a filesystem path; `-` for standard input; or an `http://` or `https://` URL
 *   (fetched with Node's built-in fetch, redirects followed, `Accept-Encoding: identity`).
 * @returns a byte stream (Buffer chunks) of the raw, still compressed, content. Destroying it
 *   releases the file, download or pipe. Errors while reading are JetpackErrors naming the location.
 * @throws JetpackError('not-found') for a missing file or an HTTP 404/410;
 *   JetpackError('usage') for a directory; JetpackError('internal') for any other failure
 *   (network error, other non-2xx status, permission), always naming the location.
 */
export async function openSource(location: string): Promise<Readable> {
  if (location === '-') return nameErrors(process.stdin, 'stdin');
  if (isUrl(location)) return openUrl(location);
  return openPath(location);
}
