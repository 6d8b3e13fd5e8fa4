/**
 * pod-create (`jetpack pod create [FLAGS] IMAGE [IMAGE FLAGS]...`) against a real store and real
 * actool-built images: every pod flag (-v in all its forms, -a, -f, -net, -dry-run, -help) and
 * image flag (-n, -a, -m, -exec, -user, -group, -env, -cwd, -readonly-rootfs), the reification of
 * mount points into mounts and volumes, the stored manifest (valid by the spec), refusals with
 * their exit codes and messages, and that a refused create leaves no pod.
 */
import t, { type Test } from 'tap';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePodManifest } from '../shared/src/appc/validate.js';
import type { PodManifest } from '../shared/src/appc/types.js';
import { main, parseVolume } from '../commands/pod-create/src/command.js';
import { actoolBuild, busyboxLayout, jp, makeStore, tempDir, type TestStore } from './lib/fixtures.js';

const APP = {
  exec: ['/bin/sh', '-c', 'echo app'],
  user: 'user',
  group: 'users',
  workingDirectory: '/home/user',
  environment: [
    { name: 'A', value: '1' },
    { name: 'B', value: '2' },
  ],
  mountPoints: [
    { name: 'data', path: '/data' },
    { name: 'logs', path: '/var/log/app', readOnly: true },
  ],
};

interface Images {
  busybox: { id: string; uuid: string };
  app: { id: string; uuid: string };
}

/** One store for all the tests, with three images: busybox (a plain app), app (mount points), noapp (no app). */
async function setup(t: Test): Promise<{ store: TestStore; work: string; images: Images }> {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));
  const imported = async (name: string, opts: Parameters<typeof busyboxLayout>[1]): Promise<{ id: string; uuid: string }> => {
    const aci = await actoolBuild(busyboxLayout(join(work, name), opts), join(work, `${name}.aci`));
    const r = await jp(store, 'aci-import', [aci]);
    if (r.exitCode !== 0) throw new Error(`aci-import ${name}: ${r.stderr}`);
    return JSON.parse(r.stdout) as { id: string; uuid: string };
  };
  const images = {
    busybox: await imported('busybox', {}),
    app: await imported('app', { name: 'example.com/app', app: APP }),
  };
  await imported('noapp', { name: 'example.com/noapp', app: null });
  return { store, work, images };
}

/** pod-create's stored manifest, checked valid by the spec (reified). */
function stored(store: TestStore, uuid: string): PodManifest {
  const text = readFileSync(join(store.root, 'pods', uuid, 'manifest'), 'utf8');
  return parsePodManifest(text, 'stored manifest');
}

async function create(t: Test, store: TestStore, args: string[], input?: string): Promise<PodManifest> {
  const r = await jp(store, 'pod-create', args, input);
  t.equal(r.exitCode, 0, `pod-create ${args.join(' ')}: ${r.stderr}`);
  t.equal(r.stderr, '', 'nothing on stderr');
  const pod = JSON.parse(r.stdout) as { uuid: string; manifest: PodManifest };
  const m = stored(store, pod.uuid);
  t.same(pod.manifest, m, 'the JSON shows the stored manifest');
  const shown = JSON.parse((await jp(store, 'pod-show', [pod.uuid])).stdout) as { manifest: PodManifest };
  t.same(shown.manifest, m, 'pod-show shows it too');
  return m;
}

const EMPTY = { kind: 'empty', mode: '0755', uid: 0, gid: 0 };

/** The pod annotations given, without the `ip-address` the store allocates to a private-network pod. */
const given = (m: PodManifest): PodManifest['annotations'] => (m.annotations ?? []).filter((a) => a.name !== 'ip-address');

const { store, work, images } = await setup(t);

