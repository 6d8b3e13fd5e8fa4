/**
 * Resource quantities: Go's schema/types/resource/quantity_test.go TestQuantityParse table (values,
 * formats, the negative and explicit-+ forms, the invalid list), JSON forms, Value/MilliValue as in
 * isolator_test.go, and a cross-check of quantity verdicts with Debian's actool (resource/memory limit).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAX_QUANTITY_NANOS,
  parseQuantity,
  parseQuantityJson,
  quantityError,
  quantityJsonError,
  quantityMilliValue,
  quantityValue,
  type QuantityFormat,
} from '../shared/src/appc/quantity.js';

const D: QuantityFormat = 'DecimalSI';
const B: QuantityFormat = 'BinarySI';
const X: QuantityFormat = 'DecimalExponent';
const MAX = 'max';

/** [input, mantissa, exponent (value = mantissa × 10^exponent), format]; 'max' = capped at 2^63−1. */
const table: Array<[string, number | typeof MAX, number, QuantityFormat]> = [
  ['0', 0, 0, D],
  ['0n', 0, 0, D],
  ['0u', 0, 0, D],
  ['0m', 0, 0, D],
  ['0Ki', 0, 0, B],
  ['0k', 0, 0, D],
  ['0Mi', 0, 0, B],
  ['0M', 0, 0, D],
  ['0Gi', 0, 0, B],
  ['0G', 0, 0, D],
  ['0Ti', 0, 0, B],
  ['0T', 0, 0, D],
  ['1', 1, 0, D],
  ['1Ki', 1024, 0, B],
  ['8Ki', 8 * 1024, 0, B],
  ['7Mi', 7 * 1024 * 1024, 0, B],
  ['6Gi', 6 * 1024 * 1024 * 1024, 0, B],
  ['5Ti', 5 * 1024 ** 4, 0, B],
  ['4Pi', 4 * 1024 ** 5, 0, B],
  ['3Ei', 3 * 1024 ** 6, 0, B],
  ['10Ti', 10 * 1024 ** 4, 0, B],
  ['100Ti', 100 * 1024 ** 4, 0, B],
  ['5n', 5, -9, D],
  ['4u', 4, -6, D],
  ['3m', 3, -3, D],
  ['9', 9, 0, D],
  ['8k', 8, 3, D],
  ['50k', 5, 4, D],
  ['7M', 7, 6, D],
  ['6G', 6, 9, D],
  ['5T', 5, 12, D],
  ['40T', 4, 13, D],
  ['300T', 3, 14, D],
  ['2P', 2, 15, D],
  ['1E', 1, 18, D],
  ['1E-3', 1, -3, X],
  ['1e3', 1, 3, X],
  ['1E6', 1, 6, X],
  ['1e9', 1, 9, X],
  ['1E12', 1, 12, X],
  ['1e15', 1, 15, X],
  ['1E18', 1, 18, X],
  ['1e14', 1, 14, X],
  ['1e13', 1, 13, X],
  ['100.035k', 100035, 0, D],
  ['0.001', 1, -3, D],
  ['0.0005k', 5, -1, D],
  ['0.005', 5, -3, D],
  ['0.05', 5, -2, D],
  ['0.5', 5, -1, D],
  ['0.00050k', 5, -1, D],
  ['0.00500', 5, -3, D],
  ['0.05000', 5, -2, D],
  ['0.50000', 5, -1, D],
  ['0.5e0', 5, -1, X],
  ['0.5e-1', 5, -2, X],
  ['0.5e-2', 5, -3, X],
  ['10.035M', 10035, 3, D],
  ['1.2e3', 12, 2, X],
  ['1.3E+6', 13, 5, X],
  ['1.40e9', 14, 8, X],
  ['1.53E12', 153, 10, X],
  ['1.6e15', 16, 14, X],
  ['1.7E18', 17, 17, X],
  ['9.01', 901, -2, D],
  ['8.1k', 81, 2, D],
  ['7.123456M', 7123456, 0, D],
  ['6.987654321G', 6987654321, 0, D],
  ['5.444T', 5444, 9, D],
  ['40.1T', 401, 11, D],
  ['300.2T', 3002, 11, D],
  ['2.5P', 25, 14, D],
  ['1.01E', 101, 16, D],
  // Things that saturate/round (up, to a whole nano-unit)
  ['3.001n', 4, -9, D],
  ['1.1E-9', 2, -9, X],
  ['0.0000000001', 1, -9, D],
  ['0.0000000005', 1, -9, D],
  ['0.00000000050', 1, -9, D],
  ['0.5e-9', 1, -9, X],
  ['0.9n', 1, -9, D],
  ['0.00000012345', 124, -9, D],
  ['0.00000012354', 124, -9, D],
  ['9Ei', MAX, 0, B],
  ['9223372036854775807Ki', MAX, 0, B],
  // Go keeps 12E (1.2e19) exactly; Jetpack caps every quantity at 2^63−1 units.
  ['12E', MAX, 0, D],
  // Fractional binary
  ['100.035Ki', 10243584, -2, B],
  ['0.5Mi', 0.5 * 1024 * 1024, 0, B],
  ['0.05Gi', 536870912, -1, B],
  ['0.025Ti', 274877906944, -1, B],
  // "Things written by trolls"
  ['0.000000000001Ki', 2, -9, D],
  ['.001', 1, -3, D],
  ['.0001k', 100, -3, D],
  ['1.', 1, 0, D],
  ['1.G', 1, 9, D],
];

