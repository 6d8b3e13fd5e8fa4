/**
 * The FreeBSD backend: a {@link PodPlan} turned into the exact command lines (argv arrays, no
 * shell anywhere) that run it in a jail. Pure functions only: nothing here spawns a process, reads
 * a file or looks at the host, so every command line is tested at the argument level on Linux
 * (test/freebsd-backend.test.ts). Written from the FreeBSD manuals: jail(8), jexec(8), jls(8),
 * rctl(8), ps(1), top(1), killall(1), mount_nullfs(8), mount(8), devfs(5), devfs(8), umount(8),
 * ifconfig(8); the order of operations follows the original jetpack (original-jetpack.md § 6).
 *
 * The model (one jail per pod, one chroot per app, as the original did):
 *
 *     <root>/                           the jail's `path` (opts.root, e.g. /var/jetpack/pods/UUID/rootfs)
 *     <root>/app/<name>/rootfs          each app's rootfs, a nullfs(5) mount of PlanApp.rootfs
 *     <root>/app/<name>/rootfs/dev      a devfs(5) of its own, with the jail's devfs ruleset
 *     <root>/app/<name>/rootfs<target>  each volume, a nullfs(5) mount (read-only where asked)
 *
 * Apps enter the jail through `jetpack-stage2` ({@link appExecArgv}): jail_attach(2) by name,
 * chroot(2) into `/app/<name>/rootfs`, then the app's groups, gid and uid, working directory and
 * environment, then execve(2). jexec(8) alone cannot do this: it runs the command at the jail's
 * root and looks `-U` users up in the jail's /etc/passwd, while each app has its own root and its
 * uid/gid are already resolved numbers.
 *
 * Lifecycle, in order:
 *
 * 1. `mkdir` of {@link mountDirs} (by the caller), then {@link mountArgv};
 * 2. {@link rctlAddArgv} (rules keyed by jail name may exist before the jail: rctl(8) applies them
 *    as soon as a jail of that name is created, so no process ever runs unlimited);
 * 3. {@link jailCreateArgv} (`jail -c`, persist: the jail exists without processes);
 * 4. per app: {@link eventHandlerArgv} `pre-start`, then {@link appExecArgv};
 *    while it runs: {@link psArgv}, {@link topArgv}, {@link killallArgv}, {@link jlsStateArgv};
 * 5. per app: {@link eventHandlerArgv} `post-stop`;
 * 6. {@link jailStopArgv} (`jail -r`), polling {@link jlsStateArgv} until it is `gone`, then
 *    {@link jailCleanupArgv} (what `jail -r` cannot undo for a jail made on the command line);
 * 7. {@link umountArgv}, {@link rctlRemoveArgv}.
 *
 * Every tool is named by its absolute path in the FreeBSD base system ({@link FREEBSD_TOOLS}), so
 * no PATH lookup is involved when these run as root.
 */
import { isIPv4 } from 'node:net';
import path from 'node:path';
import type { NameValue } from '../appc/types.js';
import { flag, get, withPrefix, type Config } from '../config.js';
import { JetpackError } from '../errors.js';
import type { PlanApp, PlanLimits, PodPlan } from './plan.js';

/** Absolute paths of the FreeBSD base tools the backend runs (hier(7)). */
export const FREEBSD_TOOLS = {
  jail: '/usr/sbin/jail',
  jls: '/usr/sbin/jls',
  rctl: '/usr/bin/rctl',
  ps: '/bin/ps',
  top: '/usr/bin/top',
  killall: '/usr/bin/killall',
  mount: '/sbin/mount',
  mountNullfs: '/sbin/mount_nullfs',
  umount: '/sbin/umount',
  ifconfig: '/sbin/ifconfig',
} as const;

/** Where jetpack-stage2 is installed unless {@link FreeBSDOptions.stage2} says otherwise. */
export const DEFAULT_STAGE2 = '/usr/local/libexec/jetpack/jetpack-stage2';

/** Pod annotations `jetpack/jail.conf/PARAM` set jail parameters (original-jetpack.md § 6.2). */
export const JAIL_CONF_ANNOTATION = 'jetpack/jail.conf/';

/** Configuration keys `ace.jailConf.PARAM` set jail parameters (original-jetpack.md § 2.2). */
export const JAIL_CONF_CONFIG = 'ace.jailConf.';

/** jail(8): "A simple devfs ruleset for jails is available as ruleset #4" (devfsrules_jail). */
export const DEFAULT_DEVFS_RULESET = 4;

/** The original's `ace.jailConf.securelevel` default. */
export const DEFAULT_SECURELEVEL = 2;

/** MAXHOSTNAMELEN - 1: the longest jail name and host.hostname the kernel keeps. */
const MAX_NAME_BYTES = 255;
/** Highest uid/gid: 2^32-2 (uid_t is 32 bits, -1 means "unchanged"). */
const MAX_ID = 4294967294;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const AC_NAME_RE = /^[a-z0-9]+([-.][a-z0-9]+)*$/;

/** What every function of this backend needs besides the plan. */
export interface FreeBSDOptions {
  /** Effective configuration: `jail.namePrefix`, `ace.jailConf.*`, `debug`. */
  config: Config;
  /** Absolute host path of the jail's root directory (jail(8) `path`), e.g. /var/jetpack/pods/UUID/rootfs. */
  root: string;
  /** Path of the jetpack-stage2 helper (default {@link DEFAULT_STAGE2}). */
  stage2?: string;
}

