/**
 * The run plan of a pod: everything a platform backend needs to start it, already resolved from
 * the pod manifest, the image manifests, the apps' rootfs and the configuration. Platform-neutral:
 * the Linux backend (./linux.ts, jetpack-stage1) and the FreeBSD backend (./freebsd.ts, jail(8),
 * jexec(8), rctl(8)) both take a PodPlan and nothing else.
 *
 * Sources: appc spec/pods.md (volumes, mounts, apps), spec/ace.md § Execution Environment,
 * § Volume Setup, § Event handlers, § Isolators.
 */
import type { NameValue } from '../appc/types.js';

/** One bind mount of a volume into one app (spec/ace.md § Volume Setup). */
export interface PlanMount {
  /** The volume's name in the pod manifest (an AC Name). */
  volume: string;
  /** Absolute host path of what is mounted: a host volume's `source`, or the pod's empty-volume directory. */
  source: string;
  /** Absolute path inside the app's rootfs, already resolved as if chrooted (no symlink left in it). */
  target: string;
  readOnly: boolean;
  /** Mount submounts of `source` too (host volumes: spec default true). */
  recursive: boolean;
}

/** Resource limits of one app or of the pod (appc resource/memory, resource/cpu limits). */
export interface PlanLimits {
  /** resource/memory limit, bytes. */
  memoryBytes?: number;
  /** resource/cpu limit, in millicores (1000 = one CPU). */
  cpuMillicores?: number;
}

/** One app of the pod, resolved. */
export interface PlanApp {
  /** The app's name in the pod (AC Name); AC_APP_NAME. */
  name: string;
  /** Absolute host path of the app's rendered rootfs. */
  rootfs: string;
  /** The app's argv (argv[0] without `/` is looked up in the environment's PATH). */
  exec: string[];
  uid: number;
  gid: number;
  /** The complete supplementary group list. */
  groups: number[];
  /** Absolute working directory inside the rootfs (it exists). */
  cwd: string;
  /** The complete environment (run/linux.ts buildEnvironment). */
  env: NameValue[];
  /** `pre-start` event handler argv, run as root with the app's environment before exec; a failure fails the app. */
  preStart?: string[];
  /** `post-stop` event handler argv, run as root after the app exits or is killed. */
  postStop?: string[];
  /** Volumes mounted into this app, in mount order (parents before children). */
  mounts: PlanMount[];
  /** Linux capability bounding set, as `CAP_*` names (os/linux/capabilities-*; default: the appc 14). */
  capabilities: string[];
  /** os/linux/no-new-privileges. */
  noNewPrivileges: boolean;
  /** apps[].readOnlyRootFS of the pod manifest. */
  readOnlyRootfs: boolean;
  /** resource/* isolators of the app (already bounded by the pod's). */
  limits: PlanLimits;
}

/** The pod's network (jail.interface; spec/ace.md § Network). */
export interface PlanNetwork {
  /** `private`: own network namespace (Linux) / own ip4.addr (FreeBSD); `host`: the host's network. */
  mode: 'private' | 'host';
  /** Host-side interface the pod's address belongs to: a bridge on Linux, lo1 on FreeBSD (jail.interface). */
  interface: string;
  /** The pod's IPv4 address (private mode), e.g. `172.23.0.2`. */
  address?: string;
  /** Prefix length of the interface's network, e.g. 16. */
  prefixLength?: number;
  /** The host's address on the interface: the pod's default gateway and the metadata service's address. */
  gateway?: string;
}

/** Everything needed to start a pod. */
export interface PodPlan {
  uuid: string;
  /** Hostname inside the pod (the pod UUID unless set otherwise), at most 64 bytes. */
  hostname: string;
  network: PlanNetwork;
  /** Lines of the pod's /etc/resolv.conf (`nameserver 1.1.1.1`, ...), already written into every app's rootfs. */
  resolvConf: string[];
  /** AC_METADATA_URL of every app. */
  metadataUrl: string;
  /** Apps in pod-manifest order; they start in this order and together. */
  apps: PlanApp[];
  /** resource/* isolators of the whole pod. */
  limits: PlanLimits;
  /** Pod annotations (spec/pods.md), e.g. `jetpack/jail.conf/*` parameters the FreeBSD backend may allow. */
  annotations: NameValue[];
}
