/**
 * What every Jetpack command shares at its edge: Go-style flag spelling, JSON output, one-line
 * errors with documented exit codes (./errors.ts), and reading the previous command's JSON from
 * stdin so that commands chain: `aci-import x.aci | pod-create | jail-run`. The yargs set-up is
 * ./parser.ts, apart, so that what parses no command line with yargs (the jetpack wrapper's own
 * words, pod-create's flags) does not load it.
 */
import { errorMessage, JetpackError, usage } from './errors.js';

/**
 * Accept the original jetpack's Go `flag` spelling: `-config=PATH`, `-dir=.` and `-help` become
 * `--config=PATH`, `--dir=.` and `--help`. Only options before the first positional argument are
 * rewritten, and only names of two or more letters, so `-n NAME` and a COMMAND's own flags are untouched.
 */
export function goFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--' || !a.startsWith('-') || a === '-') break;
    out.push(/^-[A-Za-z][A-Za-z0-9.-]+(=.*)?$/.test(a) ? `-${a}` : a);
  }
  // After the first argument, only Jetpack's own long options are rewritten (`IMAGE export -compression=gzip PATH`).
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return out.concat(argv.slice(i));
    out.push(new RegExp(`^-(${LONG_OPTIONS.join('|')})(=.*)?$`).test(a) ? `-${a}` : a);
  }
  return out;
}

/** Long options of Jetpack's commands, recognised in Go spelling anywhere on a command line. */
const LONG_OPTIONS = ['config', 'json', 'help', 'compression', 'net'];

/**
 * When the reader of our stdout goes away (`aci-import x.aci | true`), stop quietly with status 0,
 * as Unix filters do, instead of dying with an EPIPE stack trace; any other write error (ENOSPC on
 * /dev/full) is one line on stderr and exit 1.
 */
export function quietOnClosedStdout(name: string): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`${name}: cannot write to stdout: ${err.code ?? err.message}\n`);
    process.exit(1);
  });
}

/** Print a command failure the documented way and return its exit code. */
export function reportError(name: string, err: unknown): number {
  if (err instanceof JetpackError) {
    process.stderr.write(`${name}: ${errorMessage(err)}\n`);
    return err.exitCode;
  }
  const e = err as NodeJS.ErrnoException;
  process.stderr.write(`${name}: ${errorMessage(err)}\n`);
  if (process.env['JETPACK_DEBUG'] && e.stack) process.stderr.write(`${e.stack}\n`);
  return 1;
}

/** What a command's main returns: a JSON-able result, or an exit status it has already acted on. */
export type CommandResult = { json: unknown; status?: number; human?: string } | { status: number };

export type CommandMain = (argv: string[]) => Promise<CommandResult>;

/**
 * Run a command as an executable: JSON result on stdout (2-space indented), errors on stderr,
 * exit with the result's status or the error's code.
 */
export async function runMain(name: string, main: CommandMain, argv = process.argv.slice(2)): Promise<never> {
  quietOnClosedStdout(name);
  let code: number;
  try {
    const r = await main(argv);
    if ('json' in r) process.stdout.write(`${JSON.stringify(r.json, null, 2)}\n`);
    code = r.status ?? 0;
  } catch (err) {
    code = reportError(name, err);
  }
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

/**
 * Read the previous command's JSON document from stdin (for pipes such as `aci-import | pod-create`).
 * @returns the parsed value, or null when stdin is a terminal or empty
 * @throws JetpackError('usage') when stdin is not JSON
 */
export async function readStdinJson(): Promise<unknown> {
  if (process.stdin.isTTY) return null;
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw usage(`stdin: expected the JSON output of a Jetpack command, got "${text.slice(0, 40)}"`);
  }
}

/** Pick a string field (`uuid`, `id`) from a piped JSON object, or from the first of an array. */
export function pipedField(doc: unknown, field: string): string | null {
  const obj = Array.isArray(doc) ? (doc[0] as unknown) : doc;
  if (obj !== null && typeof obj === 'object' && field in obj) {
    const v = (obj as Record<string, unknown>)[field];
    if (typeof v === 'string') return v;
  }
  return null;
}

/**
 * Exit 128+N, leaving nothing half-written, if SIGINT or SIGTERM arrives while `fn` runs.
 * With `abort`, the signal first stops `fn` (e.g. by destroying its input stream) and `cleanup`
 * runs only once `fn` has settled, so nothing is still writing while it removes; without it,
 * `cleanup` runs at once. If `fn` completes anyway, its work stands. Handlers are removed after.
 */
export async function cleanupOnSignal<T>(fn: () => Promise<T>, cleanup: () => Promise<void>, abort?: () => void): Promise<T> {
  let signalled: NodeJS.Signals | null = null;
  const exitCode = (sig: NodeJS.Signals): number => 128 + (sig === 'SIGINT' ? 2 : 15);
  const handler = (sig: NodeJS.Signals): void => {
    if (signalled !== null) return;
    signalled = sig;
    if (abort !== undefined) abort();
    else {
      cleanup()
        .catch(() => undefined)
        .finally(() => process.exit(exitCode(sig)));
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    const result = await fn();
    if (signalled !== null) process.exit(exitCode(signalled));
    return result;
  } catch (err) {
    if (signalled !== null) {
      await cleanup().catch(() => undefined);
      process.exit(exitCode(signalled));
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', handler);
    process.removeListener('SIGTERM', handler);
  }
}