/** What {@link parseJlsState} makes of jls(8) output. */
export type JailState = 'running' | 'dying' | 'gone';

// ---------------------------------------------------------------------------------------------
// Checks shared by every command line

function invalid(message: string): JetpackError {
  return new JetpackError('invalid', message);
}

/** A value for an error message: as is when plain printable ASCII, else JSON-quoted (one line). */
function shown(s: string): string {
  return /^[\x21-\x7e]*$/.test(s) ? s : JSON.stringify(s);
}

function checkText(what: string, s: string): void {
  if (/[\0\n\r]/.test(s)) throw invalid(`${what} ${JSON.stringify(s)} contains a NUL byte or a line break`);
}

function checkAbsolute(what: string, p: string): void {
  checkText(what, p);
  if (!path.posix.isAbsolute(p)) throw invalid(`${what} "${p}" is not an absolute path`);
  if (p.split('/').includes('..')) throw invalid(`${what} "${p}" contains a ".." component`);
}

function checkId(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ID) throw invalid(`${what} ${n}: not an integer between 0 and ${MAX_ID}`);
}

function checkEnv(env: readonly NameValue[]): void {
  for (const { name, value } of env) {
    if (name === '' || name.includes('=') || name.includes('\0')) {
      throw invalid(`environment variable name "${name}" is empty or contains "=" or NUL (appc spec/ace.md)`);
    }
    if (value.includes('\0')) throw invalid(`environment variable ${name}: the value contains NUL`);
  }
}

function checkArgv(what: string, argv: readonly string[]): void {
  if (argv.length === 0) throw invalid(`${what} is empty: nothing to run`);
  argv.forEach((a, i) => {
    if (a.includes('\0')) throw invalid(`${what}: argument ${i} contains a NUL byte`);
  });
}

function checkApp(app: PlanApp): void {
  if (!AC_NAME_RE.test(app.name)) throw invalid(`app "${app.name}": not an AC Name (appc spec/types.md)`);
}

/**
 * Check a jail name for every tool that takes one: jail(8) § Jail Parameters `name` ("it may not
 * contain a `.`": dots separate the names of hierarchical jails), and besides no `:` (the rctl(8)
 * rule separator), `,` (the ps(1) -J list separator), `*` (a jail(8) wildcard), `=` (`jail -r`
 * refuses arguments with one), whitespace or quotes; no leading `-` (it would read as an option);
 * not all digits (it would read as a jid); at most 255 bytes (MAXHOSTNAMELEN - 1).
 * @throws JetpackError('invalid') naming the rule broken
 */
export function checkJailName(name: string): void {
  if (name === '' || Buffer.byteLength(name) > MAX_NAME_BYTES) throw invalid(`jail name "${shown(name)}" must be 1 to ${MAX_NAME_BYTES} bytes`);
  if (name.includes('.')) throw invalid(`jail name "${name}" contains "." (jail(8): dots separate hierarchical jail names)`);
  if (!/^[A-Za-z0-9_/+-]+$/.test(name)) {
    throw invalid(`jail name ${JSON.stringify(name)} may hold only letters, digits, "_", "-", "+" and "/"`);
  }
  if (name.startsWith('-')) throw invalid(`jail name "${name}" starts with "-" (it would read as an option)`);
  if (/^[0-9]+$/.test(name)) throw invalid(`jail name "${name}" is all digits (jail(8) would read it as a jid)`);
}

/**
 * The pod's jail name: `jail.namePrefix` + the pod UUID (original-jetpack.md § 2.1), checked with
 * {@link checkJailName}. jail(8) names may not contain `.`, so a prefix with one is a configuration
 * error rather than silently rewritten (a rewrite could make two prefixes name the same jails).
 * @throws JetpackError('config') for an unusable prefix, JetpackError('invalid') for a bad UUID
 */
export function jailName(uuid: string, config: Config): string {
  if (!UUID_RE.test(uuid)) throw invalid(`pod UUID "${shown(uuid)}" is not a lower-case RFC 4122 UUID`);
  const prefix = get(config, 'jail.namePrefix');
  try {
    checkJailName(prefix + uuid);
  } catch (err) {
    if (!(err instanceof JetpackError)) throw err;
    throw new JetpackError('config', `jail.namePrefix "${shown(prefix)}": ${err.message}`);
  }
  return prefix + uuid;
}

// ---------------------------------------------------------------------------------------------
// jail(8) parameters: the allow-list

type ParamType =
  | { kind: 'bool' }
  | { kind: 'int'; min: number; max: number; why?: string }
  | { kind: 'enum'; values: readonly string[]; why?: string }
  | { kind: 'string' };

interface ParamRule {
  /** What `ace.jailConf.*` (the host's administrator) may set. */
  config: ParamType;
  /** What a pod annotation may set; absent: pods may not set it at all. */
  pod?: ParamType;
}

const BOOL: ParamType = { kind: 'bool' };
const INT32_MAX = 2147483647;
const SYSV: ParamRule = {
  config: { kind: 'enum', values: ['new', 'inherit', 'disable'] },
  pod: { kind: 'enum', values: ['new', 'disable'], why: "inherit would share the host's System V IPC objects" },
};

/**
 * The jail parameters jetpack passes on, with the values the configuration and pod annotations
 * may give them (jail(8) § Jail Parameters). Any other `allow.*` boolean is open to the
 * configuration only (see {@link configRule}).
 */
