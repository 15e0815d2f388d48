/**
 * Reconstructions: the decoder's pixels put back in place (checked against the model's own forward pass,
 * tapped), un-normalised and stretched into the right panel; exactly the masked rgb patches grey in the
 * middle one; the PNG three panels wide. A tiny model with seeded weights at 128/32 (16 patches).
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../model/backend.ts';
import { ClayModel } from '../../model/clay.ts';
import { NUM_BANDS, clayConfig } from '../../model/config.ts';
import { CLAY_V0_MEAN, CLAY_V0_STD } from '../../model/data/normalize.ts';
import { disposeInputs, prepareInputs, type ClayBatch } from '../../model/inputs.ts';
import { randomMask } from '../../model/masking.ts';
import { disposeParams, initParams, mulberry32, randn, type ClayParams } from '../../model/params.ts';
import { MASK_GREY, maskedRgbPatches, reconstruct, reconstructionPanels, reconstructionPng, unpatchify } from '../../model/reconstruct.ts';
import { PANEL_GAP, stretchValue } from '../../pipeline/write/preview.ts';

const cfg = clayConfig('tiny', { imageSize: 128, patchSize: 32 });
const H = 128;
const P = 32;
const side = H / P;
let params: ClayParams;
let model: ClayModel;

/** A chip normalised from reflectance 0..4000 (v0's mean/std, in float32 here), and that un-normalised again. */
function chip(seed: number): { reflectance: Float32Array; sample: ClayBatch } {
  const rand = mulberry32(seed);
  const n = H * H;
  const band = (i: number): number => Math.floor(i / n);
  const pixels = Float32Array.from({ length: NUM_BANDS * n }, (_, i) => (rand() * 4000 - CLAY_V0_MEAN[band(i)]!) / CLAY_V0_STD[band(i)]!);
  const reflectance = pixels.map((v, i) => v * CLAY_V0_STD[band(i)]! + CLAY_V0_MEAN[band(i)]!);
  return { reflectance, sample: { batch: 1, pixels, latlon: randn(2, rand), timestep: randn(3, rand) } };
}

before(async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  params = initParams(cfg, 5);
  model = new ClayModel(params);
});

after(() => {
  model.dispose();
  disposeParams(params);
});

/** The decoder's pixels `[13, L, P*P]` and the loss from the model's own forward pass (tapped). */
function forwardPixels(sample: ClayBatch, seed: number): { patches: Float32Array; loss: number } {
  const inputs = prepareInputs(cfg, sample, true);
  let patches = new Float32Array(0);
  const loss = tf.tidy(() => {
    const out = model.forward(inputs, randomMask(cfg, 1, seed), (name, t) => {
      if (name === 'decoder.pixels') patches = Float32Array.from(t.dataSync());
    });
    return out.loss.dataSync()[0]!;
  });
  disposeInputs(inputs);
  return { patches, loss };
}

test('reconstruct: decoder pixels put back patch by patch, channel k as band k; v0 loss as forward computes it', async () => {
  const { sample } = chip(1);
  const mask = randomMask(cfg, 1, 3);
  const rec = await reconstruct(model, sample, mask);
  const { patches, loss } = forwardPixels(sample, 3);
  assert.equal(rec.pixels.length, NUM_BANDS * H * H);
  const L = side * side;
  for (const [k, l, p1, p2] of [[0, 0, 0, 0], [2, 5, 31, 7], [12, 15, 16, 31], [6, 9, 3, 30]] as const) {
    const y = Math.floor(l / side) * P + p1;
    const x = (l % side) * P + p2;
    const want = patches[(k * L + l) * P * P + p1 * P + p2]!;
    assert.ok(Math.abs(rec.pixels[(k * H + y) * H + x]! - want) < 1e-5, `band ${k} patch ${l}`);
  }
  assert.ok(Math.abs(rec.loss - loss) < 1e-5 * Math.max(1, loss), `${rec.loss} vs ${loss}`);
  assert.deepEqual(unpatchify(cfg, patches).subarray(0, 64), rec.pixels.subarray(0, 64));
});

