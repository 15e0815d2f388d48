import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { initBackend } from '../../model/backend.ts';
import { ParallelTrainer } from '../../model/parallel-trainer.ts';
import { Golden } from './golden.ts';

const golden = new Golden();

test('data-parallel training over 2 WASM worker threads reproduces the original AdamW step', async () => {
  await initBackend({ prefer: 'cpu', log: () => {} }); // main thread only converts layouts
  const cfg = golden.config();
  const initial: Record<string, Float32Array> = {};
  for (const name of golden.manifest.param_order) initial[name] = golden.get(`param/${name}`);
  const { lr, weight_decay: weightDecay, betas, eps } = golden.manifest.adamw;
  const pt = await ParallelTrainer.create(cfg, {
    workers: 2, batchSize: 2, backend: 'wasm', initial, lr, weightDecay, beta1: betas[0], beta2: betas[1], eps,
  });
  try {
    // Sample 0 on one worker, sample 1 on the other; the weighted mean is the full-batch gradient.
    const loss = await pt.step(golden.batch(), golden.get('mask/noise'));
    const ref = golden.get('loss')[0] ?? 0;
    assert.ok(Math.abs(loss - ref) / ref < 1e-5, `loss ${loss} vs ${ref}`);
    const after = await pt.parameters();
    for (const n of golden.names('adamw').filter((x) => x.startsWith('adamw1/'))) {
      const ours = after[n.slice('adamw1/'.length)];
      assert.ok(ours !== undefined, n);
      const expected = golden.get(n);
      const grad = golden.get(`grad/${n.slice('adamw1/'.length)}`);
      for (let i = 0; i < expected.length; i++) {
        const d = Math.abs((ours[i] ?? 0) - (expected[i] ?? 0));
        const tol = Math.abs(grad[i] ?? 0) >= 1e-7 ? 1e-7 + 1e-6 * Math.abs(expected[i] ?? 0) : 2 * lr + 1e-7;
        assert.ok(d <= tol, `${n}[${i}]: ${ours[i]} vs ${expected[i]}`);
      }
    }
  } finally {
    await pt.close();
  }
});