const PARAM_RULES: ReadonlyMap<string, ParamRule> = new Map<string, ParamRule>([
  ['securelevel', { config: { kind: 'int', min: -1, max: 3 }, pod: { kind: 'int', min: 0, max: 3 } }],
  [
    'enforce_statfs',
    {
      config: { kind: 'int', min: 0, max: 2 },
      pod: { kind: 'int', min: 1, max: 2, why: "0 would show the pod every mount point of the host" },
    },
  ],
  ['devfs_ruleset', { config: { kind: 'int', min: 0, max: 65535 } }],
  ['children.max', { config: { kind: 'int', min: 0, max: INT32_MAX } }],
  ['osrelease', { config: { kind: 'string' } }],
  ['osreldate', { config: { kind: 'int', min: 0, max: INT32_MAX } }],
  ['allow.set_hostname', { config: BOOL, pod: BOOL }],
  ['allow.raw_sockets', { config: BOOL, pod: BOOL }],
  ['allow.chflags', { config: BOOL, pod: BOOL }],
  ['allow.sysvipc', { config: BOOL, pod: BOOL }],
  ['sysvmsg', SYSV],
  ['sysvsem', SYSV],
  ['sysvshm', SYSV],
]);

/** Parameters pods may set, for the refusal message. */
const POD_PARAMS = [...PARAM_RULES].filter(([, r]) => r.pod !== undefined).map(([n]) => n).sort();

/**
 * Parameters (and jail(8) pseudo-parameters) that jetpack sets itself or that would make jail(8)
 * run commands, mount file systems or change the network: never taken from configuration or
 * annotations.
 */
function managedBy(param: string): string | null {
  if (['name', 'jid', 'path', 'persist', 'host.hostname', 'host.hostuuid', 'ip4', 'ip4.addr', 'ip6', 'ip6.addr'].includes(param)) {
    return 'is set by jetpack';
  }
  if (
    param === 'interface' || param === 'vnet' || param.startsWith('vnet.') || param === 'ip_hostname' || param === 'host' ||
    param.startsWith('ip4.') || param.startsWith('ip6.') || param.startsWith('host.')
  ) {
    return 'is part of the pod network and hostname, which jetpack sets';
  }
  if (param === 'mount' || param.startsWith('mount.') || param.startsWith('exec.') || param === 'command' || param === 'depend') {
    return 'would make jail(8) mount file systems or run commands';
  }
  if (['allow.dying', 'stop.timeout', 'parent', 'dying', 'cpuset.id', 'children.cur'].includes(param)) {
    return 'is not a parameter jetpack passes to jail(8)';
  }
  return null;
}

/** The configuration's rule for a parameter: the table, or any other `allow.*` boolean. */
function configRule(param: string): ParamType | undefined {
  const rule = PARAM_RULES.get(param);
  if (rule !== undefined) return rule.config;
  if (/^allow(\.[a-z][a-z0-9_]*)+$/.test(param)) return BOOL;
  return undefined;
}

type ParamValue = boolean | string;

/** Parse a value by its type; null when it does not fit. Canonical forms: booleans, decimal integers. */
function parseValue(type: ParamType, raw: string): ParamValue | null {
  const v = raw.trim();
  switch (type.kind) {
    case 'bool': {
      const lower = v.toLowerCase();
      if (['true', '1', 'on', 'yes'].includes(lower)) return true;
      if (['false', '0', 'off', 'no'].includes(lower)) return false;
      return null;
    }
    case 'int': {
      if (!/^-?[0-9]{1,10}$/.test(v)) return null;
      const n = Number(v);
      return n >= type.min && n <= type.max ? String(n) : null;
    }
    case 'enum':
      return type.values.includes(v) ? v : null;
    case 'string':
      return /^[A-Za-z0-9][A-Za-z0-9._+/-]{0,254}$/.test(v) ? v : null;
  }
}

function describe(param: string, type: ParamType): string {
  switch (type.kind) {
    case 'bool':
      return `${param} must be true or false`;
    case 'int': {
      const range = type.max - type.min === 1 ? `${type.min} or ${type.max}` : `an integer from ${type.min} to ${type.max}`;
      return `${param} must be ${range}${type.why !== undefined ? ` (${type.why})` : ''}`;
    }
    case 'enum':
      return `${param} must be ${type.values.join(' or ')}${type.why !== undefined ? ` (${type.why})` : ''}`;
    case 'string':
      return `${param} must be 1 to 255 letters, digits, ".", "_", "+", "-" or "/"`;
  }
}

/** Annotation and configuration names may use `-` for `_` (the original's `enforce-statfs`). */
function paramName(raw: string): string {
  return raw.replace(/-/g, '_');
}