test('the PNG: three panels; exactly the masked rgb patches grey; the right panel is the model pixels under the stretch', async () => {
  const { sample, reflectance } = chip(2);
  const mask = randomMask(cfg, 1, 2);
  const rec = await reconstruct(model, sample, mask);
  const png = await reconstructionPng(reconstructionPanels(cfg, sample.pixels, rec));
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 3 * H + 2 * PANEL_GAP, H, 3]);
  const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const W = 3 * H + 2 * PANEL_GAP;
  const at = (panel: number, x: number, y: number): number[] => {
    const i = (y * W + panel * (H + PANEL_GAP) + x) * 3;
    return [data[i]!, data[i + 1]!, data[i + 2]!];
  };
  // Masked panel: a patch is all grey exactly when the rgb group's token is masked.
  const greyPatches: number[] = [];
  for (let l = 0; l < side * side; l++) {
    let grey = true;
    for (let y = 0; y < P && grey; y++) for (let x = 0; x < P && grey; x++) grey = at(1, (l % side) * P + x, Math.floor(l / side) * P + y).every((v) => v === MASK_GREY);
    if (grey) greyPatches.push(l);
  }
  const L = side * side;
  const rgbMasked = [...Array(L).keys()].filter((l) => mask.maskedMatrix[l] === 1); // group 0 is rgb
  assert.deepEqual(greyPatches, rgbMasked);
  assert.ok(rgbMasked.length > 0 && rgbMasked.length < L);
  assert.deepEqual([...maskedRgbPatches(cfg, mask)].flatMap((m, l) => (m ? [l] : [])), rgbMasked);
  // Left panel and visible patches of the middle one: B04 B03 B02 of the reflectance under the stretch.
  const stretch = (planes: Float32Array, x: number, y: number): number[] => [2, 1, 0].map((b) => stretchValue(planes[(b * H + y) * H + x]!));
  for (const [x, y] of [[0, 0], [77, 13], [127, 127]] as const) assert.deepEqual(at(0, x, y), stretch(reflectance, x, y));
  const visible = [...Array(L).keys()].find((l) => mask.maskedMatrix[l] === 0)!;
  const vx = (visible % side) * P + 3;
  const vy = Math.floor(visible / side) * P + 5;
  assert.deepEqual(at(1, vx, vy), stretch(reflectance, vx, vy));
  // Right panel, recomputed from the forward pass's own pixels: channel k is band k, times std plus mean.
  const { patches } = forwardPixels(sample, 2);
  for (const l of [rgbMasked[0]!, visible]) {
    for (const [p1, p2] of [[0, 0], [31, 31], [10, 20]] as const) {
      const want = [2, 1, 0].map((k) => stretchValue(patches[(k * L + l) * P * P + p1 * P + p2]! * CLAY_V0_STD[k]! + CLAY_V0_MEAN[k]!));
      const got = at(2, (l % side) * P + p2, Math.floor(l / side) * P + p1);
      // float32 rounding of the un-normalised value may move one level at a boundary.
      got.forEach((v, c) => assert.ok(Math.abs(v - want[c]!) <= 1, `patch ${l}: ${got} vs ${want}`));
    }
  }
  // The gap is white.
  assert.deepEqual(at(0, H + 1, 10), [255, 255, 255]);
});

test("visible 'input' pastes the input into the visible patches of the reconstruction; no tensors leak", async () => {
  const { sample } = chip(3);
  const before = tf.memory().numTensors;
  const rec = await reconstruct(model, sample, randomMask(cfg, 1, 4));
  assert.equal(tf.memory().numTensors, before);
  const model_ = reconstructionPanels(cfg, sample.pixels, rec, 'model');
  const pasted = reconstructionPanels(cfg, sample.pixels, rec, 'input');
  const mask = maskedRgbPatches(cfg, rec.mask);
  for (let l = 0; l < side * side; l++) {
    const i = ((Math.floor(l / side) * P + 4) * H + (l % side) * P + 4) * 3;
    const got = [...pasted.reconstruction.data.subarray(i, i + 3)];
    const want = mask[l] === 1 ? model_.reconstruction.data.subarray(i, i + 3) : pasted.input.data.subarray(i, i + 3);
    assert.deepEqual(got, [...want], `patch ${l}`);
  }
});
