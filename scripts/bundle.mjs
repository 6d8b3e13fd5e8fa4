#!/usr/bin/env node
/**
 * Bundle each command's executable (the last step of `pnpm run build`, after `tsc -b`).
 *
 * A command run from tsc's output loads a couple of hundred ES modules (its own, shared/'s, yargs,
 * execa, ...) one file at a time, and resolving, reading and linking them is most of its start-up.
 * So every command's `bin` is one ES module made by esbuild from its dist/main.js (tsc's output,
 * type-checked): commands/<dir>/dist/bundle/<name>.mjs, with the modules the command imports with
 * `await import()` (the work after parsing the command line: the store, the launcher, archives,
 * execa, proper-lockfile, ...) split into chunks beside it, loaded only when that code runs, so
 * that `--help` and usage errors load little. Each command's bundle stands alone (no chunk is
 * shared between two commands' directories). tsc's per-package dist/ stays as it is: the tests and
 * the `jetpack` wrapper's own imports use it.
 *
 * What would differ in a bundle is settled here:
 *  - Code that finds files of the checkout from its own location (jetpack-stage1,
 *    shared/package.json; shared/src/checkout.ts) is told the way from the bundle's directory to
 *    the checkout root through the JETPACK_BUNDLE_ROOT define.
 *  - CommonJS dependencies (proper-lockfile, unbzip2-stream, ...) call require() for Node's own
 *    modules; an ES module has no require, so each output file starts with one made by createRequire.
 *  - Two modules that yargs loads at start-up are loaded on first use instead (lazyForYargs):
 *    string-width (of yargs, cliui, wrap-ansi) builds Unicode property regexes and an
 *    Intl.Segmenter when it is loaded, a good part of yargs' start-up, and is only needed for text
 *    that is not plain printable ASCII (for which it returns the length, as the real one does);
 *    node:assert, for yargs' internal checks, sets up stderr's colours when it is loaded.
 *
 * esbuild is the bundler: a pinned devDependency (see package.json), a widely used, well-maintained
 * build tool with no dependencies of its own beyond its platform binary. Run: node scripts/bundle.mjs
 * (JETPACK_BUNDLE_META=1 also writes each bundle's esbuild metafile, meta.json, to see what went where).
 */
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

const REPO = path.resolve(import.meta.dirname, '..');
/** From commands/<dir>/dist/bundle/ up to the checkout root (shared/src/checkout.ts). */
const BUNDLE_ROOT = '../../../../';
const BUNDLE_DIR = 'dist/bundle';

/**
 * Stand-ins for modules that yargs imports at start-up, each loading the real one on first use
 * (esbuild's require() of a bundled module is its lazy initialisation; of node:assert, Node's).
 * Each is made from the real module's path.
 */
const LAZY_FOR_YARGS = {
  'string-width': (real) => `let real;
export default function stringWidth(text, options) {
  if (typeof text === 'string' && /^[\\x20-\\x7e]*$/.test(text)) return text.length;
  real ??= require(${JSON.stringify(real)}).default;
  return real(text, options);
}
`,
  // Both compare with Object.is, as node:assert does; the real one is loaded to throw its error.
  assert: (real) => `let real;
const load = () => (real ??= require(${JSON.stringify(real)}));
export function notStrictEqual(actual, expected, message) {
  if (!Object.is(actual, expected)) return;
  load().notStrictEqual(actual, expected, message);
}
export function strictEqual(actual, expected, message) {
  if (Object.is(actual, expected)) return;
  load().strictEqual(actual, expected, message);
}
`,
};

/** Puts LAZY_FOR_YARGS in place of string-width (for yargs, cliui, wrap-ansi) and of yargs' assert. */
const lazyForYargs = {
  name: 'lazy-for-yargs',
  setup(b) {
    b.onResolve({ filter: /^(string-width|assert)$/ }, async (args) => {
      if (args.pluginData === 'real') return undefined;
      if (args.path === 'assert') {
        if (!/[/\\]node_modules[/\\]yargs[/\\]/.test(args.importer)) return undefined;
        return { path: 'node:assert', namespace: 'lazy', pluginData: 'assert' };
      }
      const real = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: 'real' });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy', pluginData: 'string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      resolveDir: args.pluginData === 'assert' ? REPO : path.dirname(args.path),
      loader: 'js',
      contents: LAZY_FOR_YARGS[args.pluginData](args.path),
    }));
  },
};

/** Every command package: its directory and its bin name. */
async function commands() {
  const out = [];
  for (const dir of (await readdir(path.join(REPO, 'commands'))).sort()) {
    let pkg;
    try {
      pkg = JSON.parse(await readFile(path.join(REPO, 'commands', dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    for (const [name, bin] of Object.entries(pkg.bin ?? {})) {
      const want = `${BUNDLE_DIR}/${name}.mjs`;
      if (bin !== want) throw new Error(`commands/${dir}/package.json: bin ${name} is ${bin}; a command's bin is its bundle, ${want}`);
      out.push({ dir: path.join(REPO, 'commands', dir), name });
    }
  }
  return out;
}

async function bundle({ dir, name }) {
  const outdir = path.join(dir, BUNDLE_DIR);
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: [{ in: path.join(dir, 'dist/main.js'), out: name }],
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    define: { JETPACK_BUNDLE_ROOT: JSON.stringify(BUNDLE_ROOT) },
    banner: { js: "import { createRequire as __jetpackCreateRequire } from 'node:module'; const require = __jetpackCreateRequire(import.meta.url);" },
    plugins: [lazyForYargs],
    logLevel: 'warning',
    metafile: process.env.JETPACK_BUNDLE_META === '1',
  });
  if (result.metafile !== undefined) await writeFile(path.join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  await chmod(path.join(outdir, `${name}.mjs`), 0o755);
}

const all = await commands();
await Promise.all(all.map(bundle));
process.stderr.write(`bundle.mjs: ${all.length} commands bundled into commands/*/${BUNDLE_DIR}/\n`);