/** The jail's policy parameters, in order: defaults, then `ace.jailConf.*`, then annotations. */
function policy(plan: PodPlan, config: Config): Map<string, ParamValue> {
  const params = new Map<string, ParamValue>([
    ['securelevel', String(DEFAULT_SECURELEVEL)],
    ['enforce_statfs', '2'],
    ['devfs_ruleset', String(DEFAULT_DEVFS_RULESET)],
    ['children.max', '0'],
    ['allow.set_hostname', false],
    ['allow.raw_sockets', false],
    ['allow.chflags', false],
    ['allow.mount', false],
    ['allow.quotas', false],
    ['allow.socket_af', false],
    ['sysvmsg', 'disable'],
    ['sysvsem', 'disable'],
    ['sysvshm', 'disable'],
  ]);
  const set = (param: string, value: ParamValue): void => {
    if (param === 'allow.sysvipc') {
      // jail(8): allow.sysvipc means sysvmsg, sysvsem and sysvshm all "inherit" (the host's IPC).
      // Jetpack reads it as the original's pods meant it, System V IPC for the pod: its own ("new").
      for (const p of ['sysvmsg', 'sysvsem', 'sysvshm']) params.set(p, value === true ? 'new' : 'disable');
    } else params.set(param, value);
  };
  for (const [key, raw] of withPrefix(config, JAIL_CONF_CONFIG)) {
    const param = paramName(key);
    const where = `${JAIL_CONF_CONFIG}${key} = ${shown(raw)}`;
    const managed = managedBy(param);
    if (managed !== null) throw new JetpackError('config', `${where}: ${param} ${managed}`);
    const type = configRule(param);
    if (type === undefined) {
      throw new JetpackError('config', `${where}: ${param} is not a jail parameter jetpack passes on (see jetpack-freebsd(7))`);
    }
    const value = parseValue(type, raw);
    if (value === null) throw new JetpackError('config', `${where}: ${describe(param, type)}`);
    set(param, value);
  }
  for (const { name, value: raw } of plan.annotations) {
    if (!name.startsWith(JAIL_CONF_ANNOTATION)) continue;
    const param = paramName(name.slice(JAIL_CONF_ANNOTATION.length));
    const where = `pod annotation ${shown(name)}=${shown(raw)}`;
    const managed = managedBy(param);
    if (managed !== null) throw invalid(`${where}: ${param} ${managed}`);
    const type = PARAM_RULES.get(param)?.pod;
    if (type === undefined) throw invalid(`${where}: ${param} may not be set by a pod (allowed: ${POD_PARAMS.join(', ')})`);
    const value = parseValue(type, raw);
    if (value === null) throw invalid(`${where}: ${describe(param, type)}`);
    set(param, value);
  }
  return params;
}

/** jail(8) § Jail Parameters: a boolean is `name` or `noname` (the `no` before the last component). */
function boolWord(param: string, on: boolean): string {
  if (on) return param;
  const dot = param.lastIndexOf('.');
  return `${param.slice(0, dot + 1)}no${param.slice(dot + 1)}`;
}

/**
 * The pod jail's parameters as jail(8) command-line words (jail(8) § Jail Parameters: `name=value`,
 * booleans as `name` / `noname`), in this order:
 *
 * - `name=` ({@link jailName}), `path=` (opts.root), `host.hostname=`, `host.hostuuid=` (the pod
 *   UUID), `persist` (the jail lives without processes; apps come and go through jetpack-stage2);
 * - private network: `ip4.addr=IFACE|ADDRESS/PREFIX` (jail(8) adds the alias to the interface
 *   before creating the jail) and `ip6=disable`; host network: `ip4=inherit`, `ip6=inherit`;
 * - the policy: `securelevel=2` (`ace.jailConf.securelevel`), `enforce_statfs=2`,
 *   `devfs_ruleset=4`, `children.max=0`, `allow.noset_hostname`, `allow.noraw_sockets`,
 *   `allow.nochflags`, `allow.nomount`, `allow.noquotas`, `allow.nosocket_af`,
 *   `sysvmsg=disable`, `sysvsem=disable`, `sysvshm=disable`; then any other `ace.jailConf.*`
 *   key and `jetpack/jail.conf/*` pod annotation, each replacing a default in place or appended.
 *
 * Configuration keys may set the parameters of the allow-list (see jetpack-freebsd(7)): securelevel
 * -1..3, enforce_statfs 0..2, devfs_ruleset, children.max, osrelease, osreldate, sysvmsg /
 * sysvsem / sysvshm (new, inherit, disable) and any `allow.*` boolean except allow.dying. Pod
 * annotations may set only allow.chflags, allow.raw_sockets, allow.set_hostname, allow.sysvipc,
 * enforce_statfs 1..2, securelevel 0..3 and sysvmsg / sysvsem / sysvshm new or disable.
 * `allow.sysvipc` is never passed on: true means sysvmsg=sysvsem=sysvshm=new (the pod's own IPC),
 * false means all three disable, because jail(8) reads allow.sysvipc as "inherit" (the host's).
 * In names, `-` stands for `_` (the original's `jetpack/jail.conf/enforce-statfs`).
 *
 * Values are checked by type and come out in canonical form, so none can hold a `,` (a value list
 * for jail(8)), a line break or a NUL. On the command line jail(8) splits each word at its first
 * `=` and takes the rest literally (no quote processing, unlike jail.conf(5)), so no quoting is
 * needed or wanted.
 *
 * jail(8) `mount.devfs` is not used: nothing runs at the jail's root, and each app gets a devfs of
 * its own with the same ruleset ({@link mountArgv}), as the original's per-app fstab lines did.
 *
 * @throws JetpackError('invalid') for a refused annotation (one line naming the annotation and the
 *   rule), a bad address, hostname, UUID or root; JetpackError('config') for a refused
 *   `ace.jailConf.*` key or an unusable `jail.namePrefix`
 */
