/**
 * The FreeBSD backend (shared/src/run/freebsd.ts) at the argument level: FreeBSD cannot run here, so
 * every command line a PodPlan turns into is compared with the exact argv the manuals call for
 * (jail(8), rctl(8), mount_nullfs(8), devfs(5), umount(8), ifconfig(8), ps(1), top(1), killall(1),
 * jls(8)), plus the jail.conf allow-list's refusals with their one-line messages.
 */
import t, { type Test } from 'tap';
import type { NameValue } from '../shared/src/appc/types.js';
import { defaults, type Config } from '../shared/src/config.js';
import { JetpackError, type ErrorKind } from '../shared/src/errors.js';
import {
  DEFAULT_STAGE2,
  appChroot,
  appExecArgv,
  checkJailName,
  encodeStage2Environment,
  eventHandlerArgv,
  jailCleanupArgv,
  jailCreateArgv,
  jailLimits,
  jailName,
  jailParams,
  jailStopArgv,
  jlsStateArgv,
  killallArgv,
  mountArgv,
  mountDirs,
  parseJlsState,
  pcpuPercent,
  psArgv,
  rctlAddArgv,
  rctlRemoveArgv,
  topArgv,
  umountArgv,
  type FreeBSDOptions,
} from '../shared/src/run/freebsd.js';
import type { PlanApp, PodPlan } from '../shared/src/run/plan.js';
import { planAppFixture } from './lib/plans.js';

const UUID = 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6';
const JAIL = `jetpack/${UUID}`;
const POD = `/var/jetpack/pods/${UUID}`;
const ROOT = `${POD}/rootfs`;
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function config(...overrides: Array<[string, string]>): Config {
  return { path: null, values: new Map([...defaults('freebsd'), ...overrides]) };
}

function options(...overrides: Array<[string, string]>): FreeBSDOptions {
  return { config: config(...overrides), root: ROOT };
}

function app(name: string, extra: Partial<PlanApp> = {}): PlanApp {
  return planAppFixture(name, {
    rootfs: `${POD}/apps/${name}/rootfs`,
    exec: ['/bin/sh', '-c', 'echo hello'],
    env: [
      { name: 'PATH', value: PATH },
      { name: 'HOME', value: '/root' },
      { name: 'AC_APP_NAME', value: name },
      { name: 'AC_METADATA_URL', value: '' },
    ],
    ...extra,
  });
}

function plan(apps: PlanApp[], extra: Partial<PodPlan> = {}): PodPlan {
  return {
    uuid: UUID,
    hostname: UUID,
    network: { mode: 'private', interface: 'lo1', address: '172.23.0.2', prefixLength: 16, gateway: '172.23.0.1' },
    resolvConf: ['nameserver 1.1.1.1'],
    metadataUrl: '',
    apps,
    limits: {},
    annotations: [],
    ...extra,
  };
}

const annotated = (...annotations: Array<[string, string]>): PodPlan =>
  plan([app('main')], { annotations: annotations.map(([name, value]): NameValue => ({ name, value })) });

/** The parameters jetpack always gives a private-network pod, in order. */
const BASE_PARAMS = [
  `name=${JAIL}`,
  `path=${ROOT}`,
  `host.hostname=${UUID}`,
  `host.hostuuid=${UUID}`,
  'persist',
  'ip4.addr=lo1|172.23.0.2/16',
  'ip6=disable',
];

const DEFAULT_POLICY = [
  'securelevel=2',
  'enforce_statfs=2',
  'devfs_ruleset=4',
  'children.max=0',
  'allow.noset_hostname',
  'allow.noraw_sockets',
  'allow.nochflags',
  'allow.nomount',
  'allow.noquotas',
  'allow.nosocket_af',
  'sysvmsg=disable',
  'sysvsem=disable',
  'sysvshm=disable',
];

function fails(t: Test, fn: () => unknown, kind: ErrorKind, message: string, what = message): void {
  try {
    fn();
    t.fail(`${what}: no error`);
  } catch (err) {
    t.ok(err instanceof JetpackError, `${what}: a JetpackError`);
    t.equal((err as JetpackError).kind, kind, `${what}: kind ${kind}`);
    t.equal((err as Error).message, message, what);
    t.notOk((err as Error).message.includes('\n'), `${what}: one line`);
  }
}

