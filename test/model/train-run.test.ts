import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../model/backend.ts';
import { loadCheckpoint, readCheckpointMeta, resolveCheckpoint } from '../../model/checkpoint.ts';
import { syntheticTrainData } from '../../model/data/synthetic.ts';
import { createLogger } from '../../core/log.ts';
import { decodeSafetensors } from '../../model/safetensors.ts';
import { trainRun, type TrainRunOptions } from '../../model/train-run.ts';
import { Golden } from './golden.ts';
import { isClayError } from '../../core/errors.ts';

const golden = new Golden();
const cfg = golden.config();
const quiet = createLogger({ write: () => undefined });

function options(out: string, extra: Partial<TrainRunOptions> = {}): TrainRunOptions {
  return { out, model: { size: 'golden', config: cfg }, batch: 2, lr: 1e-3, seed: 7, checkpointEvery: 2, source: 'synthetic', logger: quiet, ...extra };
}

const data = () => syntheticTrainData({ train: 10, val: 3, size: cfg.imageSize, batch: 2, seed: 3 });

test('a checkpoint holds PyTorch state_dict names and shapes (the golden manifest), optimizer moments and the data position', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  const out = await mkdtemp(join(tmpdir(), 'clay-train-'));
  try {
    const r = await trainRun(data(), options(out, { steps: 3 }));
    assert.equal(r.steps, 3);
    // Checkpoints at step 2 and at the end (3); latest.json names the last.
    assert.deepEqual((await readdir(join(out, 'checkpoints'))).filter((n) => n.startsWith('step-')).sort(), ['step-00000002', 'step-00000003']);
    assert.equal(await resolveCheckpoint(out), join(out, 'checkpoints', 'step-00000003'));
    const w = decodeSafetensors(await readFile(join(r.checkpoint, 'weights.safetensors')));
    assert.deepEqual(w.tensors.map((t) => t.name), golden.manifest.param_order);
    for (const t of w.tensors) {
      assert.deepEqual([...t.shape], golden.entry(`param/${t.name}`).shape, t.name);
    }
    const o = decodeSafetensors(await readFile(join(r.checkpoint, 'optimizer.safetensors')));
    assert.equal(o.tensors.length, 2 * golden.manifest.param_order.length);
    assert.ok(o.tensors.every((t) => /\.exp_avg(_sq)?$/.test(t.name)));
    const meta = await readCheckpointMeta(r.checkpoint);
    assert.equal(meta.step, 3);
    assert.equal(meta.optimizer.step, 3);
    // 10 chips, batch 2: 5 steps per epoch; after 3 steps, epoch 0 at position 6.
    assert.deepEqual([meta.data.epoch, meta.data.samplesInEpoch], [0, 6]);
    const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { kind: string; step: number });
    assert.deepEqual(metrics.map((m) => m.step), [1, 2, 3]);
    const svg = await readFile(join(out, 'loss.svg'), 'utf8');
    assert.match(svg, /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<polyline points="[\d.]+,[\d.]+ [\d.]+,[\d.]+ [\d.]+,[\d.]+"/);
    // A second run into the same folder without --resume is refused, nothing touched.
    await assert.rejects(trainRun(data(), options(out, { steps: 4 })), (e) => isClayError(e, 'BAD_ARGUMENT'));
    assert.equal((await readCheckpointMeta(await resolveCheckpoint(out))).step, 3);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('resume continues exactly: stopped at step 4 and resumed to 7 equals 7 uninterrupted, bit for bit; across an epoch end with validation', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  const a = await mkdtemp(join(tmpdir(), 'clay-train-a-'));
  const b = await mkdtemp(join(tmpdir(), 'clay-train-b-'));
  try {
    const full = await trainRun(data(), options(a, { steps: 7 }));
    const first = await trainRun(data(), options(b, { steps: 4 }));
    assert.equal(first.steps, 4);
    // Leave a torn metrics line and a stray later row, as a kill would: the resume drops them.
    await writeFile(join(b, 'metrics.jsonl'), `${await readFile(join(b, 'metrics.jsonl'), 'utf8')}{"kind":"train","step":5,"epoch":1,"loss":9}\n{"kind":"tr`);
    const rest = await trainRun(data(), options(b, { steps: 7, resume: true }));
    assert.equal(rest.resumedFrom, 4);
    assert.equal(rest.stepsThisRun, 3);
    const wa = await readFile(join(full.checkpoint, 'weights.safetensors'));
    const wb = await readFile(join(rest.checkpoint, 'weights.safetensors'));
    assert.ok(wa.equals(wb), 'weights differ');
    assert.ok((await readFile(join(full.checkpoint, 'optimizer.safetensors'))).equals(await readFile(join(rest.checkpoint, 'optimizer.safetensors'))));
    assert.deepEqual(rest.losses, full.losses);
    // One epoch is 5 steps: validation ran once, after step 5, in both.
    assert.deepEqual(full.validation.map((v) => [v.step, v.epoch]), [[5, 0]]);
    assert.deepEqual(rest.validation, full.validation);
    assert.equal((await readFile(join(a, 'metrics.jsonl'), 'utf8')), (await readFile(join(b, 'metrics.jsonl'), 'utf8')));
    // A resume with other settings is refused.
    await assert.rejects(trainRun(data(), options(b, { steps: 9, resume: true, batch: 1 })), (e) => isClayError(e, 'CHECKPOINT_INVALID'));
    // The checkpoint loads back: the same parameters.
    const ck = await loadCheckpoint(b);
    assert.equal(ck.meta.step, 7);
    const emb = ck.params.vars.get('encoder.latlon_embedding.weight');
    assert.ok(emb !== undefined);
    tf.dispose([...ck.params.vars.values(), ...[...ck.moments.values()].flatMap((m) => [m.expAvg, m.expAvgSq])]);
  } finally {
    await rm(a, { recursive: true, force: true });
    await rm(b, { recursive: true, force: true });
  }
});

test('the loss falls over six epochs of training and no tensor leaks across steps', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  const out = await mkdtemp(join(tmpdir(), 'clay-train-'));
  try {
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const r = await trainRun(data(), options(out, { epochs: 6, checkpointEvery: 100, onStep: () => counts.push(tf.memory().numTensors) }));
    assert.equal(r.steps, 30);
    const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
    const l = r.losses.map((p) => p.loss);
    assert.ok(mean(l.slice(-5)) < 0.8 * mean(l.slice(0, 5)), `loss did not fall: ${mean(l.slice(0, 5))} -> ${mean(l.slice(-5))}`);
    assert.equal(r.validation.length, 6);
    assert.ok((r.validation.at(-1)?.loss ?? Infinity) < (r.validation[0]?.loss ?? 0), 'validation loss did not fall');
    // Tensor count flat from the second step on (the first creates the optimizer's moments).
    assert.ok(counts.slice(1).every((c) => c === counts[1]), `tensors grew: ${counts.join(',')}`);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
