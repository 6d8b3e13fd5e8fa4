/**
 * The isolation backend for this platform: Linux namespaces (./linux.ts, jetpack-stage1) or, on
 * FreeBSD, jails (jail(8), jexec(8); not written yet). Commands call `runApp` from here, never a
 * backend directly, so the FreeBSD backend slots in without touching them.
 */
import { JetpackError } from '../errors.js';
import { runApp as runLinuxApp, type RunAppOptions } from './linux.js';

export type { RunAppOptions } from './linux.js';

/**
 * Run one app of a pod, isolated, and return its exit status (128+N for signal N).
 * @throws JetpackError('environment') on a platform without a backend
 */
export async function runApp(opts: RunAppOptions, platform: NodeJS.Platform = process.platform): Promise<number> {
  switch (platform) {
    case 'linux':
      return runLinuxApp(opts);
    case 'freebsd':
      throw new JetpackError('environment', 'running pods on FreeBSD (jails) is not available yet');
    default:
      throw new JetpackError('environment', `running pods is not supported on ${platform} (Linux and FreeBSD only)`);
  }
}
