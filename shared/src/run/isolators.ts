/**
 * Isolators of a pod and its apps, resolved into what a backend enforces: the Linux capability
 * bounding set, `no_new_privs`, and memory and CPU limits (./plan.ts PlanApp, PlanLimits).
 *
 * Source: appc spec/ace.md § Isolators, § Linux Isolators, § Resource Isolators; spec/types.md
 * § Isolator Type; linux/capability.h for capability numbers.
 *
 * What Jetpack enforces:
 *
 * | isolator                            | effect                                                          |
 * |-------------------------------------|-----------------------------------------------------------------|
 * | `os/linux/capabilities-retain-set`  | bounding set = exactly the set                                  |
 * | `os/linux/capabilities-remove-set`  | bounding set = the default 14 minus the set                     |
 * | `os/linux/no-new-privileges`        | `PR_SET_NO_NEW_PRIVS` when true                                 |
 * | `resource/memory`                   | `limit` in bytes (cgroup memory limit; over it means OOM kill)  |
 * | `resource/cpu`                      | `limit` in cores → millicores (CFS quota; at least 10m)         |
 *
 * Every other isolator (seccomp, SELinux, AppArmor, block and network bandwidth, oom-score-adj,
 * cpu-shares, sysctl, and names Jetpack does not know) is refused, unless the annotation
 * `jetpack/optional-isolators` of the app or the pod lists its name (comma-separated), in which
 * case it is ignored. A resource `request` is never reserved: it is ignored. The spec requires an
 * executor to tell the user which isolators it ignored, enforced or modified: that is `notes`.
 *
 * Pod-level isolators bound the app-level ones: a pod memory or CPU limit applies to the pod as a
 * whole ({@link resolvePodLimits}) and caps any app limit (the smaller one wins); a pod
 * capabilities retain-set intersects every app's bounding set, a pod remove-set removes from it;
 * a pod `no-new-privileges: true` applies to every app.
 *
 * Pure: no I/O.
 */
import { quantityMilliValue, quantityValue, parseQuantityJson, type Quantity } from '../appc/quantity.js';
import type { Isolator, NameValue } from '../appc/types.js';
import { invalid } from '../errors.js';
import type { PlanLimits } from './plan.js';

/** The annotation (app or pod) listing isolator names the app may run without, comma-separated. */
export const OPTIONAL_ISOLATORS_ANNOTATION = 'jetpack/optional-isolators';

/** Linux capability numbers, linux/capability.h (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40). */
export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
});

/** The default bounding set of an app (spec/ace.md § Linux Isolators), in the spec's order; mask 0xa80425fb. */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_AUDIT_WRITE',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_KILL',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETUID',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETFCAP',
  'CAP_SYS_CHROOT',
]);

/** The isolators Jetpack enforces; any other one is refused unless marked optional. */
export const SUPPORTED_ISOLATORS: readonly string[] = Object.freeze([
  'os/linux/capabilities-retain-set',
  'os/linux/capabilities-remove-set',
  'os/linux/no-new-privileges',
  'resource/memory',
  'resource/cpu',
]);

/** The smallest CPU limit the kernel can enforce: a 1 ms CFS quota per 100 ms period. */
export const MIN_CPU_MILLICORES = 10;

const RETAIN = 'os/linux/capabilities-retain-set';
const REMOVE = 'os/linux/capabilities-remove-set';
const NO_NEW_PRIVS = 'os/linux/no-new-privileges';
const MEMORY = 'resource/memory';
const CPU = 'resource/cpu';

