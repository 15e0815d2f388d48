import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../model/backend.ts';
import { copyBox, isOurWasmKernel, stockWasmKernel } from '../../model/wasm-kernels.ts';
import { mulberry32, randn } from '../../model/params.ts';

/** Values of `f` on the CPU backend (tfjs's reference kernels) and on WASM (ours after initBackend). */
async function both(f: () => tf.Tensor): Promise<[number[], number[], number[], number[]]> {
  await initBackend({ prefer: 'wasm', log: () => {} });
  await tf.setBackend('cpu');
  const c = f();
  const cpu = [Array.from(c.dataSync()), c.shape];
  c.dispose();
  await tf.setBackend('wasm');
  assert.ok(isOurWasmKernel('Slice') && isOurWasmKernel('GatherV2'));
  const w = f();
  const wasm = [Array.from(w.dataSync()), w.shape];
  w.dispose();
  return [cpu[0] ?? [], cpu[1] ?? [], wasm[0] ?? [], wasm[1] ?? []];
}

const ramp = (shape: number[], dtype: 'float32' | 'int32' = 'float32'): tf.Tensor =>
  tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i * 0.5 - 3), shape, dtype);

test('copyBox copies a box of a row-major array run by run', () => {
  const src = Float32Array.from({ length: 24 }, (_, i) => i);
  const dst = new Float32Array(4);
  copyBox(src, [2, 3, 4], [1, 1, 2], [1, 2, 2], dst);
  assert.deepEqual(Array.from(dst), [18, 19, 22, 23]);
  const whole = new Float32Array(12);
  copyBox(src, [2, 3, 4], [1, 0, 0], [1, 3, 4], whole);
  assert.deepEqual(Array.from(whole), Array.from(src.subarray(12)));
});

test('our WASM Slice returns what the CPU backend returns (2-D to 5-D, strided and contiguous, int32)', async () => {
  const cases: [number[], number[], number[]][] = [
    [[196, 768], [98, 64], [98, 64]],
    [[196, 768], [0, 0], [196, 256]],
    [[10, 7], [3, 0], [4, 7]],
    [[2, 386, 128], [0, 0, 0], [2, 384, 128]],
    [[2, 386, 128], [1, 5, 3], [1, 7, 9]],
    [[2, 3, 4, 5], [0, 1, 1, 2], [2, 2, 3, 3]],
    [[2, 3, 2, 4, 3], [1, 0, 1, 1, 0], [1, 3, 1, 2, 3]],
    [[5], [2], [3]],
    [[4, 4], [1, 1], [0, 2]],
  ];
  for (const [shape, begin, size] of cases) {
    for (const dtype of ['float32', 'int32'] as const) {
      const [cv, cs, wv, ws] = await both(() => tf.tidy(() => tf.slice(ramp(shape, dtype), begin, size)));
      assert.deepEqual(ws, cs, `${shape} ${begin} ${size}`);
      assert.deepEqual(wv, cv, `${shape} ${begin} ${size} ${dtype}`);
    }
  }
  // -1 in size means "to the end".
  const [cv, , wv] = await both(() => tf.tidy(() => tf.slice(ramp([6, 5]), [2, 1], [-1, 3])));
  assert.deepEqual(wv, cv);
});

test('our WASM SplitV returns what the CPU backend returns (any axis, sizes or count)', async () => {
  for (const [shape, splits, axis] of [[[2, 5, 3], [1, 3, 1], 1], [[6, 4], 3, 0], [[2, 3, 4], [1, 3], -1]] as [number[], number | number[], number][]) {
    const [cv, cs, wv, ws] = await both(() => tf.tidy(() => tf.concat(tf.split(ramp(shape), splits, axis).map((t) => t.reshape([-1])))));
    assert.deepEqual([wv, ws], [cv, cs], `${shape} ${splits} ${axis}`);
  }
  await tf.setBackend('wasm');
  assert.ok(isOurWasmKernel('SplitV'));
  const parts = tf.split(ramp([4, 3]), [1, 2, 1], 0);
  assert.deepEqual(parts.map((t) => t.shape), [[1, 3], [2, 3], [1, 3]]);
  assert.deepEqual(Array.from(parts[1]?.dataSync() ?? []), [-1.5, -1, -0.5, 0, 0.5, 1]);
  tf.dispose(parts);
});

test('our WASM GatherV2 returns what the CPU backend returns; other axes fall back to the stock kernel', async () => {
  const idx = [5, 0, 3, 3, 7];
  for (const shape of [[8], [8, 6], [8, 3, 4]]) {
    const [cv, cs, wv, ws] = await both(() => tf.tidy(() => tf.gather(ramp(shape), tf.tensor1d(idx, 'int32'))));
    assert.deepEqual([wv, ws], [cv, cs], `${shape}`);
  }
  const [cv, cs, wv, ws] = await both(() => tf.tidy(() => tf.gather(ramp([8, 6]), tf.tensor2d([[1, 2], [7, 0]], [2, 2], 'int32'))));
  assert.deepEqual([wv, ws], [cv, cs]);
  const [av, as, bv, bs] = await both(() => tf.tidy(() => tf.gather(ramp([4, 6]), tf.tensor1d([5, 1], 'int32'), 1)));
  assert.deepEqual([bv, bs], [av, as]);
  await tf.setBackend('wasm');
  assert.throws(() => tf.tidy(() => tf.gather(ramp([4, 2]), tf.tensor1d([4], 'int32'))), /index/);
});

