/**
 * The pods' network on Linux, in the original's model (jail.interface): one host interface holds
 * the host's address of the pod network (`jail.interface`, default the bridge `jetpack0` with
 * `jail.interface.address`, default 172.23.0.1/16); each pod with a private network gets the next
 * free address of that network (recorded in its pod manifest as the annotation `ip-address`), its
 * own network namespace (`/run/netns/jetpack-<uuid>`) and a veth pair whose host end is on the
 * bridge; outgoing traffic is masqueraded (nftables table `ip jetpack`, set `pod-networks`) so the pod reaches what
 * the host reaches, and the host reaches the pod at its address.
 *
 * Tools: ip(8) from iproute2, nft(8). Sources: ip-link(8), ip-netns(8), ip-address(8), nft(8).
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { execa } from 'execa';
import { get, type Config } from '../config.js';
import { JetpackError } from '../errors.js';
import { processAlive } from '../proc.js';
import { claimAddress } from './addresses.js';

/** The host's side of the pod network. */
export interface HostInterface {
  /** Interface name (jail.interface). */
  interface: string;
  /** The host's IPv4 address on it: the pods' gateway and the metadata service's address. */
  address: string;
  /** Prefix length of the network, e.g. 16. */
  prefixLength: number;
}

/** Default of `jail.interface.address` (the original's README: lo1 with 172.23.0.1/16). */
export const DEFAULT_INTERFACE_ADDRESS = '172.23.0.1/16';

/** `a.b.c.d` → 32-bit number. @throws JetpackError('config') when not a dotted quad */
export function ipToNumber(ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m || m.slice(1).some((p) => Number(p) > 255)) throw new JetpackError('config', `"${ip}" is not an IPv4 address`);
  return m.slice(1).reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** 32-bit number → `a.b.c.d`. */
export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** Parse `ADDRESS/PREFIX` (jail.interface.address). @throws JetpackError('config') */
export function parseCidr(cidr: string, key = 'jail.interface.address'): { address: string; prefixLength: number } {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr.trim());
  const prefixLength = m ? Number(m[2]) : NaN;
  if (!m || prefixLength < 8 || prefixLength > 30) {
    throw new JetpackError('config', `${key} = "${cidr}": expected an IPv4 ADDRESS/PREFIX with a prefix of 8 to 30`);
  }
  ipToNumber(m[1] as string);
  return { address: m[1] as string, prefixLength };
}

/**
 * The next free pod address: host address + 1, + 2, ... within the network, skipping the network
 * and broadcast addresses and every address in `taken` (the original's nextIP, made safe: the
 * caller holds the store lock so that concurrent creates never pick the same one).
 * @throws JetpackError('conflict') when the network is full
 */
export function nextFreeAddress(host: HostInterface, taken: Iterable<string>): string {
  const used = new Set(taken);
  used.add(host.address);
  const size = 2 ** (32 - host.prefixLength);
  const base = ipToNumber(host.address) - (ipToNumber(host.address) % size);
  const start = ipToNumber(host.address);
  for (let i = 1; i < size; i++) {
    const n = base + ((start - base + i) % size);
    if (n === base || n === base + size - 1) continue;
    const ip = numberToIp(n);
    if (!used.has(ip)) return ip;
  }
  throw new JetpackError('conflict', `no free address left in ${numberToIp(base)}/${host.prefixLength} (jail.interface ${host.interface})`);
}

/**
 * Whether `ip` is a usable host address of the interface's network (not the network or broadcast
 * address). @throws JetpackError('config') when `ip` is not a dotted quad
 */
