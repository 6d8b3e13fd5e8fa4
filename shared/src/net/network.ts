/**
 * The pods' network on Linux, in the original's model (jail.interface): one host interface holds
 * the host's address of the pod network (`jail.interface`, default the bridge `jetpack0` with
 * `jail.interface.address`, default 172.23.0.1/16); each pod with a private network gets the next
 * free address of that network (recorded in its pod manifest as the annotation `ip-address`), its
 * own network namespace (`/run/netns/jetpack-<uuid>`) and a veth pair whose host end is on the
 * bridge; outgoing traffic is masqueraded (nftables table `ip jetpack`) so the pod reaches what
 * the host reaches, and the host reaches the pod at its address.
 *
 * Tools: ip(8) from iproute2, nft(8). Sources: ip-link(8), ip-netns(8), ip-address(8), nft(8).
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { get, type Config } from '../config.js';
import { JetpackError } from '../errors.js';
import { processAlive } from '../proc.js';

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

/** The interface's first IPv4 address, or null when the interface does not exist. */
async function readInterface(name: string): Promise<HostInterface | null> {
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

async function ip(args: string[], what: string): Promise<void> {
  const r = await execa('ip', args, { reject: false });
  if (r.exitCode !== 0) throw new JetpackError('environment', `${what}: ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
}

/**
 * Make sure the pod network's host side exists: the bridge `jail.interface` with its address, up;
 * IPv4 forwarding on; the nftables masquerade rule for the network. Idempotent and safe to run
 * concurrently. Needs root.
 * @throws JetpackError('environment') when ip(8) or nft(8) fail
 */
export async function ensureInterface(config: Config): Promise<HostInterface> {
  const want = await hostInterface(config);
  if ((await readInterface(want.interface)) === null) {
    const add = await execa('ip', ['link', 'add', want.interface, 'type', 'bridge'], { reject: false });
    if (add.exitCode !== 0 && !/File exists/.test(add.stderr)) {
      throw new JetpackError('environment', `create the pod network bridge ${want.interface}: ${add.stderr.trim()}`);
    }
    const addr = await execa('ip', ['addr', 'add', `${want.address}/${want.prefixLength}`, 'dev', want.interface], { reject: false });
    if (addr.exitCode !== 0 && !/File exists/.test(addr.stderr)) {
      throw new JetpackError('environment', `address the pod network bridge ${want.interface}: ${addr.stderr.trim()}`);
    }
  }
  await ip(['link', 'set', want.interface, 'up'], `bring ${want.interface} up`);
  if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '0')).trim() !== '1') {
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n').catch(() => undefined);
  }
  const size = 2 ** (32 - want.prefixLength);
  const net = `${numberToIp(ipToNumber(want.address) - (ipToNumber(want.address) % size))}/${want.prefixLength}`;
  const rules = [
    'add table ip jetpack',
    'flush table ip jetpack',
    'add chain ip jetpack postrouting { type nat hook postrouting priority 100; }',
    `add rule ip jetpack postrouting ip saddr ${net} ip daddr != ${net} masquerade`,
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

/** The veth pair's names (at most 15 bytes, IFNAMSIZ-1): host end and, before its move, pod end. */
function vethNames(podUuid: string): { host: string; pod: string } {
  const id = podUuid.replace(/-/g, '').slice(0, 12);
  return { host: `jp${id}`, pod: `jq${id}` };
}

/**
 * Give a pod its private network: a network namespace with `lo` up and `eth0` (a veth whose host
 * end is on the bridge) holding `address`, default route via the host's address. Removes what a
 * previous (crashed) run left first. Returns the namespace's path for jetpack-stage1 (`net=PATH`).
 * @throws JetpackError('environment') when ip(8) fails (everything made so far is removed)
 */
export async function setupPodNetwork(host: HostInterface, podUuid: string, address: string): Promise<string> {
  const ns = podNetns(podUuid);
  const veth = vethNames(podUuid);
  await reapStaleNetworks();
  await teardownPodNetwork(podUuid);
  await mkdir(OWNERS, { recursive: true, mode: 0o700 });
  await writeFile(`${OWNERS}/${podUuid}`, `${process.pid}\n`);
  try {
    await ip(['netns', 'add', ns.name], 'create the pod network namespace');
    await ip(['link', 'add', veth.host, 'type', 'veth', 'peer', 'name', veth.pod], 'create the veth pair');
    await ip(['link', 'set', veth.pod, 'netns', ns.name], 'move the pod end');
    await ip(['link', 'set', veth.host, 'master', host.interface, 'up'], 'attach the host end');
    const inNs = (args: string[], what: string): Promise<void> => ip(['-n', ns.name, ...args], what);
    await inNs(['link', 'set', veth.pod, 'name', 'eth0'], 'rename the pod end');
    await inNs(['addr', 'add', `${address}/${host.prefixLength}`, 'dev', 'eth0'], 'address the pod');
    await inNs(['link', 'set', 'lo', 'up'], 'bring lo up');
    await inNs(['link', 'set', 'eth0', 'up'], 'bring eth0 up');
    await inNs(['route', 'add', 'default', 'via', host.address], 'route via the host');
  } catch (err) {
    await teardownPodNetwork(podUuid);
    throw err;
  }
  return ns.path;
}

/** Remove a pod's network namespace and veth pair (nothing to do when they do not exist). */
export async function teardownPodNetwork(podUuid: string): Promise<void> {
  const ns = podNetns(podUuid);
  const veth = vethNames(podUuid);
  if (existsSync(ns.path)) await execa('ip', ['netns', 'del', ns.name], { reject: false });
  await execa('ip', ['link', 'del', veth.host], { reject: false });
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