t.test('one app, private network', async (t) => {
  const p = plan([app('main')]);
  const o = options();
  t.equal(jailName(UUID, o.config), JAIL);
  t.same(jailCreateArgv(p, o), ['/usr/sbin/jail', '-q', '-c', ...BASE_PARAMS, ...DEFAULT_POLICY], 'jail -c with every parameter');
  t.same(jailCreateArgv(p, options(['debug', 'on'])).slice(0, 3), ['/usr/sbin/jail', '-v', '-c'], 'debug: jail -v');
  t.same(mountDirs(p, o), [`${ROOT}/app/main/rootfs`, `${POD}/apps/main/rootfs/dev`]);
  t.same(mountArgv(p, o), [
    ['/sbin/mount_nullfs', '-o', 'rw', `${POD}/apps/main/rootfs`, `${ROOT}/app/main/rootfs`],
    ['/sbin/mount', '-t', 'devfs', '-o', 'ruleset=4', 'devfs', `${ROOT}/app/main/rootfs/dev`],
  ]);
  t.same(umountArgv(p, o), [
    ['/sbin/umount', `${ROOT}/app/main/rootfs/dev`],
    ['/sbin/umount', `${ROOT}/app/main/rootfs`],
  ]);
  t.equal(appChroot(p.apps[0]!), '/app/main/rootfs');
  t.same(appExecArgv(p, p.apps[0]!, o), [
    DEFAULT_STAGE2,
    `--jail=${JAIL}`,
    '--chroot=/app/main/rootfs',
    '--uid=0',
    '--gid=0',
    '--groups=',
    '--cwd=/',
    '--env-fd=3',
    '--',
    '/bin/sh',
    '-c',
    'echo hello',
  ]);
  t.same(
    encodeStage2Environment(p.apps[0]!.env).toString(),
    `PATH=${PATH}\0HOME=/root\0AC_APP_NAME=main\0AC_METADATA_URL=\0`,
    'the environment goes to descriptor 3, not the command line',
  );
  t.equal(eventHandlerArgv(p, p.apps[0]!, 'pre-start', o), null, 'no pre-start handler');
  t.equal(eventHandlerArgv(p, p.apps[0]!, 'post-stop', o), null, 'no post-stop handler');
  t.same(rctlAddArgv(p, o), [], 'no limits, no rctl rules');
  t.same(rctlRemoveArgv(p, o), ['/usr/bin/rctl', '-r', `jail:${JAIL}`]);
  t.same(jailStopArgv(JAIL), ['/usr/sbin/jail', '-q', '-f', '/dev/null', '-r', JAIL], 'the host\'s jail.conf is not read');
  t.same(jailStopArgv(JAIL, { verbose: true }), ['/usr/sbin/jail', '-v', '-f', '/dev/null', '-r', JAIL]);
  t.same(jailCleanupArgv(p), [['/sbin/ifconfig', 'lo1', 'inet', '172.23.0.2/16', '-alias']], 'the alias jail -r leaves behind');
  t.same(
    appExecArgv(p, p.apps[0]!, { ...o, stage2: '/opt/jetpack/libexec/jetpack-stage2' })[0],
    '/opt/jetpack/libexec/jetpack-stage2',
    'stage2 path from the options',
  );
  t.same(jailCreateArgv(plan([app('main')], { hostname: 'web.example.com' }), o)[5], 'host.hostname=web.example.com');
});

