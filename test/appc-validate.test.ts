/**
 * Image and pod manifest validation: the appc Go unit-test tables (notes §2, §5, §7d) as
 * table-driven cases, each also run through Debian's `actool validate` (appc-spec 0.8.11, an
 * independent peer) to assert the same verdict. Where Jetpack deliberately disagrees with actool,
 * the case says what actool answers and why (`actool: <its verdict>, why: ...`):
 *
 * Jetpack is stricter than actool where:
 * - a field the spec marks required and the TS types need is absent (pod acVersion and apps, app
 *   and port names, port protocol, mountPoint name/path, mount volume/path, isolator name, label
 *   and annotation names, the value of an unknown pod isolator, event handler exec);
 * - a value cannot work (exec[0] or a handler's exec empty; a negative or digit-less quantity;
 *   hostPort 0 or > 65535; capabilities retain-set with remove-set, which spec/ace.md forbids);
 * - `created` is RFC 3339 only (Go's parser also takes `T9:…`, `,5` fractions, `+24:00`);
 * - the input is ambiguous: a key given twice, or one field spelled twice in different case
 *   (Go takes the last); `null` elements inside arrays.
 * Jetpack is more lenient only where:
 * - `os/linux/apparmor-profile` (spec change after v0.8.11) is known;
 * - JSON number text is lost by JSON.parse: `2048.0` is accepted as an integer, and a quantity
 *   string written with escapes (`"\u0031"`) is read as its characters.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetpackError } from '../shared/src/errors.js';
import { isAcIdentifier, isAcName, parseImageId, parseImageManifest, parsePodManifest } from '../shared/src/appc/validate.js';
import { GOOD_AC_IDENTIFIERS } from './lib/appc-cases.js';
import { definitionsSchema, imageManifestSchema, podManifestSchema, podTemplateSchema } from '../shared/src/appc/schema.js';

// Must run before any parse, and before the schema test below loads ajv itself: the validators
// were generated at build time (scripts/gen-validators.mjs), so neither importing validate.js nor
// parsing loads any of ajv or compiles a schema.
const requireFromShared = createRequire(new URL('../shared/src/appc/validate.ts', import.meta.url));
const ajvLoaded = (): boolean => Object.keys(requireFromShared.cache).some((k) => /[/\\]node_modules[/\\]ajv[/\\]/.test(k));
t.notOk(ajvLoaded(), 'importing validate.js does not load ajv');

/**
 * The spec's examples (github.com/appc/spec examples/, copied verbatim to shared/appc-spec/), embedded
 * so the test stands alone; when shared/appc-spec is beside the checkout, the copies are compared.
 */
const EXAMPLES = {
  'image.json': `{
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "example.com/reduce-worker",
    "labels": [
        {
            "name": "version",
            "value": "1.0.0"
        },
        {
            "name": "arch",
            "value": "amd64"
        },
        {
            "name": "os",
            "value": "linux"
        }
    ],
    "app": {
        "exec": [
            "/usr/bin/reduce-worker",
            "--quiet"
        ],
        "user": "100",
        "group": "300",
        "eventHandlers": [
            {
                "exec": [
                    "/usr/bin/data-downloader"
                ],
                "name": "pre-start"
            },
            {
                "exec": [
                    "/usr/bin/deregister-worker",
                    "--verbose"
                ],
                "name": "post-stop"
            }
        ],
        "environment": [
            {
                "name": "REDUCE_WORKER_DEBUG",
                "value": "true"
            }
        ],
        "isolators": [
            {
                "name": "resource/cpu",
                "value": {"limit": "20m"}
            },
            {
                "name": "resource/memory",
                "value": {"limit": "1G"}
            },
            {
                "name": "os/linux/capabilities-retain-set",
                "value": {"set": ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]}
            },
            {
                "name": "os/linux/no-new-privileges",
                "value": true
            },
            {
                "name": "os/linux/seccomp-remove-set",
                "value": {
                    "errno": "EACCESS",
                    "set": [
                        "clock_settime",
                        "clock_adjtime",
                        "reboot"
                    ]
                }
            }
        ],
        "mountPoints": [
            {
                "name": "database",
                "path": "/var/lib/db",
                "readOnly": false
            }
        ],
        "ports": [
            {
                "name": "health",
                "port": 4000,
                "protocol": "tcp",
                "socketActivated": true
            }
        ]
    },
    "dependencies": [
        {
            "imageName": "example.com/reduce-worker-base",
            "imageID": "sha512-...",
            "labels": [
                {
                    "name": "os",
                    "value": "linux"
                },
                {
                    "name": "env",
                    "value": "canary"
                }
            ]
        }
    ],
    "pathWhitelist": [
        "/etc/ca/example.com/crt",
        "/usr/bin/map-reduce-worker",
        "/opt/libs/reduce-toolkit.so",
        "/etc/reduce-worker.conf",
        "/etc/systemd/system/"
    ],
    "annotations": [
        {
            "name": "authors",
            "value": "Carly Container <carly@example.com>, Nat Network <[nat@example.com](mailto:nat@example.com)>"
        },
        {
            "name": "created",
            "value": "2014-10-27T19:32:27.67021798Z"
        },
        {
            "name": "documentation",
            "value": "https://example.com/docs"
        },
        {
            "name": "homepage",
            "value": "https://example.com"
        },
        {
            "name": "appc.io/executor/supports-systemd-notify",
            "value": "false"
        }
    ]
}
`,
  'pod_runtime.json': `{
    "acKind": "PodManifest",
    "acVersion": "0.8.11",
    "apps": [
        {
            "name": "reduce-worker",
            "image": {
                "name": "example.com/reduce-worker",
                "id": "sha512-8d3fffddf79e9a232ffd19f9ccaa4d6b37a6a243dbe0f23137b108a043d9da13121a9b505c804956b22e93c7f93969f4a7ba8ddea45bf4aab0bebc8f814e0990"
            },
            "app": {
                "exec": [
                    "/usr/bin/reduce-worker",
                    "--debug=true",
                    "--data-dir=/mnt/foo"
                ],
                "group": "0",
                "user": "0",
                "mountPoints": [
                    {
                        "name": "database",
                        "path": "/var/lib/db"
                    }
                ],
                "isolators": [
                    {
                        "name": "resource/memory",
                        "value": {"limit": "1G"}
                    }
                ]
            },
            "mounts": [
                {
                    "volume": "dbvolume",
                    "path": "/var/lib/db"
                }
            ]
        },
        {
            "name": "backup",
            "image": {
                "name": "example.com/worker-backup",
                "id": "sha512-d603c29df0214c9b6681ed591871d40cc4bfabf9914383ce95ada0f2333defa7e97e21ca347e1d8dfde0b3edfe703688729cd25cec895a9a5b5c856da2f031fe",
                "labels": [
                    {
                        "name": "version",
                        "value": "latest"
                    }
                ]
            },
            "mounts": [
                {
                    "volume": "dbvolume",
                    "path": "/mnt/db"
                },
                {
                    "volume": "buildoutput",
                    "path": "/mnt/out"
                }
            ],
            "annotations": [
                {
                    "name": "foo",
                    "value": "baz"
                }
            ]
        },
        {
            "name": "register",
            "image": {
                "name": "example.com/reduce-worker-register",
                "id": "sha512-57007df523db8aa55e11260aaaab5e8242eb7a2a431196da7ba8204c4aacc6215db289242d17e5a5e45cb0cd0c2e22c7be9c77b61401a8f7e3eba66c2e6e42eb",
                "labels": [
                    {
                        "name":  "version",
                        "value": "3.0.0"
                    }
                ]
            }
        }
    ],
    "volumes": [
        {
            "name": "dbvolume",
            "kind": "host",
            "source": "/opt/tenant1/database",
            "readOnly": true
        },
        {
            "name": "buildoutput",
            "kind": "empty",
            "mode": "0777",
            "uid": 0,
            "gid": 0
        }
    ],
    "isolators": [
        {
            "name": "resource/memory",
            "value": {"limit": "4G"}
        },
        {
            "name": "os/unix/sysctl",
            "value": {
                "net.ipv4.tcp_fin_timeout": "6"
            }
        }
    ],
    "annotations": [
        {
            "name": "ip-address",
            "value": "10.1.2.3"
        }
    ]
}
`,
  'pod_template.json': `{
    "acVersion": "0.3.0",
    "acKind": "PodManifest",
    "apps": [
        {
            "name": "reduce-worker",
            "image": {
                "name": "example.com/reduce-worker",
                "id": "sha512-8d3fffddf79e9a232ffd19f9ccaa4d6b37a6a243dbe0f23137b108a043d9da13121a9b505c804956b22e93c7f93969f4a7ba8ddea45bf4aab0bebc8f814e0990"
            }
        },
        {
            "name": "backup",
            "image": {
                "name": "example.com/worker-backup",
                "labels": [
                    {
                        "name": "version",
                        "value": "latest"
                    }
                ]
            }
        },
        {
            "name": "register",
            "image": {
                "name": "example.com/reduce-worker-register",
                "labels": [
                    {
                        "name": "version",
                        "value": "3.0.0"
                    }
                ]
            }
        }
    ],
    "isolators": [
        {
            "name": "resource/memory",
            "value": {"limit": "4G"}
        }
    ]
}
`,
} as const;
const sharedExamples = [new URL('../../shared/appc-spec/', import.meta.url).pathname, '/work/shared/appc-spec/'].find((d) => existsSync(join(d, 'image.json')));

