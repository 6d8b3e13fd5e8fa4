/**
 * JSON Schemas (draft-07) of the appc v0.8.11 image manifest and pod manifest, written from the
 * spec (spec/aci.md § Image Manifest Schema, spec/pods.md § Pod Manifest Schema, spec/types.md,
 * spec/ace.md § Isolators) and from what the Go reference code (schema/, used by actool and rkt)
 * enforces. The appc repository has no JSON Schema files; these are Jetpack's.
 *
 * They describe a manifest *after* Jetpack's key normalisation (./validate.ts): keys matched
 * case-insensitively like Go's decoder and spelled as the spec does, unknown keys dropped, and
 * `null` object members treated as absent. They check structure: types, required fields,
 * patterns and enums. Rules a JSON Schema cannot say (unique names, os/arch pairs, a non-zero
 * version, quantities, dates, URLs, port ranges, isolator sets) are checked by code in
 * ./validate.ts; each schema's `description` says where.
 *
 * Two non-standard annotation keywords are used: `x-invalid` (the phrase Jetpack's error
 * messages use when a value breaks the node's pattern/enum/range) and `x-quantity` (marks a
 * resource quantity, checked by ./quantity.ts). Nothing here is compiled at run time: at build time
 * scripts/gen-validators.mjs compiles these schemas with ajv into ./validators.generated.ts.
 */
import type { SchemaObject } from 'ajv';
import { AC_IDENTIFIER_PATTERN, AC_IDENTIFIER_RULE, AC_NAME_PATTERN, AC_NAME_RULE } from './names.js';

/** `acVersion` and other SemVer fields: go-semver's grammar (three numbers, optional -pre and +meta). */
export const SEMVER_PATTERN = '^[0-9]+\\.[0-9]+\\.[0-9]+(-([0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?)?(\\+([0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?)?$';
/** Image ID (spec/types.md § Image ID Type): `sha512-` and a non-empty value; Go splits on `-`, so no second `-`. */
export const IMAGE_ID_PATTERN = '^sha512-[^-]+$';
/** Environment variable names (schema/types/environment.go, appc v0.8.11 #691). */
export const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z_0-9.-]*$';
/** Seccomp errno names (schema/types/isolator_linux_specific.go): `E` then uppercase letters or digits. */
export const ERRNO_PATTERN = '^(E[\\p{Lu}\\p{N}]*)?$';

/** Valid `os` label values and, for each, the valid `arch` values (schema/types/labels.go `ValidOSArch`). */
export const VALID_OS_ARCH: Readonly<Record<string, readonly string[]>> = {
  darwin: ['x86_64', 'i386'],
  freebsd: ['amd64', 'i386', 'arm'],
  linux: ['amd64', 'i386', 'aarch64', 'aarch64_be', 'armv6l', 'armv7l', 'armv7b', 'ppc64', 'ppc64le', 's390x'],
};

/** Isolator names Jetpack knows (spec/ace.md § Isolators; apparmor-profile is post-v0.8.11). */
export const KNOWN_ISOLATORS = [
  'resource/cpu',
  'resource/memory',
  'resource/block-bandwidth',
  'resource/block-iops',
  'resource/network-bandwidth',
  'os/linux/capabilities-retain-set',
  'os/linux/capabilities-remove-set',
  'os/linux/no-new-privileges',
  'os/linux/seccomp-retain-set',
  'os/linux/seccomp-remove-set',
  'os/linux/oom-score-adj',
  'os/linux/cpu-shares',
  'os/linux/selinux-context',
  'os/linux/apparmor-profile',
  'os/unix/sysctl',
] as const;
export type KnownIsolatorName = (typeof KNOWN_ISOLATORS)[number];

const ref = (name: string): SchemaObject => ({ $ref: `#/definitions/${name}` });
const arrayOf = (items: SchemaObject, description: string): SchemaObject => ({ type: 'array', items, description });
const nonEmptyString = (description: string): SchemaObject => ({ type: 'string', minLength: 1, description });

const quantity = (description: string): SchemaObject => ({
  type: ['string', 'number'],
  'x-quantity': true,
  description: `${description} A resource quantity (spec/ace.md § Resource Isolators): a number or a string such as "500m", "1G", "1Gi", "1e9"; checked by quantity.ts.`,
});