t.test('two apps, a shared empty volume and a read-only host volume, event handlers', async (t) => {
  const data = { volume: 'data', source: `${POD}/volumes/data`, readOnly: false, recursive: false };
  const web = app('web', {
    uid: 80,
    gid: 80,
    groups: [80, 3000],
    cwd: '/srv/www',
    exec: ['nginx', '-g', 'daemon off;'],
    mounts: [
      { ...data, target: '/srv/data' },
      { volume: 'certs', source: '/etc/ssl/private', target: '/etc/ssl/private', readOnly: true, recursive: true },
    ],
    readOnlyRootfs: true,
    noNewPrivileges: true,
    preStart: ['/usr/local/bin/migrate', '--yes'],
    postStop: ['/bin/rm', '-f', '/srv/data/web.pid'],
  });
  const worker = app('worker', { mounts: [{ ...data, target: '/var/lib/worker/' }] });
  const p = plan([web, worker]);
  const o = options();
  const webRoot = `${ROOT}/app/web/rootfs`;
  const workerRoot = `${ROOT}/app/worker/rootfs`;
  t.same(mountDirs(p, o), [
    webRoot,
    `${POD}/apps/web/rootfs/dev`,
    `${POD}/apps/web/rootfs/srv/data`,
    `${POD}/apps/web/rootfs/etc/ssl/private`,
    workerRoot,
    `${POD}/apps/worker/rootfs/dev`,
    `${POD}/apps/worker/rootfs/var/lib/worker`,
  ]);
  t.same(mountArgv(p, o), [
    ['/sbin/mount_nullfs', '-o', 'ro', `${POD}/apps/web/rootfs`, webRoot],
    ['/sbin/mount', '-t', 'devfs', '-o', 'ruleset=4', 'devfs', `${webRoot}/dev`],
    ['/sbin/mount_nullfs', '-o', 'rw', `${POD}/volumes/data`, `${webRoot}/srv/data`],
    ['/sbin/mount_nullfs', '-o', 'ro', '/etc/ssl/private', `${webRoot}/etc/ssl/private`],
    ['/sbin/mount_nullfs', '-o', 'rw', `${POD}/apps/worker/rootfs`, workerRoot],
    ['/sbin/mount', '-t', 'devfs', '-o', 'ruleset=4', 'devfs', `${workerRoot}/dev`],
    ['/sbin/mount_nullfs', '-o', 'rw', `${POD}/volumes/data`, `${workerRoot}/var/lib/worker`],
  ]);
  t.same(umountArgv(p, o), [
    ['/sbin/umount', `${workerRoot}/var/lib/worker`],
    ['/sbin/umount', `${workerRoot}/dev`],
    ['/sbin/umount', workerRoot],
    ['/sbin/umount', `${webRoot}/etc/ssl/private`],
    ['/sbin/umount', `${webRoot}/srv/data`],
    ['/sbin/umount', `${webRoot}/dev`],
    ['/sbin/umount', webRoot],
  ]);
  const stage2 = [DEFAULT_STAGE2, `--jail=${JAIL}`, '--chroot=/app/web/rootfs'];
  t.same(appExecArgv(p, web, o), [
    ...stage2,
    '--uid=80',
    '--gid=80',
    '--groups=80,3000',
    '--cwd=/srv/www',
    '--env-fd=3',
    '--no-new-privs',
    '--',
    'nginx',
    '-g',
    'daemon off;',
  ]);
  t.same(eventHandlerArgv(p, web, 'pre-start', o), [
    ...stage2,
    '--uid=0',
    '--gid=0',
    '--groups=',
    '--cwd=/srv/www',
    '--env-fd=3',
    '--',
    '/usr/local/bin/migrate',
    '--yes',
  ]);
  t.same(eventHandlerArgv(p, web, 'post-stop', o), [
    ...stage2,
    '--uid=0',
    '--gid=0',
    '--groups=',
    '--cwd=/srv/www',
    '--env-fd=3',
    '--',
    '/bin/rm',
    '-f',
    '/srv/data/web.pid',
  ]);
  t.same(appExecArgv(p, worker, o).slice(1, 3), [`--jail=${JAIL}`, '--chroot=/app/worker/rootfs'], 'same jail, own chroot');
  t.same(
    mountArgv(p, options(['ace.jailConf.devfs_ruleset', '10']))[1],
    ['/sbin/mount', '-t', 'devfs', '-o', 'ruleset=10', 'devfs', `${webRoot}/dev`],
    'the per-app devfs follows the jail devfs_ruleset',
  );
  fails(t, () => appExecArgv(p, app('other'), o), 'invalid', `app "other" is not an app of pod ${UUID}`);
  fails(
    t,
    () => mountArgv(plan([app('x', { mounts: [{ ...data, target: '/' }] })]), o),
    'invalid',
    'app "x": volume data would be mounted over the whole rootfs',
  );
  fails(
    t,
    () => mountArgv(plan([app('x', { mounts: [{ ...data, target: '/srv/../../etc' }] })]), o),
    'invalid',
    'app "x": volume data mount point "/srv/../../etc" contains a ".." component',
  );
  fails(t, () => mountArgv(plan([app('x', { rootfs: 'relative/rootfs' })]), o), 'invalid', 'app "x": rootfs "relative/rootfs" is not an absolute path');
  fails(t, () => appExecArgv(plan([app('x', { exec: [] })]), app('x', { exec: [] }), o), 'invalid', 'app "x": exec is empty: nothing to run');
  fails(t, () => appExecArgv(plan([app('x', { uid: -1 })]), app('x', { uid: -1 }), o), 'invalid', 'app "x": exec: uid -1: not an integer between 0 and 4294967294');
  const badEnv = app('x', { env: [{ name: 'A=B', value: '' }] });
  fails(t, () => appExecArgv(plan([badEnv]), badEnv, o), 'invalid', 'environment variable name "A=B" is empty or contains "=" or NUL (appc spec/ace.md)');
});

