/**
 * metadata-service [--config=PATH] [--listen=ADDRESS:PORT] — run the store's App Container metadata
 * service (appc spec/ace.md § App Container Metadata Service) in the foreground, for a service
 * manager. The endpoints, tokens and keys are @jetpack/shared/mds; this is its node:http front.
 *
 * Listens on `--listen`, else on the host's address on the pod network (`ensureInterface`, the
 * `jail.interface` bridge) and `mds.port` (default 1104). Logs one line per request on stderr
 * (the token left out). Writes `ROOT/mds.pid` and `ROOT/mds.url` while it runs. On SIGTERM or SIGINT
 * it stops accepting, closes its connections, removes those files and exits 0.
 * Errors: 2 usage (bad --listen), 5 conflict (address in use, or another service runs for the
 * store), 7 config (bad mds.port, bad key file), 8 environment (the address is not the host's,
 * or the port needs privileges).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { CommandResult } from '@jetpack/shared/cli';
import { parser } from '@jetpack/shared/parser';
import { config as loadConfig } from '@jetpack/shared/context';
import { conflict, JetpackError, usage } from '@jetpack/shared/errors';
import {
  baseUrl,
  createMdsContext,
  handleMdsRequest,
  loadOrCreateMdsKey,
  MDS_MAX_BODY,
  MDS_VERSION,
  mdsLogPath,
  mdsPort,
  removeMdsPidFile,
  TEXT_TYPE,
  writeMdsPidFile,
  type MdsContext,
} from '@jetpack/shared/mds';
import { Store } from '@jetpack/shared/store/store';

export const USAGE = `metadata-service [--config=PATH] [--listen=ADDRESS:PORT]

Run the App Container metadata service of the store in the foreground: pods find it at their
AC_METADATA_URL, http://ADDRESS:PORT/TOKEN. Logs one line per request on stderr; stops on
SIGTERM or SIGINT. Default listen address: the host's address on the pod network (jail.interface),
port mds.port (1104).`;

/**
 * Parse `--listen`: `IPV4:PORT` or `[IPV6]:PORT`, numeric addresses only; PORT 0 to 65535
 * (0: any free port, which the start-up line on stderr reports).
 * @throws JetpackError('usage') when malformed
 */
export function parseListen(s: string): { address: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(s);
  const address = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (m === null || address === undefined || isIP(address) === 0 || port > 65535) {
    throw usage(`--listen=${s}: expected ADDRESS:PORT, e.g. 127.0.0.1:1104 or [::1]:1104`);
  }
  return { address, port };
}

/** Read a request's body, at most MDS_MAX_BODY bytes; null when it is larger. */
async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MDS_MAX_BODY) return null;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Answer one request through the shared handler and log it on stderr. */
async function serve(ctx: MdsContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const remote = req.socket.remoteAddress ?? '-';
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  let status = 500;
  let bytes = 0;
  let pod: string | undefined;
  try {
    const body = await readBody(req);
    if (body === null) {
      status = 413;
      const msg = `413 Payload Too Large: at most ${MDS_MAX_BODY} bytes\n`;
      bytes = msg.length;
      res.writeHead(413, { 'Content-Type': TEXT_TYPE, 'Content-Length': bytes, Connection: 'close' });
      res.end(msg, () => req.socket.destroy());
      return;
    }
    const r = await handleMdsRequest(ctx, { method, url, remoteAddress: req.socket.remoteAddress, body, contentType: req.headers['content-type'] });
    status = r.status;
    pod = r.pod;
    bytes = Buffer.byteLength(r.body);
    res.writeHead(r.status, { ...r.headers, 'Content-Type': r.contentType, 'Content-Length': bytes });
    res.end(r.body);
  } catch (err) {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': TEXT_TYPE });
    res.end();
    process.stderr.write(`metadata-service: ${err instanceof Error ? err.message : String(err)}\n`);
  } finally {
    const path = mdsLogPath(url).replace(/[^\x21-\x7e]/g, '?');
    process.stderr.write(`${new Date().toISOString()} ${remote} "${method.replace(/[^A-Z]/g, '?')} ${path}" ${status} ${bytes}${pod === undefined ? '' : ` pod=${pod}`}\n`);
  }
}

/** Listen, turning the usual socket errors into Jetpack errors. */
async function listen(server: Server, address: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${baseUrl(address, port)}`;
      if (err.code === 'EADDRINUSE') reject(conflict(`${where}: the address is already in use`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new JetpackError('environment', `${where}: not an address of this host`));
      else if (err.code === 'EACCES') reject(new JetpackError('environment', `${where}: permission denied (ports below 1024 need root)`));
      else reject(err);
    };
    server.once('error', onError);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

/** Resolve when SIGTERM or SIGINT arrives; returns the signal. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.removeListener('SIGTERM', on);
      process.removeListener('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('metadata-service', argv, USAGE)
    .option('listen', { type: 'string', describe: 'ADDRESS:PORT to listen on (default: the pod network address, port mds.port)' })
    .parse();
  if (args._.length > 0) throw usage(`unexpected argument "${String(args._[0])}" (see metadata-service --help)`);
  const listenArg = args.listen === undefined ? undefined : parseListen(args.listen);
  const store = await Store.open(loadConfig(args));
  let where = listenArg;
  if (where === undefined) {
    // The pod network's set-up (ip(8) and nft(8) through execa), loaded only without --listen.
    const { ensureInterface } = await import('@jetpack/shared/net/network');
    where = { address: (await ensureInterface(store.config)).address, port: mdsPort(store.config) };
  }
  const keys = await loadOrCreateMdsKey(store);
  const ctx = createMdsContext(store, keys, { pid: process.pid, address: where.address, port: where.port, version: MDS_VERSION });

  // node:http is loaded once the service starts, not for --help.
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => void serve(ctx, req, res));
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  const stopped = untilSignal();
  await listen(server, where.address, where.port);
  const bound = server.address();
  if (bound !== null && typeof bound === 'object') ctx.info.port = bound.port;
  const url = baseUrl(where.address, ctx.info.port);
  try {
    await writeMdsPidFile(store, url);
  } catch (err) {
    server.close();
    throw err;
  }
  process.stderr.write(`metadata-service: listening on ${url} (pid ${process.pid}, store ${store.layout.root})\n`);

  const sig = await stopped;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  });
  await removeMdsPidFile(store);
  process.stderr.write(`metadata-service: stopped (${sig})\n`);
  return { status: 0 };
}
