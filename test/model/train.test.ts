import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { toTorchLayout, type ParamSpec } from '../../model/params.ts';
import { cosineWarmRestartsLr } from '../../model/schedule.ts';
import { Trainer, computeGradients } from '../../model/trainer.ts';
import { Golden, assertClose, maxAbs, maxAbsDiff } from './golden.ts';
import { TEST_BACKENDS, goldenSetup } from './fixture.ts';

const golden = new Golden();
const { lr, weight_decay: weightDecay, betas, eps } = golden.manifest.adamw;

function torchValues(spec: ParamSpec | undefined, t: tf.Tensor | undefined): Float32Array {
  assert.ok(spec !== undefined && t !== undefined);
  const u = toTorchLayout(spec, t);
  const d = Float32Array.from(u.dataSync());
  u.dispose();
  return d;
}

function norm(t: tf.Tensor): number {
  return tf.tidy(() => tf.norm(t).dataSync()[0] ?? Number.NaN);
}

for (const backend of TEST_BACKENDS) {
  test(`[${backend}] gradients: the selected tensors and every parameter's gradient norm`, async () => {
    const s = await goldenSetup(golden, backend);
    const specs = new Map(s.params.specs.map((p) => [p.name, p]));
    assert.deepEqual(s.params.specs.map((p) => p.name), golden.manifest.param_order);
    const { loss, grads } = await computeGradients(s.model, { inputs: s.inputs, mask: s.mask });
    assert.ok(Math.abs(loss - (golden.get('loss')[0] ?? 0)) < 1e-5);
    const selected = golden.names('grad').filter((n) => n.startsWith('grad/'));
    assert.equal(selected.length, 20);
    for (const n of selected) {
      const name = n.slice('grad/'.length);
      const expected = golden.get(n);
      // README: gradients max-abs below 1e-5 x max|g|.
      assertClose(`${backend} ${n}`, torchValues(specs.get(name), grads.get(name)), expected, 1e-5 * maxAbs(expected));
    }
    const norms = golden.get('gradnorm/all');
    let sq = 0;
    s.params.specs.forEach((p, i) => {
      const g = grads.get(p.name);
      assert.ok(g !== undefined);
      const ours = norm(g);
      const ref = norms[i] ?? 0;
      sq += ours * ours;
      assert.ok(Math.abs(ours - ref) <= 1e-4 * ref + 1e-9, `${backend} gradnorm ${p.name}: ${ours} vs ${ref}`);
    });
    const global = golden.get('gradnorm/global')[0] ?? 0;
    assert.ok(Math.abs(Math.sqrt(sq) - global) <= 1e-5 * global);
    tf.dispose([...grads.values()]);
    s.dispose();
  });
}

