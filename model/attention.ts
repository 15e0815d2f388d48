/**
 * The core of vit-pytorch's multi-head attention, softmax(q k^T * dh^-0.5) v per (sample, head), forward
 * and hand-written backward, for the fused block (block.ts). Heads are not cut out of the `[B*n, 3*H*dh]`
 * projection one slice and one transpose at a time: one Transpose kernel lays every q, k, v out head-major
 * (`rows`, `[B*3H*n, dh]`) and one lays them out transposed (`cols`, `[B*3H*dh, n]`), so that each
 * operand of every product is a contiguous block, and every product is a plain 2-D matmul (on WASM a
 * batched matmul, or one with transpose flags, takes a slow path). Every transpose here is of rank 4:
 * WASM's rank-5 Transpose is ~50x slower.
 */
import * as tf from '@tensorflow/tfjs';

/** Static shape of the attention. */
export interface AttentionShape {
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  readonly dimHead: number;
}

const mm = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);

/** Block `i` of `[count*rows, width]` matrices stacked along axis 0: `[rows, width]`. */
function block(t: tf.Tensor, i: number, rows: number, width: number): tf.Tensor {
  return tf.slice(t, [i * rows, 0], [rows, width]);
}

/**
 * Per-column factors of the qkv projection: dh^-0.5 on the q columns, 1 elsewhere (x * 1 is exact, so
 * k and v are unchanged). Scaling q rather than the scores: same product up to rounding, fewer multiplies.
 */
function qScale(s: AttentionShape): tf.Tensor {
  const inner = s.heads * s.dimHead;
  const f = new Float32Array(3 * inner).fill(1);
  f.fill(s.dimHead ** -0.5, 0, inner);
  return tf.tensor1d(f);
}

/**
 * `[B*n, 3*H*dh]` -> head-major rows `[B*3H*n, dh]` and columns `[B*3H*dh, n]` (q scaled); the block of
 * sample b, part p (q, k, v) and head h is number b*3H + p*H + h.
 */
function layouts(qkv: tf.Tensor, s: AttentionShape): [tf.Tensor, tf.Tensor] {
  const { batch: B, seq: n, heads: H, dimHead: dh } = s;
  const x = tf.mul(qkv, qScale(s)).reshape([B, n, 3 * H, dh]);
  return [tf.transpose(x, [0, 2, 1, 3]).reshape([B * 3 * H * n, dh]), tf.transpose(x, [0, 2, 3, 1]).reshape([B * 3 * H * dh, n])];
}

/** Block number of part p (0 q, 1 k, 2 v) of (sample, head) i = b*H + h in `layouts`. */
function part(i: number, p: number, heads: number): number {
  return (Math.floor(i / heads) * 3 + p) * heads + (i % heads);
}

/**
 * Attention output `[B*n, H*dh]` (heads concatenated per token, as vit-pytorch's `b h n d -> b n (h d)`)
 * of qkv `[B*n, 3*H*dh]`; `saved` is what attentionBackward needs (empty when `training` is false: then
 * each head's scores are freed as soon as its output exists).
 */
export function attentionForward(qkv: tf.Tensor, s: AttentionShape, training: boolean): { out: tf.Tensor; saved: tf.Tensor[] } {
  const { batch: B, seq: n, heads: H, dimHead: dh } = s;
  const BH = B * H;
  const [rows, cols] = layouts(qkv, s);
  const outs: tf.Tensor[] = [];
  const attns: tf.Tensor[] = [];
  for (let i = 0; i < BH; i++) {
    const [o, attn] = tf.tidy(() => {
      const a = tf.softmax(mm(block(rows, part(i, 0, H), n, dh), block(cols, part(i, 1, H), dh, n)));
      return [mm(a, block(rows, part(i, 2, H), n, dh)), a];
    });
    outs.push(o);
    if (training) attns.push(attn);
    else attn.dispose();
  }
  const out = tf.transpose(tf.concat(outs, 0).reshape([B, H, n, dh]), [0, 2, 1, 3]).reshape([B * n, H * dh]);
  tf.dispose(outs);
  if (!training) {
    tf.dispose([rows, cols]);
    return { out, saved: [] };
  }
  return { out, saved: [rows, cols, ...attns] };
}

/** Gradient `[B*n, 3*H*dh]` w.r.t. qkv, given the gradient `[B*n, H*dh]` of the output and `saved`. */
export function attentionBackward(dOut: tf.Tensor, saved: readonly tf.Tensor[], s: AttentionShape): tf.Tensor {
  const { batch: B, seq: n, heads: H, dimHead: dh } = s;
  const BH = B * H;
  const [rows, cols, ...attns] = saved as [tf.Tensor, tf.Tensor, ...tf.Tensor[]];
  const d4 = dOut.reshape([B, n, H, dh]);
  const dRows = tf.transpose(d4, [0, 2, 1, 3]).reshape([BH * n, dh]);
  const dCols = tf.transpose(d4, [0, 2, 3, 1]).reshape([BH * dh, n]);
  const dq: tf.Tensor[] = [];
  const dkT: tf.Tensor[] = [];
  const dvT: tf.Tensor[] = [];
  for (let i = 0; i < BH; i++) {
    const attn = attns[i] as tf.Tensor;
    // With S = q k^T and attn = softmax(S): dA = dO v^T, dv^T = dO^T attn, dS = attn (dA - rowsum(dA attn)),
    // dq = dS k, dk^T = q^T dS (q already scaled; the q gradient is scaled once, below).
    const dA = mm(block(dRows, i, n, dh), block(cols, part(i, 2, H), dh, n));
    dvT.push(mm(block(dCols, i, dh, n), attn));
    const dS = tf.mul(attn, tf.sub(dA, tf.sum(tf.mul(dA, attn), -1, true)));
    dq.push(mm(dS, block(rows, part(i, 1, H), n, dh)));
    dkT.push(mm(block(cols, part(i, 0, H), dh, n), dS));
  }
  const dQ = tf.mul(tf.transpose(tf.concat(dq, 0).reshape([B, H, n, dh]), [0, 2, 1, 3]), dh ** -0.5).reshape([B * n, H * dh]);
  // Per sample: the k^T blocks of its heads, then the v^T blocks: [B, 2H, dh, n] -> [B, n, 2H, dh].
  const kv: tf.Tensor[] = [];
  for (let b = 0; b < B; b++) kv.push(...dkT.slice(b * H, (b + 1) * H), ...dvT.slice(b * H, (b + 1) * H));
  const dKV = tf.transpose(tf.concat(kv, 0).reshape([B, 2 * H, dh, n]), [0, 3, 1, 2]).reshape([B * n, 2 * H * dh]);
  return tf.concat([dQ, dKV], 1);
}
