/**
 * The isolation backend for this platform: Linux namespaces (./linux.ts, jetpack-stage1) or, on
 * FreeBSD, jails. Commands call `runApp` from here, never a backend directly, so the FreeBSD
 * backend slots in without touching them.
 *
 * The FreeBSD backend exists as command lines only: ./freebsd.ts turns a PodPlan into the exact
 * argv of jail(8), mount_nullfs(8), rctl(8), jetpack-stage2, ps(1), jls(8)... and is tested at the
 * argument level (test/freebsd-backend.test.ts). Nothing runs them yet: FreeBSD cannot be run on
 * the machines this is developed and tested on, and jetpack-stage2 (the jail_attach + chroot +
 * setuid helper those command lines name) is specified there but not written. So `runApp` on
 * FreeBSD still fails with JetpackError('environment').
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
      // The command lines are in ./freebsd.ts; nothing executes them yet (see above).
      throw new JetpackError('environment', 'running pods on FreeBSD (jails) is not available yet');
    default:
      throw new JetpackError('environment', `running pods is not supported on ${platform} (Linux and FreeBSD only)`);
  }
}