t.test('host network', async (t) => {
  const p = plan([app('main')], { network: { mode: 'host', interface: 'lo1' } });
  t.same(
    jailCreateArgv(p, options()),
    ['/usr/sbin/jail', '-q', '-c', `name=${JAIL}`, `path=${ROOT}`, `host.hostname=${UUID}`, `host.hostuuid=${UUID}`, 'persist', 'ip4=inherit', 'ip6=inherit', ...DEFAULT_POLICY],
  );
  t.same(jailCleanupArgv(p), [], 'no alias to remove');
  fails(
    t,
    () => jailParams(plan([app('main')], { network: { mode: 'private', interface: 'lo1', prefixLength: 16 } }), options()),
    'invalid',
    'pod address "undefined" is not an IPv4 address',
  );
  fails(
    t,
    () => jailParams(plan([app('main')], { network: { mode: 'private', interface: 'lo1', address: '172.23.0.2', prefixLength: 33 } }), options()),
    'invalid',
    'prefix length 33 of 172.23.0.2 is not an integer from 1 to 32',
  );
  fails(
    t,
    () => jailParams(plan([app('main')], { network: { mode: 'private', interface: 'lo1|em0', address: '172.23.0.2', prefixLength: 16 } }), options()),
    'invalid',
    'network interface "lo1|em0" is not a FreeBSD interface name (1 to 15 characters, IFNAMSIZ)',
  );
});

t.test('memory and CPU limits: rctl', async (t) => {
  const GiB = 1024 * 1024 * 1024;
  const o = options();
  const pod = plan([app('main', { limits: { memoryBytes: GiB / 2, cpuMillicores: 250 } })], { limits: { memoryBytes: GiB, cpuMillicores: 1500 } });
  t.same(rctlAddArgv(pod, o), [
    ['/usr/bin/rctl', '-a', `jail:${JAIL}:memoryuse:deny=1073741824`],
    ['/usr/bin/rctl', '-a', `jail:${JAIL}:pcpu:deny=150`],
  ], 'the pod limits bound the jail');
  t.same(appExecArgv(pod, pod.apps[0]!, o).slice(7), ['--env-fd=3', '--rctl=memoryuse:deny=536870912', '--rctl=pcpu:deny=25', '--', '/bin/sh', '-c', 'echo hello'], "the app's limits bound each of its processes");
  t.same(rctlRemoveArgv(pod, o), ['/usr/bin/rctl', '-r', `jail:${JAIL}`]);

  const oneApp = plan([app('main', { limits: { memoryBytes: 64 * 1024 * 1024, cpuMillicores: 1505 } })]);
  t.same(jailLimits(oneApp), { memoryBytes: 67108864, cpuMillicores: 1505 }, 'one app without pod limits: the app limits are the jail limits');
  t.same(rctlAddArgv(oneApp, o), [
    ['/usr/bin/rctl', '-a', `jail:${JAIL}:memoryuse:deny=67108864`],
    ['/usr/bin/rctl', '-a', `jail:${JAIL}:pcpu:deny=151`],
  ]);

  const two = plan([app('a', { limits: { memoryBytes: 100, cpuMillicores: 500 } }), app('b', { limits: { memoryBytes: 200 } })]);
  t.same(jailLimits(two), { memoryBytes: 300 }, 'every app limits memory: the sum; one app has no CPU limit: none');
  t.same(rctlAddArgv(two, o), [['/usr/bin/rctl', '-a', `jail:${JAIL}:memoryuse:deny=300`]]);
  t.equal(pcpuPercent(1), 1, 'rounded up, never 0');
  t.equal(pcpuPercent(1000), 100, 'one core = 100%');
  t.equal(pcpuPercent(2000), 200);
  fails(t, () => rctlAddArgv(plan([app('main')], { limits: { memoryBytes: 0 } }), o), 'invalid', 'pod: memory limit 0 is not a positive whole number of bytes');
  fails(t, () => rctlAddArgv(plan([app('main')], { limits: { cpuMillicores: 2.5 } }), o), 'invalid', 'pod: CPU limit 2.5 is not a positive whole number of millicores');
});

