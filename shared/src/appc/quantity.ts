/**
 * Resource quantities of the `resource/*` isolators (appc spec/ace.md § Resource Isolators;
 * schema/types/resource, a copy of Kubernetes' `resource.Quantity`).
 *
 * Grammar (Go's `ParseQuantity`, accepted and rejected exactly as Go does):
 *
 *     quantity := [+-] digits [. digits] suffix          (digits may be empty: "1.", ".5")
 *     suffix   := "" | n u m k M G T P E                 decimal SI (10^-9 … 10^18)
 *               | Ki Mi Gi Ti Pi Ei                      binary SI (2^10 … 2^60)
 *               | (e|E) [+-] digits                       decimal exponent
 *
 * Uppercase `K` is not a suffix (spec/ace.md lists it, Go rejects it). Whitespace around a
 * quantity is rejected, except that a JSON string is trimmed first (`parseQuantityJson`), as
 * Go's `UnmarshalJSON` does; a JSON number is read as its decimal text.
 *
 * Values are kept exactly, as a count of nano-units (10^-9), rounded away from zero to a whole
 * nano-unit as Go does, and capped at ±(2^63−1) units. `quantityValue` gives whole units
 * (memory: bytes) and `quantityMilliValue` thousandths (CPU: millicores), both rounded up.
 */
import { invalid } from '../errors.js';

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** The text that was parsed (a JSON number as JavaScript prints it). */
  readonly text: string;
  /** The notation used: `1500m` DecimalSI, `1.5Ki` BinarySI, `1.5e3` DecimalExponent. */
  readonly format: QuantityFormat;
  /** The value × 10^9, rounded away from zero, capped at ±MAX_QUANTITY_NANOS. */
  readonly nanos: bigint;
}

/** Go's documented format regex (the parser below is the authority; see the module comment). */
export const QUANTITY_PATTERN = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';

const NANO = 1_000_000_000n;
const MAX_INT64 = 2n ** 63n - 1n;
/** The largest magnitude a quantity holds: 2^63−1 units. */
export const MAX_QUANTITY_NANOS = MAX_INT64 * NANO;

const ERR_FORMAT = `does not match ${QUANTITY_PATTERN}`;
const ERR_SUFFIX = 'has an unknown suffix (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent e3)';
const ERR_NUMERIC = 'has no digits';