// ---------------------------------------------------------------------------------------------
// Case builders

type Kind = 'image' | 'pod' | 'template';
type Json = Record<string, unknown>;
/** JSON text given as is (syntax errors, duplicate keys, escapes). */
interface Raw {
  raw: string;
}

interface Case {
  name: string;
  kind: Kind;
  doc: unknown;
  /** undefined: valid; a string: invalid, reported at this path ('' for the document). */
  path?: string;
  /** actool's verdict when it differs from Jetpack's (true = valid); null: not cross-checked. */
  actool?: boolean | null;
  why?: string;
}

interface Opts {
  actool?: boolean | null;
  why?: string;
}

const cases: Case[] = [];
const ok = (kind: Kind, name: string, doc: unknown, o: Opts = {}): void => {
  cases.push({ name, kind, doc, ...o });
};
const bad = (kind: Kind, name: string, doc: unknown, path: string, o: Opts = {}): void => {
  cases.push({ name, kind, doc, path, ...o });
};
const STRICTER = (why: string): Opts => ({ actool: true, why });

const image = (extra: Json = {}): Json => ({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/app', ...extra });
const withApp = (app: Json): Json => image({ app: { user: '0', group: '0', ...app } });
const withIsolators = (...isolators: unknown[]): Json => withApp({ isolators });
const withLabels = (...labels: unknown[]): Json => image({ labels });
const withAnnotations = (...annotations: unknown[]): Json => image({ annotations });
const osArch = (os: string, arch: string): Json => withLabels({ name: 'os', value: os }, { name: 'arch', value: arch });
const pod = (extra: Json = {}): Json => ({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [], ...extra });
const podApp = (extra: Json = {}): Json => ({ name: 'a', image: { id: 'sha512-aa' }, ...extra });
const podWithApp = (extra: Json = {}): Json => pod({ apps: [podApp(extra)] });
const iso = (name: string, value: unknown): Json => ({ name, value });

// ---------------------------------------------------------------------------------------------
// acKind (ackind_test.go), acVersion (semver_test.go), name

ok('image', 'spec example image.json', { raw: EXAMPLES['image.json'] });
ok('pod', 'spec example pod_runtime.json', { raw: EXAMPLES['pod_runtime.json'] });
ok('template', 'spec example pod_template.json', { raw: EXAMPLES['pod_template.json'] });
bad('pod', 'spec example pod_template.json, read as reified', { raw: EXAMPLES['pod_template.json'] }, 'apps[1].image.id', STRICTER('Go never requires image.id'));
ok('image', 'minimal image manifest', image());
for (const kind of ['Foo', 'ApplicationManifest', '', 'garbage', 'AppManifest']) bad('image', `acKind ${JSON.stringify(kind)}`, image({ acKind: kind }), 'acKind');
bad('image', 'acKind PodManifest in an image manifest', image({ acKind: 'PodManifest' }), 'acKind', {
  actool: true,
  why: 'actool dispatches on acKind and validates this document as a (valid) pod',
});
bad('image', 'acKind missing', { acVersion: '0.8.11', name: 'x' }, 'acKind');
bad('image', 'acKind unquoted (not JSON)', { raw: '{"acKind": ImageManifest, "acVersion": "0.8.11", "name": "x"}' }, '');
bad('pod', 'acKind ImageManifest in a pod manifest', pod({ acKind: 'ImageManifest' }), 'acKind');

for (const v of ['1.0.0', '3.2.1', '3.2.1-foo', '1.2.3-alpha+git', '01.2.3', '0.0.1', '2.0.0', '0.0.0-alpha', '0.0.0+meta', '1.2.3-', '1.2.3+', '1.2.3-a-b', '1.2.3-+m', '0.3.0']) {
  ok('image', `acVersion ${v}`, image({ acVersion: v }));
}
for (const v of ['1', '1.2.3.4', 'v1.2.3', '0.0.0', '00.0.0', '0.0.0-', '1.2.3-a..b', '1.2.3-a_b', '1.2.3-a+b+c', ' 1.2.3', '99999999999999999999.0.0', '']) {
  bad('image', `acVersion ${JSON.stringify(v)}`, image({ acVersion: v }), 'acVersion');
}
bad('image', 'acVersion a number', image({ acVersion: 1 }), 'acVersion');
bad('image', 'acVersion unquoted 1.2.3 (not JSON)', { raw: '{"acKind": "ImageManifest", "acVersion": 1.2.3, "name": "x"}' }, '');
bad('image', 'acVersion missing', { acKind: 'ImageManifest', name: 'x' }, 'acVersion');
bad('image', 'name missing', { acKind: 'ImageManifest', acVersion: '0.8.11' }, 'name');

// AC Identifier as the image name (acidentifier_test.go)
for (const n of [...GOOD_AC_IDENTIFIERS, 'example.com//app--x', 'a/-b']) {
  ok('image', `name ${n}`, image({ name: n }));
}
for (const n of ['', 'BAR', 'foo#', 'EXAMPLE.com', 'foo.com/BAR', '/app', 'app/', '-app', 'app-', '.app', 'app.', '_app', 'app_', '~app', 'app~', 'EXAMPLE', 'example.com/app#1', '~example.com/app1']) {
  bad('image', `name ${JSON.stringify(n)}`, image({ name: n }), 'name');
}

// AC Name as the pod app name (acname_test.go)
for (const n of ['asdf', 'foo-bar-baz', 'database', 'foo--bar']) ok('pod', `app name ${n}`, podWithApp({ name: n }));
for (const n of ['', 'foo#', 'example.com', 'EXAMPLE.com', 'example/database', 'example/database-1.0.0', 'foo.com/BAR', 'example.com/app_1', '/app', 'app/', '-app', 'app-', '.app', 'app.']) {
  bad('pod', `app name ${JSON.stringify(n)}`, podWithApp({ name: n }), 'apps[0].name');
}

// ---------------------------------------------------------------------------------------------
// labels (labels_test.go)

for (const arch of ['amd64', 'i386', 'aarch64', 'aarch64_be', 'armv6l', 'armv7l', 'armv7b', 'ppc64', 'ppc64le', 's390x']) ok('image', `linux/${arch}`, osArch('linux', arch));
for (const arch of ['amd64', 'i386', 'arm']) ok('image', `freebsd/${arch}`, osArch('freebsd', arch));
for (const arch of ['x86_64', 'i386']) ok('image', `darwin/${arch}`, osArch('darwin', arch));
ok('image', 'labels []', withLabels());
ok('image', 'labels null', image({ labels: null }));
ok('image', 'os without arch', withLabels({ name: 'os', value: 'linux' }));
ok('image', 'arch without os is not checked', withLabels({ name: 'arch', value: 'arm64' }));
ok('image', 'label without value (reads as "")', withLabels({ name: 'version' }));
for (const arch of ['arm64', 'arm64_be', 'arm', 'ppc64l', 'ppc64b', 'ppc64be', 'S390x', 'x86_64']) bad('image', `linux/${arch}`, osArch('linux', arch), 'labels[1].value');
bad('image', 'freebsd/armv7b', osArch('freebsd', 'armv7b'), 'labels[1].value');
bad('image', 'darwin/amd64', osArch('darwin', 'amd64'), 'labels[1].value');
bad('image', 'os OS/360', osArch('OS/360', 'amd64'), 'labels[0].value');
bad('image', 'os windows', withLabels({ name: 'version', value: '1' }, { name: 'arch', value: 'amd64' }, { name: 'os', value: 'windows' }), 'labels[2].value');
bad('image', 'os without value', withLabels({ name: 'os' }), 'labels[0].value');
bad('image', 'label named "name"', withLabels({ name: 'name', value: 'x' }), 'labels[0].name');
bad('image', 'duplicate os label', withLabels({ name: 'os', value: 'linux' }, { name: 'os', value: 'linux' }), 'labels[1].name');
bad('image', 'duplicate arch label', withLabels({ name: 'arch', value: 'amd64' }, { name: 'version', value: '1' }, { name: 'arch', value: 'amd64' }), 'labels[2].name');
bad('image', 'label name not an AC Identifier', withLabels({ name: 'Version', value: '1' }), 'labels[0].name');
bad('image', 'label value a number', withLabels({ name: 'version', value: 1 }), 'labels[0].value');
bad('image', 'label without name', withLabels({ value: 'x' }), 'labels[0].name', STRICTER('Go leaves the name "" unchecked'));
bad('image', 'label null', withLabels(null), 'labels[0]', STRICTER('Go decodes a null label as an empty one'));
bad('image', 'labels not an array', image({ labels: { os: 'linux' } }), 'labels');

// ---------------------------------------------------------------------------------------------
// annotations (annotations_test.go, date_test.go, url_test.go)

const anno = (name: string, value: string): Json => withAnnotations({ name, value });
ok('image', 'annotations []', withAnnotations());
for (const d of ['2004-05-14T23:11:14+00:00', '2001-02-03T04:05:06Z', '2014-11-14T17:36:54-08:00', '2014-10-27T19:32:27.67021798Z', '2016-02-29T00:00:00Z']) ok('image', `created ${d}`, anno('created', d));
for (const d of [
  'garbage',
  '1416015188',
  'Fri Nov 14 17:53:02 PST 2014',
  '2014-11-1417:36:54',
  '2014-10-27 19:32:27Z',
  '2014-10-27t19:32:27Z',
  '2014-10-27T19:32:27z',
  '2014-10-27T19:32:27+0000',
  '2014-10-27T19:32:27.Z',
  '2014-10-27T24:00:00Z',
  '2014-10-27T19:32:60Z',
  '2014-02-30T19:32:27Z',
  '2015-02-29T00:00:00Z',
  '14-10-27T19:32:27Z',
  '',
]) {
  bad('image', `created ${JSON.stringify(d)}`, anno('created', d), 'annotations[0].value');
}
for (const d of ['2014-10-27T9:32:27Z', '2014-10-27T19:32:27,5Z', '2014-10-27T19:32:27+24:00', '2014-10-27T19:32:27+12:60']) {
  bad('image', `created ${d} (not RFC 3339)`, anno('created', d), 'annotations[0].value', STRICTER("Go's time.Parse accepts it"));
}
for (const u of ['http://example.com', 'https://example.com/docs', 'HTTP://x', 'http:foo', 'http://', 'https://[::1]:80/', 'http://a_b.com/', 'http://user:pw@example.com:8080/p?q=%zz#f', 'http://ex%C3%A4mple.com/']) {
  ok('image', `homepage ${u}`, anno('homepage', u));
  ok('image', `documentation ${u}`, anno('documentation', u));
}
for (const u of ['not-A$@#URL', 'ftp://example.com', 'unix:///var/run/x.sock', 'not a url', '', 'http://exa mple.com', 'http://x/%zz', 'http://x:abc/', 'http://x#%zz', 'http://[::1/', 'http://x\ty/', 'http://a|b/', 'http://%41.com/']) {
  bad('image', `homepage ${JSON.stringify(u)}`, anno('homepage', u), 'annotations[0].value');
}
bad('image', 'documentation ftp://', anno('documentation', 'ftp://example.com/doc'), 'annotations[0].value');
ok('image', 'appc.io/executor/supports-systemd-notify', anno('appc.io/executor/supports-systemd-notify', 'false'));
ok('image', 'other annotations are free text', anno('authors', 'Carly Container <carly@example.com>'));
bad('image', 'duplicate annotation', withAnnotations({ name: 'a', value: '1' }, { name: 'a', value: '2' }), 'annotations[1].name');
bad('image', 'annotation name not an AC Identifier', anno('Foo', 'x'), 'annotations[0].name');
bad('image', 'annotation without name', withAnnotations({ value: 'x' }), 'annotations[0].name', STRICTER('Go leaves the name "" unchecked'));

// ---------------------------------------------------------------------------------------------
// app (app_test.go, exec_test.go, environment_test.go, port_test.go, mountpoint_test.go)

ok('image', 'no app', image());
ok('image', 'app null', image({ app: null }));
bad('image', 'app {}', image({ app: {} }), 'app.user');
ok('image', 'exec absent', withApp({}));
ok('image', 'exec []', withApp({ exec: [] }));
ok('image', 'exec relative', withApp({ exec: ['app'] }));
ok('image', 'exec relative with args', withApp({ exec: ['bin/app', 'arg1'] }));
ok('image', 'exec with an empty argument', withApp({ exec: ['/bin/sh', '-c', ''] }));
bad('image', 'exec a string', withApp({ exec: '/bin/app' }), 'app.exec');
bad('image', '{"Exec": "not a list"}', image({ app: { Exec: 'not a list', User: '0', Group: '0' } }), 'app.exec');
bad('image', 'exec [""]', withApp({ exec: [''] }), 'app.exec[0]', STRICTER('Go accepts an empty program name'));
bad('image', 'exec [null]', withApp({ exec: [null] }), 'app.exec[0]', STRICTER('Go decodes null as ""'));
ok('image', 'capitalised keys (app_test.go)', image({ app: { Exec: ['/bin/app'], User: '0', Group: '0' } }));
ok('image', 'non-ASCII user and group', withApp({ user: 'ユーザー', group: 'グループ' }));
bad('image', 'user missing', image({ app: { group: '0' } }), 'app.user');
bad('image', 'group missing', image({ app: { user: '0' } }), 'app.group');
bad('image', 'user ""', withApp({ user: '' }), 'app.user');
bad('image', 'user null', withApp({ user: null }), 'app.user');
bad('image', 'user a number', withApp({ user: 0 }), 'app.user');
ok('image', 'workingDirectory /', withApp({ workingDirectory: '/' }));
ok('image', 'workingDirectory "" (unset)', withApp({ workingDirectory: '' }));
bad('image', 'workingDirectory stuff', withApp({ workingDirectory: 'stuff' }), 'app.workingDirectory');
bad('image', 'workingDirectory ../home/fred', withApp({ workingDirectory: '../home/fred' }), 'app.workingDirectory');
ok('image', 'supplementaryGIDs with a negative', withApp({ supplementaryGIDs: [-1, 2] }));
ok('image', 'supplementaryGids spelling', withApp({ supplementaryGids: [400, 500] }));
bad('image', 'supplementaryGIDs not integers', withApp({ supplementaryGIDs: [1.5] }), 'app.supplementaryGIDs[0]');
ok('image', 'userLabels and userAnnotations', withApp({ userLabels: { a: 'b' }, userAnnotations: { 'free key': 'x' } }));
ok('image', 'userLabels null value (Go reads "")', withApp({ userLabels: { a: null } }));
bad('image', 'userLabels number value', withApp({ userLabels: { a: 1 } }), 'app.userLabels.a');
bad('image', 'userAnnotations odd key, number value', withApp({ userAnnotations: { 'my key': 1 } }), 'app.userAnnotations["my key"]');

const handler = (name: string, exec: unknown = ['/bin/true']): Json => ({ name, exec });
ok('image', 'pre-start and post-stop handlers', withApp({ eventHandlers: [handler('pre-start'), handler('post-stop')] }));
bad('image', 'duplicate pre-start handler', withApp({ eventHandlers: [handler('pre-start'), handler('pre-start')] }), 'app.eventHandlers[1].name');
bad('image', 'handler pre-stop', withApp({ eventHandlers: [handler('pre-stop')] }), 'app.eventHandlers[0].name');
bad('image', 'handler without name', withApp({ eventHandlers: [{ exec: ['/bin/true'] }] }), 'app.eventHandlers[0].name');
bad('image', 'handler without exec', withApp({ eventHandlers: [{ name: 'pre-start' }] }), 'app.eventHandlers[0].exec', STRICTER('Go does not check handler exec'));
bad('image', 'handler exec []', withApp({ eventHandlers: [handler('pre-start', [])] }), 'app.eventHandlers[0].exec', STRICTER('Go does not check handler exec'));

const env = (...vars: unknown[]): Json => withApp({ environment: vars });
for (const n of ['DEBUG', '_0_DEBUG_0_', 'DEBUG.0', 'DEBUG-0', 'debug', 'a']) ok('image', `environment ${n}`, env({ name: n, value: 'true' }));
ok('image', 'environment value missing (reads as "")', env({ name: 'A' }));
bad('image', 'environment duplicate', env({ name: 'DEBUG', value: '1' }, { name: 'DEBUG', value: '2' }), 'app.environment[1].name');
bad('image', 'environment empty name', env({ name: '', value: '1' }), 'app.environment[0].name');
bad('image', 'environment missing name', env({ value: '1' }), 'app.environment[0].name');
bad('image', 'environment 0DEBUG', env({ name: '0DEBUG', value: '1' }), 'app.environment[0].name');
bad('image', 'environment VERBOSE|DEBUG', env({ name: 'VERBOSE|DEBUG', value: '1' }), 'app.environment[0].name');

const port = (p: Json): Json => withApp({ ports: [{ name: 'p', protocol: 'tcp', ...p }] });
ok('image', 'port 32456 count 100', port({ port: 32456, count: 100 }));
ok('image', 'port 65535 count 0', port({ port: 65535, count: 0 }));
ok('image', 'port 65535 count 1', port({ port: 65535, count: 1 }));
ok('image', 'port 1 socket-activated', port({ port: 1, socketActivated: true }));
bad('image', 'port 88888', port({ port: 88888 }), 'app.ports[0].port');
bad('image', 'port 0', port({ port: 0 }), 'app.ports[0].port');
bad('image', 'port 32456 count 45678', port({ port: 32456, count: 45678 }), 'app.ports[0].count');
bad('image', 'port 65535 count 2', port({ port: 65535, count: 2 }), 'app.ports[0].count');
bad('image', 'port count -1', port({ port: 80, count: -1 }), 'app.ports[0].count');
bad('image', 'port 80.5', port({ port: 80.5 }), 'app.ports[0].port');
bad('image', 'port name #foo', port({ name: '#foo', port: 80 }), 'app.ports[0].name');
bad('image', 'port without name', withApp({ ports: [{ protocol: 'tcp', port: 80 }] }), 'app.ports[0].name', STRICTER('Go leaves the name "" unchecked'));
bad('image', 'port without protocol', withApp({ ports: [{ name: 'p', port: 80 }] }), 'app.ports[0].protocol', STRICTER('Go does not check the protocol'));

const mp = (m: Json): Json => withApp({ mountPoints: [m] });
ok('image', 'mountPoint', mp({ name: 'database', path: '/var/lib/db', readOnly: true }));
ok('image', 'mountPoint with a relative path', mp({ name: 'm', path: 'rel' }));
bad('image', 'mountPoint name #foobar', mp({ name: '#foobar', path: '/tmp' }), 'app.mountPoints[0].name');
bad('image', 'mountPoint readOnly "maybe"', mp({ name: 'm', path: '/tmp', readOnly: 'maybe' }), 'app.mountPoints[0].readOnly');
bad('image', 'mountPoint without path', mp({ name: 'm' }), 'app.mountPoints[0].path', STRICTER('Go does not check the path'));
bad('image', 'mountPoint without name', mp({ path: '/x' }), 'app.mountPoints[0].name', STRICTER('Go leaves the name "" unchecked'));

// ---------------------------------------------------------------------------------------------
// isolators (isolator_test.go, isolator_linux_specific_test.go, isolator_resources_test.go, isolator_unix_test.go)

const okIso = (name: string, value: unknown, o: Opts = {}): void => ok('image', `isolator ${name} ${JSON.stringify(value)}`, withIsolators(iso(name, value)), o);
const badIso = (name: string, value: unknown, path: string, o: Opts = {}): void =>
  bad('image', `isolator ${name} ${JSON.stringify(value)}`, withIsolators(iso(name, value)), `app.isolators[0]${path}`, o);

okIso('os/linux/cpu-shares', 2048);
okIso('os/linux/cpu-shares', 2);
okIso('os/linux/cpu-shares', 262144);
badIso('os/linux/cpu-shares', 1, '.value');
badIso('os/linux/cpu-shares', 'pants', '.value');
badIso('os/linux/cpu-shares', '262145', '.value');
badIso('os/linux/cpu-shares', '-1', '.value');
badIso('os/linux/cpu-shares', 262145, '.value');
badIso('os/linux/cpu-shares', 20.5, '.value');
okIso('os/linux/oom-score-adj', 250);
okIso('os/linux/oom-score-adj', -250);
okIso('os/linux/oom-score-adj', -1000);
okIso('os/linux/oom-score-adj', 1000);
badIso('os/linux/oom-score-adj', -2500, '.value');
badIso('os/linux/oom-score-adj', 1001, '.value');
badIso('os/linux/oom-score-adj', 'pants', '.value');
okIso('os/linux/no-new-privileges', true);
okIso('os/linux/no-new-privileges', false);
badIso('os/linux/no-new-privileges', 123, '.value');
badIso('os/linux/no-new-privileges', { set: ['CAP_KILL'] }, '.value');
badIso('os/linux/no-new-privileges', 'foo', '.value');
okIso('os/linux/capabilities-retain-set', { set: ['CAP_KILL'] });
okIso('os/linux/capabilities-retain-set', { set: ['CAP_PONIES'] });
okIso('os/linux/capabilities-remove-set', { set: ['CAP_KILL', 'CAP_CHOWN'] });
okIso('os/linux/capabilities-retain-set', { SET: ['CAP_KILL'] });
badIso('os/linux/capabilities-retain-set', { set: [] }, '.value.set');
badIso('os/linux/capabilities-remove-set', { set: [] }, '.value.set');
badIso('os/linux/capabilities-retain-set', { set: 'CAP_PONIES' }, '.value.set');
badIso('os/linux/capabilities-retain-set', { set: [1] }, '.value.set[0]');
badIso('os/linux/capabilities-retain-set', { set: null }, '.value.set');
badIso('os/linux/capabilities-retain-set', {}, '.value.set');
okIso('resource/block-bandwidth', { default: true, limit: '1G' });
badIso('resource/block-bandwidth', { default: false, limit: '1G' }, '.value.default');
badIso('resource/block-bandwidth', { request: '30G', limit: '1G' }, '.value.default');
badIso('resource/block-bandwidth', { default: true, request: '30G', limit: '1G' }, '.value.request');
okIso('resource/block-iops', { default: true, limit: '1G' });
okIso('resource/block-iops', { default: true });
okIso('resource/block-iops', { default: true, request: null });
badIso('resource/block-iops', { default: false, limit: '1G' }, '.value.default');
badIso('resource/block-iops', { request: '30G', limit: '1G' }, '.value.default');
okIso('resource/network-bandwidth', { default: true, limit: '1G' });
badIso('resource/network-bandwidth', { default: false, limit: '1G' }, '.value.default');
badIso('resource/network-bandwidth', { request: '30G', limit: '1G' }, '.value.default');
okIso('resource/cpu', { request: '30m', limit: '1m' });
okIso('resource/cpu', {});
okIso('resource/cpu', { limit: '20m' });
okIso('resource/cpu', { limit: 1.5 });
okIso('resource/cpu', { limit: ' 1 ' });
okIso('resource/cpu', { limit: '1E' });
okIso('resource/cpu', { limit: '1.G' });
okIso('resource/cpu', { default: false, limit: '2' });
okIso('resource/memory', { request: '1G', limit: '2Gi' });
okIso('resource/memory', { request: '100M', limit: '200M' });
badIso('resource/memory', { default: true, request: '1G', limit: '2G' }, '.value.default');
badIso('resource/cpu', { default: true }, '.value.default');
badIso('resource/cpu', { default: 'false' }, '.value.default');
badIso('resource/cpu', { limit: '' }, '.value.limit');
badIso('resource/cpu', { limit: 'such garbage' }, '.value.limit');
badIso('resource/cpu', { request: '1K' }, '.value.request');
badIso('resource/cpu', { limit: true }, '.value.limit');
badIso('resource/cpu', { limit: {} }, '.value.limit');
badIso('resource/cpu', { limit: '1e' }, '.value.limit');
badIso('resource/memory', { Limit: '1x' }, '.value.limit');
badIso('resource/cpu', { limit: '-1' }, '.value.limit', STRICTER('Go accepts negative quantities'));
badIso('resource/memory', { limit: '-' }, '.value.limit', STRICTER('Go reads a quantity without digits as 0'));
badIso('resource/memory', { request: '.' }, '.value.request', STRICTER('Go reads a quantity without digits as 0'));
badIso('resource/cpu', 5, '.value');
badIso('resource/cpu', [], '.value');
okIso('os/unix/sysctl', { 'net.ipv4.tcp_rfc1337': '1' });
okIso('os/unix/sysctl', {});
okIso('os/unix/sysctl', { foo: 'bar' });
okIso('os/unix/sysctl', { a: null });
badIso('os/unix/sysctl', { 'net.ipv4.tcp_rfc1337': 1 }, '.value["net.ipv4.tcp_rfc1337"]');
badIso('os/unix/sysctl', ['net.ipv4.tcp_rfc1337'], '.value');
okIso('os/linux/selinux-context', { user: 'user_u', role: 'role_r', type: 'type_r', level: 's0-s0' });
okIso('os/linux/selinux-context', { user: 'user_u', role: 'role_r', type: 'type_r', level: 's0-s0:c0' });
badIso('os/linux/selinux-context', { user: 'user_u', role: 'role_r:type_t', type: 'type_r', level: 's0-s0' }, '.value.role');
badIso('os/linux/selinux-context', { user: 'user_u', role: '', type: 'type_r', level: 's0-s0' }, '.value.role');
badIso('os/linux/selinux-context', { user: 'a:b', role: 'r', type: 't', level: 's0' }, '.value.user');
badIso('os/linux/selinux-context', { user: 'u', role: 'r', type: 't', level: '' }, '.value.level');
badIso('os/linux/selinux-context', { user: 'u', role: 'r', level: 's0' }, '.value.type');
okIso('os/linux/apparmor-profile', { profile: 'rkt-default' }, { actool: false, why: 'apparmor-profile was added to the spec after v0.8.11' });
badIso('os/linux/apparmor-profile', { profile: '' }, '.value.profile');
for (const errno of ['EACCESS', 'EPERM', 'E', '', 'E2BIG', 'EÀ']) okIso('os/linux/seccomp-remove-set', { set: ['reboot'], errno });
okIso('os/linux/seccomp-retain-set', { set: ['@appc.io/all'] });
for (const errno of ['-EPERM', 'eaccess', 'EPERm', 'PERM']) badIso('os/linux/seccomp-retain-set', { set: ['x'], errno }, '.value.errno');
badIso('os/linux/seccomp-retain-set', { set: [] }, '.value.set');
badIso('os/linux/seccomp-remove-set', { errno: 'EPERM' }, '.value.set');
badIso('resource/network-ponies', 0, '.name');
badIso('Resource/CPU', {}, '.name');
bad('image', 'isolator without name', withIsolators({ value: {} }), 'app.isolators[0].name');
bad('image', 'isolator without value (actool panics)', withIsolators({ name: 'resource/cpu' }), 'app.isolators[0].value');
bad('image', 'isolator value null (actool panics)', withIsolators(iso('os/unix/sysctl', null)), 'app.isolators[0].value');
bad('image', 'isolators not an array', withApp({ isolators: {} }), 'app.isolators');
ok('image', 'two memory isolators', withIsolators(iso('resource/memory', {}), iso('resource/memory', { limit: '1G' })));
ok('image', 'two no-new-privileges', withIsolators(iso('os/linux/no-new-privileges', true), iso('os/linux/no-new-privileges', false)));
ok('image', 'two capabilities retain-sets', withIsolators(iso('os/linux/capabilities-retain-set', { set: ['a'] }), iso('os/linux/capabilities-retain-set', { set: ['b'] })));
bad('image', 'seccomp retain + remove', withIsolators(iso('os/linux/seccomp-retain-set', { set: ['x'] }), iso('os/linux/seccomp-remove-set', { set: ['x'] })), 'app.isolators[1].name');
bad('image', 'seccomp remove + retain', withIsolators(iso('os/linux/seccomp-remove-set', { set: ['x'] }), iso('os/linux/seccomp-retain-set', { set: ['x'] })), 'app.isolators[1].name');
bad('image', 'two seccomp retain-sets', withIsolators(iso('os/linux/seccomp-retain-set', { set: ['x'] }), iso('os/linux/seccomp-retain-set', { set: ['y'] })), 'app.isolators[1].name');
bad('image', 'two cpu-shares', withIsolators(iso('os/linux/cpu-shares', 2), iso('resource/cpu', {}), iso('os/linux/cpu-shares', 3)), 'app.isolators[2].name');
bad('image', 'two oom-score-adj', withIsolators(iso('os/linux/oom-score-adj', 2), iso('os/linux/oom-score-adj', 3)), 'app.isolators[1].name');
bad('image', 'two sysctl', withIsolators(iso('os/unix/sysctl', {}), iso('os/unix/sysctl', {})), 'app.isolators[1].name');
bad('image', 'two selinux contexts', withIsolators(iso('os/linux/selinux-context', { user: 'u', role: 'r', type: 't', level: 's0' }), iso('os/linux/selinux-context', { user: 'u', role: 'r', type: 't', level: 's0' })), 'app.isolators[1].name');
bad(
  'image',
  'capabilities retain + remove',
  withIsolators(iso('os/linux/capabilities-retain-set', { set: ['CAP_KILL'] }), iso('os/linux/capabilities-remove-set', { set: ['CAP_KILL'] })),
  'app.isolators[1].name',
  STRICTER('spec/ace.md: retain and remove sets cannot be combined; Go does not check'),
);
ok('image', 'cpu-shares written 2048.0', { raw: JSON.stringify(withIsolators(iso('os/linux/cpu-shares', 1))).replace('"value":1', '"value":2048.0') }, {
  actool: false,
  why: 'JSON.parse does not keep number text, so 2048.0 is the integer 2048',
});
ok('image', 'quantity written with a JSON escape', { raw: JSON.stringify(withIsolators(iso('resource/cpu', { limit: 'X' }))).replace('"X"', '"\\u0031"') }, {
  actool: false,
  why: 'Go parses the raw JSON bytes of a quantity, escapes and all',
});

// ---------------------------------------------------------------------------------------------
// dependencies (dependencies_test.go), pathWhitelist

const dep = (d: Json): Json => image({ dependencies: [d] });
ok('image', 'dependency without imageID', dep({ imageName: 'example.com/base' }));
ok('image', 'dependency with everything', dep({ imageName: 'example.com/base', imageID: 'sha512-abcdef', labels: [{ name: 'os', value: 'linux' }], size: 100 }));
ok('image', 'dependency imageID null', dep({ imageName: 'a', imageID: null }));
ok('image', 'dependency size 0', dep({ imageName: 'a', size: 0 }));
bad('image', 'dependency without imageName', dep({}), 'dependencies[0].imageName');
bad('image', 'dependency imageName not an AC Identifier', dep({ imageName: 'Foo' }), 'dependencies[0].imageName');
for (const id of ['', 'sha512-', 'sha512-a-b', 'sha1-abc', 'abc', '-abc']) bad('image', `dependency imageID ${JSON.stringify(id)}`, dep({ imageName: 'a', imageID: id }), 'dependencies[0].imageID');
bad('image', 'dependency size -1', dep({ imageName: 'a', size: -1 }), 'dependencies[0].size');
bad('image', 'dependency size 1.5', dep({ imageName: 'a', size: 1.5 }), 'dependencies[0].size');
bad('image', 'dependency labels bad os', dep({ imageName: 'a', labels: [{ name: 'os', value: 'windows' }] }), 'dependencies[0].labels[0].value');
ok('image', 'pathWhitelist with relative and trailing-slash paths', image({ pathWhitelist: ['rel', '/etc/systemd/system/'] }));
bad('image', 'pathWhitelist [1]', image({ pathWhitelist: [1] }), 'pathWhitelist[0]');

// ---------------------------------------------------------------------------------------------
// JSON level: case-insensitive keys, unknown keys, duplicates

ok('image', 'unknown fields are ignored', image({ foo: 1, app: { user: '0', group: '0', bar: [1] } }));
ok('image', 'ACKIND / ACVERSION / NAME', { ACKIND: 'ImageManifest', ACVERSION: '0.8.11', NAME: 'x' });
ok('image', 'KELVIN SIGN folds to k (Go)', { raw: '{"ac\\u212aind":"ImageManifest","acVersion":"0.8.11","name":"x"}' });
bad('image', 'non-ASCII letters do not fold', { raw: '{"\\u00c4cKind":"ImageManifest","acVersion":"0.8.11","name":"x"}' }, 'acKind');
bad('image', 'not an object', [], '');
bad('image', 'a JSON string', { raw: '"manifest"' }, '');
bad('image', 'syntax error', { raw: '{"acKind": "ImageManifest",' }, '');
bad('image', 'trailing garbage', { raw: `${JSON.stringify(image())} x` }, '');
bad('image', 'byte order mark', { raw: `\ufeff${JSON.stringify(image())}` }, '');
bad('image', 'key given twice (both valid)', { raw: '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"x","name":"y"}' }, 'name', STRICTER('Go takes the last'));
bad('image', 'key given twice (first invalid)', { raw: '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"A","name":"x"}' }, 'name');
bad('image', 'nested key given twice', { raw: '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"x","app":{"user":"0","group":"0","user":"1"}}' }, 'app.user', STRICTER('Go takes the last'));
bad('image', 'field spelled twice', { raw: '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"x","NAME":"y"}' }, 'name', STRICTER('Go takes the last'));
bad('image', 'field spelled twice (first invalid)', { raw: '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"X","NAME":"a"}' }, 'name');

// ---------------------------------------------------------------------------------------------
// pod manifests (pod_test.go, volume_test.go, notes §5)

ok('pod', 'apps []', pod());
ok('pod', 'one app', podWithApp());
ok('pod', 'as podspec.ts makes it', pod({ apps: [podApp({ image: { id: 'sha512-aa', name: 'example.com/app' }, annotations: [{ name: 'jetpack/image-uuid', value: 'x' }] })], volumes: [], annotations: [] }));
bad('pod', '{}', {}, 'acKind');
bad('pod', 'acVersion missing', { acKind: 'PodManifest', apps: [] }, 'acVersion', STRICTER('Go does not require acVersion in a pod'));
bad('pod', 'acVersion 0.0.0', pod({ acVersion: '0.0.0' }), 'acVersion');
bad('pod', 'apps missing', { acKind: 'PodManifest', acVersion: '0.8.11' }, 'apps', STRICTER('Go does not require apps'));
bad('pod', 'apps not an array', pod({ apps: {} }), 'apps');
bad('pod', 'duplicate app names', pod({ apps: [podApp(), podApp()] }), 'apps[1].name');
bad('pod', 'app without name', pod({ apps: [{ image: { id: 'sha512-a' } }] }), 'apps[0].name', STRICTER('Go accepts a missing app name'));
bad('pod', 'app image without id', podWithApp({ image: { name: 'example.com/x' } }), 'apps[0].image.id', STRICTER('Go never requires image.id; a reified manifest needs it'));
ok('template', 'template app image without id', podWithApp({ image: { name: 'example.com/x', labels: [{ name: 'version', value: 'latest' }] } }));
bad('pod', 'app without image', pod({ apps: [{ name: 'a' }] }), 'apps[0].image', STRICTER('Go never requires image'));
bad('pod', 'app image id ""', podWithApp({ image: { id: '' } }), 'apps[0].image.id');
bad('template', 'template app image id ""', podWithApp({ image: { id: '' } }), 'apps[0].image.id');
bad('pod', 'app image id sha1-x', podWithApp({ image: { id: 'sha1-x' } }), 'apps[0].image.id');
bad('pod', 'app image name not an AC Identifier', podWithApp({ image: { id: 'sha512-a', name: 'X' } }), 'apps[0].image.name');
bad('pod', 'app image labels bad arch', podWithApp({ image: { id: 'sha512-a', labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'arm64' }] } }), 'apps[0].image.labels[1].value');
ok('pod', 'app override', podWithApp({ app: { exec: ['/x'], user: '0', group: '0', isolators: [iso('resource/memory', { limit: '1G' })] } }));
bad('pod', 'app override {}', podWithApp({ app: {} }), 'apps[0].app.user');
bad('pod', 'app override with an unknown isolator', podWithApp({ app: { user: '0', group: '0', isolators: [iso('foo/bar', 1)] } }), 'apps[0].app.isolators[0].name');
ok('pod', 'readOnlyRootFS', podWithApp({ readOnlyRootFS: true }));
bad('pod', 'readOnlyRootFS "yes"', podWithApp({ readOnlyRootFS: 'yes' }), 'apps[0].readOnlyRootFS');
ok('pod', 'app annotations with an AC Identifier name (Go)', podWithApp({ annotations: [{ name: 'example.com/x', value: 'y' }] }));
bad('pod', 'app annotations duplicate', podWithApp({ annotations: [{ name: 'a', value: '1' }, { name: 'a', value: '2' }] }), 'apps[0].annotations[1].name');
ok('pod', 'mounts', podWithApp({ mounts: [{ volume: 'v', path: '/p' }] }));
ok('pod', 'mount with appVolume', podWithApp({ mounts: [{ volume: 'v', path: '/p', appVolume: { name: 'v', kind: 'empty' } }] }));
bad('pod', 'mount appVolume host with a relative source', podWithApp({ mounts: [{ volume: 'v', path: '/p', appVolume: { name: 'v', kind: 'host', source: 'rel' } }] }), 'apps[0].mounts[0].appVolume.source');
bad('pod', 'mount {}', podWithApp({ mounts: [{}] }), 'apps[0].mounts[0].volume', STRICTER('Go does not check mounts'));
bad('pod', 'mount volume not an AC Name', podWithApp({ mounts: [{ volume: 'V', path: '/p' }] }), 'apps[0].mounts[0].volume');

