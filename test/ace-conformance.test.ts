/**
 * ACE conformance, written from appc spec/ace.md and spec/OS-SPEC.md and run against the real
 * Linux backend: a two-app pod sharing an empty volume (and a read-only host volume in one app),
 * checked from inside each app: environment, working directory, user and group, hostname, mounts,
 * /dev, event handler order (pre-start, app, post-stop; handlers as root), and every metadata
 * endpoint with its exact content type, reached at AC_METADATA_URL from inside the pod.
 * The pod's own address is checked from the host too (spec/ace.md § Network).
 */
import t from 'tap';
import { execa, type ResultPromise } from 'execa';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { actoolBuild, BIN, busyboxLayout, jp, makeStore, tempDir } from './lib/fixtures.js';

/** The script every app runs: writes what it sees to the shared volume. */
const CHECK = String.raw`#!/bin/sh
# usage: check.sh ROLE SHARED-DIR
role=$1; shared=$2; out=$shared/$role
mkdir -p $out
echo "$role start" >> $shared/events.log
env | sort > $out/env
pwd > $out/cwd
id -u > $out/uid; id -g > $out/gid; id -G > $out/groups
hostname > $out/hostname
cat /proc/mounts > $out/mounts
ls /dev > $out/dev
cat /etc/hosts > $out/hosts
ip -o -4 addr show > $out/addr 2>&1
if touch /data/x 2>/dev/null; then echo writable > $out/data; else echo read-only > $out/data; fi
cat /data/hello > $out/data-content 2>&1
m() { # m NAME PATH [wget args]: body and headers of one metadata endpoint
  n=$1; p=$2; shift 2
  wget -S -q -O $out/mds-$n.body "$@" "$AC_METADATA_URL/acMetadata/v1/$p" 2> $out/mds-$n.headers
  echo $? > $out/mds-$n.rc
}
m pod-annotations pod/annotations
m pod-manifest pod/manifest
m pod-uuid pod/uuid
m app-annotations apps/$AC_APP_NAME/annotations
m image-manifest apps/$AC_APP_NAME/image/manifest
m image-id apps/$AC_APP_NAME/image/id
m sign pod/hmac/sign --post-data "content=signed-by-$role"
sig=$(cat $out/mds-sign.body | sed -e 's/+/%2B/g' -e 's,/,%2F,g' -e 's/=/%3D/g')
uuid=$(cat $out/mds-pod-uuid.body)
m verify pod/hmac/verify --post-data "content=signed-by-$role&uuid=$uuid&signature=$sig"
m verify-bad pod/hmac/verify --post-data "content=tampered&uuid=$uuid&signature=$sig"
if [ "$role" = sidekick ]; then
  # The other app writes into the same empty volume: wait for it.
  i=0; while [ ! -e $shared/main/done ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  test -e $shared/main/done && echo saw-main > $out/shared
fi
echo "$role end" >> $shared/events.log
touch $out/done
`;

const HANDLER = String.raw`#!/bin/sh
echo "$1 $AC_APP_NAME uid=$(id -u)" >> /shared/events.log
chmod 666 /shared/events.log
`;

function image(dir: string, name: string, app: Record<string, unknown>, annotations: Array<{ name: string; value: string }> = []): string {
  const layout = busyboxLayout(dir, { name, app, extraManifest: { annotations } });
  mkdirSync(join(layout, 'rootfs/opt/work'), { recursive: true });
  writeFileSync(join(layout, 'rootfs/opt/check.sh'), CHECK);
  writeFileSync(join(layout, 'rootfs/opt/handler.sh'), HANDLER);
  chmodSync(join(layout, 'rootfs/opt/check.sh'), 0o755);
  chmodSync(join(layout, 'rootfs/opt/handler.sh'), 0o755);
  return layout;
}

const read = (f: string): string => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const lines = (f: string): string[] => read(f).split('\n').filter((l) => l !== '');

