/**
 * The decoder's per-group pixel heads fused with Clay v0's loss, as one differentiable op. v0's
 * `pixelify` concatenates the heads in GROUP order and `per_pixel_loss` compares that with the cube in BAND
 * order (trap 1 of the golden README): so the head of group g, whose outputs sit at channel positions
 * off_g .. off_g + C_g - 1, is compared with bands off_g .. off_g + C_g - 1, and each of those channels
 * counts toward the loss group that its BAND index belongs to. Here that comparison is done directly in
 * each head's output layout `(P*P, C_g)` (band fastest), so no pixel-sized tensor is kept for backward
 * except one scaled residual per head.
 */
import * as tf from '@tensorflow/tfjs';
import { BAND_GROUPS, NUM_BANDS, derive, type ClayConfig } from './config.ts';
import type { Mask } from './masking.ts';
import { treeSum } from './sum.ts';

/** Channel position where each group's head output starts in the concatenated pixels. */
export const HEAD_OFFSETS: readonly number[] = BAND_GROUPS.map((_, i) =>
  BAND_GROUPS.slice(0, i).reduce((s, g) => s + g.bands.length, 0));

/** Loss group of every band index (the group whose `bands` contains it). */
const GROUP_OF_BAND: readonly number[] = [...Array(NUM_BANDS).keys()].map((c) => BAND_GROUPS.findIndex((g) => g.bands.includes(c)));

/**
 * Targets of each head `[B*L, P*P*C_g]`: bands off_g.. of the cube, rows (b, l), features (p1, p2, c).
 */
export function headTargets(cfg: ClayConfig, batch: number, pixels: Float32Array): Float32Array[] {
  const { side, L, PP } = derive(cfg);
  const P = cfg.patchSize;
  const H = cfg.imageSize;
  return BAND_GROUPS.map((g, gi) => {
    const C = g.bands.length;
    const off = HEAD_OFFSETS[gi] ?? 0;
    const out = new Float32Array(batch * L * PP * C);
    for (let b = 0; b < batch; b++) {
      for (let ci = 0; ci < C; ci++) {
        const plane = (b * NUM_BANDS + off + ci) * H * H;
        for (let y = 0; y < H; y++) {
          const row = Math.floor(y / P);
          const p1 = y % P;
          for (let col = 0; col < side; col++) {
            const src = plane + y * H + col * P;
            let o = ((b * L + row * side + col) * PP + p1 * P) * C + ci;
            for (let p2 = 0; p2 < P; p2++, o += C) out[o] = pixels[src + p2] ?? 0;
          }
        }
      }
    }
    return out;
  });
}

/**
 * Loss weights of each head per (row b*L + l, channel ci), `[B*L, C_g]`: mask[b, group(band off_g + ci), l]
 * / |that group| / PP / (masked tokens), the same for every pixel of the patch (headsLoss broadcasts them
 * over P*P), so that the loss is sum(weight * (prediction - target)^2).
 */
export function headLossWeights(cfg: ClayConfig, mask: Mask): Float32Array[] {
  const { L, GL, PP } = derive(cfg);
  const B = mask.batch;
  let count = 0;
  for (const m of mask.maskedMatrix) count += m;
  return BAND_GROUPS.map((g, gi) => {
    const C = g.bands.length;
    const off = HEAD_OFFSETS[gi] ?? 0;
    const out = new Float32Array(B * L * C);
    for (let b = 0; b < B; b++) {
      for (let l = 0; l < L; l++) {
        for (let ci = 0; ci < C; ci++) {
          const lg = GROUP_OF_BAND[off + ci] ?? 0;
          const size = BAND_GROUPS[lg]?.bands.length ?? 1;
          out[(b * L + l) * C + ci] = (mask.maskedMatrix[b * GL + lg * L + l] ?? 0) / size / PP / count;
        }
      }
    }
    return out;
  });
}

/** Head weights of one group (internal layout `[Dd, P*P*C_g]`) and bias. */
export interface HeadParams {
  readonly w: tf.Tensor;
  readonly b: tf.Tensor;
}

/**
 * Loss of the decoder tokens `[B, G*L, Dd]` (group-major) through the heads against `targets`
 * (`[B*L, P*P*C_g]`) with `weights` (`[B*L, C_g]`), both per head, from headTargets/headLossWeights as
 * tensors. One op; its gradient flows to the tokens and every head.
 */
export function headsLoss(tokens: tf.Tensor, heads: readonly HeadParams[], targets: readonly tf.Tensor[], weights: readonly tf.Tensor[]): tf.Scalar {
  const [B, GL, Dd] = tokens.shape as [number, number, number];
  const G = heads.length;
  const L = GL / G;
  const flat = heads.flatMap((h) => [h.w, h.b]);
  const f = tf.customGrad((...args) => {
    const tok = args[0] as tf.Tensor;
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const rows: tf.Tensor[] = [];
    const scaled: tf.Tensor[] = [];
    let loss: tf.Tensor = tf.scalar(0);
    for (let g = 0; g < G; g++) {
      const w = args[1 + 2 * g] as tf.Tensor;
      const b = args[2 + 2 * g] as tf.Tensor;
      const t = tf.slice(tok, [0, g * L, 0], [B, L, Dd]).reshape([B * L, Dd]);
      const diff = tf.sub(tf.add(tf.matMul(t as tf.Tensor2D, w as tf.Tensor2D), b), targets[g] as tf.Tensor);
      const wg = weights[g] as tf.Tensor;
      const C = wg.shape[1] ?? 1;
      // The (P*P, C) row times the weight of each channel, broadcast over the pixels of the patch.
      const wd = tf.mul(diff.reshape([B * L, -1, C]), wg.reshape([B * L, 1, C])).reshape(diff.shape);
      // A tree sum: one float32 tf.sum over a head's ~2 M terms at 512/32 drifts by 1e-3 on WASM (sum.ts).
      loss = tf.add(loss, treeSum(tf.mul(wd, diff)));
      rows.push(t);
      scaled.push(tf.mul(wd, 2));
    }
    save([...rows, ...scaled]);
    return {
      value: loss as tf.Scalar,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => tf.tidy(() => {
        const dTok: tf.Tensor[] = [];
        const dParams: tf.Tensor[] = [];
        for (let g = 0; g < G; g++) {
          const t = saved[g] as tf.Tensor;
          const dh = tf.mul(saved[G + g] as tf.Tensor, dy);
          const w = args[1 + 2 * g] as tf.Tensor;
          dTok.push(tf.matMul(dh as tf.Tensor2D, tf.transpose(w) as tf.Tensor2D).reshape([B, L, Dd]));
          dParams.push(tf.matMul(tf.transpose(t) as tf.Tensor2D, dh as tf.Tensor2D), tf.sum(dh, 0));
        }
        return [tf.concat(dTok, 1), ...dParams];
      }),
    };
  });
  return f(tokens, ...flat);
}
