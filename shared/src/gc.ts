/**
 * Garbage collection of everything a killed command can leave behind, in one place: the store's
 * half-made or half-destroyed images and pods and dangling image-ID links (Store.gc), pod network
 * namespaces and veth pairs whose launcher is gone (net/network.ts reapStaleNetworks), and the
 * cgroups of this store's pods that no longer run (run/cgroups.ts), host-wide address claims of
 * pods that are gone (net/addresses.ts). aci-import, pod-create and
 * image-build run the store part on their own before they start; `store-gc` (`jetpack gc`) runs
 * all of it on demand.
 */
import { removeStalePodCgroup } from './run/cgroups.js';
import { reapStaleNetworks } from './net/network.js';
import { releaseStaleAddresses } from './net/addresses.js';
import type { Store } from './store/store.js';

/** What gc removed (the JSON of `store-gc`). Each list holds UUIDs, in the order removed. */
export interface GcReport {
  /** Images and pods that never completed or whose destroy was interrupted. */
  removed: string[];
  /** Pods whose stale network namespace and veth pair were removed (Linux). */
  networks: string[];
  /** Pods (not running) whose leftover cgroups were removed (Linux). */
  cgroups: string[];
  /** Host-wide address claims (net/addresses.ts) of pods that no longer exist, freed. */
  addresses: string[];
}

/**
 * Remove every leftover of killed commands. Safe while other commands run: what is owned by a
 * live process is left alone.
 * @throws JetpackError('environment') only when the store cannot be read
 */
export async function collectGarbage(store: Store): Promise<GcReport> {
  const removed = await store.gc();
  const addresses = await releaseStaleAddresses();
  if (process.platform !== 'linux') return { removed, networks: [], cgroups: [], addresses };
  const networks = await reapStaleNetworks();
  const cgroups: string[] = [];
  for (const pod of await store.pods()) {
    if (pod.state === 'running' || pod.state === 'dying') continue;
    if (await removeStalePodCgroup(pod.uuid, { kill: true }).catch(() => false)) cgroups.push(pod.uuid);
  }
  return { removed, networks, cgroups, addresses };
}
