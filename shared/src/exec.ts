/**
 * Running host tools (zfs(8), mount(8), cp(1), …) through execa, with failures turned into
 * one-line JetpackErrors that name the command and quote the tool's own first line of stderr.
 * execa is loaded on the first run, not at start-up (commands that run no tool never load it).
 */
import { JetpackError, type ErrorKind } from './errors.js';

/** Result of a tool run: its stdout, trimmed of the final newline. */
export async function tool(cmd: string, args: readonly string[], kind: ErrorKind = 'internal'): Promise<string> {
  const { execa } = await import('execa');
  const r = await execa(cmd, args, { reject: false, stdin: 'ignore' });
  if (r.failed) {
    const why = (String(r.stderr ?? '') || String(r.stdout ?? '') || (r.shortMessage ?? 'failed')).split('\n').find((l) => l.trim() !== '') ?? 'failed';
    throw new JetpackError(kind, `${cmd} ${args.join(' ')}: ${why.trim()}`);
  }
  return r.stdout;
}

/** True when the tool runs and exits 0 (for probes such as `zfs list DATASET`). */
export async function succeeds(cmd: string, args: readonly string[]): Promise<boolean> {
  const { execa } = await import('execa');
  const r = await execa(cmd, args, { reject: false, stdin: 'ignore' });
  return !r.failed;
}
