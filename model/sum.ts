/**
 * Sums whose rounding error does not grow with the number of terms, for the losses the trainer reports.
 * tfjs-wasm's `Sum` (and tfjs-webgpu's reduce shader, thread by thread) accumulate one long run of float32
 * adds: over the ~2 M terms of one head's loss at 512/32 that is 2.5e-4 relative against a float64 sum
 * (issue 21). Here the terms are summed in groups of `fanIn`, those partial sums again in groups, and so on
 * (a k-ary tree): each value passes through about log_k(n) float32 adds, so the error stays near float32
 * rounding whatever n is, on every backend (the cpu backend, which accumulates in float64, is unaffected).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Terms per partial sum. 16 keeps the tree shallow (6 levels for 7 M terms) while each level's own run
 * of adds stays short; measured on WASM at 2 M and 6.8 M terms, fan-ins 2 to 64 all land within 1.2e-7 of
 * the float64 sum, where one `tf.sum` is off by 1e-3.
 */
export const TREE_FAN_IN = 16;

/**
 * The sum of every element of `x` as a scalar, reduced as a tree (see the file comment). Differentiable
 * with tfjs's stock gradients (reshape, pad, sum); intermediates are freed before it returns.
 */
export function treeSum(x: tf.Tensor, fanIn = TREE_FAN_IN): tf.Scalar {
  if (!Number.isInteger(fanIn) || fanIn < 2) throw new RangeError(`treeSum: fan-in must be an integer >= 2, got ${fanIn}`);
  return tf.tidy(() => {
    let t = x.reshape([-1]);
    while (t.size > fanIn) {
      const rows = Math.ceil(t.size / fanIn);
      // Only a level whose size is not a multiple of the fan-in is padded (with zeros, which add nothing);
      // the first, large level of a loss is [rows, P*P*C] and divides evenly.
      const padded = rows * fanIn === t.size ? t : tf.pad(t, [[0, rows * fanIn - t.size]]);
      t = tf.sum(padded.reshape([rows, fanIn]), 1);
    }
    return tf.sum(t);
  });
}
