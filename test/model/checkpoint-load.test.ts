/**
 * loadModelForInference: a checkpoint folder and a bare safetensors file load the weights written by
 * saveWeights exactly; config from checkpoint.json, flags, or the tensors' shapes; every failure a code.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isClayError, type ErrorCode } from '../../core/errors.ts';
import { initBackend } from '../../model/backend.ts';
import { CHECKPOINT_META, CHECKPOINT_WEIGHTS, loadModelForInference } from '../../model/checkpoint-load.ts';
import { clayConfig } from '../../model/config.ts';
import { disposeParams, initParams } from '../../model/params.ts';
import { saveWeights, stateDict } from '../../model/weights.ts';

let dir: string;
let folder: string;
let bare: string;
const cfg = clayConfig('tiny', { imageSize: 64, patchSize: 32 });

const code = (c: ErrorCode) => (e: unknown) => isClayError(e, c);

before(async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  dir = await mkdtemp(join(tmpdir(), 'clay-ckpt-'));
  folder = join(dir, 'ckpt');
  await mkdir(folder);
  const params = initParams(cfg, 7);
  await saveWeights(params, join(folder, CHECKPOINT_WEIGHTS));
  disposeParams(params);
  await writeFile(join(folder, CHECKPOINT_META), JSON.stringify({ model: { size: 'tiny', imageSize: 64, patchSize: 32 }, step: 3 }));
  bare = join(folder, CHECKPOINT_WEIGHTS);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a checkpoint folder loads with its config and the weights saved, bit for bit', async () => {
  const m = await loadModelForInference(folder);
  try {
    assert.equal(m.kind, 'folder');
    assert.equal(m.size, 'tiny');
    assert.deepEqual([m.cfg.imageSize, m.cfg.patchSize, m.cfg.dim], [64, 32, 256]);
    const ref = initParams(cfg, 7);
    const want = await stateDict(ref);
    const got = await stateDict(m.model.params);
    disposeParams(ref);
    assert.deepEqual(got.map((t) => t.name), want.map((t) => t.name));
    got.forEach((t, i) => assert.deepEqual(t.data, want[i]!.data, t.name));
  } finally {
    m.dispose();
  }
});

test('a bare safetensors file: size and patch size from the tensors, image size from the flag (default 512)', async () => {
  const a = await loadModelForInference(bare, { imageSize: 64 });
  assert.deepEqual([a.kind, a.size, a.cfg.imageSize, a.cfg.patchSize], ['safetensors', 'tiny', 64, 32]);
  a.dispose();
  const b = await loadModelForInference(bare, { size: 'tiny', maskRatio: 0.5 });
  assert.deepEqual([b.cfg.imageSize, b.cfg.patchSize, b.cfg.maskRatio], [512, 32, 0.5]);
  b.dispose();
});

test('missing paths are CHECKPOINT_MISSING; a bad checkpoint.json is CHECKPOINT_INVALID', async () => {
  await assert.rejects(loadModelForInference(join(dir, 'nope')), code('CHECKPOINT_MISSING'));
  const empty = join(dir, 'empty');
  await mkdir(empty);
  await assert.rejects(loadModelForInference(empty), code('CHECKPOINT_MISSING'));
  await writeFile(join(empty, CHECKPOINT_META), JSON.stringify({ model: { size: 'tiny', imageSize: 64, patchSize: 32 } }));
  await assert.rejects(loadModelForInference(empty), code('CHECKPOINT_MISSING'));
  for (const text of ['{not json', '{}', '{"model":{"size":"huge","imageSize":64,"patchSize":32}}', '{"model":{"size":"tiny","imageSize":0,"patchSize":32}}']) {
    await writeFile(join(empty, CHECKPOINT_META), text);
    await assert.rejects(loadModelForInference(empty), code('CHECKPOINT_INVALID'), text);
  }
});

test('a corrupt weights file is WEIGHTS_INVALID naming it', async () => {
  const bad = join(dir, 'bad.safetensors');
  await writeFile(bad, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
  await assert.rejects(loadModelForInference(bad, { size: 'tiny' }), (e) => isClayError(e, 'WEIGHTS_INVALID') && e.input === bad);
});

test('tensors that do not match the config: WEIGHTS_INVALID naming the tensor and both shapes', async () => {
  await assert.rejects(loadModelForInference(bare, { size: 'small', imageSize: 64 }), (e) =>
    isClayError(e, 'WEIGHTS_INVALID') &&
    e.message.includes('encoder.latlon_embedding.weight') && e.message.includes('[256, 2]') && e.message.includes('[768, 2]'));
  await assert.rejects(loadModelForInference(bare, { size: 'tiny', imageSize: 64, patchSize: 16 }), (e) =>
    isClayError(e, 'WEIGHTS_INVALID') && e.message.includes('encoder.patch_embedding.rgb.proj.weight') && e.message.includes('[256, 3, 32, 32]'));
});

test('flags that contradict checkpoint.json are BAD_ARGUMENT; the image size may differ', async () => {
  await assert.rejects(loadModelForInference(folder, { size: 'small' }), code('BAD_ARGUMENT'));
  await assert.rejects(loadModelForInference(folder, { patchSize: 16 }), code('BAD_ARGUMENT'));
  const m = await loadModelForInference(folder, { imageSize: 128 });
  assert.equal(m.cfg.imageSize, 128);
  m.dispose();
});
