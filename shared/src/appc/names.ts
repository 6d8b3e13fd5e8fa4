/**
 * AC Identifier and AC Name (appc spec/types.md), checked the way the Go reference code checks
 * them (schema/types/acidentifier.go, acname.go), which is what actool and rkt enforce:
 *
 * - AC Identifier: only `[a-z0-9-._~/]`, no leading or trailing separator (`-._~/`), not empty.
 *   Used for image names, label, annotation and isolator names, dependency imageName.
 * - AC Name: only `[a-z0-9-]`, no leading or trailing `-`, not empty.
 *   Used for app names in a pod, mountPoint, port and volume names.
 *
 * The spec's own regexes (`^[a-z0-9]+([-._~/][a-z0-9]+)*$`, `^[a-z0-9]+([-][a-z0-9]+)*$`) also
 * forbid consecutive separators (`foo--bar`, `example.com//x`); Go does not, and neither does
 * Jetpack when reading. `isStrictAcIdentifier` / `isStrictAcName` test the spec regexes, for
 * callers that want to warn.
 */
import { invalid } from '../errors.js';

/** Go's AC Identifier rule as one regex (JSON Schema `pattern`). */
export const AC_IDENTIFIER_PATTERN = '^[a-z0-9]([a-z0-9._~/-]*[a-z0-9])?$';
/** Go's AC Name rule as one regex (JSON Schema `pattern`). */
export const AC_NAME_PATTERN = '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$';
/** The spec's regexes (spec/types.md), stricter than Go's rule. */
export const AC_IDENTIFIER_STRICT_PATTERN = '^[a-z0-9]+([-._~/][a-z0-9]+)*$';
export const AC_NAME_STRICT_PATTERN = '^[a-z0-9]+([-][a-z0-9]+)*$';

/** What an error message says a value is not. */
export const AC_IDENTIFIER_RULE = 'is not an AC Identifier (lowercase letters, digits and -._~/, starting and ending with a letter or digit)';
export const AC_NAME_RULE = 'is not an AC Name (lowercase letters, digits and -)';

const AC_IDENTIFIER_RE = new RegExp(AC_IDENTIFIER_PATTERN);
const AC_NAME_RE = new RegExp(AC_NAME_PATTERN);
const AC_IDENTIFIER_STRICT_RE = new RegExp(AC_IDENTIFIER_STRICT_PATTERN);
const AC_NAME_STRICT_RE = new RegExp(AC_NAME_STRICT_PATTERN);

/** True when `s` is an AC Identifier by Go's rule (what actool accepts). */
export function isAcIdentifier(s: unknown): s is string {
  return typeof s === 'string' && AC_IDENTIFIER_RE.test(s);
}

/** True when `s` is an AC Name by Go's rule (what actool accepts). */
export function isAcName(s: unknown): s is string {
  return typeof s === 'string' && AC_NAME_RE.test(s);
}

/** True when `s` matches the spec's AC Identifier regex (no consecutive separators). */
export function isStrictAcIdentifier(s: unknown): s is string {
  return typeof s === 'string' && AC_IDENTIFIER_STRICT_RE.test(s);
}

/** True when `s` matches the spec's AC Name regex (no consecutive `-`). */
export function isStrictAcName(s: unknown): s is string {
  return typeof s === 'string' && AC_NAME_STRICT_RE.test(s);
}

/**
 * Why `s` is not an AC Identifier (Go's three errors: empty, bad character, bad edge), or
 * undefined when it is one.
 */
export function acIdentifierError(s: string): string | undefined {
  if (s === '') return 'an AC Identifier cannot be empty';
  if (/[^a-z0-9._~/-]/.test(s)) return 'an AC Identifier contains only lowercase letters, digits and -._~/';
  if (/^[-._~/]|[-._~/]$/.test(s)) return 'an AC Identifier starts and ends with a lowercase letter or digit';
  return undefined;
}

/** Why `s` is not an AC Name, or undefined when it is one. */
export function acNameError(s: string): string | undefined {
  if (s === '') return 'an AC Name cannot be empty';
  if (/[^a-z0-9-]/.test(s)) return 'an AC Name contains only lowercase letters, digits and -';
  if (/^-|-$/.test(s)) return 'an AC Name starts and ends with a lowercase letter or digit';
  return undefined;
}

/**
 * Go's `SanitizeACIdentifier`: lowercase, replace every other character by `_`, strip leading
 * and trailing separators. `"foo.com/BAR"` → `"foo.com/bar"`, `"-/app.name-test/-/"` →
 * `"app.name-test"`.
 * @throws JetpackError('invalid') when nothing is left (`"__"`, `".//-"`, `""`)
 */
export function sanitizeAcIdentifier(s: string): string {
  const out = s
    .toLowerCase()
    .replace(/[^a-z0-9._~/-]/g, '_')
    .replace(/^[-._~/]+|[-._~/]+$/g, '');
  if (out === '') throw invalid(`"${s}" cannot be made an AC Identifier: it has no letter or digit`);
  return out;
}

/**
 * Go's `SanitizeACName` over the whole string: lowercase, replace every other character by `-`,
 * strip leading and trailing `-`. `"foo.com/BAR"` → `"foo-com-bar"`.
 * @throws JetpackError('invalid') when nothing is left
 */
export function sanitizeAcNameString(s: string): string {
  const out = s
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
  if (out === '') throw invalid(`"${s}" cannot be made an AC Name: it has no letter or digit`);
  return out;
}

/**
 * The default app name for an image name, as rkt's `ImageNameToAppName`: the last `/` component,
 * made an AC Name (`sanitizeAcNameString`). `example.com/etcd` → `etcd`,
 * `coreos.com/etcd:v2.0.0` → `etcd-v2-0-0`, `example.com/my_app` → `my-app`.
 * Components that would sanitize to nothing (a trailing `/`) are skipped.
 * @throws JetpackError('invalid') when no component has a letter or digit
 */
export function sanitizeAcName(imageName: string): string {
  const parts = imageName.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] ?? '';
    if (/[A-Za-z0-9]/.test(part)) return sanitizeAcNameString(part);
  }
  throw invalid(`"${imageName}" cannot be made an AC Name: it has no letter or digit`);
}
