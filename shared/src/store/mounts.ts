/**
 * Mount table queries and safe removal of store trees (proc(5) § /proc/self/mountinfo).
 */
import { readFile, rm } from 'node:fs/promises';
import { JetpackError } from '../errors.js';
import { tool } from '../exec.js';

/** Decode the octal escapes mountinfo uses for spaces, tabs, newlines and backslashes. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points of this mount namespace, in mount order. */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => unescapeMountPath(l.split(' ')[4] ?? ''));
}

/** Mount points at or below `path`. */
export async function mountsUnder(path: string): Promise<string[]> {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  return (await mountPoints()).filter((m) => m === path || m.startsWith(prefix));
}

/** Unmount everything at or below `path`, deepest first (one another process unmounted first is fine). */
export async function unmountUnder(path: string): Promise<void> {
  const ms = (await mountsUnder(path)).sort((a, b) => b.length - a.length);
  for (const m of ms) {
    try {
      await tool('umount', [m]);
    } catch (err) {
      if ((await mountPoints()).includes(m)) throw err;
    }
  }
}

/**
 * Remove a tree that belongs to the store. Refuses (JetpackError 'internal') when something is
 * still mounted below it, so that a leftover mount can never make us delete another filesystem's files.
 */
export async function removeTree(path: string): Promise<void> {
  const ms = await mountsUnder(path);
  if (ms.length > 0) throw new JetpackError('internal', `${path}: refusing to remove, still mounted: ${ms.join(', ')}`);
  await rm(path, { recursive: true, force: true });
}
