/**
 * Where images come from: an ACI over http (a server on 127.0.0.1), an ACI on stdin, each
 * compression (detected by content, whatever the file name), and a plain rootfs tarball plus a
 * manifest (like FreeBSD's base.txz); the image made from a tarball runs, exports to an ACI that
 * Debian's actool validates, and that export imports into a second store with the same ID.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { actoolBuild, busyboxLayout, jp, makeStore, tempDir } from './lib/fixtures.js';

t.test('ACIs from http, stdin and every compression', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));
  const layout = busyboxLayout(join(work, 'layout'));
  const plain = await actoolBuild(layout, join(work, 'plain.aci'), true);
  const ids = new Set<string>();
  const variants: Array<[string, string[]]> = [
    ['plain', ['sh', '-c', `cp ${plain} ${work}/v-plain.aci`]],
    ['gzip', ['sh', '-c', `gzip -c ${plain} > ${work}/v-gzip.aci`]],
    ['gzip multi-member', ['sh', '-c', `head -c 100000 ${plain} | gzip -c > ${work}/v-gzip2.aci; tail -c +100001 ${plain} | gzip -c >> ${work}/v-gzip2.aci`]],
    ['bzip2', ['sh', '-c', `bzip2 -c ${plain} > ${work}/v-bzip2.aci`]],
    ['xz', ['sh', '-c', `xz -c ${plain} > ${work}/v-xz.aci`]],
  ];
  for (const [what, cmd] of variants) {
    await execa(cmd[0] as string, cmd.slice(1));
    const file = `${work}/v-${what === 'gzip multi-member' ? 'gzip2' : what}.aci`;
    const r = await jp(store, 'aci-import', [file]);
    t.equal(r.exitCode, 0, `${what}: imported (${r.stderr})`);
    ids.add(JSON.parse(r.stdout).id);
  }
  t.equal(ids.size, 1, 'every compression gives the same image ID (the hash of the uncompressed tar)');

  const server = createServer((req, res) => {
    if (req.url === '/busybox.aci') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      createReadStream(`${work}/v-xz.aci`).pipe(res);
    } else {
      res.writeHead(404).end('not here');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const viaHttp = await jp(store, 'aci-import', [`http://127.0.0.1:${port}/busybox.aci`]);
  t.equal(viaHttp.exitCode, 0, `import from a URL (${viaHttp.stderr})`);
  t.ok(ids.has(JSON.parse(viaHttp.stdout).id));
  const missing = await jp(store, 'aci-import', [`http://127.0.0.1:${port}/nope.aci`]);
  t.equal(missing.exitCode, 3, 'a URL that is not there is not found (exit 3)');
  t.match(missing.stderr, /nope\.aci.*404/, 'a failed download names the URL and status');

  const viaStdin = await execa('sh', ['-c', `cat ${work}/v-bzip2.aci | ${join(process.cwd(), 'node_modules/.bin/aci-import')} --config=${store.config} -`]);
  t.ok(ids.has(JSON.parse(viaStdin.stdout).id), 'import from stdin');

  const garbage = join(work, 'garbage.aci');
  writeFileSync(garbage, 'this is not an archive at all, just text '.repeat(30));
  const bad = await jp(store, 'aci-import', [garbage]);
  t.equal(bad.exitCode, 6, 'unknown content is refused');
  t.match(bad.stderr, /garbage\.aci|not a tar/);
});

t.test('a rootfs tarball plus a manifest, on both drivers', async (t) => {
  for (const driver of ['dir', 'zfs'] as const) {
    const store = await makeStore(driver);
    t.teardown(store.cleanup);
    const work = tempDir();
    t.teardown(() => execa('rm', ['-rf', work]));
    const layout = busyboxLayout(join(work, 'layout'));
    await execa('tar', ['-C', join(layout, 'rootfs'), '-cJf', join(work, 'base.txz'), '.']);
    const manifest = join(work, 'base.json');
    writeFileSync(manifest, JSON.stringify({
      name: 'example.com/base',
      labels: [{ name: 'version', value: '12' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
      app: { exec: ['/bin/sh', '-c', 'cat /etc/passwd | head -1; ls -l /bin/busybox | cut -c1-10'], user: 'root', group: 'root' },
    }));
    const imp = await jp(store, 'jetpack', ['-json', 'image', 'import', join(work, 'base.txz'), manifest]);
    t.equal(imp.exitCode, 0, `${driver}: image import ARCHIVE MANIFEST (${imp.stderr})`);
    const image = JSON.parse(imp.stdout) as { id: string; uuid: string; manifest: { acKind: string; acVersion: string } };
    t.equal(image.manifest.acKind, 'ImageManifest', 'acKind filled in');
    const pod = JSON.parse((await jp(store, 'pod-create', ['example.com/base:12'])).stdout) as { uuid: string };
    const run = await jp(store, 'jail-run', [pod.uuid]);
    t.equal(run.exitCode, 0, `${driver}: the pod runs (${run.stderr})`);
    t.equal(run.stdout, 'root:x:0:0:root:/root:/bin/sh\n-rwxr-xr-x', `${driver}: files and modes from the tarball`);

    const out = join(work, 'base.aci');
    t.equal((await jp(store, 'aci-export', [image.uuid, out])).exitCode, 0);
    const v = await execa('actool', ['validate', out], { reject: false });
    t.equal(v.exitCode, 0, `${driver}: actool validates the export (${v.stderr})`);
    const other = await makeStore('dir');
    t.teardown(other.cleanup);
    const back = await jp(other, 'aci-import', [out]);
    t.equal(JSON.parse(back.stdout).id, image.id, `${driver}: the export imports into another store with the same ID`);
  }
});
