/**
 * The Clay v0 masked autoencoder (`CLAY` in `src/model_clay.py`): encoder (per-group patch embedding,
 * fixed encodings, masking, lat/lon and time tokens, transformer), decoder (mask token, its own encodings,
 * transformer, per-group pixel heads) and the per-patch MSE loss over masked patches.
 */
import * as tf from '@tensorflow/tfjs';
import { ClayError } from '../core/errors.ts';
import { BAND_GROUPS, NUM_BANDS, derive, type ClayConfig, type DerivedSizes } from './config.ts';
import { tokenEncodings } from './encodings.ts';
import type { PreparedInputs } from './inputs.ts';
import type { Mask } from './masking.ts';
import { headLossWeights, headsLoss } from './heads.ts';
import { treeSum } from './sum.ts';
import { gatherRows, layerNorm, linear, repeatRows } from './ops.ts';
import type { ClayParams } from './params.ts';
import { transformer, type ParamGetter, type Taps } from './transformer.ts';

/** Flat row indices b*n + idx[b, j] for a per-sample index array `[B, k]` over rows of length n. */
function flatIndices(idx: Int32Array, batch: number, n: number): Int32Array {
  const k = idx.length / batch;
  const out = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = Math.floor(i / k) * n + (idx[i] ?? 0);
  return out;
}

/** Loss weights `[B, 13, L]`: mask[b, group(c), l] / |group(c)| / (number of masked tokens). */
function lossWeights(sz: DerivedSizes, mask: Mask): Float32Array {
  const { L, GL } = sz;
  const B = mask.batch;
  let count = 0;
  for (const m of mask.maskedMatrix) count += m;
  const w = new Float32Array(B * NUM_BANDS * L);
  BAND_GROUPS.forEach((g, gi) => {
    // v0 indexes the loss by band index (loss[:, group]) although the pixels are in group order.
    for (const c of g.bands) {
      for (let b = 0; b < B; b++) {
        for (let l = 0; l < L; l++) {
          w[(b * NUM_BANDS + c) * L + l] = (mask.maskedMatrix[b * GL + gi * L + l] ?? 0) / g.bands.length / count;
        }
      }
    }
  });
  return w;
}

/** A Clay model bound to its parameters; holds the fixed encodings as tensors until `dispose`. */
export class ClayModel {
  readonly cfg: ClayConfig;
  readonly sizes: DerivedSizes;
  readonly params: ClayParams;
  private readonly encoderEncoding: tf.Tensor2D;
  private readonly decoderEncoding: tf.Tensor2D;
  private readonly p: ParamGetter;

  constructor(params: ClayParams) {
    this.cfg = params.cfg;
    this.params = params;
    this.sizes = derive(this.cfg);
    const { side, GL } = this.sizes;
    this.encoderEncoding = tf.tensor2d(tokenEncodings(side, this.cfg.dim), [GL, this.cfg.dim]);
    this.decoderEncoding = tf.tensor2d(tokenEncodings(side, this.cfg.decoderDim), [GL, this.cfg.decoderDim]);
    this.p = (name: string) => {
      const v = params.vars.get(name);
      if (v === undefined) throw new ClayError('WEIGHTS_INVALID', `missing parameter ${name}`, { input: name });
      return v;
    };
  }

  /** Patch embeddings `[B, G, L, D]` (projection + LayerNorm, before encodings). */
  patchEmbed(inputs: PreparedInputs): tf.Tensor {
    const { L } = this.sizes;
    const B = inputs.batch;
    const groups = BAND_GROUPS.map((g, i) => {
      const pre = `encoder.patch_embedding.${g.name}`;
      const x = inputs.groupPatches[i];
      if (x === undefined) throw new ClayError('INTERNAL', `no patches for group ${g.name}`);
      const y = linear(x, this.p(`${pre}.proj.weight`), this.p(`${pre}.proj.bias`), true);
      return layerNorm(y, this.p(`${pre}.norm.weight`), this.p(`${pre}.norm.bias`)).reshape([B, 1, L, this.cfg.dim]);
    });
    return tf.concat(groups, 1);
  }

  /**
   * Encoder output `[B, kept + 2, D]` (after the final LayerNorm). With `mask` null every token is kept in
   * token order (v0's predict sets mask_ratio 0 but still shuffles; a mean over tokens is the same).
   * `training` false (forward-only) frees attention temporaries head by head; gradients then fail.
   */
  encode(inputs: PreparedInputs, mask: Mask | null, taps?: Taps, training = true): tf.Tensor {
    const { GL, nUnmasked } = this.sizes;
    const B = inputs.batch;
    const D = this.cfg.dim;
    const pe = this.patchEmbed(inputs);
    taps?.('encoder.patch_embed', pe);
    let x = tf.add(pe.reshape([B, GL, D]), this.encoderEncoding);
    if (mask !== null) {
      x = gatherRows(x.reshape([B * GL, D]), flatIndices(mask.unmaskedIndices, B, GL)).reshape([B, nUnmasked, D]);
    }
    const ll = linear(inputs.latlon, this.p('encoder.latlon_embedding.weight'), this.p('encoder.latlon_embedding.bias'), true);
    const tt = linear(inputs.timestep, this.p('encoder.time_embedding.weight'), this.p('encoder.time_embedding.bias'), true);
    x = tf.concat([x, ll.reshape([B, 1, D]), tt.reshape([B, 1, D])], 1);
    taps?.('encoder.transformer.in', x);
    const { depth, heads, dimHead } = this.cfg;
    const out = transformer(x, this.p, 'encoder.transformer', { dim: D, depth, heads, dimHead, training }, taps, 'encoder');
    taps?.('encoder.out', out);
    return out;
  }

