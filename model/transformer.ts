/**
 * vit-pytorch 1.6.x `Transformer` as Clay v0 uses it: pre-norm blocks `x = attn(x) + x; x = ff(x) + x`,
 * attention with a bias-free qkv projection and scale dimHead^-0.5, FeedForward = LayerNorm, Linear, exact
 * GELU, Linear; a final LayerNorm. Dropout is 0 in v0 and omitted. Each block is one fused op (block.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { transformerBlock } from './block.ts';
import { layerNorm } from './ops.ts';
import { hasOutProjection } from './params.ts';

/** Looks a parameter up by its state_dict name. */
export type ParamGetter = (name: string) => tf.Tensor;

/** Receives named intermediate activations; copy what you need at once (they may be freed right after). */
export type Taps = (name: string, t: tf.Tensor) => void;

/** Shape of one transformer stack. */
export interface TransformerShape {
  readonly dim: number;
  readonly depth: number;
  readonly heads: number;
  readonly dimHead: number;
  /** False for forward-only use (frees attention temporaries head by head). */
  readonly training: boolean;
}

/**
 * The whole stack on x `[B, N, D]`; taps `${tapPrefix}.layers.${i}.attn.out` / `.ff.out` are the block
 * outputs before the residual adds.
 */
export function transformer(
  x: tf.Tensor, p: ParamGetter, prefix: string, s: TransformerShape, taps?: Taps, tapPrefix = prefix,
): tf.Tensor {
  const [batch, seq] = x.shape as [number, number, number];
  const out = hasOutProjection(s.dim, s.heads, s.dimHead);
  let y = x;
  for (let i = 0; i < s.depth; i++) {
    const a = `${prefix}.layers.${i}.0`;
    const f = `${prefix}.layers.${i}.1`;
    y = transformerBlock(y, {
      ln1g: p(`${a}.norm.weight`), ln1b: p(`${a}.norm.bias`), wqkv: p(`${a}.to_qkv.weight`),
      wo: out ? p(`${a}.to_out.0.weight`) : null, bo: out ? p(`${a}.to_out.0.bias`) : null,
      ln2g: p(`${f}.net.0.weight`), ln2b: p(`${f}.net.0.bias`),
      w1: p(`${f}.net.1.weight`), b1: p(`${f}.net.1.bias`), w2: p(`${f}.net.4.weight`), b2: p(`${f}.net.4.bias`),
    }, { batch, seq, heads: s.heads, dimHead: s.dimHead, training: s.training }, taps,
    `${tapPrefix}.layers.${i}.attn.out`, `${tapPrefix}.layers.${i}.ff.out`);
  }
  return layerNorm(y, p(`${prefix}.norm.weight`), p(`${prefix}.norm.bias`));
}