const resourceDefaultFalse: SchemaObject = {
  type: 'object',
  description: 'Value of resource/cpu (cores) and resource/memory (bytes) (spec/ace.md § Resource Isolators): request and limit; `default` must be false. Quantities and non-negativity are checked by code.',
  properties: {
    default: { type: 'boolean', const: false, 'x-invalid': 'is not allowed: default must be false for resource/cpu and resource/memory' },
    request: quantity('Guaranteed amount; defaults to the limit.'),
    limit: quantity('Upper bound.'),
  },
};

const resourceDefaultTrue: SchemaObject = {
  type: 'object',
  description: 'Value of resource/block-bandwidth, resource/block-iops and resource/network-bandwidth (spec/ace.md § Resource Isolators): `default` must be true and there is no request.',
  required: ['default'],
  properties: {
    default: { type: 'boolean', const: true, 'x-invalid': 'is not allowed: default must be true for this isolator' },
    request: { not: {}, 'x-invalid': 'is not allowed: this isolator takes no request' },
    limit: quantity('Upper bound.'),
  },
};

const capabilitySet: SchemaObject = {
  type: 'object',
  description: 'Value of os/linux/capabilities-retain-set and -remove-set (spec/ace.md § Linux Isolators): a non-empty list of capability names (names are not checked, as in Go).',
  required: ['set'],
  properties: { set: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'Capability names, e.g. CAP_NET_BIND_SERVICE.' } },
};

const seccompSet: SchemaObject = {
  type: 'object',
  description: 'Value of os/linux/seccomp-retain-set and -remove-set (spec/ace.md § Linux Isolators): a non-empty syscall list and an optional errno.',
  required: ['set'],
  properties: {
    set: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'Syscall names or wildcards such as @appc.io/all.' },
    errno: { type: 'string', pattern: ERRNO_PATTERN, 'x-invalid': 'is not an errno name (E and uppercase letters or digits, e.g. EPERM)', description: 'Errno returned for blocked syscalls; SIGSYS when absent.' },
  },
};

const selinuxPart = (what: string): SchemaObject => ({
  type: 'string',
  pattern: '^[^:]+$',
  'x-invalid': `is not an SELinux ${what} (non-empty, without ":")`,
});

const isolatorValues: Readonly<Record<KnownIsolatorName, SchemaObject>> = {
  'resource/cpu': ref('resourceDefaultFalse'),
  'resource/memory': ref('resourceDefaultFalse'),
  'resource/block-bandwidth': ref('resourceDefaultTrue'),
  'resource/block-iops': ref('resourceDefaultTrue'),
  'resource/network-bandwidth': ref('resourceDefaultTrue'),
  'os/linux/capabilities-retain-set': ref('capabilitySet'),
  'os/linux/capabilities-remove-set': ref('capabilitySet'),
  'os/linux/no-new-privileges': { type: 'boolean', description: 'PR_SET_NO_NEW_PRIVS (spec/ace.md).' },
  'os/linux/seccomp-retain-set': ref('seccompSet'),
  'os/linux/seccomp-remove-set': ref('seccompSet'),
  'os/linux/oom-score-adj': { type: 'integer', minimum: -1000, maximum: 1000, 'x-invalid': 'is out of range -1000..1000', description: '/proc/PID/oom_score_adj (schema/types, v0.8.8).' },
  'os/linux/cpu-shares': { type: 'integer', minimum: 2, maximum: 262144, 'x-invalid': 'is out of range 2..262144', description: 'cgroup cpu.shares (schema/types, v0.8.8).' },
  'os/linux/selinux-context': {
    type: 'object',
    description: 'SELinux context (spec/ace.md § Linux Isolators): user, role and type without ":", and a level.',
    required: ['user', 'role', 'type', 'level'],
    properties: { user: selinuxPart('user'), role: selinuxPart('role'), type: selinuxPart('type'), level: nonEmptyString('MLS/MCS level, e.g. s0:c1.') },
  },
  'os/linux/apparmor-profile': {
    type: 'object',
    description: 'AppArmor profile (spec/ace.md, added after v0.8.11).',
    required: ['profile'],
    properties: { profile: nonEmptyString('Name of a loaded profile.') },
  },
  'os/unix/sysctl': { ...ref('stringMap'), description: 'sysctl keys and string values (spec/ace.md § Unix Isolators); pod scope.' },
};