export function sameNetwork(host: HostInterface, ip: string): boolean {
  const size = 2 ** (32 - host.prefixLength);
  const base = ipToNumber(host.address) - (ipToNumber(host.address) % size);
  const n = ipToNumber(ip);
  return n > base && n < base + size - 1;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

/** Whether the interface exists (sysfs, no exec). */
function interfaceExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** Whether the interface is administratively up (IFF_UP in sysfs `flags`, netdevice(7)). */
async function interfaceUp(name: string): Promise<boolean> {
  const flags = await readFile(`/sys/class/net/${name}/flags`, 'utf8').catch(() => '0x0');
  return (Number.parseInt(flags.trim(), 16) & 0x1) === 0x1;
}

/**
 * The interface's first IPv4 address, or null when the interface does not exist or has none.
 * Asks getifaddrs(3) through os.networkInterfaces() first (no exec); that lists only interfaces
 * that are up and running, so a bridge without ports is read with `ip -j addr show`.
 */
async function readInterface(name: string): Promise<HostInterface | null> {
  const known = readInterfaces.get(name);
  if (known !== undefined && interfaceExists(name)) return known;
  const found = await readInterfaceNow(name);
  if (found === null) readInterfaces.delete(name);
  else readInterfaces.set(name, found);
  return found;
}

/** What readInterface found, per interface, for the life of this process (one exec at most). */
const readInterfaces = new Map<string, HostInterface>();

async function readInterfaceNow(name: string): Promise<HostInterface | null> {
  const listed = networkInterfaces()[name]?.find((a) => a.family === 'IPv4' && a.cidr !== null);
  if (listed?.cidr) {
    return { interface: name, address: listed.address, prefixLength: Number(listed.cidr.split('/')[1]) };
  }
  if (!interfaceExists(name)) return null;
  const r = await execa('ip', ['-j', '-4', 'addr', 'show', 'dev', name], { reject: false });
  if (r.exitCode !== 0) return null;
  const parsed = JSON.parse(r.stdout || '[]') as IpAddrJson[];
  const info = parsed[0]?.addr_info?.find((a) => a.family === 'inet' && a.local !== undefined);
  if (info?.local === undefined || info.prefixlen === undefined) return null;
  return { interface: name, address: info.local, prefixLength: info.prefixlen };
}

/**
 * The pod network's host interface as configured, without changing the host: the interface's
 * first IPv4 address when it exists, else `jail.interface.address`.
 * @throws JetpackError('config') for a malformed jail.interface.address
 */
export async function hostInterface(config: Config): Promise<HostInterface> {
  const name = get(config, 'jail.interface') || 'jetpack0';
  const existing = await readInterface(name);
  if (existing !== null) return existing;
  const { address, prefixLength } = parseCidr(get(config, 'jail.interface.address') || DEFAULT_INTERFACE_ADDRESS);
  return { interface: name, address, prefixLength };
}

/**
 * Run ip(8) commands in one process (`ip [-n NETNS] -batch -`, one command per line; it stops at
 * the first that fails). With `force`, it goes on after a failure (`-force`), for clean-ups.
 * @throws JetpackError('environment') naming `what` and quoting ip's error
 */
async function ipBatch(lines: string[], what: string, opts: { netns?: string; force?: boolean } = {}): Promise<void> {
  const args = [...(opts.netns === undefined ? [] : ['-n', opts.netns]), ...(opts.force === true ? ['-force'] : []), '-batch', '-'];
  const r = await execa('ip', args, { input: `${lines.join('\n')}\n`, reject: false });
  if (r.exitCode !== 0 && opts.force !== true) {
    const why = r.stderr.trim().split('\n').filter((l) => l.trim() !== '').join('; ') || `exit ${r.exitCode}`;
    throw new JetpackError('environment', `${what}: ip ${args.join(' ')}: ${why}`);
  }
}

/**
 * Make sure the pod network's host side exists: the bridge `jail.interface` with its address, up;
 * IPv4 forwarding on; the nftables masquerade rule for the network. Idempotent and safe to run
 * concurrently. Needs root. Runs at most one ip(8) (only when the bridge is missing or down) and
 * one nft(8).
 * @throws JetpackError('environment') when ip(8) or nft(8) fail
 */
export async function ensureInterface(config: Config): Promise<HostInterface> {
  const want = await hostInterface(config);
  const lines: string[] = [];
  if (!interfaceExists(want.interface)) lines.push(`link add ${want.interface} type bridge`);
  if ((await readInterface(want.interface)) === null) lines.push(`addr add ${want.address}/${want.prefixLength} dev ${want.interface}`);
  if (lines.length > 0 || !(await interfaceUp(want.interface))) lines.push(`link set ${want.interface} up`);
  if (lines.length > 0) {
    // -force: a concurrent ensureInterface may have made the bridge in between ("File exists").
    await ipBatch(lines, `create the pod network bridge ${want.interface}`, { force: true });
    if ((await readInterface(want.interface)) === null || !(await interfaceUp(want.interface))) {
      throw new JetpackError('environment', `create the pod network bridge ${want.interface}: it has no IPv4 address or is not up after ip link add/addr add/link set up`);
    }
  }
  if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '0')).trim() !== '1') {
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n').catch(() => undefined);
  }
  const size = 2 ** (32 - want.prefixLength);
  const net = `${numberToIp(ipToNumber(want.address) - (ipToNumber(want.address) % size))}/${want.prefixLength}`;
  // One atomic nft(8) transaction. Every store's pod network joins the set `pod-networks`, so two
  // stores with different networks on one host do not undo each other's masquerading.
  const rules = [
    'add table ip jetpack',
    'add set ip jetpack pod-networks { type ipv4_addr; flags interval; auto-merge; }',
    `add element ip jetpack pod-networks { ${net} }`,
    'add chain ip jetpack postrouting { type nat hook postrouting priority 100; }',
    'flush chain ip jetpack postrouting',
    'add rule ip jetpack postrouting ip saddr @pod-networks ip daddr != @pod-networks masquerade',
  ].join('\n');
  const nft = await execa('nft', ['-f', '-'], { input: rules, reject: false });
  if (nft.exitCode !== 0) throw new JetpackError('environment', `nft: masquerade for ${net}: ${nft.stderr.trim() || nft.shortMessage}`);
  return want;
}