const vol = (v: Json): Json => pod({ volumes: [v] });
ok('pod', 'host volume', vol({ name: 'foobar', kind: 'host', source: '/tmp' }));
ok('pod', 'host volume readOnly recursive', vol({ name: 'foobar', kind: 'host', source: '/tmp', readOnly: true, recursive: false }));
ok('pod', 'empty volume', vol({ name: 'foobar', kind: 'empty' }));
ok('pod', 'empty volume with everything', vol({ name: 'foobar', kind: 'empty', readOnly: true, mode: '0777', uid: 1000, gid: 1000 }));
ok('pod', 'empty volume mode "rwx", uid -5 (not checked)', vol({ name: 'v', kind: 'empty', mode: 'rwx', uid: -5 }));
ok('pod', 'empty volume source ""', vol({ name: 'v', kind: 'empty', source: '' }));
ok('pod', 'empty volume recursive', vol({ name: 'v', kind: 'empty', recursive: true }));
ok('pod', 'host volume uid null', vol({ name: 'v', kind: 'host', source: '/x', uid: null }));
bad('pod', 'volume name #foobar', vol({ name: '#foobar', kind: 'empty' }), 'volumes[0].name');
bad('pod', 'volume without name', vol({ kind: 'empty' }), 'volumes[0].name');
bad('pod', 'volume kind Empty', vol({ name: 'v', kind: 'Empty' }), 'volumes[0].kind');
bad('pod', 'volume without kind', vol({ name: 'v' }), 'volumes[0].kind');
bad('pod', 'host volume with a relative source', vol({ name: 'v', kind: 'host', source: 'tmp' }), 'volumes[0].source');
bad('pod', 'host volume without source', vol({ name: 'v', kind: 'host' }), 'volumes[0].source');
bad('pod', 'host volume with uid', vol({ name: 'v', kind: 'host', source: '/tmp', uid: 1000 }), 'volumes[0].uid');
bad('pod', 'host volume with mode', vol({ name: 'v', kind: 'host', source: '/tmp', mode: '0755' }), 'volumes[0].mode');
bad('pod', 'host volume with gid', vol({ name: 'v', kind: 'host', source: '/tmp', gid: 0 }), 'volumes[0].gid');
bad('pod', 'empty volume with a source', vol({ name: 'v', kind: 'empty', source: '/x' }), 'volumes[0].source');
bad('pod', 'volume recursive "MAYBE"', vol({ name: 'v', kind: 'host', source: '/x', recursive: 'MAYBE' }), 'volumes[0].recursive');
bad('pod', 'duplicate volume names', pod({ volumes: [{ name: 'simplename', kind: 'empty' }, { name: 'simplename', kind: 'host', source: '/tmp' }] }), 'volumes[1].name');

