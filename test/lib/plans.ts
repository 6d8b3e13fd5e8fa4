/**
 * Run-plan fixtures for the launcher and backend tests: a PlanApp with harmless defaults (root,
 * `/` as working directory, no mounts, limits or extra capabilities), to which each test adds what
 * it is about.
 */
import type { PlanApp } from '../../shared/src/run/plan.js';

/** A PlanApp named `name`: uid/gid 0, cwd `/`, exec /bin/true, nothing else unless `extra` says. */
export function planAppFixture(name: string, extra: Partial<PlanApp> = {}): PlanApp {
  return {
    name,
    rootfs: `/unused/${name}/rootfs`,
    exec: ['/bin/true'],
    uid: 0,
    gid: 0,
    groups: [],
    cwd: '/',
    env: [],
    mounts: [],
    capabilities: [],
    noNewPrivileges: false,
    readOnlyRootfs: false,
    limits: {},
    ...extra,
  };
}
