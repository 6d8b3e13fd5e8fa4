/**
 * The files a pod's apps find in /etc: `/etc/hosts` with the pod's hostname and `/etc/resolv.conf`
 * (appc spec/OS-SPEC.md leaves both to the executor; the original wrote the host's resolv.conf or
 * `ace.dns-servers`). Written into each app's own rootfs (the pod's clone, never the image) before
 * the pod starts, without following a symlink the image put there: a symlink (or any non-directory)
 * at the path is removed and a regular file created with O_EXCL.
 */
import { lstat, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { get, type Config } from '../config.js';
import { invalid } from '../errors.js';
import { resolveInRoot } from '../users.js';

/** A nameserver address on the host's loopback, which a pod with its own network cannot reach. */
function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^0*:(0*:)*0*1$/.test(address);
}

/**
 * The lines of the pods' /etc/resolv.conf: with `ace.dns-servers` set (addresses separated by
 * commas or spaces), one `nameserver` line each, plus the host's `search`/`domain`/`options` lines;
 * else the host's /etc/resolv.conf, minus loopback nameservers when the pod has its own network
 * (a resolver on the host's 127.0.0.53 cannot answer inside it), with a comment saying so.
 * @param hostText the host's resolv.conf (default: read /etc/resolv.conf; missing = empty)
 */
export async function resolvConfLines(config: Config, network: 'private' | 'host', hostText?: string): Promise<string[]> {
  const text = hostText ?? (await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  const hostLines = text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  const configured = get(config, 'ace.dns-servers').split(/[\s,]+/).filter((s) => s !== '');
  if (configured.length > 0) {
    return [...configured.map((s) => `nameserver ${s}`), ...hostLines.filter((l) => /^(search|domain|options)\s/.test(l))];
  }
  if (network === 'host') return hostLines;
  const out: string[] = [];
  let dropped = 0;
  for (const l of hostLines) {
    const m = /^nameserver\s+(\S+)/.exec(l);
    if (m && isLoopback(m[1] as string)) dropped++;
    else out.push(l);
  }
  if (dropped > 0 && !out.some((l) => l.startsWith('nameserver'))) {
    out.unshift('# jetpack: the host resolves names on its loopback, which this pod cannot reach; set ace.dns-servers in jetpack.conf');
  }
  return out;
}

/**
 * Replace `file` (an absolute path inside the rootfs, e.g. `/etc/hosts`) with `content`, never
 * writing through a symlink: the parent directory is resolved as if chrooted (and made, 0755, if
 * missing), whatever non-directory is at the path is unlinked, and the new file is created with
 * O_EXCL, mode 0644.
 * @throws JetpackError('invalid') when the image has a directory at that path
 */
export async function writeRootfsFile(rootfs: string, file: string, content: string): Promise<void> {
  const dir = await resolveInRoot(rootfs, path.posix.dirname(file));
  const st = await lstat(dir).catch(() => null);
  if (st === null) await mkdir(dir, { recursive: true, mode: 0o755 });
  else if (!st.isDirectory()) throw invalid(`${file}: ${path.posix.dirname(file)} is not a directory in the image`);
  const target = path.join(dir, path.posix.basename(file));
  const old = await lstat(target).catch(() => null);
  if (old?.isDirectory()) throw invalid(`${file}: the image has a directory there`);
  if (old !== null) await unlink(target);
  await writeFile(target, content, { flag: 'wx', mode: 0o644 });
}

/** Marker of the line Jetpack adds to an image's own /etc/hosts. */
const HOSTS_MARK = '# jetpack pod';

/**
 * The app's /etc/hosts: the image's own lines kept (a previous run's line dropped), plus
 * `ADDRESS HOSTNAME # jetpack pod` (ADDRESS: the pod's own address, else 127.0.1.1); with no
 * /etc/hosts in the image (or a symlink there), a fresh file with the localhost entries too.
 */
export async function writeHosts(rootfs: string, hostname: string, address: string | undefined): Promise<void> {
  const dir = await resolveInRoot(rootfs, '/etc');
  const existing = await lstat(path.join(dir, 'hosts')).catch(() => null);
  let keep: string[] = [];
  if (existing?.isFile()) {
    const text = await readFile(path.join(dir, 'hosts'), 'utf8');
    keep = text.split('\n').filter((l) => l !== '' && !l.endsWith(HOSTS_MARK));
  } else {
    keep = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  }
  await writeRootfsFile(rootfs, '/etc/hosts', [...keep, `${address ?? '127.0.1.1'}\t${hostname}\t${HOSTS_MARK}`, ''].join('\n'));
}