t.test('jail.conf annotations and ace.jailConf.* keys: allowed', async (t) => {
  const p = annotated(
    ['jetpack/jail.conf/allow.raw_sockets', 'true'],
    ['jetpack/jail.conf/allow.chflags', 'yes'],
    ['jetpack/jail.conf/enforce-statfs', '1'],
    ['jetpack/jail.conf/securelevel', '0'],
    ['jetpack/jail.conf/sysvshm', 'new'],
    ['jetpack/jail.conf/allow.set-hostname', 'on'],
    ['example.com/unrelated', 'kept out'],
  );
  t.same(jailParams(p, options()), [
    ...BASE_PARAMS,
    'securelevel=0',
    'enforce_statfs=1',
    'devfs_ruleset=4',
    'children.max=0',
    'allow.set_hostname',
    'allow.raw_sockets',
    'allow.chflags',
    'allow.nomount',
    'allow.noquotas',
    'allow.nosocket_af',
    'sysvmsg=disable',
    'sysvsem=disable',
    'sysvshm=new',
  ], 'annotations replace the defaults in place');
  t.same(
    jailParams(annotated(['jetpack/jail.conf/allow.sysvipc', 'true']), options()).slice(-3),
    ['sysvmsg=new', 'sysvsem=new', 'sysvshm=new'],
    "allow.sysvipc=true: the pod's own System V IPC, never the host's",
  );
  t.same(
    jailParams(annotated(['jetpack/jail.conf/allow.sysvipc', 'true'], ['jetpack/jail.conf/sysvmsg', 'disable']), options()).slice(-3),
    ['sysvmsg=disable', 'sysvsem=new', 'sysvshm=new'],
    'later annotations win',
  );
  const o = options(
    ['ace.jailConf.osrelease', '13.2-RELEASE'],
    ['ace.jailConf.securelevel', '3'],
    ['ace.jailConf.allow.mlock', 'true'],
    ['ace.jailConf.allow.mount.nullfs', 'false'],
    ['ace.jailConf.sysvsem', 'inherit'],
    ['ace.jailConf.children.max', '2'],
  );
  t.same(jailParams(plan([app('main')]), o), [
    ...BASE_PARAMS,
    'securelevel=3',
    'enforce_statfs=2',
    'devfs_ruleset=4',
    'children.max=2',
    'allow.noset_hostname',
    'allow.noraw_sockets',
    'allow.nochflags',
    'allow.nomount',
    'allow.noquotas',
    'allow.nosocket_af',
    'sysvmsg=disable',
    'sysvsem=inherit',
    'sysvshm=disable',
    'osrelease=13.2-RELEASE',
    'allow.mlock',
    'allow.mount.nonullfs',
  ], 'configuration keys: wider allow-list, new parameters appended');
  t.same(
    jailParams(annotated(['jetpack/jail.conf/securelevel', '1']), options(['ace.jailConf.securelevel', '3'])).slice(7, 8),
    ['securelevel=1'],
    'an annotation is applied after the configuration',
  );
});