export function jailParams(plan: PodPlan, opts: FreeBSDOptions): string[] {
  const name = jailName(plan.uuid, opts.config);
  checkAbsolute('jail root', opts.root);
  const hostBytes = Buffer.byteLength(plan.hostname);
  if (hostBytes === 0 || hostBytes > MAX_NAME_BYTES) throw invalid(`hostname "${shown(plan.hostname)}" must be 1 to ${MAX_NAME_BYTES} bytes`);
  checkText('hostname', plan.hostname);
  const words = [`name=${name}`, `path=${opts.root}`, `host.hostname=${plan.hostname}`, `host.hostuuid=${plan.uuid}`, 'persist'];
  const net = plan.network;
  if (net.mode === 'host') words.push('ip4=inherit', 'ip6=inherit');
  else words.push(`ip4.addr=${interfaceAddress(plan)}`, 'ip6=disable');
  for (const [param, value] of policy(plan, opts.config)) {
    words.push(typeof value === 'boolean' ? boolWord(param, value) : `${param}=${value}`);
  }
  return words;
}

/** `IFACE|ADDRESS/PREFIX` of a private-network pod (jail(8) § ip4.addr pseudo-parameter form). */
function interfaceAddress(plan: PodPlan): string {
  const { interface: iface, address, prefixLength } = plan.network;
  if (!/^[A-Za-z][A-Za-z0-9_.-]{0,14}$/.test(iface)) {
    throw invalid(`network interface "${shown(iface)}" is not a FreeBSD interface name (1 to 15 characters, IFNAMSIZ)`);
  }
  if (address === undefined || !isIPv4(address)) throw invalid(`pod address "${shown(String(address))}" is not an IPv4 address`);
  if (prefixLength === undefined || !Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 32) {
    throw invalid(`prefix length ${String(prefixLength)} of ${address} is not an integer from 1 to 32`);
  }
  return `${iface}|${address}/${prefixLength}`;
}

/**
 * `jail -q -c PARAM...` (`-v` instead of `-q` when the `debug` key is on, as the original did):
 * jail(8) § DESCRIPTION `-c`, parameters on the command line so that no jail.conf(5) is read. See
 * {@link jailParams} for the parameters, the allow-list and the refusals.
 */
export function jailCreateArgv(plan: PodPlan, opts: FreeBSDOptions): string[] {
  return [FREEBSD_TOOLS.jail, flag(opts.config, 'debug') ? '-v' : '-q', '-c', ...jailParams(plan, opts)];
}

/**
 * `jail -q -f /dev/null -r NAME` (jail(8) § DESCRIPTION `-r`, `-f conf_file`): sends SIGTERM to
 * every process of the jail, waits for them up to the default `stop.timeout` of 10 seconds, then
 * removes the jail (killing what is left). The jail then stays `dying` for a while
 * ({@link parseJlsState}). `-f /dev/null`: jail(8) would otherwise read /etc/jail.conf, whose
 * wildcard (`*`) section could add exec.stop or exec.poststop commands of the host's to a pod's
 * jail; with an empty configuration the running jail is simply removed.
 */
export function jailStopArgv(jail: string, opts: { verbose?: boolean } = {}): string[] {
  checkJailName(jail);
  return [FREEBSD_TOOLS.jail, opts.verbose === true ? '-v' : '-q', '-f', '/dev/null', '-r', jail];
}

/**
 * What `jail -r` does not undo for a jail created from the command line, to run once the jail is
 * gone: jail(8) keeps no record of its pseudo-parameters, so the alias it added for
 * `ip4.addr=IFACE|ADDRESS/PREFIX` is removed with the same ifconfig(8) command jail(8) itself runs
 * when it stops a jail from jail.conf(5): `ifconfig IFACE inet ADDRESS/PREFIX -alias`.
 * Nothing for a host-network pod.
 */
export function jailCleanupArgv(plan: PodPlan): string[][] {
  if (plan.network.mode === 'host') return [];
  const [iface, address] = interfaceAddress(plan).split('|') as [string, string];
  return [[FREEBSD_TOOLS.ifconfig, iface, 'inet', address, '-alias']];
}

// ---------------------------------------------------------------------------------------------
// Mounts

/** The app's root inside the jail (what jetpack-stage2 chroots into). */
export function appChroot(app: PlanApp): string {
  checkApp(app);
  return `/app/${app.name}/rootfs`;
}

/** The app's root on the host: `<root>/app/<name>/rootfs`. */
export function appRootOnHost(app: PlanApp, opts: FreeBSDOptions): string {
  checkAbsolute('jail root', opts.root);
  return path.posix.join(opts.root, appChroot(app));
}

function volumeTarget(app: PlanApp, target: string, volume: string): string {
  checkAbsolute(`app "${app.name}": volume ${volume} mount point`, target);
  const rel = path.posix.normalize(target).replace(/^\/+/, '').replace(/\/+$/, '');
  if (rel === '') throw invalid(`app "${app.name}": volume ${volume} would be mounted over the whole rootfs`);
  return rel;
}

/**
 * The directories the mounts of {@link mountArgv} need, in creation order: each app's
 * `<root>/app/<name>/rootfs`, and inside each app's own rootfs (PlanApp.rootfs, before it is
 * mounted) `dev` and every volume's mount point. The caller creates them (mode 0755) and must make
 * sure none is a symbolic link: mount(8) follows symbolic links on the host, so a link planted in
 * an image could send a mount anywhere (jail(8) refuses such paths for its own mounts).
 */