ok('pod', 'pod isolator with an unknown name', pod({ isolators: [iso('foo/bar', 1)] }));
ok('pod', 'two pod sysctl isolators (no set rules at pod level)', pod({ isolators: [iso('os/unix/sysctl', {}), iso('os/unix/sysctl', {})] }));
ok('pod', 'pod seccomp retain + remove (no set rules at pod level)', pod({ isolators: [iso('os/linux/seccomp-retain-set', { set: ['x'] }), iso('os/linux/seccomp-remove-set', { set: ['x'] })] }));
bad('pod', 'pod isolator value still checked', pod({ isolators: [iso('resource/memory', { limit: '1K' })] }), 'isolators[0].value.limit');
bad('pod', 'pod isolator cpu-shares out of range', pod({ isolators: [iso('os/linux/cpu-shares', 1)] }), 'isolators[0].value');
bad('pod', 'pod isolator without value', pod({ isolators: [{ name: 'foo/bar' }] }), 'isolators[0].value', STRICTER('Go keeps an unknown pod isolator without value'));
bad('pod', 'pod isolator without name', pod({ isolators: [{ value: 1 }] }), 'isolators[0].name', STRICTER('Go keeps a pod isolator without name'));
ok('pod', 'pod annotations', pod({ annotations: [{ name: 'ip-address', value: '10.1.2.3' }] }));
bad('pod', 'pod annotation created garbage', pod({ annotations: [{ name: 'created', value: 'x' }] }), 'annotations[0].value');
ok('pod', 'userLabels and userAnnotations', pod({ userLabels: { a: 'b' }, userAnnotations: { c: 'd' } }));
bad('pod', 'userLabels number value', pod({ userLabels: { a: 1 } }), 'userLabels.a');