/** What {@link resolveIsolators} decided for one app. */
export interface ResolvedIsolators {
  /** The capability bounding set, `CAP_*` names in capability-number order. */
  capabilities: string[];
  /** Set `PR_SET_NO_NEW_PRIVS` before exec. */
  noNewPrivileges: boolean;
  /** The app's own limits, already bounded by the pod's (the pod's limits alone are not repeated here). */
  limits: PlanLimits;
  /**
   * For the user, one line each: what was enforced, modified or ignored (`app NAME: ...`; lines about
   * pod-level isolators start with `pod: ` and are the same for every app of the pod).
   */
  notes: string[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** `CAP_*` name as spelled in linux/capability.h (case-insensitive input), or undefined when unknown. */
function canonicalCapability(name: string): string | undefined {
  const upper = name.toUpperCase();
  return Object.hasOwn(CAPABILITY_NUMBERS, upper) ? upper : undefined;
}

const byNumber = (a: string, b: string): number => (CAPABILITY_NUMBERS[a] ?? 0) - (CAPABILITY_NUMBERS[b] ?? 0);

/**
 * The bit mask of a set of capabilities (bit N = capability number N), as in /proc/PID/status
 * `CapBnd` and capset(2). Names are matched case-insensitively; the default 14 give 0xa80425fb.
 * @throws JetpackError('invalid') `unknown capability "CAP_PONIES" (...)`
 */
export function capabilityMask(names: Iterable<string>): bigint {
  let mask = 0n;
  for (const name of names) {
    const canon = canonicalCapability(name);
    if (canon === undefined) throw invalid(`unknown capability ${show(name)} (not in linux/capability.h: CAP_CHOWN … CAP_CHECKPOINT_RESTORE)`);
    mask |= 1n << BigInt(CAPABILITY_NUMBERS[canon] as number);
  }
  return mask;
}

/** The `CAP_*` names of a mask's bits, in number order; bits above CAP_CHECKPOINT_RESTORE are skipped. */
export function capabilityNames(mask: bigint): string[] {
  return Object.entries(CAPABILITY_NUMBERS)
    .filter(([, n]) => (mask >> BigInt(n)) & 1n)
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name);
}

/**
 * The isolator names listed by every `jetpack/optional-isolators` annotation among `annotations`
 * (comma-separated, blanks around names ignored).
 */
export function optionalIsolators(annotations: readonly NameValue[] | undefined): Set<string> {
  const names = new Set<string>();
  for (const a of annotations ?? []) {
    if (a.name !== OPTIONAL_ISOLATORS_ANNOTATION) continue;
    for (const n of a.value.split(',')) if (n.trim() !== '') names.add(n.trim());
  }
  return names;
}

/** Human form of a quantity in notes: the text as written, and the number Jetpack uses when it differs. */
function describe(text: string, value: number, unit: string): string {
  return text === String(value) ? `${value} ${unit}` : `${text} (${value} ${unit})`;
}

interface ResourceLimit {
  value: number;
  text: string;
}

/**
 * The smallest `limit` among the isolators named `name` (memory: bytes, CPU: millicores), with
 * notes about ignored requests.
 */
function resourceLimit(list: readonly Isolator[], name: typeof MEMORY | typeof CPU, who: string, notes: string[]): ResourceLimit | undefined {
  let best: ResourceLimit | undefined;
  for (const iso of list) {
    if (iso.name !== name) continue;
    if (!isRecord(iso.value)) throw invalid(`${who}: ${name}: the value must be an object with a limit, e.g. {"limit": "${name === MEMORY ? '512Mi' : '500m'}"}`);
    const { limit, request } = iso.value;
    if (request !== undefined) notes.push(`${who}: ${name} request ${show(request)} ignored (requests are not reserved, only limits are enforced)`);
    if (limit === undefined) {
      if (request === undefined) notes.push(`${who}: ${name} without a limit ignored (nothing to enforce)`);
      continue;
    }
    let q: Quantity;
    try {
      q = parseQuantityJson(limit);
    } catch (err) {
      throw invalid(`${who}: ${name} limit: ${err instanceof Error ? err.message : String(err)}`);
    }
    const big = name === MEMORY ? quantityValue(q) : quantityMilliValue(q);
    if (big <= 0n) throw invalid(`${who}: ${name} limit ${show(limit)} must be more than 0`);
    const value = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
    if (best === undefined || value < best.value) best = { value, text: q.text };
  }
  return best;
}

/** Pod or app limits from a list of isolators, with notes. */
function limitsOf(list: readonly Isolator[], who: string, notes: string[]): { memory?: ResourceLimit; cpu?: ResourceLimit } {
  const out: { memory?: ResourceLimit; cpu?: ResourceLimit } = {};
  const memory = resourceLimit(list, MEMORY, who, notes);
  if (memory !== undefined) out.memory = memory;
  const cpu = resourceLimit(list, CPU, who, notes);
  if (cpu !== undefined) {
    if (cpu.value < MIN_CPU_MILLICORES) {
      notes.push(`${who}: ${CPU} limit ${cpu.text} raised to ${MIN_CPU_MILLICORES}m (the smallest CPU quota the kernel enforces)`);
      cpu.value = MIN_CPU_MILLICORES;
    }
    out.cpu = cpu;
  }
  return out;
}

/**
 * The limits of the pod as a whole: its `resource/memory` and `resource/cpu` limits (the smallest
 * of each when given several). Other pod isolators are not looked at here ({@link resolveIsolators}
 * checks them).
 * @throws JetpackError('invalid') for a limit that is not a quantity or is 0
 */
export function resolvePodLimits(podIsolators: readonly Isolator[] | undefined): PlanLimits {
  const l = limitsOf(podIsolators ?? [], 'pod', []);
  const out: PlanLimits = {};
  if (l.memory !== undefined) out.memoryBytes = l.memory.value;
  if (l.cpu !== undefined) out.cpuMillicores = l.cpu.value;
  return out;
}

/** The capability names of an `os/linux/capabilities-*-set` value, canonical. */
function capabilitySet(iso: Isolator, who: string): string[] {
  const set = isRecord(iso.value) ? iso.value['set'] : undefined;
  if (!Array.isArray(set) || !set.every((s): s is string => typeof s === 'string')) {
    throw invalid(`${who}: ${iso.name}: the value must be {"set": ["CAP_...", ...]}`);
  }
  return set.map((name) => {
    const canon = canonicalCapability(name);
    if (canon === undefined) throw invalid(`${who}: ${iso.name}: unknown capability ${show(name)} (not in linux/capability.h)`);
    return canon;
  });
}

interface CapabilityRule {
  kind: 'retain' | 'remove';
  set: Set<string>;
}

/** The retain or remove rule of a list of isolators (several of one kind are merged), if any. */
function capabilityRule(list: readonly Isolator[], who: string): CapabilityRule | undefined {
  const retain = list.filter((i) => i.name === RETAIN);
  const remove = list.filter((i) => i.name === REMOVE);
  if (retain.length > 0 && remove.length > 0) throw invalid(`${who}: ${RETAIN} and ${REMOVE} cannot be combined (spec/ace.md § Linux Isolators)`);
  const chosen = retain.length > 0 ? retain : remove;
  if (chosen.length === 0) return undefined;
  return { kind: retain.length > 0 ? 'retain' : 'remove', set: new Set(chosen.flatMap((i) => capabilitySet(i, who))) };
}

function noNewPrivileges(list: readonly Isolator[], who: string): boolean | undefined {
  let result: boolean | undefined;
  for (const iso of list) {
    if (iso.name !== NO_NEW_PRIVS) continue;
    if (typeof iso.value !== 'boolean') throw invalid(`${who}: ${NO_NEW_PRIVS}: the value must be true or false, not ${show(iso.value)}`);
    result = (result ?? false) || iso.value; // several: any true wins
  }
  return result;
}

const listCaps = (caps: Iterable<string>): string => {
  const sorted = [...caps].sort(byNumber);
  return sorted.length === 0 ? '(none)' : sorted.join(', ');
};

/**
 * Check the isolators of one scope for unsupported ones: refuse them, or note them as ignored when
 * `optional` lists them.
 */
function checkSupported(list: readonly Isolator[], who: string, optional: Set<string>, notes: string[]): void {
  const seen = new Set<string>();
  for (const iso of list) {
    if (SUPPORTED_ISOLATORS.includes(iso.name) || seen.has(iso.name)) continue;
    seen.add(iso.name);
    if (!optional.has(iso.name)) {
      throw invalid(
        `${who}: isolator ${iso.name} is not supported by this executor; mark it optional with the annotation ${OPTIONAL_ISOLATORS_ANNOTATION}=${iso.name} to run without it`,
      );
    }
    notes.push(`${who}: isolator ${iso.name} ignored (not supported by this executor; marked optional by ${OPTIONAL_ISOLATORS_ANNOTATION})`);
  }
}

/**
 * Resolve the isolators of one app of a pod (see the module comment for the rules).
 *
 * @param podIsolators the pod manifest's `isolators` (bound every app)
 * @param appIsolators the app's `isolators` (the image manifest's app, as overridden by the pod manifest)
 * @param annotations the app's annotations (pod manifest `apps[].annotations`) and the pod's, in one
 *   list: every `jetpack/optional-isolators` among them counts
 * @param appName the app's name in the pod, for messages
 * @throws JetpackError('invalid') `app NAME: isolator X is not supported by this executor; mark it
 *   optional with the annotation jetpack/optional-isolators=X to run without it` (`pod: ...` for a
 *   pod-level one); an unknown capability name; retain-set together with remove-set; a malformed
 *   value; a limit of 0
 */
export function resolveIsolators(
  podIsolators: readonly Isolator[] | undefined,
  appIsolators: readonly Isolator[] | undefined,
  annotations: readonly NameValue[] | undefined,
  appName: string,
): ResolvedIsolators {
  const pod = podIsolators ?? [];
  const app = appIsolators ?? [];
  const podWho = 'pod';
  const appWho = `app ${appName}`;
  const optional = optionalIsolators(annotations);
  const notes: string[] = [];

  checkSupported(pod, podWho, optional, notes);
  checkSupported(app, appWho, optional, notes);

  // Capabilities: the app's rule on the default set, then the pod's rule as a bound.
  let caps = new Set(DEFAULT_CAPABILITIES);
  const appRule = capabilityRule(app, appWho);
  if (appRule?.kind === 'retain') {
    caps = new Set(appRule.set);
    notes.push(`${appWho}: ${RETAIN} enforced: bounding set ${listCaps(caps)}`);
  } else if (appRule?.kind === 'remove') {
    for (const c of appRule.set) caps.delete(c);
    const notDefault = [...appRule.set].filter((c) => !DEFAULT_CAPABILITIES.includes(c));
    const extra = notDefault.length > 0 ? ` (${listCaps(notDefault)} not in the default set: nothing to remove)` : '';
    notes.push(`${appWho}: ${REMOVE} enforced: bounding set ${listCaps(caps)}${extra}`);
  }
  const podRule = capabilityRule(pod, podWho);
  if (podRule !== undefined) {
    const before = new Set(caps);
    for (const c of before) if ((podRule.kind === 'retain') !== podRule.set.has(c)) caps.delete(c);
    const dropped = [...before].filter((c) => !caps.has(c));
    const name = podRule.kind === 'retain' ? RETAIN : REMOVE;
    notes.push(`${podWho}: ${name} enforced on every app: ${listCaps(podRule.set)}`);
    if (dropped.length > 0) notes.push(`${appWho}: bounding set narrowed by the pod's ${name}: ${listCaps(dropped)} dropped`);
  }

  // no-new-privileges: the pod's `true` applies to every app.
  const podNnp = noNewPrivileges(pod, podWho);
  const appNnp = noNewPrivileges(app, appWho);
  if (podNnp !== undefined) notes.push(`${podWho}: ${NO_NEW_PRIVS} ${podNnp} ${podNnp ? 'enforced on every app' : '(privileges may be gained on exec)'}`);
  if (appNnp !== undefined) {
    const overridden = podNnp === true && !appNnp ? ' overridden by the pod: true' : '';
    notes.push(`${appWho}: ${NO_NEW_PRIVS} ${appNnp}${overridden}${appNnp ? ' enforced' : ''}`);
  }

  // Limits: the smaller of the app's and the pod's; a pod limit alone stays the pod's.
  const podLimits = limitsOf(pod, podWho, notes);
  const appLimits = limitsOf(app, appWho, notes);
  if (podLimits.memory !== undefined) notes.push(`${podWho}: ${MEMORY} limit ${describe(podLimits.memory.text, podLimits.memory.value, 'bytes')} enforced for the whole pod`);
  if (podLimits.cpu !== undefined) notes.push(`${podWho}: ${CPU} limit ${describe(podLimits.cpu.text, podLimits.cpu.value, 'millicores')} enforced for the whole pod`);
  const limits: PlanLimits = {};
  const bound = (key: 'memoryBytes' | 'cpuMillicores', own: ResourceLimit | undefined, podLimit: ResourceLimit | undefined, name: string, unit: string): void => {
    if (own === undefined) return;
    if (podLimit !== undefined && podLimit.value < own.value) {
      limits[key] = podLimit.value;
      notes.push(`${appWho}: ${name} limit ${own.text} lowered to the pod's limit ${describe(podLimit.text, podLimit.value, unit)}`);
    } else {
      limits[key] = own.value;
      notes.push(`${appWho}: ${name} limit ${describe(own.text, own.value, unit)} enforced`);
    }
  };
  bound('memoryBytes', appLimits.memory, podLimits.memory, MEMORY, 'bytes');
  bound('cpuMillicores', appLimits.cpu, podLimits.cpu, CPU, 'millicores');

  return {
    capabilities: [...caps].sort(byNumber),
    noNewPrivileges: (podNnp ?? false) || (appNnp ?? false),
    limits,
    notes,
  };
}