function runtimeApp(template: boolean): SchemaObject {
  return {
    type: 'object',
    description: `An app of a pod (spec/pods.md § apps): unique AC Name (checked by code), image${template ? ' (ID optional in a template)' : ''}, optional app override (a full app, validated as in an image).`,
    required: ['name', 'image'],
    properties: {
      name: ref('acName'),
      image: ref(template ? 'runtimeImageTemplate' : 'runtimeImage'),
      app: ref('app'),
      readOnlyRootFS: { type: 'boolean' },
      mounts: arrayOf(ref('mount'), 'Mounts.'),
      annotations: ref('annotations'),
    },
  };
}

const definitions: Readonly<Record<string, SchemaObject>> = {
  acIdentifier: {
    type: 'string',
    pattern: AC_IDENTIFIER_PATTERN,
    'x-invalid': AC_IDENTIFIER_RULE,
    description: 'AC Identifier (spec/types.md): lowercase URI unreserved characters [a-z0-9-._~/], starting and ending with a letter or digit. Consecutive separators are accepted, as the Go reference code does.',
  },
  acName: {
    type: 'string',
    pattern: AC_NAME_PATTERN,
    'x-invalid': AC_NAME_RULE,
    description: 'AC Name (spec/types.md): [a-z0-9-], starting and ending with a letter or digit (a DNS label).',
  },
  semver: {
    type: 'string',
    pattern: SEMVER_PATTERN,
    'x-invalid': 'is not a version MAJOR.MINOR.PATCH[-PRERELEASE][+METADATA]',
    description: 'SemVer 2.0 version (spec/types.md § SemVer Type), as go-semver parses it; 0.0.0 is rejected by code.',
  },
  imageId: {
    type: 'string',
    pattern: IMAGE_ID_PATTERN,
    'x-invalid': 'is not an image ID (sha512- and the hash)',
    description: 'Image ID (spec/types.md § Image ID Type, spec/aci.md § Image ID): "sha512-" and the hex digest of the uncompressed ACI. Only sha512 is defined.',
  },
  absolutePath: { type: 'string', pattern: '^/', 'x-invalid': 'is not an absolute path', description: 'An absolute path.' },
  stringMap: { type: 'object', additionalProperties: { type: 'string' }, description: 'Free keys with string values.' },
  label: {
    type: 'object',
    description: 'A label (spec/aci.md § labels): AC Identifier name and string value (a missing value reads as "").',
    required: ['name'],
    properties: { name: ref('acIdentifier'), value: { type: 'string' } },
  },
  labels: arrayOf(ref('label'), 'Labels (spec/aci.md § labels): unique names, "name" forbidden, os/arch a valid pair (schema/types/labels.go ValidOSArch); checked by code.'),
  annotation: {
    type: 'object',
    description: 'An annotation (spec/aci.md § annotations): AC Identifier name and string value.',
    required: ['name'],
    properties: { name: ref('acIdentifier'), value: { type: 'string' } },
  },
  annotations: arrayOf(ref('annotation'), 'Annotations (spec/aci.md § annotations): unique names; "created" is an RFC 3339 date, "homepage" and "documentation" are http(s) URLs; checked by code.'),
  argv: arrayOf({ type: 'string' }, 'An argv (spec/aci.md § app.exec): no shell evaluation; a non-empty argv has a non-empty first element (checked by code).'),
  environmentVariable: {
    type: 'object',
    description: 'An environment variable (spec/aci.md § app.environment).',
    required: ['name'],
    properties: {
      name: { type: 'string', pattern: ENV_NAME_PATTERN, 'x-invalid': 'is not an environment variable name ([A-Za-z_][A-Za-z_0-9.-]*)' },
      value: { type: 'string' },
    },
  },
  eventHandler: {
    type: 'object',
    description: 'An event handler (spec/aci.md § app.eventHandlers): pre-start or post-stop, at most one of each (checked by code), with a non-empty exec.',
    required: ['name', 'exec'],
    properties: {
      name: { type: 'string', enum: ['pre-start', 'post-stop'], 'x-invalid': 'is not an event handler name (pre-start, post-stop)' },
      exec: { type: 'array', minItems: 1, items: { type: 'string' } },
    },
  },
  mountPoint: {
    type: 'object',
    description: 'A mount point (spec/aci.md § app.mountPoints): where a volume is mounted in the app.',
    required: ['name', 'path'],
    properties: { name: ref('acName'), path: nonEmptyString('Path inside the app rootfs.'), readOnly: { type: 'boolean' } },
  },
  port: {
    type: 'object',
    description: 'A port (spec/aci.md § app.ports): port 1..65535, count ports from it (absent or 0 means 1, and port+count ≤ 65536, checked by code).',
    required: ['name', 'protocol', 'port'],
    properties: {
      name: ref('acName'),
      protocol: nonEmptyString('tcp, udp, ... (not enforced).'),
      port: { type: 'integer', minimum: 1, maximum: 65535, 'x-invalid': 'is not a port number (1..65535)' },
      count: { type: 'integer', minimum: 0, maximum: 65535, 'x-invalid': 'is not a port count (0..65535)' },
      socketActivated: { type: 'boolean' },
    },
  },
  resourceDefaultFalse,
  resourceDefaultTrue,
  capabilitySet,
  seccompSet,
  isolator: {
    type: 'object',
    description: 'An isolator (spec/types.md § Isolator Type, spec/ace.md § Isolators): name and value; a known name fixes the shape of the value.',
    required: ['name', 'value'],
    properties: { name: ref('acIdentifier'), value: { description: 'Shape depends on the name.' } },
    allOf: Object.entries(isolatorValues).map(([name, schema]) => ({
      if: { type: 'object', required: ['name'], properties: { name: { const: name } } },
      then: { type: 'object', properties: { value: schema } },
    })),
  },
  appIsolator: {
    description: 'An isolator of an app: only known names (actool rejects unknown ones in an app); at most one of the single-instance kinds and no conflicting pair (checked by code).',
    allOf: [
      ref('isolator'),
      { type: 'object', properties: { name: { enum: [...KNOWN_ISOLATORS], 'x-invalid': `is not a known isolator (${KNOWN_ISOLATORS.join(', ')})` } } },
    ],
  },
  app: {
    type: 'object',
    description: 'The app (spec/aci.md § app): what the executor runs. Environment names unique and event handler names unique (checked by code).',
    required: ['user', 'group'],
    properties: {
      exec: ref('argv'),
      user: nonEmptyString('User name, numeric UID, or absolute path whose owner is used (spec/aci.md § app.user).'),
      group: nonEmptyString('Group name, numeric GID, or absolute path whose group is used.'),
      supplementaryGIDs: arrayOf({ type: 'integer' }, 'Extra GIDs (spec/aci.md § app.supplementaryGIDs).'),
      eventHandlers: arrayOf(ref('eventHandler'), 'Event handlers.'),
      workingDirectory: { type: 'string', pattern: '^(/|$)', 'x-invalid': 'is not an absolute path', description: 'Absolute working directory; "/" when absent or "".' },
      environment: arrayOf(ref('environmentVariable'), 'Environment (unique names).'),
      isolators: arrayOf(ref('appIsolator'), 'Isolators of the app.'),
      mountPoints: arrayOf(ref('mountPoint'), 'Mount points.'),
      ports: arrayOf(ref('port'), 'Ports.'),
      userAnnotations: ref('stringMap'),
      userLabels: ref('stringMap'),
    },
  },
  dependency: {
    type: 'object',
    description: 'A dependency (spec/aci.md § dependencies): an image whose rootfs is laid under this one.',
    required: ['imageName'],
    properties: {
      imageName: ref('acIdentifier'),
      imageID: ref('imageId'),
      labels: ref('labels'),
      size: { type: 'integer', minimum: 0, 'x-invalid': 'is not a size (a non-negative integer)', description: 'Uncompressed size in bytes.' },
    },
  },
  volume: {
    type: 'object',
    description: 'A volume (spec/pods.md § volumes): kind host (an absolute host source; no mode, uid, gid) or empty (no source; mode, uid, gid).',
    required: ['name', 'kind'],
    properties: {
      name: ref('acName'),
      kind: { type: 'string', enum: ['host', 'empty'], 'x-invalid': 'is not a volume kind (host, empty)' },
      source: { type: 'string' },
      readOnly: { type: 'boolean' },
      recursive: { type: 'boolean' },
      mode: { type: 'string', description: 'empty only; default "0755" (not validated, as in Go).' },
      uid: { type: 'integer', description: 'empty only; default 0.' },
      gid: { type: 'integer', description: 'empty only; default 0.' },
    },
    allOf: [
      {
        if: { type: 'object', required: ['kind'], properties: { kind: { const: 'host' } } },
        then: {
          type: 'object',
          required: ['source'],
          properties: {
            source: ref('absolutePath'),
            mode: { not: {}, 'x-invalid': 'is not allowed for a host volume' },
            uid: { not: {}, 'x-invalid': 'is not allowed for a host volume' },
            gid: { not: {}, 'x-invalid': 'is not allowed for a host volume' },
          },
        },
      },
      {
        if: { type: 'object', required: ['kind'], properties: { kind: { const: 'empty' } } },
        then: { type: 'object', properties: { source: { type: 'string', maxLength: 0, 'x-invalid': 'is not allowed: an empty volume has no source' } } },
      },
    ],
  },
  mount: {
    type: 'object',
    description: 'A mount of a pod app (spec/pods.md § apps.mounts): which volume goes at a mountPoint name or path; appVolume (v0.8.8) embeds the volume.',
    required: ['volume', 'path'],
    properties: { volume: ref('acName'), path: nonEmptyString('Mount point path in the app.'), appVolume: ref('volume') },
  },
  runtimeImage: {
    type: 'object',
    description: 'The image of a pod app (spec/pods.md § apps.image) in a reified pod manifest: its ID is required.',
    required: ['id'],
    properties: { id: ref('imageId'), name: ref('acIdentifier'), labels: ref('labels') },
  },
  runtimeImageTemplate: {
    type: 'object',
    description: 'The image of a pod app in a pod manifest template (spec/pods.md): the ID may be absent, the image being named by name and labels.',
    properties: { id: ref('imageId'), name: ref('acIdentifier'), labels: ref('labels') },
  },
  runtimeApp: runtimeApp(false),
  runtimeAppTemplate: runtimeApp(true),
  exposedPort: {
    type: 'object',
    description: 'A port exposed on the host (spec/pods.md § ports): an app port by name, or podPort (v0.8.8); hostIP is an IPv4 or IPv6 address (checked by code).',
    required: ['name', 'hostPort'],
    properties: {
      name: ref('acName'),
      hostPort: { type: 'integer', minimum: 1, maximum: 65535, 'x-invalid': 'is not a port number (1..65535)' },
      hostIP: { type: 'string' },
      podPort: ref('port'),
    },
  },
};

