/**
 * Host-side preparation of a batch: the cube cut into patches per band group (the input of each group's
 * patch projection, a strided Conv2d in v0, here a matmul: conv2d's weight gradient is missing on WASM),
 * the loss target in band order, and the metadata. No gradient flows into inputs, so this is plain JS.
 */
import * as tf from '@tensorflow/tfjs';
import { ClayError } from '../core/errors.ts';
import { BAND_GROUPS, NUM_BANDS, derive, type ClayConfig } from './config.ts';
import { headTargets } from './heads.ts';

/** One batch as Clay v0's datamodule yields it (already normalised). */
export interface ClayBatch {
  readonly batch: number;
  /** `[B, 13, H, W]`, bands in Clay's order (10 S2, 2 S1, DEM). */
  readonly pixels: Float32Array;
  /** `[B, 2]` normalised lat/lon, as v0's normalize_latlon. */
  readonly latlon: Float32Array;
  /** `[B, 3]` normalised time, as v0's normalize_timestamp. */
  readonly timestep: Float32Array;
}

/** Tensors of a prepared batch; dispose with `disposeInputs`. */
export interface PreparedInputs {
  readonly batch: number;
  /** Per group `[B*L, C_g*P*P]`, features ordered (band in group order, p1, p2) like the Conv2d weight. */
  readonly groupPatches: tf.Tensor2D[];
  /** Loss targets in each pixel head's layout (see heads.ts); null when prepared without a target. */
  readonly headTargets: tf.Tensor2D[] | null;
  readonly latlon: tf.Tensor2D;
  readonly timestep: tf.Tensor2D;
}

/** Cuts the cube of one group into patch rows: out[(b*L + l)*(C*PP) + ci*PP + p1*P + p2]. */
function groupPatchRows(cfg: ClayConfig, batch: number, pixels: Float32Array, bands: readonly number[]): Float32Array {
  const { side, L, PP } = derive(cfg);
  const P = cfg.patchSize;
  const H = cfg.imageSize;
  const C = bands.length;
  const out = new Float32Array(batch * L * C * PP);
  for (let b = 0; b < batch; b++) {
    for (let ci = 0; ci < C; ci++) {
      const plane = (b * NUM_BANDS + (bands[ci] ?? 0)) * H * H;
      for (let y = 0; y < H; y++) {
        const row = Math.floor(y / P);
        const p1 = y % P;
        const src = plane + y * H;
        for (let col = 0; col < side; col++) {
          const l = row * side + col;
          const dst = ((b * L + l) * C + ci) * PP + p1 * P;
          out.set(pixels.subarray(src + col * P, src + col * P + P), dst);
        }
      }
    }
  }
  return out;
}

/** The cube as `[B, 13, L, P*P]`, v0's per_pixel_loss target (einops "B C (h p1) (w p2) -> B C (h w) (p1 p2)"). */
export function patchifyCube(cfg: ClayConfig, batch: number, pixels: Float32Array): Float32Array {
  const { side, L, PP } = derive(cfg);
  const P = cfg.patchSize;
  const H = cfg.imageSize;
  const out = new Float32Array(batch * NUM_BANDS * L * PP);
  for (let bc = 0; bc < batch * NUM_BANDS; bc++) {
    for (let y = 0; y < H; y++) {
      const src = (bc * H + y) * H;
      const row = Math.floor(y / P);
      const p1 = y % P;
      for (let col = 0; col < side; col++) {
        const dst = (bc * L + row * side + col) * PP + p1 * P;
        out.set(pixels.subarray(src + col * P, src + col * P + P), dst);
      }
    }
  }
  return out;
}

/** Uploads a batch; `withTarget` false skips the loss target (embedding only). */
export function prepareInputs(cfg: ClayConfig, b: ClayBatch, withTarget = true): PreparedInputs {
  const { L, PP } = derive(cfg);
  const H = cfg.imageSize;
  const B = b.batch;
  if (b.pixels.length !== B * NUM_BANDS * H * H || b.latlon.length !== B * 2 || b.timestep.length !== B * 3) {
    throw new ClayError('MODEL_CONFIG', `batch arrays do not match [${B},13,${H},${H}], [${B},2], [${B},3]`);
  }
  const groupPatches = BAND_GROUPS.map((g) =>
    tf.tensor2d(groupPatchRows(cfg, B, b.pixels, g.bands), [B * L, g.bands.length * PP]),
  );
  const targets = withTarget
    ? headTargets(cfg, B, b.pixels).map((t, i) => tf.tensor2d(t, [B * L, PP * (BAND_GROUPS[i]?.bands.length ?? 0)]))
    : null;
  return {
    batch: B,
    groupPatches,
    headTargets: targets,
    latlon: tf.tensor2d(b.latlon, [B, 2]),
    timestep: tf.tensor2d(b.timestep, [B, 3]),
  };
}

/** Frees a prepared batch. */
export function disposeInputs(p: PreparedInputs): void {
  tf.dispose([...p.groupPatches, ...(p.headTargets ?? []), p.latlon, p.timestep]);
}
