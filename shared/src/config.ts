/**
 * Jetpack configuration: `jetpack.conf`, in the original's `key = value` syntax.
 *
 * Syntax: one `key = value` per line; blank lines and lines starting with `#` are ignored;
 * whitespace around key and value is trimmed; a later key overrides an earlier one. A line
 * without `=` is an error naming the file and line.
 *
 * The file is found by `-config=PATH` (`--config`), then `$JETPACK_CONF`, then the platform
 * default: `/usr/local/etc/jetpack.conf` on FreeBSD, `/etc/jetpack.conf` on Linux. A missing file at
 * the platform default is fine (the defaults apply); a missing file named explicitly is an error.
 * Keys are documented in man/jetpack.conf.5.
 */
import { readFileSync } from 'node:fs';
import { JetpackError } from './errors.js';

/** Effective configuration: every key with its value, in a stable order, and where it came from. */
export interface Config {
  /** Path of the configuration file that was read, or null if none existed. */
  path: string | null;
  values: Map<string, string>;
}

/** Built-in defaults, applied before the file (original jetpack's embedded defaults, adapted). */
export function defaults(platform: NodeJS.Platform = process.platform): Array<[string, string]> {
  const freebsd = platform === 'freebsd';
  return [
    ['root.dir', '/var/jetpack'],
    ['root.zfs', ''],
    ['root.zfs.mountpoint', '/var/jetpack'],
    ['images.aci.compression', 'xz'],
    ['images.zfs.atime', 'off'],
    ['images.zfs.compress', freebsd ? 'lz4' : 'on'],
    ['jail.interface', freebsd ? 'lo1' : 'jetpack0'],
    ['jail.namePrefix', 'jetpack/'],
    ['ace.dns-servers', ''],
    ['mds.port', '1104'],
    ['debug', 'off'],
  ];
}

/** The platform's default configuration path. */
export function defaultConfigPath(platform: NodeJS.Platform = process.platform): string {
  return platform === 'freebsd' ? '/usr/local/etc/jetpack.conf' : '/etc/jetpack.conf';
}

/** Parse `key = value` text; `source` names the file in errors. */
export function parseConfig(text: string, source: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new JetpackError('config', `${source}:${i + 1}: expected "key = value", got "${line}"`);
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z0-9_.\-/]+$/.test(key)) throw new JetpackError('config', `${source}:${i + 1}: bad key "${key}"`);
    out.push([key, line.slice(eq + 1).trim()]);
  });
  return out;
}

/**
 * Load the effective configuration.
 * @param explicit the `-config=PATH` argument, if given
 * @param overrides `key=value` pairs applied last (e.g. from tests or `-o`)
 * @throws JetpackError('config') when an explicitly named file is missing or a line is malformed
 */
export function loadConfig(explicit?: string, overrides: Array<[string, string]> = []): Config {
  const values = new Map<string, string>(defaults());
  const envPath = process.env['JETPACK_CONF'];
  const path = explicit ?? (envPath !== undefined && envPath !== '' ? envPath : defaultConfigPath());
  const named = explicit !== undefined || (envPath !== undefined && envPath !== '');
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || named) {
      throw new JetpackError('config', `${path}: cannot read configuration: ${code ?? String(err)}`);
    }
  }
  if (text !== null) for (const [k, v] of parseConfig(text, path)) values.set(k, v);
  for (const [k, v] of overrides) values.set(k, v);
  return { path: text === null ? null : path, values };
}

/** A key's value, or the empty string when unset. */
export function get(config: Config, key: string): string {
  return config.values.get(key) ?? '';
}

/** A boolean key: on/yes/true/1 are true. */
export function flag(config: Config, key: string): boolean {
  return ['on', 'yes', 'true', '1'].includes(get(config, key).toLowerCase());
}

/** All `prefix.*` keys with the prefix removed, e.g. `images.zfs.` → `{atime: 'off'}`. */
export function withPrefix(config: Config, prefix: string): Array<[string, string]> {
  return [...config.values].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]);
}
