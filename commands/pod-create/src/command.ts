/**
 * pod-create [FLAGS] IMAGE [IMAGE FLAGS] [IMAGE [IMAGE FLAGS]...] — create a pod
 * (`jetpack pod create`). Each IMAGE becomes an app whose rootfs is a clone of the image.
 * With no IMAGE, reads the JSON of a previous command on stdin (e.g. `aci-import x.aci | pod-create`)
 * and uses its `id`. stdout: the pod as JSON (PodJson, man/jetpack.7).
 *
 * Image flags: -n NAME (the app's name in the pod; default: the image name's last component).
 */
import { parser, pipedField, readStdinJson, type CommandResult } from '@jetpack/shared/cli';
import { openStore } from '@jetpack/shared/context';
import { usage } from '@jetpack/shared/errors';
import { formatPod } from '@jetpack/shared/format';
import { podJson } from '@jetpack/shared/json';
import { createPod, type AppSpec } from '@jetpack/shared/podspec';
import { findImage } from '@jetpack/shared/query';

export const USAGE = `pod-create [--config=PATH] IMAGE [-n NAME] [IMAGE [-n NAME]...]

Create a pod with one app per IMAGE and print it as JSON. Without IMAGE, reads the JSON of a
previous command (aci-import, image-show) on stdin and uses its image.

Image flags (after each IMAGE):
  -n NAME   the app's name in the pod (an AC Name; default: the image name's last component)`;

interface ImageArg {
  image: string;
  name?: string;
}

/** Split `IMAGE [-n NAME] IMAGE ...` into per-image flags. */
export function parseImageArgs(tokens: readonly string[]): ImageArg[] {
  const out: ImageArg[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    const cur = out[out.length - 1];
    const m = /^--?(n|name)(?:=(.*))?$/.exec(t);
    if (m) {
      if (cur === undefined) throw usage(`${t}: an image flag must follow an IMAGE`);
      const v = m[2] ?? tokens[++i];
      if (v === undefined) throw usage(`${t}: needs a NAME`);
      cur.name = v;
    } else if (t.startsWith('-')) {
      throw usage(`${t}: unknown image flag (see pod-create --help)`);
    } else {
      out.push({ image: t });
    }
  }
  return out;
}

export async function main(argv: string[]): Promise<CommandResult> {
  const args = await parser('pod-create', argv, USAGE, { haltAtNonOption: true }).parse();
  let specs = parseImageArgs(args._.map(String));
  if (specs.length === 0) {
    const id = pipedField(await readStdinJson(), 'id');
    if (id === null) throw usage('expected IMAGE arguments, or the JSON of an image on stdin');
    specs = [{ image: id }];
  }
  const store = await openStore(args);
  const apps: AppSpec[] = [];
  for (const s of specs) {
    const image = await findImage(store, s.image);
    apps.push(s.name === undefined ? { image } : { image, name: s.name });
  }
  const pod = await createPod(store, apps);
  return { json: podJson(pod, (a) => store.layout.podAppRootfs(pod.uuid, a)), human: formatPod(pod) };
}