t.test('-v VOLUME, every form', async (t) => {
  t.same(parseVolume('cache'), { name: 'cache', ...EMPTY });
  t.same(parseVolume('src:/srv/src'), { name: 'src', kind: 'host', source: '/srv/src' });
  t.same(parseVolume('src:/srv/src:ro'), { name: 'src', kind: 'host', source: '/srv/src', readOnly: true });
  t.same(parseVolume('src:/srv/src:rw'), { name: 'src', kind: 'host', source: '/srv/src', readOnly: false });
  t.same(parseVolume('src,source=/a:b'), { name: 'src', kind: 'host', source: '/a:b' }, 'kind host implied by source; a path with ":"');
  t.same(parseVolume('src,kind=host,source=/srv,readOnly=true,recursive=false'), { name: 'src', kind: 'host', source: '/srv', readOnly: true, recursive: false });
  t.same(parseVolume('tmp,kind=empty,mode=1777,uid=1000,gid=100,readonly=false'), { name: 'tmp', kind: 'empty', readOnly: false, mode: '1777', uid: 1000, gid: 100 });
  t.same(parseVolume('tmp,mode=700'), { name: 'tmp', kind: 'empty', mode: '0700', uid: 0, gid: 0 }, 'kind empty implied; mode made 4 digits');
  const bad: Array<[string, RegExp]> = [
    ['Data', /^-v Data: "Data" is not an AC Name/],
    ['-x:/srv', /cannot start with "-" \(for a read-only host volume write NAME:PATH:ro\)/],
    ['x:srv', /the host path "srv" is not absolute/],
    ['x:', /NAME:PATH needs a PATH/],
    ['x:/srv:r0', /"r0" is not ro or rw/],
    ['x,kind=host', /a host volume needs source=PATH/],
    ['x,kind=tmpfs', /kind=tmpfs: expected empty or host/],
    ['x,source=/a,uid=1', /uid is for empty volumes only/],
    ['x,kind=empty,source=/a', /an empty volume has no source/],
    ['x,recursive=true', /recursive is for host volumes only/],
    ['x,mode=rwx', /mode=rwx: expected an octal mode/],
    ['x,uid=-1', /uid=-1: expected a number/],
    ['x,readOnly=yes', /readOnly=yes: expected true or false/],
    ['x,size=1G', /unknown key "size"/],
    ['x,mode=0700,mode=0755', /mode is given twice/],
    ['x,oops', /"oops" is not KEY=VALUE/],
  ];
  for (const [v, msg] of bad) t.throws(() => parseVolume(v), { kind: 'usage', message: msg }, `-v ${v}`);

  const m = await create(t, store, [
    '-v', 'e1',
    '-v', 'h1:/srv/h1',
    '-v=h2:/srv/h2:ro',
    '--v', 'h3:/srv/h3:rw',
    '-v', 'full,kind=host,source=/srv/f,readOnly=true,recursive=false',
    '-v', 'e2,kind=empty,mode=0700,uid=1000,gid=100,readOnly=true',
    'example.com/busybox',
  ]);
  t.same(m.volumes, [
    { name: 'e1', ...EMPTY },
    { name: 'h1', kind: 'host', source: '/srv/h1' },
    { name: 'h2', kind: 'host', source: '/srv/h2', readOnly: true },
    { name: 'h3', kind: 'host', source: '/srv/h3', readOnly: false },
    { name: 'full', kind: 'host', source: '/srv/f', readOnly: true, recursive: false },
    { name: 'e2', kind: 'empty', readOnly: true, mode: '0700', uid: 1000, gid: 100 },
  ]);
  t.notOk(existsSync('/srv/h1'), 'no host path is created');
  t.equal(m.apps[0]?.mounts, undefined, 'an image without mount points gets no mounts');
});

