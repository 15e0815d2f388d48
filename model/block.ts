/**
 * One pre-norm transformer block (vit-pytorch's Attention then FeedForward, each with its residual add) as
 * a single differentiable op with a hand-written backward. Why one op: tfjs keeps every intermediate
 * gradient of a tape until the whole backward ends, so per-op taping makes training memory grow with the
 * number of ops; here a block's backward runs inside one tidy and leaves only its input gradient and
 * parameter gradients. It also means fewer, larger kernels, and every matmul transposes explicitly.
 */
import * as tf from '@tensorflow/tfjs';
import { attentionBackward, attentionForward } from './attention.ts';
import { geluDerivative, layerNormBackward, normalCdf, normalizeRows, swapLast } from './ops.ts';
import type { Taps } from './transformer.ts';

/** A block's parameters, internal layouts (Linear weights `[in, out]`); `wo`/`bo` null when Identity. */
export interface BlockParams {
  readonly ln1g: tf.Tensor;
  readonly ln1b: tf.Tensor;
  readonly wqkv: tf.Tensor;
  readonly wo: tf.Tensor | null;
  readonly bo: tf.Tensor | null;
  readonly ln2g: tf.Tensor;
  readonly ln2b: tf.Tensor;
  readonly w1: tf.Tensor;
  readonly b1: tf.Tensor;
  readonly w2: tf.Tensor;
  readonly b2: tf.Tensor;
}

/** Static shape of the block. */
export interface BlockShape {
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  readonly dimHead: number;
  /** False for forward-only use: per-head temporaries are then freed head by head (less memory). */
  readonly training: boolean;
}

const mm = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D);

/**
 * y = x + a + f with a = Attention(x), f = FeedForward(x + a), on x `[B, n, d]`. Taps `attnTap`/`ffTap`
 * receive a and f (before the residual adds) during the forward.
 */
export function transformerBlock(
  x: tf.Tensor, p: BlockParams, s: BlockShape, taps?: Taps, attnTap = 'attn.out', ffTap = 'ff.out',
): tf.Tensor {
  const d = x.shape[2] ?? 0;
  const withOut = p.wo !== null && p.bo !== null;
  const inputs: tf.Tensor[] = [x.reshape([-1, d]), p.ln1g, p.ln1b, p.wqkv, p.ln2g, p.ln2b, p.w1, p.b1, p.w2, p.b2];
  if (withOut && p.wo !== null && p.bo !== null) inputs.push(p.wo, p.bo);
  const f = tf.customGrad((...args) => {
    const [x2, ln1g, ln1b, wqkv, ln2g, ln2b, w1, b1, w2, b2] = args as tf.Tensor[] as [
      tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const wo = withOut ? (args[10] as tf.Tensor) : null;
    const bo = withOut ? (args[11] as tf.Tensor) : null;
    const save = args[args.length - 1] as tf.GradSaveFunc;
    // Attention.
    const [xhat1, rstd1] = normalizeRows(x2);
    const h1 = tf.add(tf.mul(xhat1, ln1g), ln1b);
    // Per (sample, head) with 2-D matmuls: on WASM a batched matmul (batch > 1) runs ~9x slower.
    const { out: ot, saved: attnSaved } = attentionForward(mm(h1, wqkv), s, s.training);
    const a = wo !== null && bo !== null ? tf.add(mm(ot, wo), bo) : ot;
    taps?.(attnTap, a.reshape([s.batch, s.seq, d]));
    const mid = tf.add(x2, a);
    // FeedForward.
    const [xhat2, rstd2] = normalizeRows(mid);
    const h2 = tf.add(tf.mul(xhat2, ln2g), ln2b);
    const u = tf.add(mm(h2, w1), b1);
    const cdf = normalCdf(u);
    const ffo = tf.add(mm(tf.mul(u, cdf), w2), b2);
    taps?.(ffTap, ffo.reshape([s.batch, s.seq, d]));
    save([xhat1, rstd1, ot, xhat2, rstd2, u, cdf, ...attnSaved]);
    return {
      value: tf.add(mid, ffo),
      // tfjs runs a custom gradFunc outside any tidy: without this one, every temporary of every block's
      // backward would live until the whole backward pass ends.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
        const [sx1, sr1, sot, sx2, sr2, su, scdf] = saved as [
          tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        // FeedForward backward (h2 and gelu output recomputed: cheap, saves two [B*n, .] buffers).
        const g = tf.mul(su, scdf);
        const dw2 = mm(swapLast(g), dy);
        const db2 = tf.sum(dy, 0);
        const du = tf.mul(mm(dy, swapLast(w2)), geluDerivative(su, scdf));
        const hh2 = tf.add(tf.mul(sx2, ln2g), ln2b);
        const dw1 = mm(swapLast(hh2), du);
        const db1 = tf.sum(du, 0);
        const [dmidLn, dln2g, dln2b] = layerNormBackward(mm(du, swapLast(w1)), sx2, sr2, ln2g);
        const dmid = tf.add(dy, dmidLn);
        // Attention backward.
        let dot = dmid;
        const extra: tf.Tensor[] = [];
        if (wo !== null) {
          extra.push(mm(swapLast(sot), dmid), tf.sum(dmid, 0));
          dot = mm(dmid, swapLast(wo));
        }
        const dqkv = attentionBackward(dot, saved.slice(7), s);
        const hh1 = tf.add(tf.mul(sx1, ln1g), ln1b);
        const dwqkv = mm(swapLast(hh1), dqkv);
        const [dxLn, dln1g, dln1b] = layerNormBackward(mm(dqkv, swapLast(wqkv)), sx1, sr1, ln1g);
        const dx = tf.add(dmid, dxLn);
        return [dx, dln1g, dln1b, dwqkv, dln2g, dln2b, dw1, db1, dw2, db2, ...extra];
      }),
    };
  });
  return f(...inputs).reshape([s.batch, s.seq, d]);
}
