import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isClayError } from '../../../core/errors.ts';
import { assessChip, CLOUD_THRESHOLD, type QualityInput } from '../../../pipeline/chip/quality.ts';
import { assessChipShared } from '../../../pipeline/worker/pool.ts';

const N = 512 * 512;

/** Planes of one chip on shared memory, as `stackChip` makes them; `cloudy` SCL pixels of class 8, B02 zeros, S1/DEM NaNs. */
function chip(cloudy: number, b02Zeros: number, nans: { vh?: number; vv?: number; dem?: number } = {}): QualityInput {
  const plane = (f: (i: number) => number): Float32Array => {
    const a = new Float32Array(new SharedArrayBuffer(N * 4));
    for (let i = 0; i < N; i++) a[i] = f(i);
    return a;
  };
  return {
    b02: plane((i) => (i < b02Zeros ? 0 : 1200 + (i % 300))),
    vh: plane((i) => (i < (nans.vh ?? 0) ? Number.NaN : 0.01 * (i % 7))),
    vv: plane((i) => (i < (nans.vv ?? 0) ? Number.NaN : 0.02 * (i % 5))),
    dem: plane((i) => (i < (nans.dem ?? 0) ? Number.NaN : 300 + (i % 11))),
    scl: plane((i) => (i < cloudy ? 8 : 4 + (i % 3))),
  };
}

test('the chip filter on a worker thread gives the figures of the filter run here, chip for chip', async () => {
  const atThreshold = Math.ceil(CLOUD_THRESHOLD * N);
  const cases = [chip(0, 0), chip(atThreshold - 1, 0), chip(atThreshold, 0), chip(10, 3, { vv: 1 }), chip(0, 0, { dem: 5, vh: 2 })];
  const reasons = [];
  for (const input of cases) {
    const there = await assessChipShared(input);
    assert.deepEqual(there, assessChip(input));
    reasons.push(there.reasons.join('+'));
  }
  assert.deepEqual(reasons, ['', '', 'cloud', 'b02_nodata+s1_nodata', 's1_nodata+dem_nodata']);
});

test('a plane off shared memory is refused by name', async () => {
  const input = { ...chip(0, 0), dem: new Float32Array(N) };
  await assert.rejects(assessChipShared(input), (err: unknown) => isClayError(err, 'BAD_ARGUMENT') && /the dem plane is not on a SharedArrayBuffer/.test(err.message));
});
