import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../model/backend.ts';
import { copyTensorData } from '../../model/tensor-data.ts';

test('copyTensorData copies a tensor (a reshaped view included) into a caller-owned array, on WASM and CPU', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    const t = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const r = t.reshape([3, 2]);
    const dst = new Float32Array(new SharedArrayBuffer(8 * 4)).fill(-1);
    await copyTensorData(r, dst.subarray(1, 7));
    assert.deepEqual(Array.from(dst), [-1, 1, 2, 3, 4, 5, 6, -1], backend);
    await assert.rejects(copyTensorData(t, dst), RangeError);
    tf.dispose([t, r]);
  }
  await tf.setBackend('wasm');
});