const SUFFIX_CHARS = 'eEinumkKMGTP';
const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = { '': 0, n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

interface Parts {
  positive: boolean;
  /** The text Go hands to its decimal parser on the slow path (sign, digits, point). */
  value: string;
  /** Integer digits without leading zeros ("0" when none). */
  num: string;
  /** Fraction digits. */
  denom: string;
  suffix: string;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Go's `parseQuantityString`, step by step (so edge cases such as "1." and ".5" agree). */
function splitQuantity(str: string): Parts | string {
  let positive = true;
  let pos = 0;
  const end = str.length;
  if (str[0] === '-') {
    positive = false;
    pos++;
  } else if (str[0] === '+') {
    pos++;
  }
  while (pos < end && str[pos] === '0') pos++;
  if (pos >= end) return { positive, value: '0', num: '0', denom: '', suffix: '' };
  const numStart = pos;
  while (pos < end && isDigit(str[pos])) pos++;
  let num = str.slice(numStart, pos);
  if (pos >= end) return { positive, value: str, num, denom: '', suffix: '' };
  if (num === '') num = '0';
  let denom = '';
  if (str[pos] === '.') {
    pos++;
    const denomStart = pos;
    while (pos < end && isDigit(str[pos])) pos++;
    denom = str.slice(denomStart, pos);
    if (pos >= end) return { positive, value: str, num, denom, suffix: '' };
  }
  const value = str.slice(0, pos);
  const suffixStart = pos;
  while (pos < end && SUFFIX_CHARS.includes(str[pos] as string)) pos++;
  if (pos < end && (str[pos] === '-' || str[pos] === '+')) pos++;
  while (pos < end && isDigit(str[pos])) pos++;
  if (pos < end) return ERR_FORMAT;
  return { positive, value, num, denom, suffix: str.slice(suffixStart) };
}

interface Suffix {
  base: 2 | 10;
  exponent: bigint;
  format: QuantityFormat;
}

function interpretSuffix(s: string): Suffix | undefined {
  const dec = DECIMAL_SUFFIXES[s];
  if (dec !== undefined) return { base: 10, exponent: BigInt(dec), format: 'DecimalSI' };
  const bin = BINARY_SUFFIXES[s];
  if (bin !== undefined) return { base: 2, exponent: BigInt(bin), format: 'BinarySI' };
  if (s.length > 1 && (s[0] === 'e' || s[0] === 'E')) {
    // strconv.ParseInt(s[1:], 10, 64)
    const digits = s.slice(1);
    if (!/^[+-]?[0-9]+$/.test(digits)) return undefined;
    const exponent = BigInt(digits);
    if (exponent > MAX_INT64 || exponent < -MAX_INT64 - 1n) return undefined;
    return { base: 10, exponent, format: 'DecimalExponent' };
  }
  return undefined;
}

const pow10 = (n: bigint): bigint => 10n ** n;
const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b;
const cap = (n: bigint): bigint => (n > MAX_QUANTITY_NANOS ? MAX_QUANTITY_NANOS : n);

/** |value| in nano-units, rounded up, capped. */
function magnitudeNanos(p: Parts, s: Suffix): bigint {
  const n = BigInt(p.num + p.denom);
  if (n === 0n) return 0n;
  const d = BigInt(p.denom.length);
  if (s.base === 2) return cap(ceilDiv(n * (1n << s.exponent) * NANO, pow10(d)));
  const k = s.exponent + 9n - d; // value × 10^9 = n × 10^k
  if (k >= 0n) return k > 40n ? MAX_QUANTITY_NANOS : cap(n * pow10(k));
  if (-k > BigInt(p.num.length + p.denom.length) + 1n) return 1n; // 0 < value < 1 nano-unit
  return cap(ceilDiv(n, pow10(-k)));
}

/** Go's verdict on a quantity string: undefined when valid, else why not. */
export function quantityError(str: string): string | undefined {
  const r = analyse(str);
  return typeof r === 'string' ? r : undefined;
}

function analyse(str: string): Quantity | string {
  if (str === '') return 'is empty';
  if (str === '0') return { text: str, format: 'DecimalSI', nanos: 0n };
  const p = splitQuantity(str);
  if (typeof p === 'string') return p;
  const s = interpretSuffix(p.suffix);
  if (s === undefined) return ERR_SUFFIX;
  // Go takes an int64 fast path when the digits fit; otherwise it parses `value` as a decimal,
  // which needs at least one digit ("e-10", "Pi" and "Ei" alone fail there, "Ki" alone passes).
  let precision: number;
  let scale: bigint;
  if (s.format === 'BinarySI') {
    scale = 0n;
    precision = p.denom === '' ? 15 - p.num.length - Math.trunc((Number(s.exponent) * 3) / 10) - 1 : -1;
  } else {
    scale = s.exponent;
    precision = 18 - (p.num.length + p.denom.length);
  }
  let fast = false;
  if (precision >= 0) {
    scale -= BigInt(p.denom.length);
    if (scale >= -9n) {
      const v = BigInt(p.num + p.denom) * (s.base === 2 ? 1n << s.exponent : 1n);
      fast = v <= MAX_INT64; // int64Multiply overflow falls through to the slow path
    }
  }
  if (!fast && !/[0-9]/.test(p.value)) return ERR_NUMERIC;
  const mag = magnitudeNanos(p, s);
  const nanos = p.positive ? mag : -mag;
  let format = s.format;
  if (format === 'BinarySI' && mag > 0n && mag < NANO && !fast) format = 'DecimalSI';
  return { text: str, format, nanos };
}

/**
 * Parse a quantity string exactly as Go's `ParseQuantity` (no trimming).
 * @throws JetpackError('invalid') `quantity "1K": has an unknown suffix (...)`
 */
export function parseQuantity(str: string): Quantity {
  const r = analyse(str);
  if (typeof r === 'string') throw invalid(`quantity ${JSON.stringify(str)}: ${r}`);
  return r;
}

/** Go's `strings.TrimSpace` set (Unicode White_Space), which differs from JS `trim()` (BOM). */
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** The text Go's `Quantity.UnmarshalJSON` parses for a JSON value, or undefined for a non-quantity type. */
export function quantityText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.replace(GO_SPACE, '');
  if (typeof value === 'number') return String(value);
  return undefined;
}

/** Why a JSON value is not a quantity, or undefined when it is one. */
export function quantityJsonError(value: unknown): string | undefined {
  const text = quantityText(value);
  if (text === undefined) return 'must be a quantity string such as "500m" or "1Gi", or a number';
  return quantityError(text);
}

/**
 * Parse a quantity as it appears in JSON: a string (trimmed) or a number.
 * @throws JetpackError('invalid') for anything else or a malformed quantity
 */
export function parseQuantityJson(value: unknown): Quantity {
  const text = quantityText(value);
  if (text === undefined) throw invalid(`quantity ${JSON.stringify(value) ?? String(value)}: must be a string or a number`);
  return parseQuantity(text);
}

/** Round a nano-unit count up (away from zero) to a multiple of 10^digits nano-units. */
function scaled(q: Quantity, unit: bigint): bigint {
  const neg = q.nanos < 0n;
  const mag = neg ? -q.nanos : q.nanos;
  const r = ceilDiv(mag, unit);
  return neg ? -r : r;
}

/** Whole units, rounded away from zero (Go's `Value()`): memory in bytes. `1G` → 1000000000n. */
export function quantityValue(q: Quantity): bigint {
  return scaled(q, NANO);
}

/** Thousandths of a unit, rounded away from zero (Go's `MilliValue()`): CPU millicores. `250m` → 250n. */
export function quantityMilliValue(q: Quantity): bigint {
  return scaled(q, 1_000_000n);
}
