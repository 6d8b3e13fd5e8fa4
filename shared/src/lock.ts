/**
 * Locks between processes (Node has no flock): proper-lockfile's mkdir(2) lock plus an owner file
 * holding the holder's pid, so that a lock whose holder was killed is taken over at once. Used for
 * the store's reference lock, a pod's run lock (store/store.ts) and the host-wide address claims
 * (net/addresses.ts).
 */
import { readFile, rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import { processAlive } from './proc.js';

/** The pid in an owner marker file, or 0 when there is none (or it is not written yet). */
export async function ownerPid(path: string): Promise<number> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

/**
 * Take proper-lockfile's lock (mkdir(2) of `lockfilePath`), waiting up to `waitMs`, and record our
 * pid in `lockfilePath.owner`. A waiter that finds the lock held and its recorded owner dead (the
 * holder was killed) takes it over at once: it moves the owner file aside with rename(2), which
 * only one waiter can do, checks that it still names the dead pid, and removes the lock directory.
 * Without an owner file (a holder between mkdir and writing it) proper-lockfile's own rule stands:
 * a lock not refreshed for `stale` ms is stale. Pids are those of one PID namespace, as for the
 * markers of gc(). proper-lockfile is loaded on the first lock, not at start-up.
 */
export async function lockOwned(target: string, lockfilePath: string, stale: number, waitMs: number): Promise<() => Promise<void>> {
  const { default: lockfile } = await import('proper-lockfile');
  const owner = `${lockfilePath}.owner`;
  const end = Date.now() + waitMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      const release = await lockfile.lock(target, { lockfilePath, stale, retries: 0 });
      await writeFile(owner, `${process.pid}\n`);
      return async () => {
        await unlink(owner).catch(() => undefined);
        await release();
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED' || Date.now() > end) throw err;
    }
    const pid = await ownerPid(owner);
    if (pid > 0 && !processAlive(pid)) {
      const aside = `${owner}.${process.pid}`;
      if (await rename(owner, aside).then(() => true, () => false)) {
        if ((await ownerPid(aside)) === pid) await rmdir(lockfilePath).catch(() => undefined);
        await unlink(aside).catch(() => undefined);
        continue;
      }
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}
