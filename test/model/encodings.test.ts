import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { posembSincos1d, posembSincos2d, roundToFloat16, tokenEncodings } from '../../model/encodings.ts';
import { BAND_GROUPS } from '../../model/config.ts';
import { Golden, maxAbsDiff } from './golden.ts';

const golden = new Golden();

test('roundToFloat16 rounds to nearest even float16', () => {
  assert.equal(roundToFloat16(1), 1);
  assert.equal(roundToFloat16(1 + 2 ** -11), 1); // tie -> even
  assert.equal(roundToFloat16(1 + 3 * 2 ** -11), 1 + 2 ** -9); // tie -> even (up)
  assert.equal(roundToFloat16(0.1), 0.0999755859375);
  assert.equal(roundToFloat16(-(2 ** -25)), -0); // below half the smallest subnormal
  assert.equal(roundToFloat16(3 * 2 ** -26), 2 ** -24);
  assert.equal(roundToFloat16(70000), Infinity);
});

test('model encodings equal the float16-rounded buffers of the original, bit for bit', () => {
  const cfg = golden.config();
  const side = cfg.imageSize / cfg.patchSize;
  const G = BAND_GROUPS.length;
  const cases: [string, Float32Array][] = [
    ['encoding/encoder.pos_encoding', posembSincos2d(side, cfg.dim / 2)],
    ['encoding/encoder.band_encoding', posembSincos1d(G, cfg.dim / 2)],
    ['encoding/decoder.pos_encoding', posembSincos2d(side, cfg.decoderDim / 2)],
    ['encoding/decoder.band_encoding', posembSincos1d(G, cfg.decoderDim / 2)],
    ['encoding/tiny_64_16.pos_fp16', posembSincos2d(4, 128)],
    ['encoding/tiny_512_32.pos_fp16', posembSincos2d(16, 128)],
    ['encoding/tiny.band_fp16', posembSincos1d(G, 128)],
  ];
  for (const [name, ours] of cases) assert.equal(maxAbsDiff(ours, golden.get(name)), 0, name);
});

test('float32 encodings (before the float16 cast) match within float32 rounding', () => {
  const G = BAND_GROUPS.length;
  const cases: [string, Float32Array][] = [
    ['encoding/tiny_64_16.pos_fp32', posembSincos2d(4, 128, { float16: false })],
    ['encoding/tiny_512_32.pos_fp32', posembSincos2d(16, 128, { float16: false })],
    ['encoding/tiny.band_fp32', posembSincos1d(G, 128, { float16: false })],
  ];
  for (const [name, ours] of cases) {
    const d = maxAbsDiff(ours, golden.get(name));
    assert.ok(d <= 2e-7, `${name}: ${d}`);
  }
  // And the cast matters: the float16 values differ from the float32 ones by up to ~2.4e-4.
  assert.ok(maxAbsDiff(golden.get('encoding/tiny.band_fp16'), golden.get('encoding/tiny.band_fp32')) > 1e-4);
});

test('token encodings are concat(pos[l], band[g]) in group-major token order', () => {
  const cfg = golden.config();
  const side = cfg.imageSize / cfg.patchSize;
  const L = side * side;
  const half = cfg.dim / 2;
  const enc = tokenEncodings(side, cfg.dim);
  const pos = golden.get('encoding/encoder.pos_encoding');
  const band = golden.get('encoding/encoder.band_encoding');
  for (const [g, l] of [[0, 0], [2, 5], [5, 15]] as const) {
    const row = enc.subarray((g * L + l) * cfg.dim, (g * L + l + 1) * cfg.dim);
    assert.equal(maxAbsDiff(row.subarray(0, half), pos.subarray(l * half, (l + 1) * half)), 0);
    assert.equal(maxAbsDiff(row.subarray(half), band.subarray(g * half, (g + 1) * half)), 0);
  }
});

test('golden inputs follow the README closed form (the blob is read with the right offsets and byte order)', () => {
  const px = golden.get('input/pixels');
  const [B, C, H, W] = golden.entry('input/pixels').shape as [number, number, number, number];
  let worst = 0;
  for (const [b, c, h, w] of [[0, 0, 0, 0], [1, 12, 63, 63], [1, 5, 17, 40], [0, 7, 33, 2]] as const) {
    const expected = Math.sin(0.37 * (c + 1) + 0.11 * h * (b + 1) + 0.07 * w) + 0.05 * c - 0.1 * b;
    worst = Math.max(worst, Math.abs((px[((b * C + c) * H + h) * W + w] ?? 0) - expected));
  }
  assert.ok(worst < 1e-6 && B === 2, `pixels differ by ${worst}`);
  const ll = golden.get('input/latlon');
  const ts = golden.get('input/timestep');
  for (let b = 0; b < B; b++) {
    assert.ok(Math.abs((ll[b * 2] ?? 0) - Math.sin(1.3 * b + 0.2)) < 1e-6);
    assert.ok(Math.abs((ll[b * 2 + 1] ?? 0) - Math.cos(0.7 * b + 0.1)) < 1e-6);
    assert.ok(Math.abs((ts[b * 3] ?? 0) - 0.25 * (b + 1)) < 1e-6);
    assert.ok(Math.abs((ts[b * 3 + 1] ?? 0) - (-0.5 + 0.3 * b)) < 1e-6);
    assert.ok(Math.abs((ts[b * 3 + 2] ?? 0) - 0.1 * b) < 1e-6);
  }
});