  /** Decoder output tokens `[B, G*L, Dd]` (after the final LayerNorm, lat/lon and time tokens dropped). */
  decode(encoded: tf.Tensor, mask: Mask, taps?: Taps): tf.Tensor {
    const { GL, nMasked, nUnmasked } = this.sizes;
    const B = mask.batch;
    const Dd = this.cfg.decoderDim;
    const y = this.cfg.dim === Dd
      ? encoded
      : linear(encoded, this.p('decoder.enc_to_dec.weight'), this.p('decoder.enc_to_dec.bias'));
    const unmasked = tf.slice(y, [0, 0, 0], [B, nUnmasked, Dd]);
    const meta = tf.slice(y, [0, nUnmasked, 0], [B, 2, Dd]);
    const maskTokens = repeatRows(this.p('decoder.mask_patch'), B * nMasked).reshape([B, nMasked, Dd]);
    // Shuffled order is random_indices = [masked..., unmasked...]; reverse_indices puts tokens back.
    const shuffled = tf.concat([maskTokens, unmasked], 1).reshape([B * GL, Dd]);
    const ordered = gatherRows(shuffled, flatIndices(mask.reverseIndices, B, GL)).reshape([B, GL, Dd]);
    const z = tf.concat([tf.add(ordered, this.decoderEncoding), meta], 1);
    taps?.('decoder.transformer.in', z);
    const { decoderDepth: depth, decoderHeads: heads, decoderDimHead: dimHead } = this.cfg;
    const out = transformer(z, this.p, 'decoder.transformer', { dim: Dd, depth, heads, dimHead, training: true }, taps, 'decoder');
    taps?.('decoder.transformer.out', out);
    return tf.slice(out, [0, 0, 0], [B, GL, Dd]);
  }

  /** Pixels `[B, 13, L, P*P]` from decoder tokens, channels in GROUP order (as v0's pixelify). */
  pixels(tokens: tf.Tensor): tf.Tensor {
    const { L, G, PP } = this.sizes;
    const [B, , Dd] = tokens.shape as [number, number, number];
    const grouped = tokens.reshape([B, G, L, Dd]);
    const parts = BAND_GROUPS.map((g, i) => {
      const t = tf.slice(grouped, [0, i, 0, 0], [B, 1, L, Dd]).reshape([B, L, Dd]);
      const h = linear(t, this.p(`decoder.embed_to_pixels.${g.name}.weight`), this.p(`decoder.embed_to_pixels.${g.name}.bias`));
      // Head output is (PP, C) with the band fastest: "B L (PP C) -> B C L PP".
      return tf.transpose(h.reshape([B, L, PP, g.bands.length]), [0, 3, 1, 2]);
    });
    return tf.concat(parts, 1);
  }

  /**
   * v0's per_pixel_loss written literally on pixels `[B, 13, L, P*P]` and the band-order cube target
   * (per-patch MSE, averaged per group over masked patches, channels not re-ordered). Training uses the
   * fused heads.ts form, which computes the same value.
   */
  loss(pixels: tf.Tensor, target: tf.Tensor, mask: Mask): tf.Scalar {
    const { L } = this.sizes;
    const { PP } = this.sizes;
    // The per-patch mean folded into the weights (w / PP), so that the whole loss is one tree sum (sum.ts).
    const w = tf.div(tf.tensor4d(lossWeights(this.sizes, mask), [mask.batch, NUM_BANDS, L, 1]), PP);
    return treeSum(tf.mul(tf.squaredDifference(pixels, target), w));
  }

  /** Full forward: the loss of a batch under a mask (tap `decoder.pixels` to see the reconstruction). */
  forward(inputs: PreparedInputs, mask: Mask, taps?: Taps): { loss: tf.Scalar; tokens: tf.Tensor } {
    const targets = inputs.headTargets;
    if (targets === null) throw new ClayError('MODEL_CONFIG', 'forward needs inputs prepared with a target');
    if (mask.batch !== inputs.batch) throw new ClayError('MODEL_CONFIG', 'mask and inputs have different batch sizes');
    const encoded = this.encode(inputs, mask, taps);
    const tokens = this.decode(encoded, mask, taps);
    if (taps !== undefined) taps('decoder.pixels', this.pixels(tokens));
    const heads = BAND_GROUPS.map((g) => ({
      w: this.p(`decoder.embed_to_pixels.${g.name}.weight`), b: this.p(`decoder.embed_to_pixels.${g.name}.bias`),
    }));
    const rows = inputs.batch * this.sizes.L;
    const weights = headLossWeights(this.cfg, mask).map((w) => tf.tensor2d(w, [rows, w.length / rows]));
    return { loss: headsLoss(tokens, heads, targets, weights), tokens };
  }

  /** Frees the encodings (not the parameters). */
  dispose(): void {
    this.encoderEncoding.dispose();
    this.decoderEncoding.dispose();
  }
}