const exposed = (p: Json): Json => pod({ ports: [{ name: 'p', hostPort: 80, ...p }] });
ok('pod', 'exposed port', exposed({}));
for (const ip of ['::1', '10.1.2.3', '::ffff:1.2.3.4', '']) ok('pod', `hostIP ${JSON.stringify(ip)}`, exposed({ hostIP: ip }));
for (const ip of ['garbage', '010.1.2.3', 'fe80::1%eth0', '1.2.3', '1::2::3']) bad('pod', `hostIP ${ip}`, exposed({ hostIP: ip }), 'ports[0].hostIP');
ok('pod', 'exposed podPort', exposed({ podPort: { name: 'q', protocol: 'tcp', port: 8080 } }));
bad('pod', 'exposed podPort port 0', exposed({ podPort: { name: 'q', protocol: 'tcp', port: 0 } }), 'ports[0].podPort.port');
bad('pod', 'exposed podPort range past 65535', exposed({ podPort: { name: 'q', protocol: 'tcp', port: 65000, count: 1000 } }), 'ports[0].podPort.count');
bad('pod', 'hostPort 0', exposed({ hostPort: 0 }), 'ports[0].hostPort', STRICTER('Go accepts any uint'));
bad('pod', 'hostPort 70000', exposed({ hostPort: 70000 }), 'ports[0].hostPort', STRICTER('Go accepts any uint'));
bad('pod', 'hostPort -1', exposed({ hostPort: -1 }), 'ports[0].hostPort');
bad('pod', 'exposed port without name', pod({ ports: [{ hostPort: 80 }] }), 'ports[0].name', STRICTER('Go leaves the name "" unchecked'));
ok('pod', 'PodManifest keys in any case', { ACKIND: 'PodManifest', ACVERSION: '0.8.11', APPS: [{ NAME: 'a', IMAGE: { ID: 'sha512-a' } }] });
bad('pod', 'NAME "A"', { ACKIND: 'PodManifest', ACVERSION: '0.8.11', APPS: [{ NAME: 'A', IMAGE: { ID: 'sha512-a' } }] }, 'apps[0].name');