const SCHEMA_DRAFT = 'http://json-schema.org/draft-07/schema#';

/** `$id` of `definitionsSchema`. */
export const DEFINITIONS_ID = 'urn:jetpack:appc:0.8.11:definitions';

/**
 * The definitions the three manifest schemas share (each also embeds them, to stand alone).
 * scripts/gen-validators.mjs compiles each once, for the three manifests (`schemasToCompile`).
 */
export const definitionsSchema: SchemaObject = {
  $schema: SCHEMA_DRAFT,
  $id: DEFINITIONS_ID,
  title: 'appc definitions',
  description: 'Types shared by the appc image and pod manifests (spec/types.md, spec/aci.md, spec/pods.md, spec/ace.md).',
  definitions,
};

/** The image manifest (spec/aci.md § Image Manifest Schema). */
export const imageManifestSchema: SchemaObject = {
  $schema: SCHEMA_DRAFT,
  $id: 'urn:jetpack:appc:0.8.11:image-manifest',
  title: 'appc image manifest',
  description:
    'App Container image manifest, appc spec v0.8.11 (spec/aci.md § Image Manifest Schema). Code in validate.ts also checks: acVersion not 0.0.0; labels (unique, no "name", valid os/arch pair); annotations (unique, created RFC 3339, homepage/documentation http(s)); the app (unique environment and event handler names, exec[0] non-empty, port ranges, isolator values, counts and conflicts).',
  type: 'object',
  required: ['acKind', 'acVersion', 'name'],
  properties: {
    acKind: { type: 'string', const: 'ImageManifest', 'x-invalid': 'is not "ImageManifest"', description: 'Document kind (spec/aci.md).' },
    acVersion: { ...ref('semver'), description: 'appc spec version the manifest follows (spec/aci.md); not 0.0.0.' },
    name: { ...ref('acIdentifier'), description: 'Image name (spec/aci.md § name), URL-like, used for discovery.' },
    labels: ref('labels'),
    app: ref('app'),
    dependencies: arrayOf(ref('dependency'), 'Dependencies (spec/aci.md § dependencies).'),
    pathWhitelist: arrayOf({ type: 'string' }, 'Paths kept from the rendered dependencies (spec/aci.md § pathWhitelist); empty means all.'),
    annotations: ref('annotations'),
  },
  definitions,
};