t.test('mount points, -m and the volumes they need', async (t) => {
  let m = await create(t, store, ['example.com/app']);
  t.same(m.apps[0]?.mounts, [
    { volume: 'data', path: '/data' },
    { volume: 'logs', path: '/var/log/app' },
  ], 'every mount point is mounted from the volume of its name');
  t.same(m.volumes, [{ name: 'data', ...EMPTY }, { name: 'logs', ...EMPTY }], 'which is added as an empty volume');

  m = await create(t, store, ['-v', 'data:/srv/data:ro', 'example.com/app']);
  t.same(m.volumes, [{ name: 'data', kind: 'host', source: '/srv/data', readOnly: true }, { name: 'logs', ...EMPTY }], 'a -v of the mount point\'s name is used');
  t.same(m.apps[0]?.mounts, [{ volume: 'data', path: '/data' }, { volume: 'logs', path: '/var/log/app' }]);

  m = await create(t, store, ['-v', 'cache', '-v', 'logs', 'example.com/app', '-m', 'cache:data', '-m', 'cache:/var/cache//app/', '-m=logs']);
  t.same(m.apps[0]?.mounts, [
    { volume: 'cache', path: '/data' },
    { volume: 'cache', path: '/var/cache/app' },
    { volume: 'logs', path: '/var/log/app' },
  ], '-m VOLUME:MOUNTPOINT at the mount point\'s path, -m VOLUME:/PATH, -m VOLUME');
  t.same(m.volumes, [{ name: 'cache', ...EMPTY }, { name: 'logs', ...EMPTY }], 'a mount point filled by -m needs no volume of its own');
  m = await create(t, store, ['-v', 'cache', 'example.com/app', '-m', 'cache:/data/']);
  t.same(m.apps[0]?.mounts, [{ volume: 'cache', path: '/data' }, { volume: 'logs', path: '/var/log/app' }], 'a -m at a mount point\'s path fills it too');
  t.same(m.volumes?.map((v) => v.name), ['cache', 'logs']);

  const odd = join(work, 'odd');
  await actoolBuild(busyboxLayout(odd, { name: 'example.com/odd', app: { exec: ['/bin/true'], user: '0', group: '0', mountPoints: [{ name: 'odd', path: '/srv//odd/' }] } }), `${odd}.aci`);
  t.equal((await jp(store, 'aci-import', [`${odd}.aci`])).exitCode, 0);
  m = await create(t, store, ['-v', 'x', 'example.com/odd', '-m', 'x:/srv/odd']);
  t.same(m.apps[0]?.mounts, [{ volume: 'x', path: '/srv//odd/' }], 'a -m at a mount point\'s path is stored as the image spells that path');
  t.same(m.volumes?.map((v) => v.name), ['x']);

  m = await create(t, store, ['example.com/app', '-n', 'a1', 'example.com/app', '-n', 'a2', 'example.com/busybox']);
  t.same(m.volumes?.map((v) => v.name), ['data', 'logs'], 'apps share the volumes of their mount points');
  t.same(m.apps.map((a) => a.mounts?.length), [2, 2, undefined]);
});

t.test('pod annotations and -net', async (t) => {
  let m = await create(t, store, ['-a', 'hostname=web1', '-a=example.com/x=a=b', '-net=host', 'example.com/busybox']);
  t.same(m.annotations, [
    { name: 'hostname', value: 'web1' },
    { name: 'example.com/x', value: 'a=b' },
    { name: 'jetpack/network', value: 'host' },
  ]);
  t.notOk(m.annotations?.some((a) => a.name === 'ip-address'), 'a pod on the host network gets no address');
  m = await create(t, store, ['-net', 'private', 'example.com/busybox']);
  t.same(given(m), [], '-net=private adds nothing');
  t.ok(m.annotations?.some((a) => a.name === 'ip-address'), '(the store gives the pod an address)');
  m = await create(t, store, ['example.com/busybox']);
  t.same(given(m), [], 'nor does the default');
});

t.test('image flags', async (t) => {
  const m = await create(t, store, [
    'example.com/app', '-n', 'web', '-a', 'example.com/role=front', '-a', 'note=',
    '-exec', '/bin/sh', '-exec', '-c', '-exec', 'echo $A', '-user', 'root', '-group=root',
    '-env', 'B=3', '-env', 'C=x=y', '-cwd', '/tmp', '-readonly-rootfs',
    'example.com/busybox', '-name=plain',
  ]);
  const [web, plain] = m.apps;
  t.same(web, {
    name: 'web',
    image: { id: images.app.id, name: 'example.com/app', labels: [{ name: 'version', value: '1.0' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }] },
    app: {
      ...APP,
      exec: ['/bin/sh', '-c', 'echo $A'],
      user: 'root',
      group: 'root',
      workingDirectory: '/tmp',
      environment: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }, { name: 'C', value: 'x=y' }],
    },
    readOnlyRootFS: true,
    mounts: [{ volume: 'data', path: '/data' }, { volume: 'logs', path: '/var/log/app' }],
    annotations: [
      { name: 'jetpack/image-uuid', value: images.app.uuid },
      { name: 'example.com/role', value: 'front' },
      { name: 'note', value: '' },
    ],
  }, 'the app override is the image\'s app with the changes; -env replaces and appends');
  t.same(plain, {
    name: 'plain',
    image: { id: images.busybox.id, name: 'example.com/busybox', labels: [{ name: 'version', value: '1.0' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }] },
    annotations: [{ name: 'jetpack/image-uuid', value: images.busybox.uuid }],
  }, 'no flags, no override');
  const one = await create(t, store, ['example.com/busybox', '-exec=--version-like-arg']);
  t.same(one.apps[0]?.app?.exec, ['--version-like-arg'], '-exec=ARG for an ARG starting with -');
  const noapp = await create(t, store, ['example.com/noapp', '-exec', '/bin/true', '-user', '0', '-group', '0']);
  t.same(noapp.apps[0]?.app, { user: '0', group: '0', exec: ['/bin/true'] }, 'an image without an app gets one from -exec, -user and -group');
});

