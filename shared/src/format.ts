/**
 * Human-readable output of the `jetpack` wrapper, in the original jetpack's formats
 * (tables aligned like Go's tabwriter with padding 2; sections indented by 2 spaces).
 * Commands' JSON output is the machine interface; these strings are for people.
 */
import type { GcReport } from './gc.js';
import type { App, NameValue } from './appc/types.js';
import type { Config } from './config.js';
import type { Image, Pod } from './store/store.js';

/**
 * Make untrusted text (labels, annotations, a pod's command lines) safe for a terminal: control
 * characters, including newlines and ESC, are shown as `\xNN`, so an image cannot forge table rows
 * or drive the terminal.
 */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Align rows into columns separated by at least two spaces; the last column is not padded. */
export function table(rawRows: ReadonlyArray<readonly string[]>, indent = ''): string {
  const rows = rawRows.map((r) => r.map(printable));
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 2))).join('').trimEnd())
    .join('\n');
}

/** Go's %q-like quoting of one argv word. */
function quote(s: string): string {
  return JSON.stringify(s);
}

function section(title: string, body: string, indent: string): string {
  return body === '' ? '' : `${indent}${title}\n${body}\n`;
}

function pairs(list: readonly NameValue[] | undefined, indent: string): string {
  return list === undefined || list.length === 0 ? '' : table(list.map((l) => [l.name, l.value]), indent);
}

function formatApp(app: App, indent: string): string {
  const rows: string[][] = [];
  if (app.exec !== undefined) rows.push(['Exec', app.exec.map(quote).join(' ')]);
  rows.push(['User', app.user], ['Group', app.group]);
  if (app.workingDirectory !== undefined) rows.push(['WorkingDirectory', app.workingDirectory]);
  if (app.supplementaryGIDs !== undefined && app.supplementaryGIDs.length > 0) rows.push(['SupplementaryGIDs', app.supplementaryGIDs.join(' ')]);
  let out = `${table(rows, indent)}\n${indent}Environment:\n`;
  const env = pairs(app.environment, `${indent}  `);
  if (env !== '') out += `${env}\n`;
  if (app.eventHandlers?.length) out += section('Event Handlers', table(app.eventHandlers.map((h) => [h.name, h.exec.map(quote).join(' ')]), `${indent}  `), indent);
  if (app.mountPoints?.length) out += section('Mount Points', table(app.mountPoints.map((m) => [m.name, m.path, m.readOnly ? 'ro' : ''].filter((c) => c !== '')), `${indent}  `), indent);
  if (app.ports?.length) out += section('Ports', table(app.ports.map((p) => [p.name, p.protocol, String(p.port), p.socketActivated ? '(socket activated)' : ''].filter((c) => c !== '')), `${indent}  `), indent);
  if (app.isolators?.length) out += section('Isolators', table(app.isolators.map((i) => [i.name, JSON.stringify(i.value)]), `${indent}  `), indent);
  return out;
}

/** `image IMAGE show`. */
export function formatImage(i: Image): string {
  let out = `Image ${i.uuid}\n${table([['Hash', i.id], ['Origin', i.origin], ['Timestamp', i.timestamp]], '  ')}\n`;
  out += `  Manifest ${i.manifest.name}\n`;
  out += section('Labels', pairs(i.manifest.labels, '      '), '    ');
  if (i.manifest.app) out += `    App\n${formatApp(i.manifest.app, '      ')}`;
  out += section('Annotations', pairs(i.manifest.annotations, '      '), '    ');
  return out.trimEnd();
}

/** `image list`: UUID, NAME, LABELS (name="value", sorted), or `No images`. */
export function formatImageList(images: readonly Image[]): string {
  if (images.length === 0) return 'No images';
  const rows = images.map((i) => [
    i.uuid,
    i.manifest.name,
    (i.manifest.labels ?? []).map((l) => `${l.name}=${JSON.stringify(l.value)}`).sort().join(','),
  ]);
  return table([['UUID', 'NAME', 'LABELS'], ...rows.sort((a, b) => (a[1] as string).localeCompare(b[1] as string))]);
}

/**
 * The STATUS column: `prepared`, `running`, `dying`, or `exited(N)` with the pod's status; a pod
 * of several apps adds each app's: `exited(3: web=0,db=3)` (an app that never ended: `?`).
 */
export function podStatus(p: Pod): string {
  if (p.state !== 'exited' || p.run.status === undefined) return p.state;
  if (p.apps.length < 2) return `exited(${p.run.status})`;
  const per = p.apps.map((a) => `${a.name}=${p.run.apps?.[a.name] ?? '?'}`).join(',');
  return `exited(${p.run.status}: ${per})`;
}

function podIp(p: Pod): string {
  return p.manifest.annotations?.find((a) => a.name === 'ip-address')?.value ?? '-';
}

/** `pod list`: UUID, STATUS, IP, APPS, or `No pods`. */
export function formatPodList(pods: readonly Pod[]): string {
  if (pods.length === 0) return 'No pods';
  return table([['UUID', 'STATUS', 'IP', 'APPS'], ...pods.map((p) => [p.uuid, podStatus(p), podIp(p), p.apps.map((a) => a.name).join(' ')])]);
}

/** `gc`: what was removed, a line per kind, or `Nothing to clean up`. */
export function formatGc(r: GcReport): string {
  const lines: string[] = [];
  if (r.removed.length > 0) lines.push(`Removed leftovers: ${r.removed.join(' ')}`);
  if (r.networks.length > 0) lines.push(`Removed stale pod networks: ${r.networks.join(' ')}`);
  if (r.cgroups.length > 0) lines.push(`Removed stale cgroups: ${r.cgroups.join(' ')}`);
  // Claims of pods in stores removed outright (rm -rf) can be many: counted, not listed.
  if (r.addresses.length > 0) lines.push(`Freed ${r.addresses.length} stale address claim${r.addresses.length === 1 ? '' : 's'} (pods that no longer exist)`);
  return lines.length === 0 ? 'Nothing to clean up' : lines.join('\n');
}

/** `pod POD show`. */
export function formatPod(p: Pod): string {
  let out = `Pod ${p.uuid}\n${table([['State', podStatus(p)], ['Created', p.created]], '  ')}\n  Manifest\n    Apps\n`;
  for (const a of p.manifest.apps) {
    out += `      ${a.name}\n        ${a.image.id}\n`;
    out += section('Annotations', pairs(a.annotations, '          '), '        ');
    if (a.app) out += `        App\n${formatApp(a.app, '          ')}`;
  }
  const vols = p.manifest.volumes ?? [];
  if (vols.length > 0) {
    out += '    Volumes\n';
    for (const v of vols) {
      out += `      ${v.name}${v.readOnly ? ' (ro)' : ''}\n${table([['Kind', v.kind], ...(v.source ? [['Source', v.source]] : [])], '        ')}\n`;
    }
  }
  out += section('Annotations', pairs(p.manifest.annotations, '      '), '    ');
  return out.trimEnd();
}

/** `info` / `init`: version, store, and every effective configuration key. */
export function formatInfo(version: string, store: Array<[string, string]>, config: Config): string {
  const conf = [...config.values].map(([k, v]) => [k, v]);
  return [
    `JetPack ${version} (Node ${process.version}, ${process.platform})`,
    table(store),
    `Configuration${config.path ? ` (${config.path})` : ' (defaults)'}:`,
    table(conf, '  '),
  ].join('\n');
}