t.test('jail.conf annotations: refused', async (t) => {
  const o = options();
  const allowed = 'allowed: allow.chflags, allow.raw_sockets, allow.set_hostname, allow.sysvipc, enforce_statfs, securelevel, sysvmsg, sysvsem, sysvshm';
  const refused: Array<[string, string, string]> = [
    ['path', '/', 'path is set by jetpack'],
    ['ip4.addr', '10.0.0.1', 'ip4.addr is set by jetpack'],
    ['persist', 'false', 'persist is set by jetpack'],
    ['name', 'other', 'name is set by jetpack'],
    ['host.hostname', 'evil', 'host.hostname is set by jetpack'],
    ['vnet', 'new', 'vnet is part of the pod network and hostname, which jetpack sets'],
    ['interface', 'em0', 'interface is part of the pod network and hostname, which jetpack sets'],
    ['exec.start', '/bin/sh /etc/rc', 'exec.start would make jail(8) mount file systems or run commands'],
    ['exec.prestart', 'rm -rf /', 'exec.prestart would make jail(8) mount file systems or run commands'],
    ['mount.devfs', 'true', 'mount.devfs would make jail(8) mount file systems or run commands'],
    ['mount', '/ /mnt nullfs rw 0 0', 'mount would make jail(8) mount file systems or run commands'],
    ['children.max', '10', `children.max may not be set by a pod (${allowed})`],
    ['allow.mount', 'true', `allow.mount may not be set by a pod (${allowed})`],
    ['allow.mount.devfs', 'true', `allow.mount.devfs may not be set by a pod (${allowed})`],
    ['devfs_ruleset', '0', `devfs_ruleset may not be set by a pod (${allowed})`],
    ['allow.dying', 'true', 'allow.dying is not a parameter jetpack passes to jail(8)'],
    ['osrelease', '99.0-RELEASE', `osrelease may not be set by a pod (${allowed})`],
    ['enforce_statfs', '0', 'enforce_statfs must be 1 or 2 (0 would show the pod every mount point of the host)'],
    ['enforce_statfs', '3', 'enforce_statfs must be 1 or 2 (0 would show the pod every mount point of the host)'],
    ['securelevel', '-1', 'securelevel must be an integer from 0 to 3'],
    ['securelevel', '2; allow.mount', 'securelevel must be an integer from 0 to 3'],
    ['sysvshm', 'inherit', "sysvshm must be new or disable (inherit would share the host's System V IPC objects)"],
    ['allow.chflags', 'maybe', 'allow.chflags must be true or false'],
    ['allow.raw_sockets', 'true,false', 'allow.raw_sockets must be true or false'],
  ];
  for (const [param, value, rule] of refused) {
    fails(t, () => jailCreateArgv(annotated([`jetpack/jail.conf/${param}`, value]), o), 'invalid', `pod annotation jetpack/jail.conf/${param}=${/^[\x21-\x7e]*$/.test(value) ? value : JSON.stringify(value)}: ${rule}`);
  }
  fails(
    t,
    () => jailCreateArgv(annotated(['jetpack/jail.conf/enforce-statfs', '0']), o),
    'invalid',
    'pod annotation jetpack/jail.conf/enforce-statfs=0: enforce_statfs must be 1 or 2 (0 would show the pod every mount point of the host)',
    'the annotation named as written',
  );
  fails(
    t,
    () => jailCreateArgv(annotated(['jetpack/jail.conf/securelevel', '1\nallow.mount']), o),
    'invalid',
    'pod annotation jetpack/jail.conf/securelevel="1\\nallow.mount": securelevel must be an integer from 0 to 3',
    'a line break stays in the value, quoted, and is refused',
  );
  fails(t, () => mountArgv(annotated(['jetpack/jail.conf/allow.mount', 'true']), o), 'invalid', `pod annotation jetpack/jail.conf/allow.mount=true: allow.mount may not be set by a pod (${allowed})`, 'mountArgv checks them too');
});

