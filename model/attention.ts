/**
 * The core of vit-pytorch's multi-head attention, softmax(q k^T * dh^-0.5) v per (sample, head), forward
 * and hand-written backward, for the fused block (block.ts). Heads are not cut out of the `[B*n, 3*H*dh]`
 * projection one slice and one transpose at a time: one Transpose kernel lays every q, k, v out head-major
 * (`rows`, `[B*3H*n, dh]`) and one lays them out transposed (`cols`, `[B*3H*dh, n]`), so that each
 * operand of every product is a contiguous block (the heads of one sample: a batch of blocks). On WASM
 * the batched products run in our matmul (wasm-kernels.ts; the stock batched one is ~9x slower), and no
 * product passes a transpose flag. Every transpose here is of rank 4: WASM's rank-5 Transpose is ~50x
 * slower.
 */
import * as tf from '@tensorflow/tfjs';

/** Static shape of the attention. */
export interface AttentionShape {
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  readonly dimHead: number;
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

/** Blocks first .. first+count-1 of `[count*rows, width]` blocks stacked along axis 0: `[count, rows, width]`. */
function blocks(t: tf.Tensor, first: number, count: number, rows: number, width: number): tf.Tensor {
  return tf.slice(t, [first * rows, 0], [count * rows, width]).reshape([count, rows, width]);
}

const bmm = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D);

/**
 * Attention output `[B*n, H*dh]` (heads concatenated per token, as vit-pytorch's `b h n d -> b n (h d)`)
 * of qkv `[B*n, 3*H*dh]`; `saved` is what attentionBackward needs. Training: the heads of a sample in one
 * batched product each (a sample's q, k, v blocks are contiguous); `training` false: one head at a time,
 * its scores freed as soon as its output exists (less memory), and nothing saved.
 */
export function attentionForward(qkv: tf.Tensor, s: AttentionShape, training: boolean): { out: tf.Tensor; saved: tf.Tensor[] } {
  const { batch: B, seq: n, heads: H, dimHead: dh } = s;
  const [rows, cols] = layouts(qkv, s);
  const group = training ? H : 1;
  const outs: tf.Tensor[] = [];
  const attns: tf.Tensor[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h += group) {
      const i = b * H + h;
      const [o, attn] = tf.tidy(() => {
        const a = tf.softmax(bmm(blocks(rows, part(i, 0, H), group, n, dh), blocks(cols, part(i, 1, H), group, dh, n)));
        return [bmm(a, blocks(rows, part(i, 2, H), group, n, dh)).reshape([group * n, dh]), a];
      });
      outs.push(o);
      if (training) attns.push(attn);
      else attn.dispose();
    }
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
  const [rows, cols, ...attns] = saved as [tf.Tensor, tf.Tensor, ...tf.Tensor[]];
  const d4 = dOut.reshape([B, n, H, dh]);
  const dRows = tf.transpose(d4, [0, 2, 1, 3]).reshape([B * H * n, dh]);
  const dCols = tf.transpose(d4, [0, 2, 3, 1]).reshape([B * H * dh, n]);
  const dq: tf.Tensor[] = [];
  const kv: tf.Tensor[] = [];
  for (let b = 0; b < B; b++) {
    const i = b * H;
    const attn = attns[b] as tf.Tensor;
    // With S = q k^T and attn = softmax(S), per head: dA = dO v^T, dv^T = dO^T attn,
    // dS = attn (dA - rowsum(dA attn)), dq = dS k, dk^T = q^T dS (q already scaled; its gradient is scaled
    // once, below). All heads of the sample in each batched product.
    const dA = bmm(blocks(dRows, i, H, n, dh), blocks(cols, part(i, 2, H), H, dh, n));
    const dvT = bmm(blocks(dCols, i, H, dh, n), attn);
    const dS = tf.mul(attn, tf.sub(dA, tf.sum(tf.mul(dA, attn), -1, true)));
    dq.push(bmm(dS, blocks(rows, part(i, 1, H), H, n, dh)).reshape([H * n, dh]));
    // Per sample: the k^T blocks of its heads, then the v^T blocks: [B, 2H, dh, n] -> [B, n, 2H, dh] below.
    kv.push(bmm(blocks(cols, part(i, 0, H), H, dh, n), dS).reshape([H * dh, n]), dvT.reshape([H * dh, n]));
  }
  const dQ = tf.mul(tf.transpose(tf.concat(dq, 0).reshape([B, H, n, dh]), [0, 2, 1, 3]), dh ** -0.5).reshape([B * n, H * dh]);
  const dKV = tf.transpose(tf.concat(kv, 0).reshape([B, 2 * H, dh, n]), [0, 3, 1, 2]).reshape([B * n, 2 * H * dh]);
  return tf.concat([dQ, dKV], 1);
}
