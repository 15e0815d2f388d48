/**
 * Copies a float32 tensor's values into an array the caller owns (a SharedArrayBuffer slot, say). On the
 * WASM backend straight from the backend's memory: `data()` there first copies into a new array of its
 * own, which is one more pass over the data and one more allocation per tensor. Elsewhere an awaited
 * `data()` (never `dataSync`, which tfjs-webgpu cannot do in Node).
 */
import * as tf from '@tensorflow/tfjs';

interface HeapReader {
  typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray;
}

function isHeapReader(b: unknown): b is HeapReader {
  return typeof b === 'object' && b !== null && 'typedArrayFromHeap' in b && typeof b.typedArrayFromHeap === 'function';
}

/** dst.set(values of t); `dst.length` must be `t.size`. */
export async function copyTensorData(t: tf.Tensor, dst: Float32Array): Promise<void> {
  if (t.dtype !== 'float32' || dst.length !== t.size) throw new RangeError(`copyTensorData: ${t.dtype} tensor of ${t.size} into ${dst.length} floats`);
  const backend = tf.backend();
  if (tf.getBackend() === 'wasm' && isHeapReader(backend)) {
    dst.set(backend.typedArrayFromHeap({ dataId: t.dataId, shape: [t.size], dtype: 'float32' }));
  } else {
    dst.set(await t.data());
  }
}