t.test('-f FILE: a whole or partial pod manifest to start from', async (t) => {
  const file = join(work, 'pod.json');
  writeFileSync(file, JSON.stringify({
    volumes: [{ name: 'shared', kind: 'empty' }],
    annotations: [{ name: 'hostname', value: 'from-file' }, { name: 'keep', value: 'me' }],
    apps: [
      { image: { name: 'example.com/busybox', labels: [{ name: 'version', value: '1.0' }] } },
      { name: 'byid', image: { id: images.app.id.slice(0, 30) }, mounts: [{ volume: 'shared', path: 'data' }], readOnlyRootFS: true },
    ],
  }));
  const m = await create(t, store, ['-f', file, '-a', 'hostname=from-flag', '-v', 'extra', 'example.com/busybox', '-n', 'third']);
  t.same(m.apps.map((a) => [a.name, a.image.id, a.annotations?.[0]?.value]), [
    ['busybox', images.busybox.id, images.busybox.uuid],
    ['byid', images.app.id, images.app.uuid],
    ['third', images.busybox.id, images.busybox.uuid],
  ], 'apps of the file first, named by default, their images reified to IDs; then the IMAGE arguments');
  t.same(m.apps[1]?.mounts, [{ volume: 'shared', path: '/data' }, { volume: 'logs', path: '/var/log/app' }], 'a mount by mount point name is stored at its path');
  t.equal(m.apps[1]?.readOnlyRootFS, true, 'the file\'s other app fields are kept');
  t.same(m.volumes?.map((v) => v.name), ['shared', 'extra', 'logs']);
  t.same(given(m), [{ name: 'keep', value: 'me' }, { name: 'hostname', value: 'from-flag' }], '-a replaces the file\'s annotation of the same name');

  const fromStdin = await create(t, store, ['-f', '-', '-net=host'], JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [{ name: 'x', image: { id: images.busybox.id } }], annotations: [{ name: 'jetpack/network', value: 'private' }] }));
  t.same(fromStdin.apps.map((a) => a.name), ['x'], '-f - reads stdin');
  t.same(fromStdin.annotations, [{ name: 'jetpack/network', value: 'host' }], '-net overrides the file');

  // The dry run of one command is the -f of the next.
  const dry = await jp(store, 'pod-create', ['-dry-run', '-v', 'data:/srv/d', 'example.com/app', '-n', 'w']);
  t.equal(dry.exitCode, 0, dry.stderr);
  writeFileSync(file, dry.stdout);
  const again = await create(t, store, ['-f', file]);
  t.same({ ...again, annotations: given(again) }, JSON.parse(dry.stdout), 'a pod made from a dry run has the manifest it showed');
});

