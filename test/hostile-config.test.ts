/**
 * jetpack.conf as hostile input (issue 5): a key Jetpack does not know is an error naming the file,
 * the line and the key (exit 7), keys other code reads are all known, and the archive limits
 * (`images.import.*`) are sizes, documented in jetpack.conf(5).
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execa } from 'execa';
import { OPEN_PREFIXES, defaults, isKnownKey, loadConfig, parseConfig, parseSize, size } from '../shared/src/config.js';
import { importLimits } from '../shared/src/import.js';
import { DEFAULT_LIMITS } from '../shared/src/archive/extract.js';
import { REPO, jp, makeStore } from './lib/fixtures.js';

t.test('unknown keys are errors naming the file, line and key', async (t) => {
  t.throws(() => parseConfig('# c\nroot.dir = /x\nroot.dri = /y\n', '/etc/jetpack.conf'), { name: 'JetpackError', kind: 'config', message: '/etc/jetpack.conf:3: unknown key "root.dri" (see jetpack.conf(5))' });
  for (const key of ['images.aci.compresion', 'debugging', 'ace.jailConf.', 'images.import.maxbytes', 'images.import.foo', 'pods.zfs', 'images', 'ace.dns-server']) {
    t.throws(() => parseConfig(`${key} = 1\n`, 'f'), { kind: 'config', message: `f:1: unknown key "${key}" (see jetpack.conf(5))` }, `${key}: unknown`);
  }
  // Every default, and the families other commands extend or pass on.
  const allowed = [
    ...defaults('linux').map(([k]) => k),
    'jail.interface.address',
    'mds.port',
    'mds.address',
    'jail.something.new',
    'ace.jailConf.allow.raw_sockets',
    'ace.jailConf.devfs_ruleset',
    'root.zfs.compression',
    'images.zfs.recordsize',
    'pods.zfs.quota',
  ];
  for (const key of allowed) t.ok(isKnownKey(key), `${key}: known`);
  const text = allowed.map((k) => `${k} = ${k.startsWith('images.import.') ? '1K' : 'v'}`).join('\n');
  t.equal(parseConfig(text, 'f').length, allowed.length, 'a file with all of them parses');
  t.throws(() => loadConfig(undefined, [['bogus.key', 'x']]), { kind: 'config', message: /^override: unknown key "bogus\.key"/ }, 'overrides are checked too');
});

t.test('every key the code reads is known', async (t) => {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && e.name !== 'node_modules' && e.name !== 'dist') walk(p);
      else if (e.isFile() && p.endsWith('.ts') && !p.endsWith('.d.ts')) files.push(p);
    }
  };
  walk(path.join(REPO, 'shared/src'));
  for (const c of fs.readdirSync(path.join(REPO, 'commands'))) {
    const src = path.join(REPO, 'commands', c, 'src');
    if (fs.existsSync(src)) walk(src);
  }
  const keys = new Set<string>();
  const prefixes = new Set<string>();
  for (const f of files) {
    const src = fs.readFileSync(f, 'utf8');
    const constants = new Map([...src.matchAll(/const (\w+) = '([^']+)'/g)].map((m) => [m[1] as string, m[2] as string]));
    for (const m of src.matchAll(/\b(?:get|flag|size|sizeKey)\(\s*[\w.]+\s*,\s*'([^']+)'\s*\)/g)) keys.add(m[1] as string);
    for (const m of src.matchAll(/\bwithPrefix\(\s*[\w.]+\s*,\s*(?:'([^']+)'|(\w+))\s*\)/g)) {
      const p = m[1] ?? constants.get(m[2] as string);
      t.ok(p !== undefined, `${path.relative(REPO, f)}: withPrefix(${m[2] ?? ''}) resolved`);
      if (p !== undefined) prefixes.add(p);
    }
  }
  t.ok(keys.has('root.dir') && keys.has('images.aci.compression') && keys.has('images.import.maxBytes'), 'the scan finds keys');
  for (const k of [...keys].sort()) t.ok(isKnownKey(k), `${k}: read by the code and known`);
  for (const p of [...prefixes].sort()) t.ok(OPEN_PREFIXES.includes(p), `${p}*: read by the code and an open prefix`);
  const noDefault = [...keys].filter((k) => !defaults().some(([d]) => d === k)).sort();
  t.comment(`keys read without a default (known through KNOWN_KEYS or an open prefix): ${noDefault.join(', ') || 'none'}`);
});

t.test('the import limits: sizes, defaults matching the extractor, documented', async (t) => {
  for (const [text, n] of [
    ['0', 0],
    ['4096', 4096],
    ['1K', 1024],
    ['1k', 1024],
    ['64G', 64 * 1024 ** 3],
    ['2 M', 2 * 1024 ** 2],
    ['1T', 1024 ** 4],
  ] as const) {
    t.equal(parseSize(text), n, `${text} = ${n}`);
  }
  for (const bad of ['', '-1', '1.5G', '1KB', 'lots', '0x10', '1e9', '99999999999999999T']) t.equal(parseSize(bad), null, `${JSON.stringify(bad)} is not a size`);
  t.throws(() => parseConfig('\nimages.import.maxBytes = lots\n', 'j.conf'), { kind: 'config', message: 'j.conf:2: images.import.maxBytes = lots: must be a whole number, optionally followed by K, M, G or T' });
  const lim = importLimits({ path: null, values: new Map(defaults()) });
  t.same(lim, {
    maxBytes: DEFAULT_LIMITS.maxBytes,
    maxTrailingBytes: DEFAULT_LIMITS.maxTrailingBytes,
    maxEntries: DEFAULT_LIMITS.maxEntries,
    maxPathDepth: DEFAULT_LIMITS.maxPathDepth,
    maxPathLength: DEFAULT_LIMITS.maxPathLength,
  }, 'the defaults of jetpack.conf are the extractor\'s');
  t.equal(size({ path: null, values: new Map([['images.import.maxEntries', '2K']]) }, 'images.import.maxEntries'), 2048);
  const man = fs.readFileSync(path.join(REPO, 'man/jetpack.conf.5'), 'utf8').replace(/\\-/g, '-');
  for (const [k] of defaults().filter(([k]) => k.startsWith('images.import.'))) t.match(man, new RegExp(`\\.B[RI]? ${k.replace(/\./g, '\\.')}\\b`), `${k} documented in jetpack.conf(5)`);
  t.match(man, /unknown key/, 'jetpack.conf(5) says unknown keys are errors');
});

t.test('commands exit 7 on an unknown key, 6 for a limit set in the file', async (t) => {
  const store = await makeStore('dir');
  t.teardown(store.cleanup);
  const conf = fs.readFileSync(store.config, 'utf8');
  fs.writeFileSync(store.config, `${conf}mds.port = 1104\njail.interface.address = 172.31.0.1/24\nace.jailConf.allow.raw_sockets = 1\nimages.import.maxEntries = 1K\n`);
  const good = await jp(store, 'image-list', []);
  t.equal(good.exitCode, 0, `known keys, and keys other developers add, are fine (${good.stderr})`);
  fs.writeFileSync(store.config, `${conf}# typo below\nimages.aci.compresion = gzip\n`);
  for (const cmd of ['image-list', 'aci-import', 'jetpack'] as const) {
    const r = await jp(store, cmd, cmd === 'aci-import' ? ['/nonexistent.aci'] : cmd === 'jetpack' ? ['image', 'list'] : []);
    t.equal(r.exitCode, 7, `${cmd}: exit 7`);
    t.match(r.stderr, new RegExp(`^${cmd}: ${store.config.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4: unknown key "images\\.aci\\.compresion" \\(see jetpack\\.conf\\(5\\)\\)$`), `${cmd}: one line naming the file, line and key (${r.stderr})`);
  }
  fs.writeFileSync(store.config, `${conf}images.import.maxPathDepth = deep\n`);
  const bad = await jp(store, 'aci-import', ['/nonexistent.aci']);
  t.equal(bad.exitCode, 7, 'a limit that is not a size: exit 7');
  t.match(bad.stderr, /:3: images\.import\.maxPathDepth = deep: must be a whole number/);
  const env = await execa(path.join(REPO, 'node_modules/.bin/image-list'), [], { reject: false, env: { JETPACK_CONF: store.config } });
  t.equal(env.exitCode, 7, 'also through $JETPACK_CONF');
});