for (const driver of ['dir', 'zfs'] as const) {
  t.test(`ACE conformance: a two-app pod on the ${driver} store`, async (t) => {
    const store = await makeStore(driver);
    t.teardown(store.cleanup);
    const work = tempDir();
    t.teardown(() => execa('rm', ['-rf', work]));
    const port = 20000 + Math.floor(Math.random() * 20000);
    appendFileSync(store.config, `mds.port = ${port}\n`);

    const main = image(
      join(work, 'main'),
      'example.com/ace-main',
      {
        exec: ['/opt/check.sh', 'main', '/shared'],
        user: 'user',
        group: 'users',
        supplementaryGIDs: [4242],
        workingDirectory: '/opt/work',
        environment: [{ name: 'FOO', value: 'from the image' }],
        mountPoints: [
          { name: 'shared', path: '/shared' },
          { name: 'data', path: '/data' },
        ],
        eventHandlers: [
          { name: 'pre-start', exec: ['/opt/handler.sh', 'pre-start'] },
          { name: 'post-stop', exec: ['/opt/handler.sh', 'post-stop'] },
        ],
      },
      [{ name: 'example.com/from', value: 'image' }, { name: 'example.com/kept', value: 'image' }],
    );
    const side = image(join(work, 'side'), 'example.com/ace-sidekick', {
      exec: ['/opt/check.sh', 'sidekick', '/mnt/shared'],
      user: '0',
      group: '0',
      mountPoints: [{ name: 'shared', path: '/mnt/shared' }],
    });
    for (const l of [main, side]) t.equal((await jp(store, 'aci-import', [await actoolBuild(l, `${l}.aci`)])).exitCode, 0);
    const hostDir = join(work, 'hostdata');
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'hello'), 'from the host\n');

    const created = await jp(store, 'pod-create', [
      '-v', 'shared,kind=empty,mode=1777',
      '-v', `data,kind=host,source=${hostDir},readOnly=true`,
      '-a', 'example.com/pod-note=hello',
      'example.com/ace-main', '-n', 'ace-main', '-a', 'example.com/from=pod',
      'example.com/ace-sidekick', '-n', 'ace-sidekick',
    ]);
    t.equal(created.exitCode, 0, created.stderr);
    const pod = JSON.parse(created.stdout) as { uuid: string };
    const shown = JSON.parse((await jp(store, 'pod-show', [pod.uuid])).stdout) as { manifest: { annotations: Array<{ name: string; value: string }>; apps: Array<{ image: { id: string } }> } };
    const ip = shown.manifest.annotations.find((a) => a.name === 'ip-address')?.value;
    t.match(ip, /^172\.23\.\d+\.\d+$/, 'the pod has its own address on jail.interface');
    const manifestFile = join(work, 'pod-manifest.json');
    writeFileSync(manifestFile, JSON.stringify(shown.manifest));
    const valid = await execa('actool', ['validate', manifestFile], { reject: false });
    t.equal(valid.exitCode, 0, `actool validates the stored pod manifest: ${valid.stderr}`);

    const mds: ResultPromise = execa(join(BIN, 'metadata-service'), [`--config=${store.config}`], { reject: false, stdio: ['ignore', 'ignore', 'pipe'] });
    t.teardown(() => {
      mds.kill('SIGTERM');
    });
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://172.23.0.1:${port}/`).then(() => true, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const run = await jp(store, 'jail-run', [pod.uuid]);
    t.equal(run.exitCode, 0, `the pod exits 0 when every app does: ${run.stderr}`);
    const after = JSON.parse((await jp(store, 'pod-show', [pod.uuid])).stdout) as { state: string; status: number; apps: Array<{ name: string; status?: number }> };
    t.equal(after.state, 'exited');

    const shared = join(store.root, 'pods', pod.uuid, 'volumes', 'shared');
    const m = join(shared, 'main');
    const s = join(shared, 'sidekick');

    t.test('environment (spec/ace.md § Execution Environment)', async (t) => {
      const env = new Map(lines(join(m, 'env')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      t.equal(env.get('AC_APP_NAME'), 'ace-main', 'AC_APP_NAME is the app name in the pod');
      t.match(env.get('AC_METADATA_URL'), new RegExp(`^http://172\\.23\\.0\\.1:${port}/[0-9a-f]{32}$`), 'AC_METADATA_URL carries a 128-bit token');
      t.notMatch(env.get('AC_METADATA_URL'), pod.uuid, 'the token is not the pod UUID');
      t.equal(env.get('PATH'), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
      t.equal(env.get('FOO'), 'from the image');
      t.equal(env.get('container'), 'jetpack');
      t.equal(env.get('HOME'), '/home/user');
      t.equal(env.get('USER'), 'user');
      const sideEnv = lines(join(s, 'env'));
      t.ok(sideEnv.includes('AC_APP_NAME=ace-sidekick'));
      t.notOk(sideEnv.some((l) => l.startsWith('FOO=')), 'each app has its own image environment');
    });

    t.test('user, group, working directory, hostname', async (t) => {
      t.equal(read(join(m, 'uid')).trim(), '1000');
      t.equal(read(join(m, 'gid')).trim(), '100');
      t.same(read(join(m, 'groups')).trim().split(' ').sort(), ['100', '4242'], 'supplementary GIDs replace the host\'s');
      t.equal(read(join(m, 'cwd')).trim(), '/opt/work');
      t.equal(read(join(s, 'cwd')).trim(), '/');
      t.equal(read(join(s, 'uid')).trim(), '0');
      t.equal(read(join(m, 'hostname')).trim(), pod.uuid, 'the hostname is the pod UUID');
      t.equal(read(join(s, 'hostname')).trim(), pod.uuid, 'one UTS namespace for the pod');
      t.match(read(join(m, 'hosts')), new RegExp(`${ip!.replace(/\./g, '\\.')}\\s+${pod.uuid}`), '/etc/hosts names the pod');
      t.match(read(join(m, 'hosts')), /127\.0\.0\.1\s+localhost/);
    });

    t.test('volumes (spec/ace.md § Volume Setup)', async (t) => {
      t.equal(read(join(s, 'shared')).trim(), 'saw-main', 'an empty volume is shared between the apps');
      const mounts = lines(join(m, 'mounts')).map((l) => l.split(' ').slice(1, 4).join(' '));
      t.ok(mounts.some((l) => /^\/shared \S+ rw/.test(l)), `/shared is mounted read-write: ${mounts.join('; ')}`);
      t.ok(mounts.some((l) => /^\/data \S+ ro/.test(l)), '/data is mounted read-only');
      t.equal(read(join(m, 'data')).trim(), 'read-only', 'the app cannot write to a read-only volume');
      t.equal(read(join(m, 'data-content')), 'from the host\n', 'the host volume shows the host directory');
      t.ok(lines(join(s, 'mounts')).some((l) => l.split(' ')[1] === '/mnt/shared'), 'the sidekick mounts the same volume at its own mount point');
      t.notOk(lines(join(s, 'mounts')).some((l) => l.split(' ')[1] === '/data'), 'a volume is mounted only where an app asks for it');
    });

    t.test('the Linux environment (spec/OS-SPEC.md)', async (t) => {
      const dev = lines(join(m, 'dev'));
      for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'console', 'pts', 'ptmx', 'shm']) t.ok(dev.includes(d), `/dev/${d}`);
      const mounts = lines(join(m, 'mounts')).map((l) => l.split(' ').slice(1, 3).join(' '));
      t.ok(mounts.includes('/proc proc') && mounts.includes('/sys sysfs'));
      t.match(read(join(m, 'addr')), new RegExp(`eth0\\s+inet ${ip!.replace(/\./g, '\\.')}/16`), 'the app sees the pod address on eth0');
      t.equal(read(join(m, 'addr')), read(join(s, 'addr')), 'one network namespace for the pod');
    });

    t.test('event handlers (spec/ace.md § Event handlers)', async (t) => {
      const events = lines(join(shared, 'events.log'));
      const mainEvents = events.filter((e) => e.startsWith('main') || e.includes('ace-main'));
      t.same(mainEvents, ['pre-start ace-main uid=0', 'main start', 'main end', 'post-stop ace-main uid=0'], 'pre-start, the app, post-stop, in order; handlers run as root');
    });

    t.test('the metadata service, from inside the pod (spec/ace.md § App Container Metadata Service)', async (t) => {
      const ep = (n: string): { rc: string; body: string; type: string | undefined } => ({
        rc: read(join(m, `mds-${n}.rc`)).trim(),
        body: read(join(m, `mds-${n}.body`)),
        type: /Content-Type: ([^\r\n]+)/i.exec(read(join(m, `mds-${n}.headers`)))?.[1],
      });
      const json = 'application/json';
      const text = 'text/plain; charset=us-ascii';
      const uuid = ep('pod-uuid');
      t.same([uuid.rc, uuid.type, uuid.body], ['0', text, pod.uuid], 'pod/uuid');
      const manifest = ep('pod-manifest');
      t.same([manifest.rc, manifest.type], ['0', json]);
      t.same(JSON.parse(manifest.body), shown.manifest, 'pod/manifest is the stored pod manifest');
      const annotations = ep('pod-annotations');
      t.same([annotations.rc, annotations.type], ['0', json]);
      t.same(JSON.parse(annotations.body), shown.manifest.annotations, 'pod/annotations');
      const appAnn = ep('app-annotations');
      t.same([appAnn.rc, appAnn.type], ['0', json]);
      const merged = JSON.parse(appAnn.body) as Array<{ name: string; value: string }>;
      t.equal(merged.find((a) => a.name === 'example.com/from')?.value, 'pod', 'the pod app annotation wins over the image\'s');
      t.equal(merged.find((a) => a.name === 'example.com/kept')?.value, 'image');
      const im = ep('image-manifest');
      t.same([im.rc, im.type], ['0', json]);
      t.equal((JSON.parse(im.body) as { name: string }).name, 'example.com/ace-main');
      const id = ep('image-id');
      t.same([id.rc, id.type, id.body], ['0', text, shown.manifest.apps[0]?.image.id], 'image/id equals the pod manifest\'s image id');
      const sign = ep('sign');
      t.same([sign.rc, sign.type], ['0', text]);
      t.match(sign.body, /^[A-Za-z0-9+/]{86}==$/, 'a base64 HMAC-SHA512');
      t.same([ep('verify').rc, ep('verify').type], ['0', text], 'verify accepts the pod\'s own signature');
      t.not(ep('verify-bad').rc, '0', 'verify refuses a signature over other content');
      t.match(read(join(m, 'mds-verify-bad.headers')), /403/);
      const sideUuid = read(join(s, 'mds-pod-uuid.body'));
      t.equal(sideUuid, pod.uuid, 'every app of the pod reaches it');
    });
  });
}

