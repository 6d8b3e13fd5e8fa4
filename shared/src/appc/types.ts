/**
 * TypeScript shapes of the App Container (appc v0.8.11) documents Jetpack reads and writes.
 * Source: appc spec/aci.md § Image Manifest Schema, spec/pods.md § Pod Manifest Schema, spec/types.md.
 * The runtime checks live in ./schema.ts; these types describe a document that passed them.
 */

/** `{name, value}` pair used by labels, annotations and environment (spec/types.md). */
export interface NameValue {
  name: string;
  value: string;
}

/** An isolator (spec/types.md § Isolator Type); `value` is validated per known name. */
export interface Isolator {
  name: string;
  value: unknown;
}

/** spec/aci.md § app.eventHandlers: `pre-start` or `post-stop`, with an argv. */
export interface EventHandler {
  name: 'pre-start' | 'post-stop';
  exec: string[];
}

/** spec/aci.md § app.mountPoints. */
export interface MountPoint {
  name: string;
  path: string;
  readOnly?: boolean;
}

/** spec/aci.md § app.ports. */
export interface Port {
  name: string;
  protocol: string;
  port: number;
  count?: number;
  socketActivated?: boolean;
}

/** spec/aci.md § app: what the executor runs. `user` and `group` are required. */
export interface App {
  exec?: string[];
  user: string;
  group: string;
  supplementaryGIDs?: number[];
  eventHandlers?: EventHandler[];
  workingDirectory?: string;
  environment?: NameValue[];
  isolators?: Isolator[];
  mountPoints?: MountPoint[];
  ports?: Port[];
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

/** spec/aci.md § dependencies. */
export interface Dependency {
  imageName: string;
  imageID?: string;
  labels?: NameValue[];
  size?: number;
}

/** spec/aci.md § Image Manifest Schema. */
export interface ImageManifest {
  acKind: 'ImageManifest';
  acVersion: string;
  name: string;
  labels?: NameValue[];
  app?: App | null;
  dependencies?: Dependency[];
  pathWhitelist?: string[];
  annotations?: NameValue[];
}

/** spec/pods.md § volumes. */
export interface Volume {
  name: string;
  kind: 'host' | 'empty';
  source?: string;
  readOnly?: boolean;
  recursive?: boolean;
  mode?: string;
  uid?: number;
  gid?: number;
}

/** spec/pods.md § apps[].mounts. */
export interface Mount {
  volume: string;
  path: string;
  appVolume?: Volume;
}

/** spec/pods.md § apps[]: one app of a pod. */
export interface RuntimeApp {
  name: string;
  image: { id: string; name?: string; labels?: NameValue[] };
  app?: App;
  readOnlyRootFS?: boolean;
  mounts?: Mount[];
  annotations?: NameValue[];
}

/** spec/pods.md § ports. */
export interface ExposedPort {
  name: string;
  hostPort: number;
  hostIP?: string;
  podPort?: Port;
}

/** spec/pods.md § Pod Manifest Schema. */
export interface PodManifest {
  acKind: 'PodManifest';
  acVersion: string;
  apps: RuntimeApp[];
  volumes?: Volume[];
  isolators?: Isolator[];
  annotations?: NameValue[];
  ports?: ExposedPort[];
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

/** The appc version Jetpack writes into the manifests it makes. */
export const AC_VERSION = '0.8.11';