test('one AdamW step: parameters, moments, update norms and the loss after it', async () => {
  const s = await goldenSetup(golden, 'wasm');
  const specs = new Map(s.params.specs.map((p) => [p.name, p]));
  const before = new Map([...s.params.vars].map(([k, v]) => [k, v.clone()]));
  const trainer = new Trainer(s.model, { lr, weightDecay, beta1: betas[0], beta2: betas[1], eps, batchSize: 2 });
  assert.ok(Math.abs(trainer.lr - lr) < 1e-12 * lr);
  await trainer.step([{ inputs: s.inputs, mask: s.mask }]);
  for (const n of golden.names('adamw').filter((x) => x.startsWith('adamw1/'))) {
    const name = n.slice('adamw1/'.length);
    const ours = torchValues(specs.get(name), s.params.vars.get(name));
    const expected = golden.get(n);
    const grad = golden.get(`grad/${name}`);
    // README trap 6: at step 1 the update is ~lr*sign(g); where |g| is within float32 noise of 0 the sign
    // may differ, so those elements may be off by up to 2*lr. Elsewhere the match is to float32 rounding.
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs((ours[i] ?? 0) - (expected[i] ?? 0));
      const tol = Math.abs(grad[i] ?? 0) >= 1e-7 ? 1e-7 + 1e-6 * Math.abs(expected[i] ?? 0) : 2 * lr + 1e-7;
      assert.ok(d <= tol, `${n}[${i}]: ${ours[i]} vs ${expected[i]}`);
    }
  }
  const m = trainer.optimizer.moments('decoder.mask_patch');
  assert.ok(m !== undefined);
  const expAvg = golden.get('adamw1_state/decoder.mask_patch.exp_avg');
  const expAvgSq = golden.get('adamw1_state/decoder.mask_patch.exp_avg_sq');
  assertClose('exp_avg', m.expAvg.dataSync(), expAvg, 1e-5 * maxAbs(expAvg));
  assertClose('exp_avg_sq', m.expAvgSq.dataSync(), expAvgSq, 1e-5 * maxAbs(expAvgSq));
  const deltas = golden.get('adamw1_deltanorm/all');
  s.params.specs.forEach((p, i) => {
    const v = s.params.vars.get(p.name);
    const b = before.get(p.name);
    assert.ok(v !== undefined && b !== undefined);
    const d = tf.tidy(() => norm(tf.sub(v, b)));
    const ref = deltas[i] ?? 0;
    // Near-zero gradients (trap 6) move single elements by up to 2*lr: relative 1e-3 on the norm.
    assert.ok(Math.abs(d - ref) <= 1e-3 * ref, `deltanorm ${p.name}: ${d} vs ${ref}`);
  });
  const after = tf.tidy(() => s.model.forward(s.inputs, s.mask).loss.dataSync()[0] ?? 0);
  const ref = golden.get('loss_after_adamw1')[0] ?? 0;
  assert.ok(Math.abs(after - ref) / ref < 1e-5, `loss after step ${after} vs ${ref}`);
  tf.dispose([...before.values()]);
  trainer.dispose();
  s.dispose();
});

test('LR schedule: CosineAnnealingWarmRestarts(T_0=1000, T_mult=2, eta_min=10*lr) rises within a cycle', () => {
  const steps = golden.manifest.lr_steps;
  const expected = golden.get('schedule/lr');
  const ours = steps.map((k) => Math.fround(cosineWarmRestartsLr(k, { baseLr: lr })));
  assert.ok(maxAbsDiff(ours, expected) <= 1e-6 * lr, `${ours} vs ${Array.from(expected)}`);
  assert.ok(cosineWarmRestartsLr(500, { baseLr: lr }) > cosineWarmRestartsLr(1, { baseLr: lr }));
  assert.ok(Math.abs(cosineWarmRestartsLr(3000, { baseLr: lr }) - lr) < 1e-12 * lr); // restart
});

test('gradient accumulation averages micro-batch gradients', async () => {
  const s = await goldenSetup(golden, 'wasm');
  const one = await computeGradients(s.model, { inputs: s.inputs, mask: s.mask });
  // Two identical micro-batches average to the same gradient: the step must equal a single-batch step.
  const copy = new Map([...s.params.vars].map(([k, v]) => [k, v.clone()]));
  const t1 = new Trainer(s.model, { lr, batchSize: 2 });
  await t1.step([{ inputs: s.inputs, mask: s.mask }]);
  const afterOne = new Map([...s.params.vars].map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
  for (const [k, v] of s.params.vars) v.assign(copy.get(k) ?? v);
  const t2 = new Trainer(s.model, { lr, batchSize: 2 });
  const loss = await t2.step([{ inputs: s.inputs, mask: s.mask }, { inputs: s.inputs, mask: s.mask }]);
  assert.ok(Math.abs(loss - one.loss) < 1e-7);
  for (const [k, v] of s.params.vars) assertClose(`accumulated ${k}`, v.dataSync(), afterOne.get(k) ?? [], 1e-7);
  tf.dispose([...one.grads.values(), ...copy.values()]);
  t1.dispose();
  t2.dispose();
  s.dispose();
});