// ---------------------------------------------------------------------------------------------
// Hostile manifests (issue 5): what the tables above left out; the error names the field.

for (const n of ['a', '0', 'a.b~c_d', `example.com/${'a'.repeat(5000)}`]) ok('image', `name ${n.length > 40 ? `of ${n.length} characters` : n}`, image({ name: n }));
for (const [what, n] of [
  ['a number', 1],
  ['null', null],
  ['an object', {}],
  ['with a trailing newline', 'example.com/app\n'],
  ['with a non-ASCII letter', 'exämple.com/app'],
  ['with a space', 'example.com/my app'],
  ['with a port', 'example.com:8080/app'],
  ['with a capital inside', 'example.com/myApp'],
] as const) {
  bad('image', `name ${what}`, image({ name: n }), 'name');
}
bad('image', 'acKind null', image({ acKind: null }), 'acKind');
bad('image', 'os Linux (capitalised)', withLabels({ name: 'os', value: 'Linux' }), 'labels[0].value');
bad('image', 'linux with an empty arch', osArch('linux', ''), 'labels[1].value');
bad('image', 'freebsd/arm64', osArch('freebsd', 'arm64'), 'labels[1].value');
bad('image', 'duplicate version label', withLabels({ name: 'version', value: '1' }, { name: 'version', value: '2' }), 'labels[1].name');
ok('image', 'label value null (Go reads "")', withLabels({ name: 'version', value: null }));
bad('image', 'exec with a number argument', withApp({ exec: ['/bin/x', 1] }), 'app.exec[1]');
bad('image', 'app a string', image({ app: 'x' }), 'app');
bad('image', 'app an array', image({ app: [] }), 'app');
bad('image', 'annotation value a number', withAnnotations({ name: 'a', value: 1 }), 'annotations[0].value');
bad('image', 'dependencies an object', image({ dependencies: {} }), 'dependencies');
bad('image', 'pathWhitelist a string', image({ pathWhitelist: '/x' }), 'pathWhitelist');
bad('image', 'supplementaryGIDs a number', withApp({ supplementaryGIDs: 1 }), 'app.supplementaryGIDs');
bad('image', 'environment value a number', env({ name: 'A', value: 1 }), 'app.environment[0].value');
badIso('os/linux/oom-score-adj', '5', '.value');
badIso('os/linux/capabilities-retain-set', [], '.value');
okIso('resource/memory', { limit: 1 });
okIso('resource/memory', { limit: '1Ki' });