t.test('-dry-run, -help and stdin', async (t) => {
  const before = (await jp(store, 'pod-list', [])).stdout;
  const dry = await jp(store, 'pod-create', ['-dry-run', 'example.com/app']);
  t.equal(dry.exitCode, 0, dry.stderr);
  const m = parsePodManifest(dry.stdout, 'dry run');
  t.same(m.apps.map((a) => a.image.id), [images.app.id], 'prints the reified manifest');
  t.same(m.volumes?.map((v) => v.name), ['data', 'logs']);
  t.equal((await jp(store, 'pod-list', [])).stdout, before, 'and creates no pod');

  for (const h of ['-help', '--help', '-h']) {
    const help = await jp(store, 'pod-create', [h]);
    t.equal(help.exitCode, 0, `${h} exits 0`);
    for (const flag of ['-v VOLUME', 'NAME:PATH:ro', 'kind=empty|host', '-a NAME=VALUE', '-f FILE', '-net=private|host', '-dry-run', '-n NAME', '-m VOLUME[:TARGET]', '-exec ARG', '-user USER', '-group GROUP', '-env NAME=VALUE', '-cwd DIR', '-readonly-rootfs', 'Examples:']) {
      t.ok(help.stdout.includes(flag), `${h} explains ${flag}`);
    }
  }
  const wrapped = await jp(store, 'jetpack', ['pod', 'create', '-help']);
  t.equal(wrapped.exitCode, 0);
  t.match(wrapped.stdout, /^Usage: pod-create \[POD FLAGS\] IMAGE/);

  const shown = (await jp(store, 'image-show', ['example.com/busybox'])).stdout;
  const piped = await create(t, store, ['-v', 'v1'], shown);
  t.same([piped.apps[0]?.image.id, piped.volumes?.[0]?.name], [images.busybox.id, 'v1'], 'the image of a previous command on stdin, with pod flags');
});

t.test('jetpack pod create', async (t) => {
  const r = await jp(store, 'jetpack', ['pod', 'create', '-v', 'data:/srv/data:ro', '-net=host', '-a=hostname=h', 'example.com/app', '-m', 'data', '-n', 'web', '-exec=-help']);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /^Pod [0-9a-f-]{36}\n/);
  const uuid = (/^Pod (\S+)/.exec(r.stdout) as RegExpExecArray)[1] as string;
  const m = stored(store, uuid);
  t.same(m.annotations, [{ name: 'hostname', value: 'h' }, { name: 'jetpack/network', value: 'host' }]);
  t.same(m.volumes, [{ name: 'data', kind: 'host', source: '/srv/data', readOnly: true }, { name: 'logs', ...EMPTY }]);
  t.same(m.apps[0]?.app?.exec, ['-help'], '-exec=ARG keeps an ARG that jetpack would take for its own option');
  const dry = await jp(store, 'jetpack', ['-json', 'pod', 'create', '-dry-run', 'example.com/busybox']);
  t.equal(dry.exitCode, 0, dry.stderr);
  t.equal((JSON.parse(dry.stdout) as PodManifest).acKind, 'PodManifest');
});

t.test('the overrides reach the running app', async (t) => {
  const r = await jp(store, 'pod-create', ['example.com/busybox', '-exec', '/bin/sh', '-exec', '-c', '-exec', 'echo "$GREETING from $(pwd) as $(id -un)"', '-env', 'GREETING=hi', '-cwd', '/tmp', '-user', 'user', '-group', 'users']);
  t.equal(r.exitCode, 0, r.stderr);
  const run = await jp(store, 'jail-run', [(JSON.parse(r.stdout) as { uuid: string }).uuid]);
  t.equal(run.exitCode, 0, run.stderr);
  t.equal(run.stdout, 'hi from /tmp as user');
});

