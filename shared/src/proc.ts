/**
 * Process liveness, for the pid markers of the store (`.importing`, `.creating`, locks, run.json),
 * the pod network's owners and the metadata service's pid file.
 */

/**
 * Whether a process with this pid exists (kill(2) with signal 0; EPERM means it exists but
 * belongs to someone else). Pids can be reused: callers treat `true` as "maybe alive".
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