export function mountDirs(plan: PodPlan, opts: FreeBSDOptions): string[] {
  const dirs: string[] = [];
  for (const app of plan.apps) {
    checkAbsolute(`app "${app.name}": rootfs`, app.rootfs);
    dirs.push(appRootOnHost(app, opts), path.posix.join(app.rootfs, 'dev'));
    for (const m of app.mounts) dirs.push(path.posix.join(app.rootfs, volumeTarget(app, m.target, m.volume)));
  }
  return dirs;
}

/**
 * The pod's mounts, in mount order, per app in pod order:
 *
 * 1. `mount_nullfs -o ro|rw ROOTFS <root>/app/<name>/rootfs` (mount_nullfs(8); `ro` for
 *    readOnlyRootFS);
 * 2. `mount -t devfs -o ruleset=N devfs <app root>/dev` (devfs(5) mount option `ruleset`: the
 *    jail's devfs_ruleset, default 4, devfsrules_jail; the same command jail(8) runs for
 *    `mount.devfs`);
 * 3. each volume: `mount_nullfs -o ro|rw SOURCE <app root><target>` (mount_nullfs(8)), `ro` where
 *    the mount is read-only, in the plan's order (parents before children).
 *
 * nullfs(5) shows only the file system at SOURCE, never the file systems mounted below it, so a
 * host volume's `recursive` cannot be honoured and every volume mount is non-recursive.
 * Capabilities and no-new-privileges are Linux ideas; `noNewPrivileges` goes to jetpack-stage2.
 * @throws JetpackError('invalid') for a relative or `..` path, a mount over an app's whole rootfs
 */
export function mountArgv(plan: PodPlan, opts: FreeBSDOptions): string[][] {
  const ruleset = policy(plan, opts.config).get('devfs_ruleset');
  const out: string[][] = [];
  for (const app of plan.apps) {
    checkAbsolute(`app "${app.name}": rootfs`, app.rootfs);
    const root = appRootOnHost(app, opts);
    out.push([FREEBSD_TOOLS.mountNullfs, '-o', app.readOnlyRootfs ? 'ro' : 'rw', app.rootfs, root]);
    out.push([FREEBSD_TOOLS.mount, '-t', 'devfs', '-o', `ruleset=${String(ruleset)}`, 'devfs', path.posix.join(root, 'dev')]);
    for (const m of app.mounts) {
      checkAbsolute(`app "${app.name}": volume ${m.volume} source`, m.source);
      const target = path.posix.join(root, volumeTarget(app, m.target, m.volume));
      out.push([FREEBSD_TOOLS.mountNullfs, '-o', m.readOnly ? 'ro' : 'rw', m.source, target]);
    }
  }
  return out;
}

/**
 * `umount MOUNTPOINT` (umount(8)) for every mount of {@link mountArgv}, in reverse order, so that
 * nothing is unmounted before what is mounted on top of it.
 */
export function umountArgv(plan: PodPlan, opts: FreeBSDOptions): string[][] {
  return mountArgv(plan, opts)
    .map((argv) => [FREEBSD_TOOLS.umount, argv[argv.length - 1] as string])
    .reverse();
}

// ---------------------------------------------------------------------------------------------
// Resource limits: rctl(8)

function checkLimits(what: string, limits: PlanLimits): void {
  if (limits.memoryBytes !== undefined && (!Number.isSafeInteger(limits.memoryBytes) || limits.memoryBytes < 1)) {
    throw invalid(`${what}: memory limit ${limits.memoryBytes} is not a positive whole number of bytes`);
  }
  if (limits.cpuMillicores !== undefined && (!Number.isSafeInteger(limits.cpuMillicores) || limits.cpuMillicores < 1)) {
    throw invalid(`${what}: CPU limit ${limits.cpuMillicores} is not a positive whole number of millicores`);
  }
}

/** rctl(8) `pcpu` is "%CPU, in percents of a single CPU core": millicores / 10, rounded up (never 0). */
export function pcpuPercent(cpuMillicores: number): number {
  return Math.ceil(cpuMillicores / 10);
}

/**
 * The limits that apply to the whole jail: the pod's own (plan.limits), else, for each resource
 * that every app limits, the sum of the apps' limits (for a one-app pod: the app's limit, exactly).
 */
export function jailLimits(plan: PodPlan): PlanLimits {
  checkLimits('pod', plan.limits);
  plan.apps.forEach((app) => checkLimits(`app "${app.name}"`, app.limits));
  const sum = (pick: (l: PlanLimits) => number | undefined): number | undefined => {
    if (plan.apps.length === 0 || plan.apps.some((a) => pick(a.limits) === undefined)) return undefined;
    return plan.apps.reduce((n, a) => n + (pick(a.limits) ?? 0), 0);
  };
  const out: PlanLimits = {};
  const memory = plan.limits.memoryBytes ?? sum((l) => l.memoryBytes);
  const cpu = plan.limits.cpuMillicores ?? sum((l) => l.cpuMillicores);
  if (memory !== undefined) out.memoryBytes = memory;
  if (cpu !== undefined) out.cpuMillicores = cpu;
  return out;
}

/** rctl(8) § RULE SYNTAX `resource:action=amount` for the limits, without subject (memory first). */
function ruleBodies(limits: PlanLimits): string[] {
  const rules: string[] = [];
  if (limits.memoryBytes !== undefined) rules.push(`memoryuse:deny=${limits.memoryBytes}`);
  if (limits.cpuMillicores !== undefined) rules.push(`pcpu:deny=${pcpuPercent(limits.cpuMillicores)}`);
  return rules;
}

