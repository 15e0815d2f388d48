import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { isClayError } from '../../core/errors.ts';
import { WASM_MEMORY_LIMIT_BYTES } from '../../model/backend.ts';
import { clayConfig } from '../../model/config.ts';
import { embed } from '../../model/embed.ts';
import { assertFits, estimateFootprint, largestFittingBatch, largestTensor } from '../../model/footprint.ts';
import { Trainer } from '../../model/trainer.ts';
import { Golden } from './golden.ts';
import { goldenSetup } from './fixture.ts';

const golden = new Golden();

test('training steps and forward passes do not grow tf.memory()', async () => {
  const s = await goldenSetup(golden, 'wasm');
  const trainer = new Trainer(s.model, { batchSize: 2 });
  const counts: number[] = [];
  const bytes: number[] = [];
  for (let i = 0; i < 4; i++) {
    await trainer.step([{ inputs: s.inputs, mask: s.mask }]);
    tf.tidy(() => {
      s.model.encode(s.inputs, null, undefined, false);
    });
    await embed(s.model, golden.batch());
    counts.push(tf.memory().numTensors);
    bytes.push(tf.memory().numBytes);
  }
  // Step 1 creates AdamW's moments; from then on nothing accumulates.
  assert.deepEqual(counts.slice(1), [counts[1], counts[1], counts[1]]);
  assert.deepEqual(bytes.slice(1), [bytes[1], bytes[1], bytes[1]]);
  trainer.dispose();
  s.dispose();
});

test('the footprint estimate covers the measured peak of a training step and of a forward pass', async () => {
  const cfg = golden.config();
  // Everything the estimate covers (parameters, moments, inputs, activations) is allocated after `before`.
  const before = tf.memory().numBytes;
  const s = await goldenSetup(golden, 'wasm');
  const trainer = new Trainer(s.model, { batchSize: 2 });
  await trainer.step([{ inputs: s.inputs, mask: s.mask }]); // moments exist from here on, as in steady state
  const trainPeak = (await tf.profile(() => trainer.step([{ inputs: s.inputs, mask: s.mask }]))).peakBytes - before;
  const estTrain = estimateFootprint(cfg, 2, 'train').peakBytes;
  assert.ok(estTrain >= trainPeak, `train estimate ${estTrain} < measured ${trainPeak}`);
  assert.ok(estTrain <= 3 * trainPeak, `train estimate ${estTrain} is not a useful bound of ${trainPeak}`);
  trainer.dispose();
  s.dispose();
  const before2 = tf.memory().numBytes;
  const f = await goldenSetup(golden, 'wasm');
  tf.dispose(f.inputs.headTargets ?? []); // forward-only use has no loss targets
  const fwdPeak = (await tf.profile(() => tf.tidy(() => {
    f.model.encode(f.inputs, null, undefined, false).dataSync();
  }))).peakBytes - before2;
  const estFwd = estimateFootprint(cfg, 2, 'forward').peakBytes;
  assert.ok(estFwd >= fwdPeak, `forward estimate ${estFwd} < measured ${fwdPeak}`);
  f.model.dispose();
  tf.dispose([...f.inputs.groupPatches, f.inputs.latlon, f.inputs.timestep, ...f.params.vars.values()]);
});

test('a config that cannot fit the WASM heap is refused with MODEL_CONFIG naming the limit', async () => {
  // v0's own setting, small at 512/32, cannot train on WASM even at batch 1 (seen: Aborted() in tfjs).
  const small = clayConfig('small', { imageSize: 512, patchSize: 32 });
  assert.throws(() => assertFits(small, 1, 'train', WASM_MEMORY_LIMIT_BYTES, 'wasm'), (e) =>
    isClayError(e, 'MODEL_CONFIG') && /4\.00 GiB/.test(e.message) && e.input === 'wasm:4.00 GiB');
  // Forward-only small 512/32 (embeddings) does fit, in chunks of this many samples.
  const fwd = largestFittingBatch(small, 'forward', WASM_MEMORY_LIMIT_BYTES);
  assert.ok(fwd >= 1, 'forward-only small 512/32 must fit the WASM heap');
  assert.ok(estimateFootprint(small, fwd + 1, 'forward').peakBytes > 0.85 * WASM_MEMORY_LIMIT_BYTES);
  // The trainer itself refuses before running anything.
  const s = await goldenSetup(golden, 'wasm');
  assert.throws(() => new Trainer(s.model, { batchSize: 2, memoryLimitBytes: 32 * 1024 ** 2 }), (e) => isClayError(e, 'MODEL_CONFIG'));
  s.dispose();
});