/** The pod's network namespace name and file (ip-netns(8)). */
export function podNetns(podUuid: string): { name: string; path: string } {
  const name = `jetpack-${podUuid}`;
  return { name, path: `/run/netns/${name}` };
}

/** The host end of the pod's veth pair (at most 15 bytes, IFNAMSIZ-1); the pod end is eth0. */
function vethHost(podUuid: string): string {
  return `jp${podUuid.replace(/-/g, '').slice(0, 12)}`;
}

/**
 * Give a pod its private network: a network namespace with `lo` up and `eth0` (a veth whose host
 * end is on the bridge) holding `address`, default route via the host's address. Removes what a
 * previous (crashed) run left first. Two ip(8) processes: one on the host side (namespace, veth
 * pair created with its pod end already named eth0 inside the namespace, host end on the bridge),
 * one inside the namespace (address, links up, route). Returns the namespace's path for
 * jetpack-stage1 (`net=PATH`).
 * The address is claimed host-wide (net/addresses.ts) for the pod in `podDir`.
 * @throws JetpackError('environment') when ip(8) fails (everything made so far is removed);
 *   JetpackError('conflict') when another store's pod holds the address
 */
export async function setupPodNetwork(host: HostInterface, podUuid: string, address: string, podDir: string): Promise<string> {
  const ns = podNetns(podUuid);
  const veth = vethHost(podUuid);
  await reapStaleNetworks();
  await teardownPodNetwork(podUuid);
  await mkdir(OWNERS, { recursive: true, mode: 0o700 });
  await writeFile(`${OWNERS}/${podUuid}`, `${process.pid}\n`);
  try {
    const holder = await claimAddress(address, podUuid, podDir);
    if (holder !== null) {
      throw new JetpackError('conflict', `pod ${podUuid}: address ${address} is held by pod ${holder.pod} (${holder.dir}); each store allocates on its own: destroy one of them or give them different jail.interface networks`);
    }
    await ipBatch(
      [`netns add ${ns.name}`, `link add ${veth} type veth peer name eth0 netns ${ns.name}`, `link set ${veth} master ${host.interface} up`],
      'create the pod network namespace and its veth pair',
    );
    await ipBatch(
      [`addr add ${address}/${host.prefixLength} dev eth0`, 'link set lo up', 'link set eth0 up', `route add default via ${host.address}`],
      'configure the pod network',
      { netns: ns.name },
    );
  } catch (err) {
    await teardownPodNetwork(podUuid);
    throw err;
  }
  return ns.path;
}

/**
 * Remove a pod's network namespace and veth pair (nothing to do, and no exec, when they do not
 * exist). Deleting the namespace deletes eth0 and with it, asynchronously, the host end of the
 * pair; `leaveVeth` (after a run whose pod processes are all gone) leaves that to the kernel,
 * otherwise a host end still present is deleted too.
 */
export async function teardownPodNetwork(podUuid: string, opts: { leaveVeth?: boolean } = {}): Promise<void> {
  const ns = podNetns(podUuid);
  const veth = vethHost(podUuid);
  const hadNs = existsSync(ns.path);
  if (hadNs) await execa('ip', ['netns', 'del', ns.name], { reject: false });
  if (!(hadNs && opts.leaveVeth === true) && interfaceExists(veth)) await execa('ip', ['link', 'del', veth], { reject: false });
  await rm(`${OWNERS}/${podUuid}`, { force: true });
}


/** Which process set up each pod network (`OWNERS/UUID` holds its pid), so others leave it alone. */
const OWNERS = '/run/jetpack/netns';


/**
 * Remove the network namespaces (and veth pairs) of pods that no longer run: a `jetpack-UUID`
 * namespace whose owner (the jail-run that set it up, /run/jetpack/netns/UUID) is gone and that
 * has no process in it was left by a launcher killed before it could clean up (kill -9); its
 * address would shadow a new pod's. Returns the pod UUIDs cleaned.
 */
export async function reapStaleNetworks(): Promise<string[]> {
  const names = (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => /^jetpack-[0-9a-f-]{36}$/.test(n));
  const reaped: string[] = [];
  for (const name of names) {
    const uuid = name.slice('jetpack-'.length);
    const owner = Number((await readFile(`${OWNERS}/${uuid}`, 'utf8').catch(() => '')).trim());
    if (owner > 0 && processAlive(owner)) continue; // being set up, or running
    const pids = await execa('ip', ['netns', 'pids', name], { reject: false });
    if (pids.exitCode === 0 && pids.stdout.trim() === '') {
      await teardownPodNetwork(uuid);
      reaped.push(uuid);
    }
  }
  return reaped;
}
