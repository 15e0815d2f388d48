import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isClayError } from '../../core/errors.ts';
import { decodePolygonWkb, encodePolygonWkb } from '../../core/wkb.ts';

const square: [number, number][] = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]];

/** Float64 little-endian hex of a number, from Node's Buffer (not DataView, which wkb.ts uses). */
const f64 = (x: number, be = false): string => {
  const b = Buffer.alloc(8);
  if (be) b.writeDoubleBE(x);
  else b.writeDoubleLE(x);
  return b.toString('hex');
};

test('encodePolygonWkb writes OGC little-endian WKB, byte for byte', () => {
  const hex = Buffer.from(encodePolygonWkb([square])).toString('hex');
  const expected = '01' + '03000000' + '01000000' + '05000000' + square.map(([x, y]) => f64(x) + f64(y)).join('');
  assert.equal(hex, expected);
  assert.equal(Buffer.from(encodePolygonWkb([])).toString('hex'), '010300000000000000', 'empty polygon');
});

test('decodePolygonWkb reads both byte orders, holes included', () => {
  const hole: [number, number][] = [[0.25, 0.25], [0.25, 0.5], [0.5, 0.5], [0.25, 0.25]];
  assert.deepEqual(decodePolygonWkb(encodePolygonWkb([square, hole])), [square, hole]);
  const be = Buffer.from('00' + '00000003' + '00000001' + '00000004' + [[1.5, -2], [3, -2], [3, 4.25], [1.5, -2]].map(([x, y]) => f64(x!, true) + f64(y!, true)).join(''), 'hex');
  assert.deepEqual(decodePolygonWkb(be), [[[1.5, -2], [3, -2], [3, 4.25], [1.5, -2]]]);
  // A view into a larger buffer (as Parquet readers hand out) decodes from its own offset.
  const padded = new Uint8Array(7 + be.byteLength);
  padded.set(be, 7);
  assert.deepEqual(decodePolygonWkb(padded.subarray(7)), decodePolygonWkb(be));
});

test('BAD_ARGUMENT: open, short or non-finite rings; other geometry types; truncated or trailing bytes', () => {
  const bad = (f: () => unknown): void => assert.throws(f, (e) => isClayError(e, 'BAD_ARGUMENT'));
  bad(() => encodePolygonWkb([square.slice(0, 4)]));
  bad(() => encodePolygonWkb([[[0, 0], [1, 1], [0, 0]]]));
  bad(() => encodePolygonWkb([[[0, 0], [1, 0], [Number.NaN, 1], [0, 0]]]));
  const ok = encodePolygonWkb([square]);
  bad(() => decodePolygonWkb(Buffer.from('0101000000' + f64(1) + f64(2), 'hex'))); // a Point
  bad(() => decodePolygonWkb(ok.subarray(0, ok.byteLength - 1)));
  bad(() => decodePolygonWkb(Uint8Array.of(...ok, 0)));
  bad(() => decodePolygonWkb(Uint8Array.of(2, ...ok.subarray(1))));
});
