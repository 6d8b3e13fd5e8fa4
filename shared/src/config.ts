/**
 * Jetpack configuration: `jetpack.conf`, in the original's `key = value` syntax.
 *
 * Syntax: one `key = value` per line; blank lines and lines starting with `#` are ignored;
 * whitespace around key and value is trimmed; a later key overrides an earlier one. A line
 * without `=` is an error naming the file and line, and so is a key Jetpack does not know (one
 * that is neither in {@link defaults}, nor in {@link KNOWN_KEYS}, nor under an {@link OPEN_PREFIXES}
 * prefix) and a limit key whose value is not a size.
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
    ['jail.interface.address', '172.23.0.1/16'],
    ['jail.namePrefix', 'jetpack/'],
    ['ace.dns-servers', ''],
    ['mds.port', '1104'],
    ['debug', 'off'],
    // Limits on imported archives (archive/extract.ts Limits), sizes with an optional K/M/G/T suffix.
    ['images.import.maxBytes', '64G'],
    ['images.import.maxTrailingBytes', '1M'],
    ['images.import.maxEntries', '10000000'],
    ['images.import.maxPathDepth', '256'],
    ['images.import.maxPathLength', '4096'],
  ];
}

/** Keys read by some command that have no default (besides those under {@link OPEN_PREFIXES}). */
export const KNOWN_KEYS: readonly string[] = [];

/**
 * Prefixes under which any key is accepted: ZFS properties (`root.zfs.`, `images.zfs.`,
 * `pods.zfs.`), jail(8) parameters (`ace.jailConf.`), and the families other commands extend
 * (`mds.`, `jail.`).
 */
export const OPEN_PREFIXES: readonly string[] = ['root.zfs.', 'images.zfs.', 'pods.zfs.', 'ace.jailConf.', 'mds.', 'jail.'];

/** Whether Jetpack knows `key` (see {@link parseConfig}). */
export function isKnownKey(key: string): boolean {
  return defaults().some(([k]) => k === key) || KNOWN_KEYS.includes(key) || OPEN_PREFIXES.some((p) => key.startsWith(p) && key.length > p.length);
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Parse a size: a whole number with an optional K, M, G or T suffix (powers of 1024, any case); null if malformed. */
export function parseSize(value: string): number | null {
  const m = /^([0-9]{1,16})\s*([kmgt]?)$/i.exec(value);
  if (m === null) return null;
  const n = Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
  return Number.isSafeInteger(n) ? n : null;
}

/** Check a value for keys with a syntax: the `images.import.*` limits are sizes. Returns the broken rule, or null. */
function valueError(key: string, value: string): string | null {
  if (key.startsWith('images.import.') && parseSize(value) === null) return 'must be a whole number, optionally followed by K, M, G or T';
  return null;
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
    if (!isKnownKey(key)) throw new JetpackError('config', `${source}:${i + 1}: unknown key "${key}" (see jetpack.conf(5))`);
    const value = line.slice(eq + 1).trim();
    const bad = valueError(key, value);
    if (bad !== null) throw new JetpackError('config', `${source}:${i + 1}: ${key} = ${value}: ${bad}`);
    out.push([key, value]);
  });
  return out;
}

/**
 * Load the effective configuration.
 * @param explicit the `-config=PATH` argument, if given
 * @param overrides `key=value` pairs applied last (e.g. from tests or `-o`)
 * @throws JetpackError('config') when an explicitly named file is missing, a line is malformed,
 *   a key is unknown or a limit is not a size
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
  for (const [k, v] of overrides) {
    if (!isKnownKey(k)) throw new JetpackError('config', `override: unknown key "${k}" (see jetpack.conf(5))`);
    const bad = valueError(k, v);
    if (bad !== null) throw new JetpackError('config', `override: ${k} = ${v}: ${bad}`);
    values.set(k, v);
  }
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

/** A size key (see {@link parseSize}); a value that is not a size (only possible for a default) is an error. */
export function size(config: Config, key: string): number {
  const v = get(config, key);
  const n = parseSize(v);
  if (n === null) throw new JetpackError('config', `${config.path ?? 'configuration'}: ${key} = ${v}: must be a whole number, optionally followed by K, M, G or T`);
  return n;
}

/** All `prefix.*` keys with the prefix removed, e.g. `images.zfs.` → `{atime: 'off'}`. */
export function withPrefix(config: Config, prefix: string): Array<[string, string]> {
  return [...config.values].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]);
}