t.test('the pod network: reachable from the host, another pod\'s token refused', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));
  const layout = busyboxLayout(join(work, 'web'), { name: 'example.com/web', app: { exec: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'], user: '0', group: '0' } });
  mkdirSync(join(layout, 'rootfs/www'));
  writeFileSync(join(layout, 'rootfs/www/index.html'), 'served from the pod\n');
  t.equal((await jp(store, 'aci-import', [await actoolBuild(layout, join(work, 'web.aci'))])).exitCode, 0);
  const pods = [];
  for (let i = 0; i < 2; i++) pods.push(JSON.parse((await jp(store, 'pod-create', ['example.com/web'])).stdout) as { uuid: string });
  const ips = [];
  for (const p of pods) {
    const shown = JSON.parse((await jp(store, 'pod-show', [p.uuid])).stdout) as { manifest: { annotations: Array<{ name: string; value: string }> } };
    ips.push(shown.manifest.annotations.find((a) => a.name === 'ip-address')?.value);
  }
  t.not(ips[0], ips[1], 'two pods never get the same address');
  const runs = pods.map((p) => execa(join(BIN, 'jail-run'), [`--config=${store.config}`, p.uuid], { reject: false }));
  try {
    for (const ip of ips) {
      let body = '';
      for (let i = 0; i < 100 && body === ''; i++) {
        body = await fetch(`http://${ip}:8080/`).then((r) => r.text(), () => '');
        if (body === '') await new Promise((r) => setTimeout(r, 100));
      }
      t.equal(body, 'served from the pod\n', `the host reaches the pod at ${ip}`);
    }
  } finally {
    for (const p of pods) await jp(store, 'pod-kill', [p.uuid]);
    for (const r of runs) r.kill('SIGTERM');
    await Promise.all(runs);
  }
  const left = await execa('ip', ['netns', 'list']);
  for (const p of pods) t.notMatch(left.stdout, p.uuid, 'the pod\'s network namespace is gone after the run');
});
