/**
 * vit-pytorch 1.6.x `Transformer` as Clay v0 uses it: pre-norm blocks `x = attn(x) + x; x = ff(x) + x`,
 * attention with a bias-free qkv projection and scale dimHead^-0.5, FeedForward = LayerNorm, Linear, exact
 * GELU, Linear; a final LayerNorm. Dropout is 0 in v0 and omitted.
 */
import * as tf from '@tensorflow/tfjs';
import { gelu, layerNorm, linear, matmul } from './ops.ts';
import { hasOutProjection } from './params.ts';

/** Looks a parameter up by its state_dict name. */
export type ParamGetter = (name: string) => tf.Tensor;

/** Receives named intermediate activations (the caller keeps what it needs). */
export type Taps = (name: string, t: tf.Tensor) => void;

/** Shape of one transformer stack. */
export interface TransformerShape {
  readonly dim: number;
  readonly depth: number;
  readonly heads: number;
  readonly dimHead: number;
}

/** Multi-head self-attention of one block on x `[B, N, D]` (before the residual add). */
export function attention(x: tf.Tensor, p: ParamGetter, prefix: string, s: TransformerShape): tf.Tensor {
  const [B, N] = x.shape as [number, number, number];
  const { heads: H, dimHead: Dh } = s;
  const h = layerNorm(x, p(`${prefix}.norm.weight`), p(`${prefix}.norm.bias`));
  const qkv = linear(h, p(`${prefix}.to_qkv.weight`), null); // [B, N, 3*H*Dh]: chunk(3), then (h d)
  const [q, k, v] = tf.split(qkv, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
  // Scaling q rather than the scores: same product up to rounding, N*Dh instead of N*N multiplies.
  const qh = tf.mul(tf.transpose(q.reshape([B, N, H, Dh]), [0, 2, 1, 3]), Dh ** -0.5).reshape([B * H, N, Dh]);
  const kt = tf.transpose(k.reshape([B, N, H, Dh]), [0, 2, 3, 1]).reshape([B * H, Dh, N]);
  const vh = tf.transpose(v.reshape([B, N, H, Dh]), [0, 2, 1, 3]).reshape([B * H, N, Dh]);
  const attn = tf.softmax(matmul(qh, kt));
  const out = tf.transpose(matmul(attn, vh).reshape([B, H, N, Dh]), [0, 2, 1, 3]).reshape([B, N, H * Dh]);
  if (!hasOutProjection(s.dim, H, Dh)) return out;
  return linear(out, p(`${prefix}.to_out.0.weight`), p(`${prefix}.to_out.0.bias`));
}

/** FeedForward of one block (before the residual add). */
export function feedForward(x: tf.Tensor, p: ParamGetter, prefix: string): tf.Tensor {
  const h = layerNorm(x, p(`${prefix}.net.0.weight`), p(`${prefix}.net.0.bias`));
  const u = gelu(linear(h, p(`${prefix}.net.1.weight`), p(`${prefix}.net.1.bias`)));
  return linear(u, p(`${prefix}.net.4.weight`), p(`${prefix}.net.4.bias`));
}

/**
 * The whole stack on x `[B, N, D]`; taps `${tapPrefix}.layers.${i}.attn.out` / `.ff.out` are the block
 * outputs before the residual adds.
 */
export function transformer(
  x: tf.Tensor, p: ParamGetter, prefix: string, s: TransformerShape, taps?: Taps, tapPrefix = prefix,
): tf.Tensor {
  let y = x;
  for (let i = 0; i < s.depth; i++) {
    const a = attention(y, p, `${prefix}.layers.${i}.0`, s);
    taps?.(`${tapPrefix}.layers.${i}.attn.out`, a);
    y = tf.add(a, y);
    const f = feedForward(y, p, `${prefix}.layers.${i}.1`);
    taps?.(`${tapPrefix}.layers.${i}.ff.out`, f);
    y = tf.add(f, y);
  }
  return layerNorm(y, p(`${prefix}.norm.weight`), p(`${prefix}.norm.bias`));
}
