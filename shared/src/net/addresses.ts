/**
 * Host-wide claims of pod addresses. Each store allocates its pods' addresses on jail.interface's
 * network under its own lock (store.ts), but several stores on one host share the network, so an
 * address is also claimed here for as long as its pod exists: `/run/jetpack/addresses/IP` holds
 * `POD-UUID POD-DIRECTORY`, made with O_EXCL (atomic across stores and processes). A claim whose
 * pod directory is gone is stale and is taken over. /run is emptied at boot; pods claim their
 * address again when they run.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';

/** Where the claims live. */
export const ADDRESSES = '/run/jetpack/addresses';

/** Who holds an address: the pod and its directory in its store. */
export interface AddressHolder {
  pod: string;
  dir: string;
}

/** The holder of `address`, or null when unclaimed. */
export async function addressHolder(address: string): Promise<AddressHolder | null> {
  const text = (await readFile(`${ADDRESSES}/${address}`, 'utf8').catch(() => '')).trim();
  const space = text.indexOf(' ');
  if (space <= 0) return null;
  return { pod: text.slice(0, space), dir: text.slice(space + 1) };
}

/**
 * Claim `address` for the pod whose directory is `podDir`. Returns null when the pod holds it now
 * (claimed, already its own, or taken over from a pod that no longer exists), else the live holder.
 */
export async function claimAddress(address: string, podUuid: string, podDir: string): Promise<AddressHolder | null> {
  await mkdir(ADDRESSES, { recursive: true, mode: 0o700 });
  const file = `${ADDRESSES}/${address}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await writeFile(file, `${podUuid} ${podDir}\n`, { flag: 'wx' });
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await addressHolder(address);
    if (holder === null) continue; // being written or removed right now
    if (holder.pod === podUuid) return null;
    if (existsSync(holder.dir)) return holder;
    await rm(file, { force: true });
  }
  return addressHolder(address);
}

/** Release the pod's claims (pod destroy). */
export async function releaseAddresses(podUuid: string): Promise<void> {
  for (const ip of await readdir(ADDRESSES).catch(() => [] as string[])) {
    if ((await addressHolder(ip))?.pod === podUuid) await rm(`${ADDRESSES}/${ip}`, { force: true });
  }
}

/** Remove claims whose pod no longer exists (gc). Returns the addresses freed, in address order. */
export async function releaseStaleAddresses(): Promise<string[]> {
  const freed: string[] = [];
  for (const ip of await readdir(ADDRESSES).catch(() => [] as string[])) {
    const holder = await addressHolder(ip);
    if (holder !== null && !existsSync(holder.dir)) {
      await rm(`${ADDRESSES}/${ip}`, { force: true });
      freed.push(ip);
    }
  }
  const key = (ip: string): number => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
  return freed.sort((a, b) => key(a) - key(b));
}