// ---------------------------------------------------------------------------------------------
// Running the table

const jsonText = (doc: unknown): string => (typeof doc === 'object' && doc !== null && 'raw' in doc ? (doc as Raw).raw : JSON.stringify(doc));

function parse(c: Case, input: unknown): unknown {
  if (c.kind === 'image') return parseImageManifest(input, 'case.json');
  return parsePodManifest(input, 'case.json', { template: c.kind === 'template' });
}

t.test('validation table', async (t) => {
  for (const c of cases) {
    const text = jsonText(c.doc);
    const input = typeof c.doc === 'object' && c.doc !== null && 'raw' in c.doc ? Buffer.from(text) : c.doc;
    let err: unknown;
    let result: unknown;
    try {
      result = parse(c, input);
    } catch (e) {
      err = e;
    }
    if (c.path === undefined) {
      t.equal(err, undefined, `valid: ${c.kind}: ${c.name}${err === undefined ? '' : ` (${String(err)})`}`);
      t.type(result, 'object');
    } else {
      const prefix = c.path === '' ? 'case.json: ' : `case.json: ${c.path}: `;
      const good = err instanceof JetpackError && err.kind === 'invalid' && err.message.startsWith(prefix) && !err.message.includes('\n');
      t.ok(good, `invalid at ${c.path === '' ? '(document)' : c.path}: ${c.kind}: ${c.name}`, { got: err instanceof Error ? err.message : err });
    }
  }
});

t.test('verdicts cross-checked with actool validate', async (t) => {
  const probe = spawnSync('actool', ['version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.plan(0, 'skip: actool (Debian appc-spec) is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'jetpack-appc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let checked = 0;
  let agreed = 0;
  cases.forEach((c, i) => {
    if (c.actool === null) return;
    const file = join(dir, `case${i}.json`);
    writeFileSync(file, jsonText(c.doc));
    const r = spawnSync('actool', ['validate', file], { encoding: 'utf8' });
    const actoolValid = r.status === 0;
    const jetpackValid = c.path === undefined;
    const expected = c.actool ?? jetpackValid;
    checked++;
    if (actoolValid === jetpackValid) agreed++;
    const label = `${c.kind}: ${c.name}: actool says ${expected ? 'valid' : 'invalid'}${c.why === undefined ? '' : ` (Jetpack differs: ${c.why})`}`;
    t.equal(actoolValid, expected, label, { stderr: r.stderr.split('\n')[0] });
  });
  t.comment(`${checked} cases run through actool: ${agreed} same verdict, ${checked - agreed} documented disagreements`);
  t.ok(checked >= 40);
});

// ---------------------------------------------------------------------------------------------
// The spec's examples

t.test('spec examples (shared/appc-spec)', async (t) => {
  const ex = (name: keyof typeof EXAMPLES): Buffer => Buffer.from(EXAMPLES[name]);
  const m = parseImageManifest(ex('image.json'), 'image.json');
  t.equal(m.name, 'example.com/reduce-worker');
  t.equal(m.app?.isolators?.length, 5);
  t.equal(m.dependencies?.[0]?.imageID, 'sha512-...');
  const p = parsePodManifest(ex('pod_runtime.json'), 'pod_runtime.json');
  t.same(
    p.apps.map((a) => a.name),
    ['reduce-worker', 'backup', 'register'],
  );
  t.equal(p.volumes?.[1]?.mode, '0777');
  const tpl = parsePodManifest(ex('pod_template.json'), 'pod_template.json', { template: true });
  t.equal(tpl.acVersion, '0.3.0');
  t.throws(() => parsePodManifest(ex('pod_template.json'), 'pod_template.json'), {
    name: 'JetpackError',
    kind: 'invalid',
    message: 'pod_template.json: apps[1].image.id: is required',
  });
  t.throws(() => parseImageManifest(ex('pod_runtime.json'), 'pod_runtime.json'), { name: 'JetpackError', kind: 'invalid', message: 'pod_runtime.json: acKind: "PodManifest" is not "ImageManifest"' });
  if (sharedExamples === undefined) {
    t.comment('shared/appc-spec not found: embedded copies not compared');
  } else {
    for (const [name, text] of Object.entries(EXAMPLES)) t.equal(readFileSync(join(sharedExamples, name), 'utf8'), text, `embedded ${name} matches ${sharedExamples}`);
  }
});

t.test('ajv is not loaded at run time', async (t) => {
  t.notOk(ajvLoaded(), 'not loaded once manifests were parsed: the validators were generated at build time');
});

// ---------------------------------------------------------------------------------------------
// Normalisation and messages

t.test('keys are normalised to the spec spelling, unknown keys dropped, input left alone', async (t) => {
  const input = {
    ACKIND: 'ImageManifest',
    acversion: '0.8.11',
    Name: 'example.com/x',
    extra: { deep: true },
    labels: [{ NAME: 'version' }],
    app: {
      Exec: ['/bin/x'],
      USER: '0',
      group: '0',
      supplementaryGids: [1],
      workingDirectory: '',
      environment: [{ name: 'A' }],
      isolators: [
        { Name: 'resource/cpu', VALUE: { LIMIT: '1', unknown: 1 } },
        { name: 'os/unix/sysctl', value: { 'Net.X': 'y' } },
        { name: 'os/linux/no-new-privileges', value: true },
      ],
      eventHandlers: null,
      ports: [{ Name: 'p', Protocol: 'tcp', Port: 80, SocketActivated: true }],
    },
  };
  const before = JSON.stringify(input);
  const m = parseImageManifest(input, 'x');
  t.equal(JSON.stringify(input), before, 'input not modified');
  t.same(m, {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/x',
    labels: [{ name: 'version', value: '' }],
    app: {
      exec: ['/bin/x'],
      user: '0',
      group: '0',
      supplementaryGIDs: [1],
      environment: [{ name: 'A', value: '' }],
      isolators: [
        { name: 'resource/cpu', value: { limit: '1' } },
        { name: 'os/unix/sysctl', value: { 'Net.X': 'y' } },
        { name: 'os/linux/no-new-privileges', value: true },
      ],
      ports: [{ name: 'p', protocol: 'tcp', port: 80, socketActivated: true }],
    },
  });
  t.strictSame(Object.keys(m.app ?? {}), ['exec', 'user', 'group', 'supplementaryGIDs', 'environment', 'isolators', 'ports']);
  const p = parsePodManifest('{"acKind":"PodManifest","acVersion":"0.8.11","apps":[],"volumes":null,"Ports":[]}', 'p');
  t.same(p, { acKind: 'PodManifest', acVersion: '0.8.11', apps: [], ports: [] });
});

t.test('keys named like Object.prototype members are plain data', async (t) => {
  const m = parseImageManifest('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"x","constructor":1,"toString":2,"app":{"user":"0","group":"0","userLabels":{"__proto__":"x","constructor":"y"}}}', 'm');
  t.notOk(Object.hasOwn(m, 'constructor'));
  t.notOk(Object.hasOwn(m, 'toString'));
  const labels = m.app?.userLabels ?? {};
  t.ok(Object.hasOwn(labels, '__proto__'), '__proto__ kept as an own key');
  t.equal(Object.getOwnPropertyDescriptor(labels, '__proto__')?.value, 'x');
  t.equal(Object.getPrototypeOf(labels), Object.prototype, 'prototype untouched');
  t.throws(() => parseImageManifest('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"x","app":{"user":"0","group":"0","userLabels":{"__proto__":1}}}', 'm'), {
    message: 'm: app.userLabels.__proto__: must be a string (got 1)',
  });
  const p = parsePodManifest(pod({ isolators: [iso('constructor', { a: 1 })] }), 'p');
  t.same(p.isolators, [{ name: 'constructor', value: { a: 1 } }], 'an unknown pod isolator named constructor keeps its value');
  t.throws(() => parseImageManifest(withIsolators(iso('constructor', 1)), 'm'), { message: /^m: app\.isolators\[0\]\.name: "constructor" is not a known isolator/ });
});

t.test('inputs: Buffer, string, Uint8Array, object', async (t) => {
  const text = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'x' });
  t.equal(parseImageManifest(Buffer.from(text), 's').name, 'x');
  t.equal(parseImageManifest(text, 's').name, 'x');
  t.equal(parseImageManifest(new TextEncoder().encode(text), 's').name, 'x');
  t.equal(parseImageManifest(JSON.parse(text), 's').name, 'x');
});