/**
 * `rctl -a jail:NAME:memoryuse:deny=BYTES` and `rctl -a jail:NAME:pcpu:deny=PERCENT` for
 * {@link jailLimits} (rctl(8) § RULE SYNTAX `subject:subject-id:resource:action=amount`, subject
 * `jail` by name; § RESOURCES `memoryuse` "resident set size, in bytes", `pcpu` "%CPU, in percents
 * of a single CPU core"). The amount is accounted for the jail as a whole (per defaults to the
 * subject). Rules for a jail name apply to the jail of that name whenever it exists, so they are
 * added before `jail -c` and removed by {@link rctlRemoveArgv} after `jail -r`. RACCT must be on
 * (`kern.racct.enable=1` in loader.conf(5)); rctl(8) § BUGS: limiting memoryuse may make the
 * jail thrash rather than fail. An app's own limits are applied by jetpack-stage2 to each of its
 * processes ({@link appExecArgv}).
 */
export function rctlAddArgv(plan: PodPlan, opts: FreeBSDOptions): string[][] {
  const name = jailName(plan.uuid, opts.config);
  return ruleBodies(jailLimits(plan)).map((rule) => [FREEBSD_TOOLS.rctl, '-a', `jail:${name}:${rule}`]);
}

/** `rctl -r jail:NAME` (rctl(8) `-r filter`: a filter with the resource left empty matches every rule of the jail). */
export function rctlRemoveArgv(plan: PodPlan, opts: FreeBSDOptions): string[] {
  return [FREEBSD_TOOLS.rctl, '-r', `jail:${jailName(plan.uuid, opts.config)}`];
}

// ---------------------------------------------------------------------------------------------
// Running apps: jetpack-stage2

/** The app's environment as jetpack-stage2 reads it from descriptor 3: `NAME=VALUE\0` entries. */
export function encodeStage2Environment(env: readonly NameValue[]): Buffer {
  checkEnv(env);
  return Buffer.concat(env.map(({ name, value }) => Buffer.from(`${name}=${value}\0`)));
}

function findApp(plan: PodPlan, app: PlanApp): PlanApp {
  checkApp(app);
  if (!plan.apps.some((a) => a.name === app.name)) throw invalid(`app "${app.name}" is not an app of pod ${plan.uuid}`);
  return app;
}

interface Stage2Run {
  uid: number;
  gid: number;
  groups: readonly number[];
  noNewPrivileges: boolean;
  rctl: readonly string[];
  argv: readonly string[];
  what: string;
}

function stage2Argv(plan: PodPlan, app: PlanApp, opts: FreeBSDOptions, run: Stage2Run): string[] {
  const stage2 = opts.stage2 ?? DEFAULT_STAGE2;
  checkAbsolute('jetpack-stage2 path', stage2);
  const name = jailName(plan.uuid, opts.config);
  checkId(`${run.what}: uid`, run.uid);
  checkId(`${run.what}: gid`, run.gid);
  for (const g of run.groups) checkId(`${run.what}: supplementary gid`, g);
  checkAbsolute(`${run.what}: working directory`, app.cwd);
  checkEnv(app.env);
  checkArgv(run.what, run.argv);
  return [
    stage2,
    `--jail=${name}`,
    `--chroot=${appChroot(app)}`,
    `--uid=${run.uid}`,
    `--gid=${run.gid}`,
    `--groups=${run.groups.join(',')}`,
    `--cwd=${app.cwd}`,
    '--env-fd=3',
    ...(run.noNewPrivileges ? ['--no-new-privs'] : []),
    ...run.rctl.map((r) => `--rctl=${r}`),
    '--',
    ...run.argv,
  ];
}

/**
 * The command line that runs one app in the pod's jail:
 *
 *     jetpack-stage2 --jail=NAME --chroot=/app/APP/rootfs --uid=N --gid=N --groups=N,...
 *       --cwd=DIR --env-fd=3 [--no-new-privs] [--rctl=RULE]... -- EXEC...
 *
 * every option in `--opt=VALUE` form so that no value reads as an option. jetpack-stage2 is the
 * original's stage2 (original-jetpack.md § 6.3): (1) for each `--rctl`, rctl_add_rule(2) of
 * `process:PID:RULE` for itself (rctl(8) § SUBJECTS `process`: rules are inherited across fork,
 * and accounted per process), before entering the jail since jailed processes may not add rules;
 * (2) jail_getid(3) and jail_attach(2) (the same as jexec(8)); (3) chdir(2) + chroot(2) into the
 * app's root; (4) setgroups(2) with the gid first (FreeBSD keeps the effective gid in groups[0]),
 * setgid(2), setuid(2); (5) procctl(2) PROC_NO_NEW_PRIVS_CTL for `--no-new-privs`; (6) chdir(2) to
 * the working directory; (7) execve(2) with exactly the environment read from descriptor 3
 * (`NAME=VALUE\0` entries, {@link encodeStage2Environment}), looking argv[0] without `/` up in that
 * environment's PATH. The environment is not on the command line, where every host user could
 * read it with ps(1) -e or in exec audit records (the Linux backend's --env-fd does the same).
 *
 * `--rctl` carries the app's own limits ({@link PlanApp.limits}: `memoryuse:deny=BYTES`,
 * `pcpu:deny=PERCENT`): FreeBSD has no per-app container between the jail and a process, so an
 * app's limit bounds each of its processes; the jail's rules ({@link rctlAddArgv}) bound the whole.
 * @throws JetpackError('invalid') for an app not in the plan, an empty exec, an id out of range, a
 *   relative working directory, a bad variable name or a NUL byte
 */