t.test('refusals: one line naming the flag and the rule, and no pod', async (t) => {
  const before = (await jp(store, 'pod-list', [])).stdout;
  const file = (name: string, doc: unknown): string => {
    const p = join(work, name);
    writeFileSync(p, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return p;
  };
  // [arguments, exit code, message (without the "pod-create: " prefix), stdin]
  const cases: Array<[string[], number, RegExp, string?]> = [
    [['-v', 'd', '-v', 'd:/srv', 'example.com/busybox'], 2, /^-v d:\/srv: volume "d" is already defined \(-v d\)$/],
    [['-v', 'h:relative', 'example.com/busybox'], 2, /^-v h:relative: the host path "relative" is not absolute$/],
    [['-v', 'h,kind=host', 'example.com/busybox'], 2, /^-v h,kind=host: a host volume needs source=PATH$/],
    [['-v', 'Data', 'example.com/busybox'], 2, /^-v Data: "Data" is not an AC Name/],
    [['example.com/app', '-m', 'nosuch:/x'], 2, /^-m nosuch:\/x: no volume "nosuch" in the pod \(the pod has no volumes; add it with -v nosuch\[:PATH\]\)$/],
    [['-v', 'v', 'example.com/app', '-m', 'data'], 2, /^-m data: no volume "data" in the pod \(the pod's volumes are "v"; add it with -v data\[:PATH\]\)$/],
    [['-v', 'v', 'example.com/app', '-m', 'v:nosuch'], 2, /^-m v:nosuch: image example.com\/app has no mount point "nosuch" \(it has "data", "logs"; or give an absolute path\)$/],
    [['-v', 'v', 'example.com/busybox', '-m', 'v'], 2, /^-m v: image example.com\/busybox has no mount point "v" \(it has none/],
    [['-v', 'v', 'example.com/app', '-m', 'v:/x', '-m', 'v:/x/'], 2, /^-m v:\/x\/: app "app" already has a mount at \/x$/],
    [['-v', 'v', 'example.com/app', '-m', 'v:/'], 2, /^-m v:\/: a volume cannot be mounted on the root of the app$/],
    [['example.com/app', '-m', 'v:rel/path'], 2, /^-m v:rel\/path: "rel\/path" is neither a mount point name/],
    [['-n', 'web', 'example.com/busybox'], 2, /^-n: -n NAME is an image flag, it must follow an IMAGE \(a dry run of the pod is -dry-run\)$/],
    [['-exec', '/bin/true', 'example.com/busybox'], 2, /^-exec: an image flag, it must follow an IMAGE$/],
    [['example.com/busybox', '-v', 'x'], 2, /^-v: a pod flag, it must come before the first IMAGE$/],
    [['example.com/busybox', '--net=host'], 2, /^--net=host: a pod flag/],
    [['-x', 'example.com/busybox'], 2, /^-x: unknown flag \(see pod-create -help\)$/],
    [['example.com/busybox', '-bogus'], 2, /^-bogus: unknown image flag/],
    [['-v'], 2, /^-v: needs a value/],
    [['example.com/busybox', '-n'], 2, /^-n: needs a value/],
    [['-a', 'Bad=1', 'example.com/busybox'], 2, /^-a Bad=1: "Bad" is not an AC Identifier/],
    [['-a', 'novalue', 'example.com/busybox'], 2, /^-a novalue: expected NAME=VALUE$/],
    [['-a', 'x=1', '-a', 'x=2', 'example.com/busybox'], 2, /^-a x=2: annotation "x" is given twice$/],
    [['-a', 'jetpack/network=host', 'example.com/busybox'], 2, /^-a jetpack\/network=host: set the network with -net=private\|host$/],
    [['example.com/busybox', '-a', 'jetpack/image-uuid=x'], 2, /^-a jetpack\/image-uuid=x: jetpack\/image-uuid is set by Jetpack$/],
    [['-net=bogus', 'example.com/busybox'], 2, /^-net=bogus: expected private or host$/],
    [['-dry-run=maybe', 'example.com/busybox'], 2, /^-dry-run=maybe: expected true or false \(or just -dry-run\)$/],
    [['example.com/busybox', 'example.com/busybox'], 2, /^app name "busybox" is used twice in the pod; name the apps apart with -n NAME$/],
    [['example.com/busybox', '-n', 'Web'], 2, /^-n Web: "Web" is not an AC Name/],
    [['example.com/busybox', '-n', 'a', '-n', 'b'], 2, /^-n: given twice for example.com\/busybox$/],
    [['example.com/noapp', '-exec', '/bin/true'], 2, /^example.com\/noapp: image example.com\/noapp has no app to change: give -exec, -user and -group$/],
    [['example.com/busybox', '-exec', ''], 2, /^-exec: the program \(the first -exec\) cannot be empty$/],
    [['example.com/busybox', '-env', '1X=2'], 2, /^-env 1X=2: "1X" is not an environment variable name/],
    [['example.com/busybox', '-env', 'X=1', '-env', 'X=2'], 2, /^-env X=2: "X" is given twice for example.com\/busybox$/],
    [['example.com/busybox', '-cwd', 'tmp'], 2, /^-cwd tmp: the working directory must be an absolute path$/],
    [['nosuch.example/img'], 3, /^image "nosuch.example\/img": no such image$/],
    [['-f', join(work, 'none.json')], 3, /^-f .*none.json: no such file$/],
    [['-f', file('dup.json', '{"apps":[],"volumes":[{"name":"a","name":"b","kind":"empty"}]}')], 6, /dup.json: key "name" is given twice in one object$/],
    [['-f', file('kind.json', { acKind: 'ImageManifest' })], 6, /kind.json: acKind: "ImageManifest" is not "PodManifest"$/],
    [['-f', file('noimg.json', { apps: [{ image: { name: 'example.com/nosuch' } }] })], 3, /noimg.json: apps\[0\].image: no image matches example.com\/nosuch$/],
    [['-f', file('nothing.json', { apps: [{ image: {} }] })], 6, /nothing.json: apps\[0\].image: names no image \(give its id, or its name and labels\)$/],
    [['-f', file('badid.json', { apps: [{ image: { id: images.app.id, name: 'example.com/other' } }] })], 6, /badid.json: apps\[0\].image.name: "example.com\/other" is not the name of image sha512-/],
    [['-f', file('novol.json', { apps: [{ image: { id: images.app.id }, mounts: [{ volume: 'nope', path: '/x' }] }] })], 6, /novol.json: apps\[0\].mounts\[0\]: no volume "nope" in the pod \(the pod has no volumes\)$/],
    [['-f', file('nomp.json', { volumes: [{ name: 'v', kind: 'empty' }], apps: [{ image: { id: images.app.id }, mounts: [{ volume: 'v', path: 'nomp' }] }] })], 6, /nomp.json: apps\[0\].mounts\[0\]: image example.com\/app has no mount point "nomp"/],
    [['-f', file('hostrel.json', { volumes: [{ name: 'v', kind: 'host', source: 'rel' }] }), 'example.com/busybox'], 6, /hostrel.json: volumes\[0\].source: "rel" is not an absolute path$/],
    [['-f', file('vol.json', { volumes: [{ name: 'v', kind: 'empty' }] }), '-v', 'v:/srv', 'example.com/busybox'], 2, /^-v v:\/srv: volume "v" is already defined in .*vol.json$/],
    [['-f', file('net.json', { annotations: [{ name: 'jetpack/network', value: 'bridge' }] }), 'example.com/busybox'], 6, /^pod annotation jetpack\/network: "bridge" is not host or private$/],
    [['-f', file('twice.json', {}), '-f', file('twice.json', {}), 'example.com/busybox'], 2, /^-f: given twice$/],
  ];
  // In-process (fast): the error's kind and message.
  for (const [args, code, msg] of cases) {
    const err = (await main([`--config=${store.config}`, ...args]).then(
      () => undefined,
      (e: unknown) => e,
    )) as { exitCode?: number; message?: string } | undefined;
    t.equal(err?.exitCode, code, `pod-create ${args.join(' ')}: exit ${code}`);
    t.match(err?.message, msg, err?.message ?? 'no error');
  }
  // As a user sees them: one line on stderr, nothing on stdout.
  const spawned: Array<[string[], number, RegExp, string?]> = [
    ...cases.filter((_, i) => [0, 4, 6, 11, 13, 26, 34, 38, 42].includes(i)),
    [[], 2, /^expected IMAGE arguments, -f FILE, or the JSON of an image on stdin/],
    [[], 2, /^stdin: expected the JSON output of a Jetpack command, got "not json"$/, 'not json'],
    [['-f', '-'], 6, /^stdin: not valid JSON/, '{'],
    [['-f', '-'], 2, /^a pod needs at least one app: stdin has none and no IMAGE is given$/, '{}'],
  ];
  for (const [args, code, msg, input] of spawned) {
    const r = await jp(store, 'pod-create', args, input);
    t.equal(r.exitCode, code, `pod-create ${args.join(' ')}: exit ${code}`);
    t.match(r.stderr, new RegExp(`^pod-create: ${msg.source.startsWith('^') ? msg.source.slice(1) : `.*${msg.source}`}`), r.stderr);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.equal(r.stdout, '', 'nothing on stdout');
  }
  const wrapped = await jp(store, 'jetpack', ['pod', 'create', '-v', 'd', '-v', 'd', 'example.com/busybox']);
  t.equal(wrapped.exitCode, 2);
  t.equal(wrapped.stderr, 'jetpack: -v d: volume "d" is already defined (-v d)\n'.trimEnd(), 'the same through jetpack');
  t.equal((await jp(store, 'pod-list', [])).stdout, before, 'no pod was created');
  const pods = join(store.root, 'pods');
  t.equal(readdirSync(pods).length, (JSON.parse(before) as unknown[]).length, 'and nothing is left in the store');
});
