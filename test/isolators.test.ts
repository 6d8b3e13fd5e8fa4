/**
 * Isolator resolution (shared/src/run/isolators.ts): capability sets and masks (linux/capability.h
 * numbers, cross-checked with capsh when it is installed), no-new-privileges, memory and CPU limits
 * with pod-level bounds, and the refusal of unsupported isolators unless marked optional
 * (appc spec/ace.md § Isolators: the user is told what was ignored).
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import type { Isolator, NameValue } from '../shared/src/appc/types.js';
import { JetpackError } from '../shared/src/errors.js';
import {
  CAPABILITY_NUMBERS,
  DEFAULT_CAPABILITIES,
  OPTIONAL_ISOLATORS_ANNOTATION,
  capabilityMask,
  capabilityNames,
  optionalIsolators,
  resolveIsolators,
  resolvePodLimits,
} from '../shared/src/run/isolators.js';

const DEFAULT_SORTED = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_RAW',
  'CAP_SYS_CHROOT',
  'CAP_MKNOD',
  'CAP_AUDIT_WRITE',
  'CAP_SETFCAP',
];

const retain = (...set: string[]): Isolator => ({ name: 'os/linux/capabilities-retain-set', value: { set } });
const remove = (...set: string[]): Isolator => ({ name: 'os/linux/capabilities-remove-set', value: { set } });
const memory = (limit: unknown, request?: unknown): Isolator => ({ name: 'resource/memory', value: request === undefined ? { limit } : { limit, request } });
const cpu = (limit: unknown, request?: unknown): Isolator => ({ name: 'resource/cpu', value: request === undefined ? { limit } : { limit, request } });
const nnp = (value: unknown): Isolator => ({ name: 'os/linux/no-new-privileges', value });
const optional = (value: string): NameValue => ({ name: OPTIONAL_ISOLATORS_ANNOTATION, value });

const MiB = 1024 * 1024;

function invalidError(t: Test, fn: () => unknown, message: RegExp | string, what: string): void {
  try {
    fn();
    t.fail(`${what}: no error`);
  } catch (err) {
    t.ok(err instanceof JetpackError && err.kind === 'invalid', `${what}: JetpackError('invalid')`);
    if (typeof message === 'string') t.equal((err as Error).message, message, what);
    else t.match((err as Error).message, message, what);
  }
}

t.test('capability numbers and masks', async (t) => {
  t.equal(Object.keys(CAPABILITY_NUMBERS).length, 41, 'CAP_CHOWN (0) … CAP_CHECKPOINT_RESTORE (40)');
  t.same(
    Object.values(CAPABILITY_NUMBERS).sort((a, b) => a - b),
    Array.from({ length: 41 }, (_, i) => i),
    'numbers 0..40, each once',
  );
  t.equal(CAPABILITY_NUMBERS['CAP_SYS_ADMIN'], 21);
  t.equal(CAPABILITY_NUMBERS['CAP_CHECKPOINT_RESTORE'], 40);
  t.equal(DEFAULT_CAPABILITIES.length, 14);
  t.equal(capabilityMask(DEFAULT_CAPABILITIES), 0xa80425fbn, 'the appc default 14 = 0xa80425fb');
  t.equal(capabilityMask([]), 0n);
  t.equal(capabilityMask(['CAP_CHOWN']), 1n);
  t.equal(capabilityMask(['cap_net_bind_service', 'CAP_NET_BIND_SERVICE']), 1n << 10n, 'case-insensitive, duplicates once');
  t.equal(capabilityMask(Object.keys(CAPABILITY_NUMBERS)), (1n << 41n) - 1n, 'all 41 (CapBnd of a full root on this kernel)');
  t.equal(capabilityMask(['CAP_CHECKPOINT_RESTORE']), 1n << 40n, 'bit 40 does not overflow');
  t.same(capabilityNames(0xa80425fbn), DEFAULT_SORTED, 'capabilityNames inverts capabilityMask');
  invalidError(t, () => capabilityMask(['CAP_CHOWN', 'CAP_PONIES']), /unknown capability "CAP_PONIES"/, 'unknown name');
  invalidError(t, () => capabilityMask(['CHOWN']), /unknown capability "CHOWN"/, 'the CAP_ prefix is required');
});

t.test('capability numbers agree with libcap (capsh --decode)', async (t) => {
  const probe = spawnSync('capsh', ['--decode=1'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.plan(0, 'skip: capsh (libcap2-bin) is not installed');
    return;
  }
  for (const [name, n] of Object.entries(CAPABILITY_NUMBERS)) {
    const out = spawnSync('capsh', [`--decode=0x${(1n << BigInt(n)).toString(16)}`], { encoding: 'utf8' }).stdout.trim();
    // capsh prints `0x...=cap_chown`, or `0x...=40` for a capability its libcap does not name.
    const named = out.split('=')[1] ?? '';
    if (/^\d+$/.test(named)) t.equal(Number(named), n, `${name}: capsh knows it only by number`);
    else t.equal(named, name.toLowerCase(), `${name} = ${n}`);
  }
  const dflt = spawnSync('capsh', ['--decode=0xa80425fb'], { encoding: 'utf8' }).stdout.trim().split('=')[1] ?? '';
  t.same(dflt.split(',').sort(), DEFAULT_SORTED.map((c) => c.toLowerCase()).sort(), 'capsh decodes 0xa80425fb to the default 14');
});

t.test('no isolators: the defaults, no notes', async (t) => {
  t.same(resolveIsolators(undefined, undefined, undefined, 'web'), { capabilities: DEFAULT_SORTED, noNewPrivileges: false, limits: {}, notes: [] });
  t.same(resolveIsolators([], [], [], 'web'), { capabilities: DEFAULT_SORTED, noNewPrivileges: false, limits: {}, notes: [] });
  t.same(resolvePodLimits(undefined), {});
});

t.test('capabilities', async (t) => {
  const cases: Array<[string, Isolator[], Isolator[], string[]]> = [
    ['retain-set = exactly the set', [], [retain('CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN')], ['CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN']],
    ['retain-set of one', [], [retain('CAP_KILL')], ['CAP_KILL']],
    ['remove-set = default minus the set', [], [remove('CAP_NET_RAW', 'CAP_MKNOD')], DEFAULT_SORTED.filter((c) => c !== 'CAP_NET_RAW' && c !== 'CAP_MKNOD')],
    ['removing what is not in the default is a no-op', [], [remove('CAP_SYS_ADMIN')], DEFAULT_SORTED],
    ['two retain-sets merge', [], [retain('CAP_KILL'), retain('CAP_CHOWN')], ['CAP_CHOWN', 'CAP_KILL']],
    ['lowercase names are accepted', [], [retain('cap_kill')], ['CAP_KILL']],
    ['pod retain-set bounds the default', [retain('CAP_KILL', 'CAP_CHOWN', 'CAP_SYS_ADMIN')], [], ['CAP_CHOWN', 'CAP_KILL']],
    ['pod retain-set bounds the app retain-set', [retain('CAP_KILL')], [retain('CAP_KILL', 'CAP_SYS_ADMIN')], ['CAP_KILL']],
    ['pod remove-set removes from the app set', [remove('CAP_SYS_ADMIN')], [retain('CAP_KILL', 'CAP_SYS_ADMIN')], ['CAP_KILL']],
    ['an empty retain-set means no capability', [], [{ name: 'os/linux/capabilities-retain-set', value: { set: [] } }], []],
  ];
  for (const [what, pod, app, want] of cases) {
    const r = resolveIsolators(pod, app, [], 'web');
    t.same(r.capabilities, want, what);
    t.equal(capabilityMask(r.capabilities), capabilityMask(want), `${what}: mask`);
  }
  const r = resolveIsolators([], [retain('CAP_NET_BIND_SERVICE')], [], 'web');
  t.same(r.notes, ['app web: os/linux/capabilities-retain-set enforced: bounding set CAP_NET_BIND_SERVICE']);
  const r2 = resolveIsolators([], [remove('CAP_SYS_ADMIN')], [], 'web');
  t.match(r2.notes[0], /CAP_SYS_ADMIN not in the default set: nothing to remove/);

  invalidError(
    t,
    () => resolveIsolators([], [retain('CAP_KILL'), remove('CAP_CHOWN')], [], 'web'),
    'app web: os/linux/capabilities-retain-set and os/linux/capabilities-remove-set cannot be combined (spec/ace.md § Linux Isolators)',
    'retain + remove',
  );
  invalidError(t, () => resolveIsolators([], [retain('CAP_KILL', 'CAP_PONIES')], [], 'web'), /^app web: os\/linux\/capabilities-retain-set: unknown capability "CAP_PONIES"/, 'unknown cap in retain');
  invalidError(t, () => resolveIsolators([], [remove('CAP_PONIES')], [], 'web'), /unknown capability "CAP_PONIES"/, 'unknown cap in remove');
  invalidError(t, () => resolveIsolators([remove('CAP_X')], [], [], 'web'), /^pod: os\/linux\/capabilities-remove-set: unknown capability "CAP_X"/, 'unknown cap at pod level');
  invalidError(t, () => resolveIsolators([], [{ name: 'os/linux/capabilities-retain-set', value: ['CAP_KILL'] }], [], 'web'), /must be \{"set"/, 'malformed value');
});

t.test('no-new-privileges', async (t) => {
  const cases: Array<[string, Isolator[], Isolator[], boolean]> = [
    ['app true', [], [nnp(true)], true],
    ['app false', [], [nnp(false)], false],
    ['pod true applies to the app', [nnp(true)], [], true],
    ['pod true wins over app false', [nnp(true)], [nnp(false)], true],
    ['pod false, app true', [nnp(false)], [nnp(true)], true],
    ['several: any true wins', [], [nnp(false), nnp(true)], true],
  ];
  for (const [what, pod, app, want] of cases) t.equal(resolveIsolators(pod, app, [], 'a').noNewPrivileges, want, what);
  t.same(resolveIsolators([], [nnp(true)], [], 'a').notes, ['app a: os/linux/no-new-privileges true enforced']);
  invalidError(t, () => resolveIsolators([], [nnp('yes')], [], 'a'), 'app a: os/linux/no-new-privileges: the value must be true or false, not "yes"', 'not a bool');
});

t.test('memory and cpu limits', async (t) => {
  type Case = [string, Isolator[], Isolator[], { memoryBytes?: number; cpuMillicores?: number }, { memoryBytes?: number; cpuMillicores?: number }];
  const cases: Case[] = [
    ['app memory', [], [memory('64Mi')], {}, { memoryBytes: 64 * MiB }],
    ['app memory as a JSON number', [], [memory(1e9)], {}, { memoryBytes: 1e9 }],
    ['decimal suffix', [], [memory('1G')], {}, { memoryBytes: 1_000_000_000 }],
    ['app cpu cores → millicores', [], [cpu('0.5')], {}, { cpuMillicores: 500 }],
    ['app cpu millicores', [], [cpu('250m')], {}, { cpuMillicores: 250 }],
    ['app cpu whole cores', [], [cpu(2)], {}, { cpuMillicores: 2000 }],
    ['cpu rounds up to a millicore', [], [cpu('0.0005')], {}, { cpuMillicores: 10 }],
    ['cpu below 10m is raised to 10m', [], [cpu('1m')], {}, { cpuMillicores: 10 }],
    ['both', [], [memory('128Mi'), cpu('1500m')], {}, { memoryBytes: 128 * MiB, cpuMillicores: 1500 }],
    ['several: the smallest wins', [], [memory('1Gi'), memory('256Mi')], {}, { memoryBytes: 256 * MiB }],
    ['pod limit alone: the pod\'s, not the app\'s', [memory('512Mi'), cpu(1)], [], { memoryBytes: 512 * MiB, cpuMillicores: 1000 }, {}],
    ['pod bounds a larger app limit', [memory('512Mi'), cpu('500m')], [memory('1Gi'), cpu(2)], { memoryBytes: 512 * MiB, cpuMillicores: 500 }, { memoryBytes: 512 * MiB, cpuMillicores: 500 }],
    ['a smaller app limit stays', [memory('512Mi'), cpu(2)], [memory('64Mi'), cpu('250m')], { memoryBytes: 512 * MiB, cpuMillicores: 2000 }, { memoryBytes: 64 * MiB, cpuMillicores: 250 }],
    ['request alone: nothing to enforce', [], [memory(undefined, '64Mi')], {}, {}],
    ['request and limit: the limit', [], [cpu('1', '500m')], {}, { cpuMillicores: 1000 }],
    ['huge memory is capped to a safe integer', [], [memory('8Ei')], {}, { memoryBytes: Number.MAX_SAFE_INTEGER }],
  ];
  for (const [what, pod, app, wantPod, wantApp] of cases) {
    t.same(resolvePodLimits(pod), wantPod, `${what}: pod limits`);
    t.same(resolveIsolators(pod, app, [], 'web').limits, wantApp, `${what}: app limits`);
  }

  t.same(resolveIsolators([], [memory('64Mi')], [], 'web').notes, ['app web: resource/memory limit 64Mi (67108864 bytes) enforced']);
  t.same(resolveIsolators([memory('512Mi')], [memory('1Gi')], [], 'web').notes, [
    'pod: resource/memory limit 512Mi (536870912 bytes) enforced for the whole pod',
    "app web: resource/memory limit 1Gi lowered to the pod's limit 512Mi (536870912 bytes)",
  ]);
  t.same(resolveIsolators([], [cpu('1', '500m')], [], 'web').notes, [
    'app web: resource/cpu request "500m" ignored (requests are not reserved, only limits are enforced)',
    'app web: resource/cpu limit 1 (1000 millicores) enforced',
  ]);
  t.match(resolveIsolators([], [cpu('1m')], [], 'web').notes, [/resource\/cpu limit 1m raised to 10m/]);

  invalidError(t, () => resolveIsolators([], [memory('0')], [], 'web'), 'app web: resource/memory limit "0" must be more than 0', 'zero memory');
  invalidError(t, () => resolveIsolators([], [cpu(0)], [], 'web'), 'app web: resource/cpu limit 0 must be more than 0', 'zero cpu');
  invalidError(t, () => resolveIsolators([], [memory('1K')], [], 'web'), /^app web: resource\/memory limit: quantity "1K": has an unknown suffix/, 'bad quantity');
  invalidError(t, () => resolvePodLimits([memory('-1')]), 'pod: resource/memory limit "-1" must be more than 0', 'negative pod limit');
  invalidError(t, () => resolveIsolators([], [{ name: 'resource/memory', value: '64Mi' }], [], 'web'), /resource\/memory: the value must be an object with a limit/, 'not an object');
});

t.test('unsupported isolators are refused unless optional', async (t) => {
  const unsupported: Isolator[] = [
    { name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } },
    { name: 'os/linux/seccomp-remove-set', value: { set: ['reboot'] } },
    { name: 'os/linux/selinux-context', value: { user: 'u', role: 'r', type: 't', level: 's0' } },
    { name: 'os/linux/apparmor-profile', value: { profile: 'p' } },
    { name: 'resource/block-bandwidth', value: { default: true, limit: '1M' } },
    { name: 'resource/block-iops', value: { default: true, limit: '100' } },
    { name: 'resource/network-bandwidth', value: { default: true, limit: '1M' } },
    { name: 'os/linux/oom-score-adj', value: 100 },
    { name: 'os/linux/cpu-shares', value: 512 },
    { name: 'os/unix/sysctl', value: { 'net.ipv4.ip_forward': '1' } },
    { name: 'example.com/unknown', value: {} },
  ];
  for (const iso of unsupported) {
    const x = iso.name;
    const msg = `app web: isolator ${x} is not supported by this executor; mark it optional with the annotation jetpack/optional-isolators=${x} to run without it`;
    invalidError(t, () => resolveIsolators([], [iso], [], 'web'), msg, `${x} refused`);
    invalidError(t, () => resolveIsolators([], [memory('64Mi'), iso], [{ name: 'other', value: x }], 'web'), msg, `${x} refused: another annotation does not count`);
    const r = resolveIsolators([], [memory('64Mi'), iso], [optional(x)], 'web');
    t.same(r.limits, { memoryBytes: 64 * MiB }, `${x} optional: the rest is enforced`);
    t.ok(r.notes.includes(`app web: isolator ${x} ignored (not supported by this executor; marked optional by jetpack/optional-isolators)`), `${x} optional: the user is told`);
    // At pod level.
    invalidError(t, () => resolveIsolators([iso], [], [], 'web'), msg.replace('app web:', 'pod:'), `${x} at pod level refused`);
    t.ok(resolveIsolators([iso], [], [optional(x)], 'web').notes.includes(`pod: isolator ${x} ignored (not supported by this executor; marked optional by jetpack/optional-isolators)`), `${x} optional at pod level`);
  }

  // The list: comma-separated, blanks ignored, several annotations (app's and pod's) merged.
  const seccomp = unsupported[0] as Isolator;
  const sysctl = unsupported[9] as Isolator;
  const annotations = [optional(' os/linux/cpu-shares , os/linux/seccomp-retain-set,'), optional('os/unix/sysctl')];
  t.same([...optionalIsolators(annotations)].sort(), ['os/linux/cpu-shares', 'os/linux/seccomp-retain-set', 'os/unix/sysctl']);
  const r = resolveIsolators([sysctl], [seccomp, retain('CAP_KILL')], annotations, 'web');
  t.same(r.capabilities, ['CAP_KILL']);
  t.same(r.notes, [
    'pod: isolator os/unix/sysctl ignored (not supported by this executor; marked optional by jetpack/optional-isolators)',
    'app web: isolator os/linux/seccomp-retain-set ignored (not supported by this executor; marked optional by jetpack/optional-isolators)',
    'app web: os/linux/capabilities-retain-set enforced: bounding set CAP_KILL',
  ]);
  // Only the named isolator becomes optional.
  invalidError(t, () => resolveIsolators([], [seccomp, unsupported[7] as Isolator], [optional('os/linux/seccomp-retain-set')], 'web'), /isolator os\/linux\/oom-score-adj is not supported/, 'another one is still refused');
});