test('our WASM Identity shares the buffer: a clone outlives its source, and memory is freed with the last', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  await tf.setBackend('wasm');
  assert.ok(isOurWasmKernel('Identity'));
  const before = tf.memory().numBytes;
  const ids = tf.backend().numDataIds();
  const x = ramp([3, 4]);
  const y = tf.clone(x);
  assert.equal(tf.backend().numDataIds(), ids + 1);
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), Array.from({ length: 12 }, (_, i) => i * 0.5 - 3));
  const z = tf.add(y, 1);
  y.dispose();
  z.dispose();
  assert.equal(tf.memory().numBytes, before);
  assert.equal(tf.backend().numDataIds(), ids);
});

test('our WASM matmul equals XNNPACK\'s bit for bit (partial 4x8 blocks included) and leaves no scratch behind', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  await tf.setBackend('wasm');
  assert.ok(isOurWasmKernel('BatchMatMul'));
  const ours = tf.getKernel('BatchMatMul', 'wasm');
  const stockFunc = stockWasmKernel('BatchMatMul');
  assert.ok(ours !== undefined && stockFunc !== undefined);
  const use = (kernelFunc: tf.KernelFunc): void => {
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel({ ...ours, kernelFunc });
  };
  const rng = mulberry32(11);
  try {
    for (const [m, k, n] of [[8, 16, 16], [98, 64, 98], [6, 5, 13], [3, 7, 5], [1, 1, 1], [4, 300, 8], [13, 2, 17], [386, 64, 386]] as [number, number, number][]) {
      const a = tf.tensor2d(randn(m * k, rng), [m, k]);
      const b = tf.tensor2d(randn(k * n, rng), [k, n]);
      const ids = tf.backend().numDataIds();
      use(ours.kernelFunc);
      const x = tf.matMul(a, b);
      assert.equal(tf.backend().numDataIds(), ids + 1, 'scratch freed');
      use(stockFunc);
      const y = tf.matMul(a, b);
      assert.deepEqual(x.shape, [m, n]);
      assert.deepEqual(Array.from(x.dataSync()), Array.from(y.dataSync()), `${m}x${k} * ${k}x${n}`);
      // Batch-1 rank 3 takes our path too; transposes and broadcast batches go to the stock kernel.
      use(ours.kernelFunc);
      const z = tf.matMul(a.reshape([1, m, k]), b.reshape([1, k, n]));
      assert.deepEqual([z.shape, Array.from(z.dataSync())], [[1, m, n], Array.from(y.dataSync())]);
      tf.dispose([a, b, x, y, z]);
    }
    // A batch: one product per pair, each equal to the 2-D product.
    const a3 = tf.tensor3d(randn(3 * 6 * 5, rng), [3, 6, 5]);
    const b3 = tf.tensor3d(randn(3 * 5 * 9, rng), [3, 5, 9]);
    const batched = tf.matMul(a3, b3);
    const each = tf.concat([0, 1, 2].map((i) => tf.matMul(a3.slice([i, 0, 0], [1, 6, 5]).reshape([6, 5]) as tf.Tensor2D,
      b3.slice([i, 0, 0], [1, 5, 9]).reshape([5, 9]) as tf.Tensor2D)));
    assert.deepEqual([batched.shape, Array.from(batched.dataSync())], [[3, 6, 9], Array.from(each.dataSync())]);
    tf.dispose([a3, b3, batched, each]);
    const t = tf.matMul(tf.ones([2, 3, 4]), tf.ones([2, 5, 4]), false, true);
    assert.deepEqual([t.shape, t.dataSync()[0]], [[2, 3, 5], 4]);
    const u = tf.matMul(tf.ones([1, 3, 4]), tf.ones([2, 4, 5]));
    assert.deepEqual([u.shape, u.dataSync()[0]], [[2, 3, 5], 4]);
    tf.dispose([t, u]);
  } finally {
    use(ours.kernelFunc);
  }
});

test('our WASM column sums equal the stock Sum bit for bit; other reductions fall back to it', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  await tf.setBackend('wasm');
  assert.ok(isOurWasmKernel('Sum'));
  const ours = tf.getKernel('Sum', 'wasm');
  const stockFunc = stockWasmKernel('Sum');
  assert.ok(ours !== undefined && stockFunc !== undefined);
  const use = (kernelFunc: tf.KernelFunc): void => {
    tf.unregisterKernel('Sum', 'wasm');
    tf.registerKernel({ ...ours, kernelFunc });
  };
  const rng = mulberry32(5);
  try {
    for (const [rows, cols] of [[772, 256], [5, 7], [3, 4], [1, 9], [196, 13]] as [number, number][]) {
      const x = tf.tensor2d(randn(rows * cols, rng).map((v, i) => v * 10 ** ((i % 9) - 4)), [rows, cols]);
      const run = (f: tf.KernelFunc): number[][] => {
        use(f);
        return [tf.sum(x, 0), tf.sum(x, 0, true), tf.sum(x, -2), tf.sum(x, 1)].map((t) => {
          const v = [...t.shape, ...Array.from(t.dataSync())];
          t.dispose();
          return v;
        });
      };
      assert.deepEqual(run(ours.kernelFunc), run(stockFunc), `${rows}x${cols}`);
      x.dispose();
    }
  } finally {
    use(ours.kernelFunc);
  }
});
