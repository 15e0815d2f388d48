import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { derive } from '../../model/config.ts';
import { maskFromNoise } from '../../model/masking.ts';
import { patchifyCube } from '../../model/inputs.ts';
import { Golden, assertClose } from './golden.ts';
import { TEST_BACKENDS, goldenSetup } from './fixture.ts';

const golden = new Golden();
// README tolerances: ~10x the reference's own float32-vs-float64 noise; activations and pixels below 1e-4.
const ACT_TOL = 1e-4;
const LOSS_REL = 1e-5;

test('masking from the injected noise reproduces every mask tensor', () => {
  const cfg = golden.config();
  const sz = derive(cfg);
  assert.equal(sz.nMasked, golden.manifest.tensors.find((t) => t.name === 'mask/masked_indices')?.shape[1]);
  const m = maskFromNoise(cfg, 2, golden.get('mask/noise'));
  const same = (name: string, ours: ArrayLike<number>) => assert.deepEqual(Array.from(ours), Array.from(golden.get(name)), name);
  same('mask/random_indices', m.randomIndices);
  same('mask/reverse_indices', m.reverseIndices);
  same('mask/masked_indices', m.maskedIndices);
  same('mask/unmasked_indices', m.unmaskedIndices);
  same('mask/masked_matrix', m.maskedMatrix);
  for (const name of golden.names('mask')) assert.ok(name === 'mask/noise' || golden.get(name).length > 0);
});

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] patch embeddings, activations, pixels and loss match the original`, async () => {
    const s = await goldenSetup(golden, backend);
    const acts = new Map<string, Float32Array>();
    const loss = tf.tidy(() => {
      const out = s.model.forward(s.inputs, s.mask, (name, t) => acts.set(`act/${name}`, Float32Array.from(t.dataSync())));
      return out.loss.dataSync()[0] ?? Number.NaN;
    });
    const expected = golden.names('activation');
    assert.equal(expected.length, 8);
    for (const name of expected) {
      const ours = acts.get(name);
      assert.ok(ours !== undefined, `no activation ${name}`);
      assert.deepEqual(golden.entry(name).shape.reduce((a, b) => a * b, 1), ours.length, name);
      assertClose(`${backend} ${name}`, ours, golden.get(name), ACT_TOL);
    }
    const ref = golden.get('loss')[0] ?? 0;
    assert.ok(Math.abs(loss - ref) / ref < LOSS_REL, `loss ${loss} vs ${ref}`);
    const ref64 = golden.get('loss_float64')[0] ?? 0;
    assert.ok(Math.abs(loss - ref64) / ref64 < LOSS_REL, `loss ${loss} vs float64 ${ref64}`);
    s.dispose();
  });
}

test('the loss compares group-ordered pixels with band-ordered targets, as v0 (trap 1)', async () => {
  const s = await goldenSetup(golden, 'wasm');
  const cfg = golden.config();
  const sz = derive(cfg);
  const { fused, literal, reordered } = tf.tidy(() => {
    const { loss, tokens } = s.model.forward(s.inputs, s.mask);
    const pixels = s.model.pixels(tokens);
    const target = tf.tensor4d(patchifyCube(cfg, 2, golden.get('input/pixels')), [2, 13, sz.L, sz.PP]);
    // channel c of the pixels is band groupOrder[c]; put them in band order instead.
    const groupOrder = [2, 1, 0, 3, 4, 5, 7, 6, 8, 9, 10, 11, 12];
    const toBand = groupOrder.map((_, band) => groupOrder.indexOf(band));
    const inBandOrder = tf.gather(pixels, toBand, 1);
    return {
      fused: loss.dataSync()[0] ?? 0,
      literal: s.model.loss(pixels, target, s.mask).dataSync()[0] ?? 0,
      reordered: s.model.loss(inBandOrder, target, s.mask).dataSync()[0] ?? 0,
    };
  });
  const ref = golden.get('loss')[0] ?? 0;
  assert.ok(Math.abs(literal - ref) / ref < LOSS_REL, `literal v0 loss ${literal} vs ${ref}`);
  assert.ok(Math.abs(fused - literal) / ref < LOSS_REL, `fused ${fused} vs literal ${literal}`);
  const info = golden.get('info/loss_if_channels_in_band_order')[0] ?? 0;
  assert.ok(Math.abs(reordered - info) / info < LOSS_REL, `${reordered} vs ${info}`);
  assert.ok(Math.abs(fused - reordered) > 1e-3);
  s.dispose();
});

test('encoder without a mask keeps every token (embedding use)', async () => {
  const s = await goldenSetup(golden, 'wasm');
  const sz = derive(golden.config());
  const shape = tf.tidy(() => s.model.encode(s.inputs, null).shape);
  assert.deepEqual(shape, [2, sz.GL + 2, golden.config().dim]);
  s.dispose();
});
