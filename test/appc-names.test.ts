/**
 * AC Identifier / AC Name checks and sanitizers, ported from appc's schema/types/acidentifier_test.go
 * and acname_test.go (notes §7d), plus rkt's default app name (`ImageNameToAppName`).
 */
import t from 'tap';
import { JetpackError } from '../shared/src/errors.js';
import {
  acIdentifierError,
  acNameError,
  isAcIdentifier,
  isAcName,
  isStrictAcIdentifier,
  isStrictAcName,
  sanitizeAcIdentifier,
  sanitizeAcName,
  sanitizeAcNameString,
} from '../shared/src/appc/names.js';
import { GOOD_AC_IDENTIFIERS } from './lib/appc-cases.js';

const goodIdentifiers = GOOD_AC_IDENTIFIERS;
const badIdentifiers = ['', 'BAR', 'foo#', 'EXAMPLE.com', 'foo.com/BAR', '/app', 'app/', '-app', 'app-', '.app', 'app.', '_app', 'app_', '~app', 'app~', 'EXAMPLE', 'example.com/app#1', '~example.com/app1'];
const goodNames = ['asdf', 'foo-bar-baz', 'database'];
const badNames = ['', 'foo#', 'example.com', 'EXAMPLE.com', 'example/database', 'example/database-1.0.0', 'foo.com/BAR', 'example.com/app_1', '/app', 'app/', '-app', 'app-', '.app', 'app.'];

t.test('AC Identifier (acidentifier_test.go)', async (t) => {
  for (const s of goodIdentifiers) {
    t.ok(isAcIdentifier(s), `good: ${JSON.stringify(s)}`);
    t.equal(acIdentifierError(s), undefined);
  }
  for (const s of badIdentifiers) {
    t.notOk(isAcIdentifier(s), `bad: ${JSON.stringify(s)}`);
    t.type(acIdentifierError(s), 'string');
  }
  t.notOk(isAcIdentifier(5), 'not a string');
  t.match(acIdentifierError(''), /empty/);
  t.match(acIdentifierError('foo#'), /only/);
  t.match(acIdentifierError('-app'), /starts and ends/);
  // Go accepts consecutive and mixed separators; the spec regex does not.
  for (const s of ['example.com//app--x', 'a/-b', 'foo--bar']) {
    t.ok(isAcIdentifier(s), `Go rule accepts ${s}`);
    t.notOk(isStrictAcIdentifier(s), `spec regex rejects ${s}`);
  }
  t.ok(isStrictAcIdentifier('example.com/app-1.0'));
});

t.test('AC Name (acname_test.go)', async (t) => {
  for (const s of goodNames) t.ok(isAcName(s), `good: ${JSON.stringify(s)}`);
  for (const s of badNames) {
    t.notOk(isAcName(s), `bad: ${JSON.stringify(s)}`);
    t.type(acNameError(s), 'string');
  }
  t.ok(isAcName('foo--bar'), 'Go accepts --');
  t.notOk(isStrictAcName('foo--bar'), 'the spec regex does not');
  t.ok(isAcName('a'));
  t.ok(isAcName('0'));
});

t.test('SanitizeACIdentifier table', async (t) => {
  const table: Record<string, string> = {
    'foo#': 'foo',
    FOO: 'foo',
    'EXAMPLE.com': 'example.com',
    'foo.com/BAR': 'foo.com/bar',
    '/app': 'app',
    'app/': 'app',
    '-app': 'app',
    'app-': 'app',
    '.app': 'app',
    'app.': 'app',
    _app: 'app',
    app_: 'app',
    '~app': 'app',
    'app~': 'app',
    'app///': 'app',
    '-/.app..': 'app',
    '-/app.name-test/-/': 'app.name-test',
    'sub-domain.example.com/org/product/~alice/release-1.0.0': 'sub-domain.example.com/org/product/~alice/release-1.0.0',
  };
  for (const [input, want] of Object.entries(table)) {
    t.equal(sanitizeAcIdentifier(input), want, input);
    t.ok(isAcIdentifier(want));
  }
  for (const input of ['__', '..', '//', '', './/-']) {
    t.throws(() => sanitizeAcIdentifier(input), { name: 'JetpackError', kind: 'invalid' }, `unsanitizable ${JSON.stringify(input)}`);
  }
});

t.test('SanitizeACName table (whole string)', async (t) => {
  const table: Record<string, string> = {
    'foo#': 'foo',
    'EXAMPLE.com': 'example-com',
    'foo.com/BAR': 'foo-com-bar',
    'example.com/app_1': 'example-com-app-1',
    '/app': 'app',
    'app/': 'app',
    '-app': 'app',
    'app-': 'app',
    '.app': 'app',
    'app.': 'app',
    'app///': 'app',
    '-/.app..': 'app',
    '-/app.name-test/-/': 'app-name-test',
    'sub-domain.example.com/org/product/release-1.0.0': 'sub-domain-example-com-org-product-release-1-0-0',
  };
  for (const [input, want] of Object.entries(table)) t.equal(sanitizeAcNameString(input), want, input);
  t.throws(() => sanitizeAcNameString('--'), { name: 'JetpackError', kind: 'invalid' });
});

t.test('sanitizeAcName: default app name from an image name (rkt ImageNameToAppName)', async (t) => {
  const table: Record<string, string> = {
    'example.com/etcd': 'etcd',
    'coreos.com/etcd': 'etcd',
    'coreos.com/etcd:v2.0.0': 'etcd-v2-0-0',
    'example.com/my_app': 'my-app',
    'example.com/reduce-worker': 'reduce-worker',
    busybox: 'busybox',
    'example.com/App.Name': 'app-name',
    'example.com/app/': 'app',
    'example.com/app/__': 'app',
  };
  for (const [input, want] of Object.entries(table)) {
    t.equal(sanitizeAcName(input), want, input);
    t.ok(isAcName(want));
  }
  for (const input of ['', '/', '__/--']) {
    const err = t.throws(() => sanitizeAcName(input)) as unknown;
    t.ok(err instanceof JetpackError && err.kind === 'invalid', `unsanitizable ${JSON.stringify(input)}`);
  }
});