t.test('messages: one line, source, path, rule', async (t) => {
  const msg = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      t.ok(e instanceof JetpackError && e.kind === 'invalid' && e.exitCode === 6);
      return e instanceof Error ? e.message : String(e);
    }
    return '(no error)';
  };
  t.equal(
    msg(() => parseImageManifest(image({ labels: [{ name: 'version', value: '1' }, { name: 'arch', value: 'amd64' }, { name: 'os', value: 'windows' }] }), 'manifest')),
    'manifest: labels[2].value: os "windows" is not one of darwin, freebsd, linux',
  );
  t.equal(msg(() => parsePodManifest(podWithApp({ name: 'Foo' }), 'pod.json')), 'pod.json: apps[0].name: "Foo" is not an AC Name (lowercase letters, digits and -)');
  t.equal(msg(() => parseImageManifest(osArch('linux', 'arm64'), 'm')), 'm: labels[1].value: arch "arm64" is not one of amd64, i386, aarch64, aarch64_be, armv6l, armv7l, armv7b, ppc64, ppc64le, s390x (for os linux)');
  t.equal(msg(() => parseImageManifest(image({ acVersion: '0.0.0' }), 'm')), 'm: acVersion: "0.0.0" is not a version: 0.0.0 is not allowed');
  t.equal(msg(() => parseImageManifest(image({ acKind: 'Foo' }), 'm')), 'm: acKind: "Foo" is not "ImageManifest"');
  t.equal(msg(() => parseImageManifest({ acKind: 'ImageManifest', acVersion: '0.8.11' }, 'm')), 'm: name: is required');
  t.equal(msg(() => parseImageManifest(withApp({ user: 5 }), 'm')), 'm: app.user: must be a string (got 5)');
  t.equal(msg(() => parseImageManifest(withIsolators(iso('resource/cpu', { limit: '1K' })), 'm')), 'm: app.isolators[0].value.limit: "1K" is not a quantity: it has an unknown suffix (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent e3)');
  t.equal(msg(() => parseImageManifest(withIsolators(iso('foo/bar', 1)), 'm')).startsWith('m: app.isolators[0].name: "foo/bar" is not a known isolator ('), true);
  t.equal(
    msg(() => parseImageManifest(withIsolators(iso('os/linux/seccomp-retain-set', { set: ['x'] }), iso('os/linux/seccomp-remove-set', { set: ['x'] })), 'm')),
    'm: app.isolators[1].name: "os/linux/seccomp-remove-set" cannot be combined with "os/linux/seccomp-retain-set" (app.isolators[0])',
  );
  t.equal(msg(() => parseImageManifest(withApp({ ports: [{ name: 'p', protocol: 'tcp', port: 65535, count: 2 }] }), 'm')), 'm: app.ports[0].count: ports 65535..65536 go past 65535');
  t.equal(msg(() => parsePodManifest(pod({ volumes: [{ name: 'v', kind: 'host', source: '/x', mode: '0755' }] }), 'p')), 'p: volumes[0].mode: "0755" is not allowed for a host volume');
  t.equal(msg(() => parsePodManifest(pod({ apps: [podApp(), podApp()] }), 'p')), 'p: apps[1].name: duplicate app name "a" (also apps[0])');
  t.equal(msg(() => parseImageManifest(anno('created', 'garbage'), 'm')), 'm: annotations[0].value: created "garbage" is not an RFC 3339 date-time (e.g. 2006-01-02T15:04:05Z)');
  t.equal(msg(() => parseImageManifest(anno('homepage', 'ftp://x'), 'm')), 'm: annotations[0].value: homepage "ftp://x" is not an http(s) URL');
  t.match(msg(() => parseImageManifest('{"acKind":\n"ImageManifest",\n', 'bad.json')), /^bad\.json: not valid JSON: .*\(line 3, column 1\)$/);
  t.equal(msg(() => parseImageManifest('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"x","name":"y"}', 'm')), 'm: name: key "name" is given twice in one object');
  t.equal(msg(() => parseImageManifest('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"x","NAME":"y"}', 'm')), 'm: name: given twice, as "name" and "NAME"');
  t.equal(msg(() => parseImageManifest([], 'm')), 'm: must be an object (got [])');
  t.equal(msg(() => parseImageManifest(`\ufeff${JSON.stringify(image())}`, 'm')), 'm: not valid JSON: it starts with a byte order mark (U+FEFF)');
  t.equal(msg(() => parseImageManifest(withApp({ eventHandlers: [{ name: 'pre-start', exec: [''] }] }), 'm')), 'm: app.eventHandlers[0].exec[0]: must not be empty (it names the program to run)');
  t.equal(msg(() => parseImageManifest(withIsolators(iso('resource/cpu', { limit: '-1' })), 'm')), 'm: app.isolators[0].value.limit: "-1" is negative');
});

t.test('parseImageId (hash_test.go)', async (t) => {
  t.equal(parseImageId('sha512-abcdefghi'), 'sha512-abcdefghi', 'non-hex is accepted, as Go does');
  const id = `sha512-${'a'.repeat(128)}`;
  t.equal(parseImageId(id), id);
  for (const bad of ['sha512-', 'sha1-x', '-x', '', 'sha512', 'sha512-a-b', 'SHA512-abc']) {
    t.throws(() => parseImageId(bad), { name: 'JetpackError', kind: 'invalid', message: `${JSON.stringify(bad)} is not an image ID (sha512- and the hash)` }, JSON.stringify(bad));
  }
  t.ok(isAcIdentifier('example.com/x'));
  t.notOk(isAcName('example.com/x'));
});

t.test('schemas: draft-07, self-contained, documented with spec sections', async (t) => {
  interface AjvLike {
    addVocabulary(keywords: string[]): unknown;
    validateSchema(schema: object): unknown;
    errors?: unknown;
    compile(schema: object): (data: unknown) => boolean;
  }
  // ajv is a dependency of shared/, not of the root package: load it from there.
  const { Ajv } = requireFromShared('ajv') as { Ajv: new (opts: Record<string, unknown>) => AjvLike };
  const ajv = new Ajv({ strict: true, allowUnionTypes: true, validateSchema: true });
  ajv.addVocabulary(['x-invalid', 'x-quantity']);
  for (const [name, schema] of Object.entries({ imageManifestSchema, podManifestSchema, podTemplateSchema, definitionsSchema })) {
    t.ok(ajv.validateSchema(schema), `${name} is a valid draft-07 schema`, { errors: ajv.errors });
    t.match(String(schema['description']), /spec\//, `${name} cites the spec`);
  }
  // Each stands alone (embedded definitions): a plain compile works.
  const validate = new Ajv({ allowUnionTypes: true, strict: false }).compile(imageManifestSchema);
  t.ok(validate(JSON.parse(EXAMPLES['image.json'])), 'the image example matches the standalone schema');
  const defs = definitionsSchema['definitions'] as Record<string, Record<string, unknown>>;
  for (const [name, def] of Object.entries(defs)) t.type(def['description'], 'string', `definitions.${name} has a description`);
});

t.test('validators.generated.ts is what scripts/gen-validators.mjs makes of schema.ts now', async (t) => {
  // Generated by `pnpm run build`; a schema edited since then would otherwise go untested here.
  const r = spawnSync(process.execPath, [new URL('../scripts/gen-validators.mjs', import.meta.url).pathname, '--check'], { encoding: 'utf8' });
  t.equal(r.status, 0, 'up to date', { stderr: r.stderr });
});