export function appExecArgv(plan: PodPlan, app: PlanApp, opts: FreeBSDOptions): string[] {
  findApp(plan, app);
  checkLimits(`app "${app.name}"`, app.limits);
  return stage2Argv(plan, app, opts, {
    uid: app.uid,
    gid: app.gid,
    groups: app.groups,
    noNewPrivileges: app.noNewPrivileges,
    rctl: ruleBodies(app.limits),
    argv: app.exec,
    what: `app "${app.name}": exec`,
  });
}

/**
 * The command line of an app's `pre-start` or `post-stop` event handler (appc spec/ace.md § Event
 * handlers), or null when the app has none: jetpack-stage2 as for {@link appExecArgv}, in the
 * app's root, working directory and environment, but as root (uid 0, gid 0, no supplementary
 * groups), without the app's per-process limits (the jail's still apply).
 */
export function eventHandlerArgv(plan: PodPlan, app: PlanApp, event: 'pre-start' | 'post-stop', opts: FreeBSDOptions): string[] | null {
  findApp(plan, app);
  const argv = event === 'pre-start' ? app.preStart : app.postStop;
  if (argv === undefined) return null;
  return stage2Argv(plan, app, opts, {
    uid: 0,
    gid: 0,
    groups: [],
    noNewPrivileges: false,
    rctl: [],
    argv,
    what: `app "${app.name}": ${event} handler`,
  });
}

// ---------------------------------------------------------------------------------------------
// Looking at and signalling a running jail

function checkOptions(tool: string, options: readonly string[], retarget: RegExp, flagName: string): void {
  for (const o of options) {
    if (o.includes('\0')) throw invalid(`${tool} option ${JSON.stringify(o)} contains a NUL byte`);
    if (retarget.test(o)) throw new JetpackError('usage', `${tool} option "${shown(o)}": ${flagName} is set by jetpack to the pod's jail`);
  }
}

/**
 * `ps -J NAME OPTIONS...` (ps(1) `-J`: processes of the jail given by jid or name; a selector, so
 * every user's processes in the jail are listed). OPTIONS are the user's ps(1) options; one that
 * would add another `-J` is refused.
 * @throws JetpackError('usage') for an option word with `J` among its leading option letters
 */
export function psArgv(jail: string, options: readonly string[] = []): string[] {
  checkJailName(jail);
  checkOptions('ps', options, /^-[A-Za-z]*J/, '-J');
  return [FREEBSD_TOOLS.ps, '-J', jail, ...options];
}

/**
 * `top -J NAME OPTIONS...` (top(1) `-J jail`: "Show only those processes owned by jail. This may be
 * either the jid or name of the jail"; implies `-j`). One more `-J` among OPTIONS is refused.
 * @throws JetpackError('usage') as {@link psArgv}
 */
export function topArgv(jail: string, options: readonly string[] = []): string[] {
  checkJailName(jail);
  checkOptions('top', options, /^-[A-Za-z]*J/, '-J');
  return [FREEBSD_TOOLS.top, '-J', jail, ...options];
}

/**
 * `killall -j NAME OPTIONS...` (killall(1) `-j jail`: "Kill processes in the specified jail";
 * killall attaches to the jail, so it can reach nothing else). With no process name among OPTIONS
 * it signals every process of the jail; `-SIGNAL` picks the signal (default TERM). Another `-j`
 * is refused.
 * @throws JetpackError('usage') for an option word starting with `-j`
 */
export function killallArgv(jail: string, options: readonly string[] = []): string[] {
  checkJailName(jail);
  checkOptions('killall', options, /^-j/, '-j');
  return [FREEBSD_TOOLS.killall, '-j', jail, ...options];
}

/**
 * `jls -d name dying` (jls(8): `-d` lists dying jails too; the parameters `name` and `dying`, one
 * jail per line, space-separated). Every jail is listed rather than one picked with `-j`, because
 * `jls -j` exits 1 for a jail that is gone, which {@link parseJlsState} could not tell from a
 * failure of jls itself.
 */
export function jlsStateArgv(): string[] {
  return [FREEBSD_TOOLS.jls, '-d', 'name', 'dying'];
}

/**
 * The state of jail NAME from the output of {@link jlsStateArgv}: `running` (listed, `dying`
 * false), `dying` (listed, `dying` true: removed, but the kernel still holds it, e.g. for sockets
 * in TIME_WAIT; its name cannot be reused yet), `gone` (not listed). jls(8) prints booleans as
 * `true`/`false` (libjail jailparam_export); `1`/`0`, which the original parsed, are read too.
 * @throws JetpackError('internal') for a line of NAME that does not parse
 */
export function parseJlsState(output: string, jail: string): JailState {
  checkJailName(jail);
  let state: JailState = 'gone';
  for (const line of output.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] !== jail) continue;
    const dying = fields[1];
    if (fields.length !== 2 || dying === undefined || !['true', 'false', '1', '0'].includes(dying)) {
      throw new JetpackError('internal', `jls: cannot parse the line ${JSON.stringify(line)}`);
    }
    if (dying === 'false' || dying === '0') return 'running';
    state = 'dying';
  }
  return state;
}
