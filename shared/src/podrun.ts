/**
 * Running a pod (`jail-run`, and the build pod of `image-build`): resolve its app (the pod's app
 * override, else the image's app; appc spec/pods.md § apps[].app), make sure its rootfs is mounted,
 * run it with this platform's isolation backend, and record the run in the pod (store.ts § RunState).
 */
import { conflict, invalid, usage } from './errors.js';
import { runApp, type RunAppOptions } from './run/backend.js';
import type { Pod, Store } from './store/store.js';

export interface RunPodOptions {
  /** `private`: a network namespace with only lo; `host`: the host's network. */
  network: 'private' | 'host';
  /** The app's stdin, stdout and stderr (default: ours); a number is one of our descriptors. */
  stdio?: RunAppOptions['stdio'];
}

/**
 * Run the pod's app and return its exit status (128+N for signal N; 125-127 launcher errors).
 * @throws JetpackError conflict (already running), usage (several apps: not available yet),
 *   invalid (no app to run, image gone, user or working directory not resolvable)
 */
export async function runPod(store: Store, pod: Pod, opts: RunPodOptions): Promise<number> {
  if (pod.state === 'running') throw conflict(`pod ${pod.uuid}: is already running (pid ${pod.run.pid})`);
  if (pod.apps.length !== 1) throw usage(`pod ${pod.uuid}: has ${pod.apps.length} apps; running multi-app pods is not available yet`);
  const meta = pod.apps[0]!;
  const runtimeApp = pod.manifest.apps.find((a) => a.name === meta.name);
  const image = await store.image(meta.image);
  if (image === null) throw invalid(`pod ${pod.uuid}: its image ${meta.image} is gone`);
  const app = runtimeApp?.app ?? image.manifest.app ?? undefined;
  if (app === undefined || app === null) throw invalid(`pod ${pod.uuid}: image ${image.manifest.name} has no app to run (no "app" in its manifest)`);
  await store.driver.mountPodApp(meta.image, pod.uuid, meta.name, meta.clone);
  let started: string | undefined;
  let recording: Promise<void> = Promise.resolve();
  const status = await runApp({
    rootfs: store.layout.podAppRootfs(pod.uuid, meta.name),
    appName: meta.name,
    app,
    hostname: pod.uuid,
    network: opts.network,
    metadataUrl: '',
    ...(opts.stdio === undefined ? {} : { stdio: opts.stdio }),
    onSpawn: () => {
      // The run counts from the moment the launcher exists; set-up errors before it change nothing.
      started = new Date().toISOString();
      recording = store.writeRunState(pod.uuid, { pid: process.pid, started });
    },
  });
  await recording;
  if (started !== undefined) await store.writeRunState(pod.uuid, { started, exited: new Date().toISOString(), status });
  return status;
}