function podSchema(template: boolean): SchemaObject {
  return {
    $schema: SCHEMA_DRAFT,
    $id: template ? 'urn:jetpack:appc:0.8.11:pod-template' : 'urn:jetpack:appc:0.8.11:pod-manifest',
    title: template ? 'appc pod manifest template' : 'appc pod manifest',
    description:
      `App Container pod manifest, appc spec v0.8.11 (spec/pods.md § Pod Manifest Schema)${template ? ', as a template: apps may name their image without an ID' : ', reified: every app names its image by ID'}. Code in validate.ts also checks: acVersion not 0.0.0; unique app and volume names; labels, annotations and apps as in an image manifest; pod isolator values (unknown names allowed); hostIP an IP address.`,
    type: 'object',
    required: ['acKind', 'acVersion', 'apps'],
    properties: {
      acVersion: { ...ref('semver'), description: 'appc spec version (spec/pods.md); required by Jetpack (Go tolerates its absence).' },
      acKind: { type: 'string', const: 'PodManifest', 'x-invalid': 'is not "PodManifest"', description: 'Document kind (spec/pods.md).' },
      apps: arrayOf(ref(template ? 'runtimeAppTemplate' : 'runtimeApp'), 'The apps (spec/pods.md § apps); names unique.'),
      volumes: arrayOf(ref('volume'), 'Volumes (spec/pods.md § volumes); names unique.'),
      isolators: arrayOf(ref('isolator'), 'Pod isolators (spec/pods.md § isolators): bound the apps\' isolators; unknown names allowed.'),
      annotations: ref('annotations'),
      ports: arrayOf(ref('exposedPort'), 'Ports exposed on the host (spec/pods.md § ports).'),
      userAnnotations: ref('stringMap'),
      userLabels: ref('stringMap'),
    },
    definitions,
  };
}

