#!/usr/bin/env node
/**
 * Compile the appc manifest schemas (shared/src/appc/schema.ts) into validator code at build time:
 * writes shared/src/appc/validators.generated.ts, which shared/src/appc/validate.ts imports. The
 * first step of `pnpm run build`, before `tsc -b` compiles it with the rest of shared/.
 *
 * ajv compiling the schemas when a command first validates a manifest (loading ajv's compiler,
 * then building and evaluating its code) took 100-400 ms of `pod-create` and `aci-import`; its
 * standalone code generation (https://ajv.js.org/standalone.html) does that work here instead, so
 * that at run time neither ajv nor any schema compilation is needed. The code is what ajv compiled
 * at run time before, from the same options and schemas (each shared definition now compiled once
 * for the three manifests: schema.ts, schemasToCompile), so the same verdicts and the same error
 * objects (verbose: `schema`, `parentSchema` with its `x-invalid` phrase, `data`), from which
 * validate.ts words its messages.
 *
 * schema.ts stays the only source of the schemas. It is TypeScript and this runs before tsc, so
 * esbuild (the bundler, a devDependency) transpiles it and what it imports (names.ts, errors.ts:
 * no dependencies) into one module, loaded from memory. The generated file is not committed
 * (.gitignore); it is rewritten only when its text changes, so that `tsc -b` stays incremental.
 *
 * Run: node scripts/gen-validators.mjs           (write the file if it differs)
 *      node scripts/gen-validators.mjs --check   (exit 1 if the file is missing or out of date)
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';

const REPO = path.resolve(import.meta.dirname, '..');
const APPC = path.join(REPO, 'shared/src/appc');
const OUT = path.join(APPC, 'validators.generated.ts');
/** ajv is a dependency of shared/, not of the root package: load it from there. */
const requireFromShared = createRequire(path.join(REPO, 'shared/package.json'));

/** The exported validators, by validate.ts' `kind` (the keys of schemasToCompile's `manifests`). */
const KINDS = ['image', 'pod', 'template'];

/**
 * ajv's run-time helpers that generated code may `require` (ajv/dist/runtime/*), each a
 * self-contained function: their source is copied into the generated file, so that it imports
 * nothing from ajv. Another helper (a schema using a new keyword) fails the build until it is
 * checked and listed here.
 */
const INLINE_HELPERS = new Set(['ucs2length']);

/** shared/src/appc/schema.ts as a module, transpiled by esbuild. */
async function loadSchemaModule() {
  const result = await build({
    entryPoints: [path.join(APPC, 'schema.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  });
  const [file] = result.outputFiles;
  return import(`data:text/javascript;base64,${Buffer.from(file.text).toString('base64')}`);
}

/** The text of validators.generated.ts. */
async function generate() {
  const schema = await loadSchemaModule();
  const { Ajv } = requireFromShared('ajv');
  const standaloneCode = requireFromShared('ajv/dist/standalone').default;
  const ajvVersion = requireFromShared('ajv/package.json').version;

  // The options validate.ts compiled with at run time before. The schemas are checked against the
  // draft-07 meta-schema by the tests (validateSchema: false); a `$ref` is a call of the function
  // compiled from its schema, not inlined (inlineRefs: false). code: the module's source, ESM.
  const ajv = new Ajv({
    allErrors: false,
    verbose: true,
    strict: true,
    allowUnionTypes: true,
    validateSchema: false,
    inlineRefs: false,
    code: { source: true, esm: true, lines: true },
  });
  ajv.addVocabulary(['x-invalid', 'x-quantity']);
  // Each shared definition is a schema of its own, compiled once into a function that the three
  // validators share; their `$ref`s point at those (schema.ts, schemasToCompile).
  const { definitions, manifests } = schema.schemasToCompile();
  for (const d of definitions) ajv.addSchema(d);
  const ids = {};
  for (const kind of KINDS) {
    ajv.addSchema(manifests[kind]);
    ids[kind] = manifests[kind].$id;
  }
  let code = standaloneCode(ajv, ids);

  // ajv's exports (`export const image = validate0;`, before the functions) are replaced by one
  // typed export at the end; its "use strict" is implied by the ES module.
  const exported = {};
  code = code.replace(/^export const (\w+) = (\w+);$/gm, (_, kind, fn) => {
    exported[kind] = fn;
    return '';
  });
  code = code.replace(/^"use strict";\n?/, '');
  if (Object.keys(exported).sort().join() !== [...KINDS].sort().join()) {
    throw new Error(`gen-validators: ajv exported ${JSON.stringify(exported)}, expected ${KINDS.join(', ')}`);
  }
  code = code.replace(/require\("ajv\/dist\/runtime\/(\w+)"\)\.default/g, (_, helper) => {
    if (!INLINE_HELPERS.has(helper)) throw new Error(`gen-validators: the generated code needs ajv/dist/runtime/${helper}; check it is self-contained and add it to INLINE_HELPERS`);
    return `(${requireFromShared(`ajv/dist/runtime/${helper}`).default.toString()})`;
  });
  if (/\brequire\(|^import /m.test(code)) throw new Error('gen-validators: the generated code loads a module');

  return `// @ts-nocheck -- generated by scripts/gen-validators.mjs from ./schema.ts; do not edit (pnpm run build rewrites it).
/**
 * Validators of the appc image manifest (spec/aci.md § Image Manifest Schema), pod manifest and pod
 * manifest template (spec/pods.md § Pod Manifest Schema), compiled from the JSON Schemas of
 * ./schema.ts by ajv ${ajvVersion}'s standalone code generation at build time (see
 * scripts/gen-validators.mjs), so that validating a manifest neither loads ajv nor compiles a
 * schema. Used by ./validate.ts, which words the errors.
 */
import type { ErrorObject } from 'ajv';

/**
 * A generated validator: true when the data matches the schema; otherwise false, and \`errors\`
 * says why (allErrors: false: it stops at the first failure; verbose: each error has \`schema\`,
 * \`parentSchema\` and \`data\`).
 */
export interface GeneratedValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

${code.trim()}

/** By kind: \`image\` (imageManifestSchema), \`pod\` (podManifestSchema), \`template\` (podTemplateSchema). */
export const validators: Readonly<Record<${KINDS.map((k) => `'${k}'`).join(' | ')}, GeneratedValidator>> = {
${KINDS.map((k) => `  ${k}: ${exported[k]},`).join('\n')}
};
`;
}

async function current() {
  try {
    return await readFile(OUT, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
}

const text = await generate();
const rel = path.relative(REPO, OUT);
if (process.argv.includes('--check')) {
  if ((await current()) !== text) {
    process.stderr.write(`gen-validators.mjs: ${rel} is out of date with shared/src/appc/schema.ts: run pnpm run build (or node scripts/gen-validators.mjs)\n`);
    process.exit(1);
  }
} else if ((await current()) !== text) {
  const tmp = `${OUT}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, OUT);
  process.stderr.write(`gen-validators.mjs: wrote ${rel}\n`);
}
