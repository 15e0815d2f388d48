import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ADAMW_KERNEL, AdamW, adamwUpdate, tensorUpdate } from '../../model/adamw.ts';
import { initBackend } from '../../model/backend.ts';
import { mulberry32, randn } from '../../model/params.ts';

/** Three AdamW steps of three parameters from fixed values; the parameters and moments after each. */
function run(): number[][] {
  const rng = mulberry32(7);
  const vars = new Map<string, tf.Variable>([
    ['a', tf.variable(tf.tensor2d(randn(6 * 5, rng), [6, 5]))],
    ['b', tf.variable(tf.tensor1d(randn(7, rng)))],
    ['c', tf.variable(tf.tensor1d(randn(1000, rng)))],
  ]);
  const opt = new AdamW({ weightDecay: 0.05, beta1: 0.9, beta2: 0.95 });
  const out: number[][] = [];
  for (let step = 0; step < 3; step++) {
    // Gradients spanning magnitudes, zeros included (sqrt(v) = 0: eps alone in the denominator).
    const grads = new Map([...vars].map(([n, v]) => [n, tf.tensor(randn(v.size, rng).map((x, i) => (i % 5 === 0 ? 0 : x * 10 ** ((i % 7) - 4))), v.shape)]));
    opt.apply(vars, grads, 1e-4 * (step + 1));
    tf.dispose([...grads.values()]);
    for (const [n, v] of vars) {
      const m = opt.moments(n);
      assert.ok(m !== undefined);
      out.push(Array.from(v.dataSync()), Array.from(m.expAvg.dataSync()), Array.from(m.expAvgSq.dataSync()));
    }
  }
  opt.dispose();
  tf.dispose([...vars.values()]);
  return out;
}

test('the fused WASM AdamW kernel gives, bit for bit, what tensor ops give (CPU backend, WASM ops, JS)', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  assert.ok(tf.getKernel(ADAMW_KERNEL, 'wasm') !== undefined);
  const fused = run();
  await tf.setBackend('cpu');
  assert.equal(tf.getKernel(ADAMW_KERNEL, 'cpu'), undefined);
  assert.deepEqual(fused, run());
  // One update against the WASM backend's own elementwise kernels, and against the JS reference.
  await tf.setBackend('wasm');
  const rng = mulberry32(3);
  const raw = [0, 1, 2, 3].map((i) => Float32Array.from(randn(1003, rng).map((x) => (i === 3 ? x * x : x))));
  const [p, g, m, v] = raw.map((a) => tf.tensor1d(a)) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const c = new AdamW().nextStep(1e-3);
  const ops = tensorUpdate(p, g, m, v, c);
  const kernel = tf.engine().runKernel(ADAMW_KERNEL, { p, g, m, v }, { c: { ...c } }) as tf.Tensor[];
  const values = (ts: tf.Tensor[]): number[][] => ts.map((t) => Array.from(t.dataSync()));
  assert.deepEqual(values(kernel), values(ops));
  const [rp, rg, rm, rv] = raw as [Float32Array, Float32Array, Float32Array, Float32Array];
  adamwUpdate(rp, rg, rm, rv, rp, rm, rv, c);
  assert.deepEqual([rp, rm, rv].map((a) => Array.from(a)), values(ops));
  tf.dispose([p, g, m, v, ...ops, ...kernel]);
});
