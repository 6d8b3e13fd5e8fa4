/**
 * Host-wide claims of pod addresses. Each store allocates its pods' addresses on jail.interface's
 * network under its own lock (store.ts), but several stores on one host share the network, so an
 * address is also claimed here for as long as its pod exists: `/run/jetpack/addresses/IP` holds
 * `POD-UUID POD-DIRECTORY`. Claims are read and changed only under one host-wide lock
 * (`/run/jetpack/addresses.lock`, ../lock.ts) and written with write-then-rename, so a claim is
 * never half-written and two processes never both take one over. A claim whose pod directory is
 * not a live pod directory (gone, not named after the pod, or with none of meta.json, .creating,
 * .destroying) is stale, as is an unreadable one: it is taken over. /run is emptied at boot; pods
 * claim their address again when they run.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { lockOwned } from '../lock.js';

/** Where the claims live. */
export const ADDRESSES = '/run/jetpack/addresses';

/** Who holds an address: the pod and its directory in its store. */
export interface AddressHolder {
  pod: string;
  dir: string;
}

const CLAIM_RE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) (\/.*)$/;

/** The holder of `address` as its claim file says, or null when unclaimed or unreadable. */
export async function addressHolder(address: string): Promise<AddressHolder | null> {
  const m = CLAIM_RE.exec((await readFile(`${ADDRESSES}/${address}`, 'utf8').catch(() => '')).trim());
  return m === null ? null : { pod: m[1] as string, dir: m[2] as string };
}

/** Whether the holder's pod still exists: its directory, named after it, with a store marker. */
function live(h: AddressHolder): boolean {
  return basename(h.dir) === h.pod && ['meta.json', '.creating', '.destroying'].some((f) => existsSync(`${h.dir}/${f}`));
}

/** Run `fn` holding the host-wide claims lock. */
async function withClaims<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir(ADDRESSES, { recursive: true, mode: 0o700 });
  const release = await lockOwned(ADDRESSES, `${ADDRESSES}.lock`, 10_000, 30_000);
  try {
    return await fn();
  } finally {
    await release();
  }
}

/**
 * Claim `address` for the pod whose directory is `podDir`. Returns null when the pod holds it now
 * (claimed, already its own, or taken over from a stale claim), else the live holder.
 */
export async function claimAddress(address: string, podUuid: string, podDir: string): Promise<AddressHolder | null> {
  return withClaims(async () => {
    const holder = await addressHolder(address);
    if (holder !== null && holder.pod !== podUuid && live(holder)) return holder;
    if (holder?.pod !== podUuid || holder.dir !== podDir) {
      const tmp = `${ADDRESSES}/.${address}.${process.pid}`;
      await writeFile(tmp, `${podUuid} ${podDir}\n`);
      await rename(tmp, `${ADDRESSES}/${address}`);
    }
    return null;
  });
}

/** Release the pod's claims (pod destroy). */
export async function releaseAddresses(podUuid: string): Promise<void> {
  await withClaims(async () => {
    for (const ip of await readdir(ADDRESSES)) {
      if (!ip.startsWith('.') && (await addressHolder(ip))?.pod === podUuid) await rm(`${ADDRESSES}/${ip}`, { force: true });
    }
  });
}

/** Remove stale claims (gc): pods that no longer exist, unreadable files. Returns the addresses freed, in address order. */
export async function releaseStaleAddresses(): Promise<string[]> {
  const freed = await withClaims(async () => {
    const out: string[] = [];
    for (const ip of await readdir(ADDRESSES)) {
      if (ip.startsWith('.')) continue;
      const holder = await addressHolder(ip);
      if (holder === null || !live(holder)) {
        await rm(`${ADDRESSES}/${ip}`, { force: true });
        out.push(ip);
      }
    }
    return out;
  });
  const key = (ip: string): number => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
  return freed.sort((a, b) => key(a) - key(b));
}
