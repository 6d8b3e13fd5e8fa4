/**
 * The App Container metadata service (appc spec/ace.md § App Container Metadata Service), over real
 * HTTP against the `metadata-service` command and a real store: every endpoint's status, exact
 * Content-Type and body; tokens and signatures recomputed here from the key file; sign → verify;
 * pod isolation by token and by remote address (loopback addresses 127.0.0.2 and 127.0.0.3 stand in
 * for pod addresses); the pidfile, `mdsStatus`, and a clean exit on SIGTERM.
 */
import { appendFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { execa, type ResultPromise } from 'execa';
import { createHmac } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../shared/src/config.js';
import { mdsStatus, mergeAnnotations } from '../shared/src/mds.js';
import { actoolBuild, BIN, busyboxLayout, jp, makeStore, tempDir } from './lib/fixtures.js';

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=us-ascii';
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

interface Reply {
  status: number;
  type: string | undefined;
  body: string;
}

/** One HTTP request from `from` (a local address) to the service. */
function http(port: number, method: string, path: string, opts: { from?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Reply> {
  const body = opts.form === undefined ? undefined : new URLSearchParams(opts.form).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        localAddress: opts.from ?? '127.0.0.1',
        headers: { ...opts.headers, ...(body === undefined ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Resolve with the stderr seen so far once a line matches `re`. */
function waitForStderr(proc: ResultPromise, re: RegExp, ms = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stderr: ${seen}`)), ms);
    proc.stderr?.on('data', (c: Buffer) => {
      seen += c.toString();
      if (re.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
    void proc.then(() => {
      clearTimeout(timer);
      reject(new Error(`metadata-service exited early; stderr: ${seen}`));
    }, () => undefined);
  });
}

/** The token of a pod, computed here from the key file: first 32 hex of HMAC-SHA512(HMAC-SHA512(key, "token"), UUID bytes). */
function token(key: Buffer, uuid: string): string {
  const tokenKey = createHmac('sha512', key).update('token').digest();
  return createHmac('sha512', tokenKey).update(Buffer.from(uuid.replace(/-/g, ''), 'hex')).digest('hex').slice(0, 32);
}

/** base64 HMAC-SHA512(HMAC-SHA512(key, "sign"), UUID bytes ‖ content), computed here. */
function signature(key: Buffer, uuid: string, content: string): string {
  const signKey = createHmac('sha512', key).update('sign').digest();
  return createHmac('sha512', signKey).update(Buffer.from(uuid.replace(/-/g, ''), 'hex')).update(content).digest('base64');
}

interface NV {
  name: string;
  value: string;
}
interface StoredPod {
  annotations?: NV[];
  apps: Array<{ name: string; image: { id: string }; annotations?: NV[] }>;
}

t.test('metadata-service', async (t) => {
  const store = await makeStore('dir');
  // The test plays pods from loopback addresses (127.0.0.2, 127.0.0.3): make loopback the pod
  // network of this store, so that pods may pin those addresses (they must lie on it).
  appendFileSync(store.config, 'jail.interface = lo\n');
  t.teardown(store.cleanup);
  const work = tempDir();
  t.teardown(() => execa('rm', ['-rf', work]));

  const imageAnnotations = [
    { name: 'authors', value: 'Jetpack tests' },
    { name: 'example.com/shared', value: 'from-image' },
    { name: 'example.com/image-only', value: 'kept' },
  ];
  const layout = busyboxLayout(join(work, 'layout'), { extraManifest: { annotations: imageAnnotations } });
  const imported = await jp(store, 'aci-import', [await actoolBuild(layout, join(work, 'mds.aci'))]);
  t.equal(imported.exitCode, 0, 'image imported');
  const image = JSON.parse(String(imported.stdout)) as { uuid: string; id: string; manifest: unknown };

  // Pod A: two apps on the host's network (no ip-address); pods B and C at 127.0.0.2 and 127.0.0.3,
  // loopback addresses standing in for their pod network addresses.
  const create = async (tt: Test, args: string[]): Promise<string> => {
    const r = await jp(store, 'pod-create', args);
    tt.equal(r.exitCode, 0, `pod-create ${args.join(' ')}`);
    return (JSON.parse(String(r.stdout)) as { uuid: string }).uuid;
  };
  const stored = async (uuid: string): Promise<StoredPod> => JSON.parse(await readFile(join(store.root, 'pods', uuid, 'manifest'), 'utf8')) as StoredPod;
  const podA = await create(t, [
    '-net=host', '-a', 'example.com/pod-note=hello pod',
    'example.com/busybox', '-a', 'example.com/shared=from-pod', '-a', 'example.com/app-only=added',
    'example.com/busybox', '-n', 'second',
  ]);
  const podB = await create(t, ['-a', 'ip-address=127.0.0.2', 'example.com/busybox']);
  const podC = await create(t, ['-a', 'ip-address=127.0.0.3', 'example.com/busybox']);
  const manifestA = await stored(podA);
  t.notOk(manifestA.annotations?.some((a) => a.name === 'ip-address'), 'pod A has no ip-address');
  t.equal(manifestA.annotations?.find((a) => a.name === 'example.com/pod-note')?.value, 'hello pod');
  t.same((await stored(podB)).annotations?.filter((a) => a.name === 'ip-address'), [{ name: 'ip-address', value: '127.0.0.2' }]);

  const usageRun = await jp(store, 'metadata-service', ['--listen=localhost']);
  t.equal(usageRun.exitCode, 2, 'a malformed --listen is a usage error');
  const foreign = await jp(store, 'metadata-service', [`--listen=192.0.2.1:${await freePort()}`]);
  t.equal(foreign.exitCode, 8, 'an address that is not the host\'s is an environment error');

  const port = await freePort();
  const proc = execa(join(BIN, 'metadata-service'), [`--config=${store.config}`, `--listen=127.0.0.1:${port}`], { reject: false, stdin: 'ignore' });
  t.teardown(() => {
    proc.kill('SIGKILL');
  });
  const started = await waitForStderr(proc, /listening on/);
  t.match(started, new RegExp(`metadata-service: listening on http://127\\.0\\.0\\.1:${port} \\(pid ${proc.pid}, store ${store.root}\\)`));

  const keyPath = join(store.root, 'mds.key');
  const key = await readFile(keyPath);
  t.equal(key.length, 64, 'the key file holds 64 bytes');
  t.equal((await stat(keyPath)).mode & 0o777, 0o600, 'and is readable by its owner only');
  t.equal((await readFile(join(store.root, 'mds.pid'), 'utf8')).trim(), String(proc.pid), 'the pidfile names the service');

  const get = (path: string, from?: string): Promise<Reply> => http(port, 'GET', path, from === undefined ? {} : { from });
  const a = `/${token(key, podA)}/acMetadata/v1`;
  const b = `/${token(key, podB)}/acMetadata/v1`;
  const c = `/${token(key, podC)}/acMetadata/v1`;

  t.test('the banner and /_info', async (t) => {
    t.same(await get('/'), { status: 200, type: TEXT_TYPE, body: 'Jetpack metadata service version 0.1.0\n' });
    const info = await get(`/${token(key, NIL_UUID)}/_info`);
    t.same([info.status, info.type], [200, JSON_TYPE]);
    t.same(JSON.parse(info.body), { pid: proc.pid, address: '127.0.0.1', port, version: '0.1.0' });
    const status = await mdsStatus(loadConfig(store.config));
    t.same(status, { up: true, url: `http://127.0.0.1:${port}`, pid: proc.pid }, 'mdsStatus sees it up');
  });

  t.test('pod endpoints', async (t) => {
    t.same(await get(`${a}/pod/uuid`), { status: 200, type: TEXT_TYPE, body: podA });
    const ann = await get(`${a}/pod/annotations`);
    t.same([ann.status, ann.type, JSON.parse(ann.body)], [200, JSON_TYPE, manifestA.annotations], 'the pod manifest\'s annotations');
    t.same(await get(`${a}/pod/annotations/example.com/pod-note`), { status: 200, type: TEXT_TYPE, body: 'hello pod' });
    t.equal((await get(`${a}/pod/annotations/example.com/none`)).status, 404, 'a missing pod annotation is 404');
    const man = await get(`${a}/pod/manifest`);
    t.same([man.status, man.type, JSON.parse(man.body)], [200, JSON_TYPE, manifestA], 'the stored pod manifest');
    const withFlavor = await http(port, 'GET', `${a}/pod/uuid`, { headers: { 'Metadata-Flavor': 'AppContainer' } });
    t.same(withFlavor, { status: 200, type: TEXT_TYPE, body: podA }, 'the old Metadata-Flavor header is accepted');
    const head = await http(port, 'HEAD', `${a}/pod/uuid`);
    t.same([head.status, head.type, head.body], [200, TEXT_TYPE, ''], 'HEAD is answered as GET, without a body');
    t.equal((await http(port, 'POST', `${a}/pod/uuid`)).status, 405, 'POST to a GET endpoint is 405');
    t.equal((await get(`${a}/pod/nothing`)).status, 404, 'an unknown path is 404');
  });

  t.test('app endpoints', async (t) => {
    const ann = await get(`${a}/apps/busybox/annotations`);
    t.same([ann.status, ann.type], [200, JSON_TYPE]);
    // Expected, per the spec and the ACE validator: the image's, each app annotation replacing one of
    // the same name in place or appended.
    const expected = imageAnnotations.map((x) => ({ ...x }));
    for (const x of manifestA.apps[0]?.annotations ?? []) {
      const i = expected.findIndex((e) => e.name === x.name);
      if (i >= 0) expected[i] = x;
      else expected.push(x);
    }
    const got = JSON.parse(ann.body) as NV[];
    t.same(got, expected, 'image annotations merged with the pod app\'s');
    t.same(got.slice(0, 3), [imageAnnotations[0], { name: 'example.com/shared', value: 'from-pod' }, imageAnnotations[2]], 'the app\'s value replaces the image\'s in place');
    t.same(got.slice(3).map((x) => x.name).sort(), ['example.com/app-only', 'jetpack/image-uuid'], 'and the others are appended');
    t.same(
      mergeAnnotations([{ name: 'a', value: '1' }, { name: 'b', value: '2' }], [{ name: 'A', value: '3' }, { name: 'c', value: '4' }]),
      [{ name: 'A', value: '3' }, { name: 'b', value: '2' }, { name: 'c', value: '4' }],
      'names match case-insensitively, as appc\'s Annotations.Set',
    );
    const second = await get(`${a}/apps/second/annotations`);
    t.same(JSON.parse(second.body), [...imageAnnotations, ...(manifestA.apps[1]?.annotations ?? [])], 'each app has its own');
    t.same(manifestA.apps[1]?.annotations, [{ name: 'jetpack/image-uuid', value: image.uuid }]);
    t.same(await get(`${a}/apps/busybox/annotations/example.com/shared`), { status: 200, type: TEXT_TYPE, body: 'from-pod' });
    t.equal((await get(`${a}/apps/busybox/annotations/none`)).status, 404);
    const im = await get(`${a}/apps/busybox/image/manifest`);
    t.same([im.status, im.type, JSON.parse(im.body)], [200, JSON_TYPE, image.manifest], 'the image manifest');
    t.same(await get(`${a}/apps/second/image/id`), { status: 200, type: TEXT_TYPE, body: image.id });
    t.equal(manifestA.apps[1]?.image.id, image.id, 'the image ID of the pod manifest');
    t.equal((await get(`${a}/apps/nosuchapp/annotations`)).status, 404, 'an unknown app is 404');
    t.equal((await get(`${a}/apps/nosuchapp/image/id`)).status, 404);
    t.equal((await get(`${a}/apps/Bad_Name/image/id`)).status, 400, 'an invalid app name is 400');
  });

  t.test('sign and verify', async (t) => {
    const content = 'Old MacDonald Had A Farm & co = 100%';
    const signed = await http(port, 'POST', `${a}/pod/hmac/sign`, { form: { content } });
    t.same(signed, { status: 200, type: TEXT_TYPE, body: signature(key, podA, content) }, 'base64 HMAC-SHA512 of UUID bytes and content');
    t.equal(signed.body.length, 88, 'padded base64 of 64 bytes, no newline');
    const verify = (form: Record<string, string>, path = b): Promise<Reply> => http(port, 'POST', `${path}/pod/hmac/verify`, { from: '127.0.0.2', form });
    t.same(await verify({ uuid: podA, content, signature: signed.body }), { status: 200, type: TEXT_TYPE, body: 'OK' }, 'another pod verifies it');
    t.same(await http(port, 'POST', `${a}/pod/hmac/verify`, { form: { uuid: podA.toUpperCase().replace(/-/g, ''), content, signature: signed.body } }), { status: 200, type: TEXT_TYPE, body: 'OK' }, 'an upper-case, undashed UUID too');
    const wrong = await verify({ uuid: podA, content: `${content}!`, signature: signed.body });
    t.same([wrong.status, wrong.type], [403, TEXT_TYPE], 'other content: 403');
    t.equal((await verify({ uuid: podB, content, signature: signed.body })).status, 403, 'another pod\'s UUID: 403');
    t.equal((await verify({ uuid: 'not-a-uuid', content, signature: signed.body })).status, 400, 'a bad UUID: 400');
    t.equal((await verify({ uuid: podA, content, signature: 'not base64!' })).status, 400, 'bad base64: 400');
    t.equal((await http(port, 'POST', `${a}/pod/hmac/sign`, { form: { content: '' } })).status, 400, 'empty content: 400');
    t.equal((await http(port, 'POST', `${a}/pod/hmac/sign`, { form: {} })).status, 400, 'no content: 400');
    t.equal((await get(`${a}/pod/hmac/sign`)).status, 405, 'GET sign: 405');
    const fromB = await http(port, 'POST', `${b}/pod/hmac/sign`, { from: '127.0.0.2', form: { content } });
    t.same(fromB, { status: 200, type: TEXT_TYPE, body: signature(key, podB, content) }, 'pod B signs as itself from its address');
  });

  t.test('pod isolation', async (t) => {
    t.same(await get(`${b}/pod/uuid`, '127.0.0.2'), { status: 200, type: TEXT_TYPE, body: podB }, 'pod B from its own address');
    const stolen = await get(`${c}/pod/uuid`, '127.0.0.2');
    t.same([stolen.status, stolen.type], [401, TEXT_TYPE], 'pod C\'s token from pod B\'s address: 401');
    t.equal((await http(port, 'POST', `${c}/pod/hmac/sign`, { from: '127.0.0.2', form: { content: 'x' } })).status, 401, 'so B cannot sign as C');
    t.equal((await get(`${b}/pod/manifest`, '127.0.0.1')).status, 401, 'pod B\'s token from the host: 401');
    t.same(await get(`${c}/pod/uuid`, '127.0.0.3'), { status: 200, type: TEXT_TYPE, body: podC }, 'pod C from its own address');
    t.same(await get(`${a}/pod/uuid`, '127.0.0.3'), { status: 200, type: TEXT_TYPE, body: podA }, 'a host-network pod is known by its token alone');
    const unknown = await get('/0123456789abcdef0123456789abcdef/acMetadata/v1/pod/uuid');
    t.same([unknown.status, unknown.type], [401, TEXT_TYPE], 'an unknown token: 401');
    t.equal((await get('/acMetadata/v1/pod/uuid')).status, 401, 'no token: 401');
    t.equal((await get(`/${podA}/acMetadata/v1/pod/uuid`)).status, 401, 'the pod UUID is not a token');
    t.equal((await get(`/${token(key, NIL_UUID)}/acMetadata/v1/pod/uuid`)).status, 401, 'the nil token opens only /_info');
    // A pod made while the service runs is found on its first request.
    const podD = await create(t, ['-net=host', 'example.com/busybox']);
    t.same(await get(`/${token(key, podD)}/acMetadata/v1/pod/uuid`), { status: 200, type: TEXT_TYPE, body: podD }, 'a new pod is found');
    t.equal((await jp(store, 'pod-destroy', [podD])).exitCode, 0);
    t.equal((await get(`/${token(key, podD)}/acMetadata/v1/pod/uuid`)).status, 401, 'a destroyed pod is gone');
    // A pod with its own network gets an address on the pod network; the host is not it.
    const podE = await create(t, ['example.com/busybox']);
    const ipE = (await stored(podE)).annotations?.find((x) => x.name === 'ip-address')?.value;
    t.ok(ipE !== undefined && ipE !== '127.0.0.1', `pod-create gave the pod an address of its own (${ipE})`);
    t.equal((await get(`/${token(key, podE)}/acMetadata/v1/pod/uuid`)).status, 401, 'its token from the host: 401');
  });

  t.test('a second service for the store is refused', async (t) => {
    const r = await jp(store, 'metadata-service', [`--listen=127.0.0.1:${await freePort()}`]);
    t.equal(r.exitCode, 5);
    t.match(r.stderr, /already running/);
  });

  t.test('SIGTERM', async (t) => {
    proc.kill('SIGTERM');
    const r = await proc;
    t.equal(r.exitCode, 0, 'exits 0');
    const lines = r.stderr.split('\n');
    t.ok(lines.some((l) => / 127\.0\.0\.1 "GET \/\*\/acMetadata\/v1\/pod\/uuid" 200 36 pod=/.test(l)), 'logs requests without the token');
    t.notOk(r.stderr.includes(token(key, podA)), 'tokens never reach the log');
    t.match(lines.at(-1), /metadata-service: stopped \(SIGTERM\)/);
    await t.rejects(stat(join(store.root, 'mds.pid')), 'the pidfile is removed');
    const status = await mdsStatus(loadConfig(store.config));
    t.equal(status.up, false, 'mdsStatus sees it down');
  });
});