const nanosOf = (mantissa: number | typeof MAX, exponent: number): bigint =>
  mantissa === MAX ? MAX_QUANTITY_NANOS : BigInt(mantissa) * 10n ** BigInt(exponent + 9);

t.test('TestQuantityParse table', async (t) => {
  t.throws(() => parseQuantity(''), { name: 'JetpackError', kind: 'invalid' }, 'empty string');
  for (const [input, mantissa, exponent, format] of table) {
    const want = nanosOf(mantissa, exponent);
    const q = parseQuantity(input);
    t.equal(q.nanos, want, `${input} = ${want} nano-units`);
    t.equal(q.format, format, `${input} is ${format}`);
    t.equal(parseQuantity(`-${input}`).nanos, -want, `-${input}`);
    t.equal(parseQuantity(`+${input}`).nanos, want, `+${input}`);
    t.equal(quantityError(input), undefined);
  }
});

const invalidQuantities = ['1.1.M', '1+1.0M', '0.1mi', '0.1am', 'aoeu', '.5i', '1i', '-3.01i', '-3.01e-', ' 1', '1 ', '1K', '1e', '1ee3', 'e-10', 'Pi', '1 Gi', '1e99999999999999999999'];

t.test('invalid quantities (Go list and more)', async (t) => {
  for (const input of invalidQuantities) {
    t.type(quantityError(input), 'string', `${JSON.stringify(input)} is invalid`);
    t.throws(() => parseQuantity(input), { name: 'JetpackError', kind: 'invalid', message: new RegExp(`^quantity ${JSON.stringify(input).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `) });
  }
  t.match(quantityError('1K'), /suffix/);
  t.match(quantityError('1.1.M'), /does not match/);
  // Go accepts these (a zero with no digits), as parseQuantity does; the isolator check rejects them.
  for (const input of ['-', '+', '.', 'Ki', 'M', 'e5']) t.equal(parseQuantity(input).nanos, 0n, `${input} parses as 0`);
});

t.test('JSON forms: strings are trimmed, numbers read as their text', async (t) => {
  t.equal(parseQuantityJson(' 1 ').nanos, 1_000_000_000n);
  t.equal(parseQuantityJson('\t2Gi\n').nanos, 2n * 1024n ** 3n * 1_000_000_000n);
  t.equal(parseQuantityJson(1.5).nanos, 1_500_000_000n);
  t.equal(parseQuantityJson(1e21).nanos, MAX_QUANTITY_NANOS);
  t.equal(parseQuantityJson(-2).nanos, -2_000_000_000n);
  t.equal(quantityJsonError(true), 'must be a quantity string such as "500m" or "1Gi", or a number');
  t.type(quantityJsonError({}), 'string');
  t.type(quantityJsonError(''), 'string');
  t.throws(() => parseQuantityJson(null), { name: 'JetpackError', kind: 'invalid' });
});

t.test('Value and MilliValue (isolator_test.go TestIsolatorsGetByName)', async (t) => {
  t.equal(quantityValue(parseQuantity('1G')), 1_000_000_000n);
  t.equal(quantityValue(parseQuantity('2Gi')), 2_147_483_648n);
  t.equal(quantityMilliValue(parseQuantity('30m')), 30n);
  t.equal(quantityMilliValue(parseQuantity('1m')), 1n);
  t.equal(quantityMilliValue(parseQuantity('250m')), 250n);
  t.equal(quantityMilliValue(parseQuantity('1.5')), 1500n);
  t.equal(quantityValue(parseQuantity('100M')), 100_000_000n);
  t.equal(quantityValue(parseQuantity('1n')), 1n, 'rounds up');
  t.equal(quantityValue(parseQuantity('-1n')), -1n, 'away from zero');
  t.equal(quantityMilliValue(parseQuantity('0.1m')), 1n);
  t.equal(quantityValue(parseQuantity('9Ei')), 2n ** 63n - 1n, 'capped');
});

t.test('quantity verdicts agree with actool (resource/memory limit)', async (t) => {
  const probe = spawnSync('actool', ['version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.plan(0, 'skip: actool (Debian appc-spec) is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'jetpack-appc-q-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Sample: the valid table (every third entry) and the invalid list.
  const sample: Array<[string, boolean]> = [
    ...table.filter((_, i) => i % 3 === 0).map(([input]): [string, boolean] => [input, true]),
    ...invalidQuantities.filter((q) => q !== ' 1' && q !== '1 ').map((q): [string, boolean] => [q, false]),
    ['-', true],
    ['Ki', true],
  ];
  let n = 0;
  for (const [input, valid] of sample) {
    const manifest = {
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: 'example.com/q',
      app: { user: '0', group: '0', isolators: [{ name: 'resource/memory', value: { limit: input } }] },
    };
    const file = join(dir, `q${n++}.json`);
    writeFileSync(file, JSON.stringify(manifest));
    const r = spawnSync('actool', ['validate', file], { encoding: 'utf8' });
    t.equal(r.status === 0, valid, `actool: ${JSON.stringify(input)} ${valid ? 'valid' : 'invalid'}`);
    t.equal(quantityError(input) === undefined, valid, `jetpack: ${JSON.stringify(input)} ${valid ? 'valid' : 'invalid'}`);
  }
  t.comment(`${n} quantity verdicts cross-checked with actool`);
});
