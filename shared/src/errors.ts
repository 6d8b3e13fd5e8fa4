/**
 * One error type for every Jetpack command, with documented exit codes.
 *
 * Every command prints a failure as one line on stderr, `<command>: <message>`, and exits with
 * the code of the error's kind. The table is the contract documented in man/jetpack.7:
 *
 * | kind        | exit | meaning                                                                 |
 * |-------------|------|-------------------------------------------------------------------------|
 * | internal    | 1    | a bug or an unexpected system error                                     |
 * | usage       | 2    | bad command line (unknown flag, missing argument)                       |
 * | not-found   | 3    | no image or pod matches the argument                                     |
 * | ambiguous   | 4    | an IMAGE query or ID prefix matches more than one image                  |
 * | conflict    | 5    | the operation clashes with the store's state (image in use, pod running) |
 * | invalid     | 6    | bad input: a broken or hostile archive, an invalid manifest              |
 * | config      | 7    | configuration or store set-up problem (store not initialised, bad key)   |
 * | environment | 8    | the host lacks something (root, a kernel feature, a tool)                |
 *
 * `jail-run` additionally exits with the app's own status, 128+N when the app was killed by signal N,
 * 125 when the pod could not be set up, 126 when the app's exec could not be run and 127 when it
 * was not found (the shell conventions).
 */
export type ErrorKind =
  | 'internal'
  | 'usage'
  | 'not-found'
  | 'ambiguous'
  | 'conflict'
  | 'invalid'
  | 'config'
  | 'environment';

/** Exit code of each error kind (see the table above). */
export const EXIT_CODES: Readonly<Record<ErrorKind, number>> = {
  internal: 1,
  usage: 2,
  'not-found': 3,
  ambiguous: 4,
  conflict: 5,
  invalid: 6,
  config: 7,
  environment: 8,
};

/** A failure a user can act on: its message names the input and the broken rule. */
export class JetpackError extends Error {
  readonly kind: ErrorKind;
  /** Extra machine-readable detail (e.g. the candidates of an ambiguous query). */
  readonly detail: unknown;

  constructor(kind: ErrorKind, message: string, detail?: unknown) {
    super(message);
    this.name = 'JetpackError';
    this.kind = kind;
    this.detail = detail;
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

/** Shorthand constructors, so call sites read as the rule they enforce. */
export const invalid = (message: string, detail?: unknown): JetpackError => new JetpackError('invalid', message, detail);
export const notFound = (message: string, detail?: unknown): JetpackError => new JetpackError('not-found', message, detail);
export const conflict = (message: string, detail?: unknown): JetpackError => new JetpackError('conflict', message, detail);
export const usage = (message: string, detail?: unknown): JetpackError => new JetpackError('usage', message, detail);

/** The message of any thrown value, on one line. */
export function errorMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, '; ');
}