test('the largest-tensor estimate covers the largest tensor a training step and a forward pass make', async () => {
  const cfg = golden.config();
  const s = await goldenSetup(golden, 'wasm');
  const trainer = new Trainer(s.model, { batchSize: 2 });
  const largest = (p: Awaited<ReturnType<typeof tf.profile>>): number => Math.max(...p.kernels.flatMap((k) => k.outputShapes.map((sh) => 4 * sh.reduce((a, b) => a * b, 1))));
  const train = largest(await tf.profile(() => trainer.step([{ inputs: s.inputs, mask: s.mask }])));
  const est = largestTensor(cfg, 2, 'train').bytes;
  assert.ok(est >= train && est <= 2 * train, `train: estimate ${est}, measured ${train}`);
  const fwd = largest(await tf.profile(() => tf.tidy(() => s.model.encode(s.inputs, null, undefined, false))));
  const estFwd = largestTensor(cfg, 2, 'forward').bytes;
  assert.ok(estFwd >= fwd && estFwd <= 2 * fwd, `forward: estimate ${estFwd}, measured ${fwd}`);
  trainer.dispose();
  s.dispose();
});

test('a tensor larger than the backend\'s largest buffer binding is refused up front, naming the tensor and the limit', async () => {
  const binding = 128 * 1024 ** 2; // lavapipe's maxStorageBufferBindingSize
  // medium at 512/32: one sample's decoder attention scores (16 heads x 1538^2 tokens) are 144 MiB.
  const medium = clayConfig('medium', { imageSize: 512, patchSize: 32 });
  assert.throws(() => assertFits(medium, 1, 'train', null, 'webgpu', binding), (e) =>
    isClayError(e, 'MODEL_CONFIG') && e.input === `webgpu:decoder attention scores of one sample:${binding}`);
  // small (what v0 trained) fits at batch 1 (its scores: 72 MiB) up to 10; at 11 its decoder MLP does not.
  const small = clayConfig('small', { imageSize: 512, patchSize: 32 });
  assert.equal(assertFits(small, 1, 'train', null, 'webgpu', binding).peakBytes > 0, true);
  assert.equal(largestFittingBatch(small, 'train', null, 64, binding), 10);
  assert.throws(() => assertFits(small, 11, 'train', null, 'webgpu', binding), (e) =>
    isClayError(e, 'MODEL_CONFIG') && e.input === `webgpu:decoder MLP hidden layer:${binding}`);
  // The trainer refuses before running anything.
  const s = await goldenSetup(golden, 'wasm');
  const tiny = largestTensor(golden.config(), 2, 'train').bytes;
  assert.throws(() => new Trainer(s.model, { batchSize: 2, tensorLimitBytes: tiny - 1 }), (e) => isClayError(e, 'MODEL_CONFIG'));
  new Trainer(s.model, { batchSize: 2, tensorLimitBytes: tiny }).dispose();
  s.dispose();
});

test('embeddings are the same whether the batch is chunked or not', async () => {
  const s = await goldenSetup(golden, 'wasm');
  const whole = await embed(s.model, golden.batch());
  const chunked = await embed(s.model, golden.batch(), { maxChunk: 1 });
  assert.equal(whole.length, 2 * golden.config().dim);
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs((whole[i] ?? 0) - (chunked[i] ?? 0)) < 1e-5);
  s.dispose();
});