/** The reified pod manifest (spec/pods.md § Pod Manifest Schema): every app has `image.id`. */
export const podManifestSchema: SchemaObject = podSchema(false);
/** A pod manifest template (spec/pods.md): like `podManifestSchema`, but `image.id` may be absent. */
export const podTemplateSchema: SchemaObject = podSchema(true);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The schemas as scripts/gen-validators.mjs compiles them (`schemasToCompile`). */
export interface SchemasToCompile {
  /** Each of `definitionsSchema`'s definitions as a schema of its own, `$id` `<DEFINITIONS_ID>/<name>`. */
  readonly definitions: readonly SchemaObject[];
  /** The manifest schemas by validate.ts' kind, without their embedded definitions. */
  readonly manifests: Readonly<Record<'image' | 'pod' | 'template', SchemaObject>>;
}

/**
 * The schemas that scripts/gen-validators.mjs compiles into ./validators.generated.ts: every
 * `$ref` `#/definitions/<name>` points at the definition's own schema, `<DEFINITIONS_ID>/<name>`.
 * ajv compiles a `$ref` to a whole schema once, as one function that every validator using it
 * shares; a `$ref` to a fragment (`…#/definitions/app`) it compiles again for each schema that
 * refers to it (the generated code was 1.7 times as big that way).
 */
export function schemasToCompile(): SchemasToCompile {
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (!isRecord(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === 'definitions') continue;
      out[k] = k === '$ref' && typeof x === 'string' && x.startsWith('#/definitions/') ? `${DEFINITIONS_ID}/${x.slice('#/definitions/'.length)}` : rewrite(x);
    }
    return out;
  };
  const against = (schema: SchemaObject): SchemaObject => rewrite(schema) as SchemaObject;
  return {
    definitions: Object.entries(definitions).map(([name, schema]) => ({ $id: `${DEFINITIONS_ID}/${name}`, ...against(schema) })),
    manifests: { image: against(imageManifestSchema), pod: against(podManifestSchema), template: against(podTemplateSchema) },
  };
}
