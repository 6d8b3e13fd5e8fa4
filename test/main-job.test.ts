/**
 * The main job end to end, on both store drivers, through the real executables:
 * import an actool-built ACI, list/show/query it, create a pod, run it (output and exit status),
 * list and destroy; the image is protected while a pod uses it; exports round-trip.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { gunzipSync } from 'node:zlib';
import { actoolBuild, BIN, busyboxLayout, jp, makeStore, tempDir } from './lib/fixtures.js';

const sha512 = (b: Buffer): string => createHash('sha512').update(b).digest('hex');

for (const driver of ['dir', 'zfs'] as const) {
  t.test(`main job on the ${driver} store`, async (t) => {
    const store = await makeStore(driver);
    t.teardown(store.cleanup);
    const work = tempDir();
    t.teardown(() => execa('rm', ['-rf', work]));
    const layout = busyboxLayout(join(work, 'layout'), {
      app: {
        exec: ['/bin/sh', '-c', 'echo "out:$(hostname):$(id -u):$(pwd):$GREETING:$AC_APP_NAME:$(tr -d "\\0" < /proc/1/cmdline)"; echo err >&2; exit 3'],
        user: 'user',
        group: 'users',
        workingDirectory: '/home/user',
        environment: [{ name: 'GREETING', value: 'hi there' }],
      },
    });
    const aci = await actoolBuild(layout, join(work, 'busybox.aci'));
    const tarBytes = gunzipFile(aci);

    const imp = await jp(store, 'aci-import', [aci]);
    t.equal(imp.exitCode, 0, `aci-import succeeds: ${imp.stderr}`);
    const image = JSON.parse(imp.stdout) as { uuid: string; id: string; name: string; labels: Record<string, string>; existing: boolean };
    t.equal(image.id, `sha512-${sha512(tarBytes)}`, 'image ID is the SHA-512 of the uncompressed tar');
    t.equal(image.name, 'example.com/busybox');
    t.same(image.labels, { version: '1.0', os: 'linux', arch: 'amd64' });
    t.equal(image.existing, false);

    const again = await jp(store, 'aci-import', [aci]);
    t.equal(JSON.parse(again.stdout).uuid, image.uuid, 'importing the same ACI again returns the existing image');
    t.equal(JSON.parse(again.stdout).existing, true);

    const list = await jp(store, 'jetpack', ['image', 'list']);
    t.match(list.stdout, /^UUID\s+NAME\s+LABELS\n/, 'image list has the original header');
    t.match(list.stdout, new RegExp(`${image.uuid}\\s+example.com/busybox\\s+arch="amd64",os="linux",version="1.0"`));
    for (const q of ['example.com/busybox', 'example.com/busybox:1.0', 'example.com/busybox,os=linux', image.id.slice(0, 20), image.uuid, image.uuid.slice(0, 6)]) {
      const show = await jp(store, 'image-show', [q]);
      t.equal(show.exitCode, 0, `image-show ${q}`);
      t.equal(JSON.parse(show.stdout).uuid, image.uuid, `IMAGE ${q} resolves`);
    }
    const none = await jp(store, 'image-show', ['example.com/busybox:2.0']);
    t.equal(none.exitCode, 3, 'a query matching nothing exits 3');
    t.match(none.stderr, /^image-show: image "example.com\/busybox:2.0": no such image$/);

    const human = await jp(store, 'jetpack', ['image', 'show', 'example.com/busybox']);
    t.match(human.stdout, new RegExp(`^Image ${image.uuid}\\n  Hash\\s+${image.id}\\n`), 'image show alias, original format');

    const piped = await execa('sh', ['-c', `${BIN}/aci-import --config=${store.config} ${aci} | true`], { reject: false });
    t.same([piped.exitCode, piped.stderr], [0, ''], 'a reader that goes away is no error (no EPIPE trace)');

    const create = await jp(store, 'pod-create', ['example.com/busybox']);
    t.equal(create.exitCode, 0, `pod-create: ${create.stderr}`);
    const pod = JSON.parse(create.stdout) as { uuid: string; state: string; apps: Array<{ name: string; rootfs: string; clone: string }> };
    t.equal(pod.state, 'prepared');
    t.equal(pod.apps[0]?.name, 'busybox', 'default app name is the last component of the image name');
    t.equal(pod.apps[0]?.clone, driver === 'zfs' ? 'zfs' : 'overlay', 'pod app rootfs is a clone, not a copy');
    if (driver === 'zfs') {
      const origin = await execa('zfs', ['get', '-H', '-o', 'value', 'origin', `${store.dataset}/pods/${pod.uuid}/busybox`]);
      t.equal(origin.stdout, `${store.dataset}/images/${image.uuid}@seal`, 'the app rootfs is a ZFS clone of the sealed image');
    }

    const run = await jp(store, 'jail-run', [pod.uuid]);
    t.equal(run.exitCode, 3, 'jail-run exits with the app status');
    t.equal(run.stdout, `out:${pod.uuid}:1000:/home/user:hi there:busybox:jetpack-init`, 'app output: hostname, user, working dir, environment; PID 1 shows no host paths');
    t.equal(run.stderr, 'err', 'app stderr passes through');

    const shown = JSON.parse((await jp(store, 'pod-show', [pod.uuid.slice(0, 8)])).stdout) as { state: string; status: number };
    t.equal(shown.state, 'exited');
    t.equal(shown.status, 3, 'pod show records the exit status');
    const plist = await jp(store, 'jetpack', ['pods']);
    t.match(plist.stdout, new RegExp(`^UUID\\s+STATUS\\s+IP\\s+APPS\\n${pod.uuid}\\s+exited\\(3\\)\\s+172\\.23\\.\\d+\\.\\d+\\s+busybox$`), 'the pod list shows the pod\'s own address');

    const busy = await jp(store, 'jetpack', ['image', 'example.com/busybox', 'destroy']);
    t.equal(busy.exitCode, 5, 'an image in use cannot be destroyed');
    t.match(busy.stderr, new RegExp(`used by 1 pod\\(s\\): ${pod.uuid}`));

    const exported = join(work, 'out.aci');
    const exp = await jp(store, 'aci-export', ['--compression=gzip', image.uuid, exported]);
    t.equal(exp.exitCode, 0, `aci-export: ${exp.stderr}`);
    t.equal(exp.stderr.trim(), image.id, 'export prints the image ID on stderr');
    t.equal(sha512(gunzipFile(exported)), sha512(tarBytes), 'export gives back the imported tar bytes');
    const valid = await execa('actool', ['validate', exported], { reject: false });
    t.equal(valid.exitCode, 0, `actool validates the export: ${valid.stderr}`);

    const v2 = busyboxLayout(join(work, 'layout2'), { labels: [{ name: 'version', value: '2.0' }, { name: 'os', value: 'linux' }] });
    t.equal((await jp(store, 'aci-import', [await actoolBuild(v2, join(work, 'v2.aci'))])).exitCode, 0);
    const ambiguous = await jp(store, 'image-show', ['example.com/busybox']);
    t.equal(ambiguous.exitCode, 4, 'a query matching two images is ambiguous (exit 4)');
    t.match(ambiguous.stderr, /ambiguous, 2 images match: /);
    t.match(ambiguous.stderr, /example\.com\/busybox:1\.0/, 'and lists the candidates');
    t.match(ambiguous.stderr, /example\.com\/busybox:2\.0/);
    t.equal(JSON.parse((await jp(store, 'image-show', ['example.com/busybox:2.0'])).stdout).labels.version, '2.0');

    const skeleton = '00000000-0000-4000-8000-000000000001';
    const clone = await jp(store, 'zfs-clone-image', ['example.com/busybox:2.0', skeleton, 'web']);
    t.equal(clone.exitCode, 0, `zfs-clone-image: ${clone.stderr}`);
    const cloned = JSON.parse(clone.stdout) as { rootfs: string; clone: string };
    t.equal(cloned.clone, driver === 'zfs' ? 'zfs' : 'overlay');
    t.ok(existsSync(join(cloned.rootfs, 'bin/busybox')), 'the clone has the image files');
    t.equal((await jp(store, 'image-destroy', ['example.com/busybox:2.0'])).exitCode, 5, 'a clone not yet in a pod still protects its image');

    const destroyPod = await jp(store, 'jetpack', ['pod', pod.uuid, 'destroy']);
    t.equal(destroyPod.exitCode, 0, `pod destroy: ${destroyPod.stderr}`);
    t.notOk(existsSync(join(store.root, 'pods', pod.uuid)), 'pod directory is gone');
    t.equal((await jp(store, 'jetpack', ['pod', 'list'])).stdout, 'No pods');

    const destroyImage = await jp(store, 'jetpack', ['image', 'destroy', image.uuid]);
    t.equal(destroyImage.exitCode, 0, `image destroy: ${destroyImage.stderr}`);
    t.match((await jp(store, 'jetpack', ['images'])).stdout, /^UUID\s+NAME\s+LABELS\n\S+\s+example.com\/busybox\s+os="linux",version="2.0"$/, 'only the other image is left');
    t.notOk(existsSync(join(store.root, 'images', image.uuid)), 'the destroyed image is gone from the store');
    if (driver === 'zfs') {
      const ds = await execa('zfs', ['list', '-H', '-r', '-o', 'name', `${store.dataset}/images`]);
      t.notOk(ds.stdout.includes(image.uuid), 'its dataset is gone');
    }
    t.ok(statSync(store.root).isDirectory());
  });
}

function gunzipFile(path: string): Buffer {
  return gunzipSync(readFileSync(path));
}