t.test('ace.jailConf.* keys and jail.namePrefix: refused', async (t) => {
  const p = plan([app('main')]);
  fails(t, () => jailCreateArgv(p, options(['ace.jailConf.path', '/'])), 'config', 'ace.jailConf.path = /: path is set by jetpack');
  fails(t, () => jailCreateArgv(p, options(['ace.jailConf.exec.start', 'sh'])), 'config', 'ace.jailConf.exec.start = sh: exec.start would make jail(8) mount file systems or run commands');
  fails(t, () => jailCreateArgv(p, options(['ace.jailConf.vnet', 'new'])), 'config', 'ace.jailConf.vnet = new: vnet is part of the pod network and hostname, which jetpack sets');
  fails(t, () => jailCreateArgv(p, options(['ace.jailConf.linux', 'new'])), 'config', 'ace.jailConf.linux = new: linux is not a jail parameter jetpack passes on (see jetpack-freebsd(7))');
  fails(t, () => jailCreateArgv(p, options(['ace.jailConf.securelevel', 'high'])), 'config', 'ace.jailConf.securelevel = high: securelevel must be an integer from -1 to 3');
  fails(t, () => jailCreateArgv(p, options(['ace.jailConf.osrelease', '13.2 RELEASE'])), 'config', 'ace.jailConf.osrelease = "13.2 RELEASE": osrelease must be 1 to 255 letters, digits, ".", "_", "+", "-" or "/"');
  fails(t, () => jailCreateArgv(p, options(['jail.namePrefix', 'jetpack.'])), 'config', `jail.namePrefix "jetpack.": jail name "jetpack.${UUID}" contains "." (jail(8): dots separate hierarchical jail names)`);
  fails(t, () => jailCreateArgv(p, options(['jail.namePrefix', 'pods:'])), 'config', `jail.namePrefix "pods:": jail name "pods:${UUID}" may hold only letters, digits, "_", "-", "+" and "/"`);
  fails(t, () => jailCreateArgv(p, options(['jail.namePrefix', '-x'])), 'config', `jail.namePrefix "-x": jail name "-x${UUID}" starts with "-" (it would read as an option)`);
  t.same(jailCreateArgv(p, options(['jail.namePrefix', '']))[3], `name=${UUID}`, 'an empty prefix is fine');
  t.same(jailCreateArgv(p, options(['jail.namePrefix', 'pods/']))[3], `name=pods/${UUID}`);
  fails(t, () => jailCreateArgv({ ...p, uuid: 'F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6' }, options()), 'invalid', 'pod UUID "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6" is not a lower-case RFC 4122 UUID');
  fails(t, () => jailCreateArgv({ ...p, hostname: '' }, options()), 'invalid', 'hostname "" must be 1 to 255 bytes');
  fails(t, () => jailCreateArgv(p, { config: config(), root: 'pods/rootfs' }), 'invalid', 'jail root "pods/rootfs" is not an absolute path');
});

t.test('ps, top, killall, jail -r, jls', async (t) => {
  t.same(psArgv(JAIL), ['/bin/ps', '-J', JAIL]);
  t.same(psArgv(JAIL, ['-o', 'pid,user,command', '-ww']), ['/bin/ps', '-J', JAIL, '-o', 'pid,user,command', '-ww']);
  t.same(topArgv(JAIL, ['-b', '-d', '1']), ['/usr/bin/top', '-J', JAIL, '-b', '-d', '1']);
  t.same(killallArgv(JAIL), ['/usr/bin/killall', '-j', JAIL], 'every process of the jail, SIGTERM');
  t.same(killallArgv(JAIL, ['-KILL', 'nginx']), ['/usr/bin/killall', '-j', JAIL, '-KILL', 'nginx']);
  fails(t, () => psArgv(JAIL, ['-axJ', '7']), 'usage', `ps option "-axJ": -J is set by jetpack to the pod's jail`);
  fails(t, () => topArgv(JAIL, ['-J', '0']), 'usage', `top option "-J": -J is set by jetpack to the pod's jail`);
  fails(t, () => killallArgv(JAIL, ['-j', 'other']), 'usage', `killall option "-j": -j is set by jetpack to the pod's jail`);
  fails(t, () => psArgv('jetpack.evil'), 'invalid', 'jail name "jetpack.evil" contains "." (jail(8): dots separate hierarchical jail names)');
  fails(t, () => killallArgv('12'), 'invalid', 'jail name "12" is all digits (jail(8) would read it as a jid)');
  fails(t, () => jailStopArgv('a=b'), 'invalid', 'jail name "a=b" may hold only letters, digits, "_", "-", "+" and "/"');
  t.doesNotThrow(() => checkJailName(JAIL));

  t.same(jlsStateArgv(), ['/usr/sbin/jls', '-d', 'name', 'dying']);
  const other = 'jetpack/00000000-0000-4000-8000-000000000000';
  t.equal(parseJlsState(`${other} false\n${JAIL} false\n`, JAIL), 'running');
  t.equal(parseJlsState(`${JAIL} true\n`, JAIL), 'dying');
  t.equal(parseJlsState(`${JAIL} 1\n`, JAIL), 'dying', 'the numeric form the original parsed');
  t.equal(parseJlsState(`${JAIL} true\n${JAIL} false\n`, JAIL), 'running', 'a new jail of the same name beside a dying one');
  t.equal(parseJlsState(`${other} false\n`, JAIL), 'gone');
  t.equal(parseJlsState('', JAIL), 'gone');
  t.equal(parseJlsState(`${JAIL}x false\n`, JAIL), 'gone', 'a longer name is another jail');
  fails(t, () => parseJlsState(`${JAIL} maybe\n`, JAIL), 'internal', `jls: cannot parse the line "${JAIL} maybe"`);
});
