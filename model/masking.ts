/**
 * Random masking of Clay v0 (`Encoder.mask_out`): argsort of per-sample noise over all G*L group tokens;
 * the first int(maskRatio*G*L) of the permutation are masked, the rest kept in permutation order. The noise
 * is injectable so that a reference run's mask can be reproduced.
 */
import { ClayError } from '../core/errors.ts';
import { derive, type ClayConfig } from './config.ts';
import { mulberry32, randn } from './params.ts';

/** The mask of one batch; index arrays are per sample, row-major `[B, n]`, token t = g*L + l. */
export interface Mask {
  readonly batch: number;
  /** argsort(noise) per sample `[B, GL]`. */
  readonly randomIndices: Int32Array;
  /** argsort(randomIndices) `[B, GL]` (the inverse permutation). */
  readonly reverseIndices: Int32Array;
  /** First nMasked of randomIndices `[B, nMasked]`. */
  readonly maskedIndices: Int32Array;
  /** The rest `[B, nUnmasked]`, in the encoder's token order. */
  readonly unmaskedIndices: Int32Array;
  /** `[B, G, L]`, 1 = masked. */
  readonly maskedMatrix: Float32Array;
}

/** Masks from noise `[B, GL]` (v0 draws torch.randn; ties broken by index, v0 has none in practice). */
export function maskFromNoise(cfg: ClayConfig, batch: number, noise: Float32Array): Mask {
  const { GL, nMasked, nUnmasked } = derive(cfg);
  if (noise.length !== batch * GL) {
    throw new ClayError('MODEL_CONFIG', `mask noise has ${noise.length} values, expected ${batch}x${GL}`);
  }
  const randomIndices = new Int32Array(batch * GL);
  const reverseIndices = new Int32Array(batch * GL);
  const maskedIndices = new Int32Array(batch * nMasked);
  const unmaskedIndices = new Int32Array(batch * nUnmasked);
  const maskedMatrix = new Float32Array(batch * GL);
  const order = [...Array(GL).keys()];
  for (let b = 0; b < batch; b++) {
    const row = noise.subarray(b * GL, (b + 1) * GL);
    const perm = order.slice().sort((i, j) => (row[i] ?? 0) - (row[j] ?? 0) || i - j);
    perm.forEach((t, k) => {
      randomIndices[b * GL + k] = t;
      reverseIndices[b * GL + t] = k;
      if (k < nMasked) {
        maskedIndices[b * nMasked + k] = t;
        maskedMatrix[b * GL + t] = 1;
      } else {
        unmaskedIndices[b * nUnmasked + k - nMasked] = t;
      }
    });
  }
  return { batch, randomIndices, reverseIndices, maskedIndices, unmaskedIndices, maskedMatrix };
}

/** The noise `[B, GL]` of a seeded random mask (normal, as v0's torch.randn; not the same stream). */
export function maskNoise(cfg: ClayConfig, batch: number, seed: number): Float32Array {
  return randn(batch * derive(cfg).GL, mulberry32(seed));
}

/** A seeded random mask: the argsort of `maskNoise`. */
export function randomMask(cfg: ClayConfig, batch: number, seed: number): Mask {
  return maskFromNoise(cfg, batch, maskNoise(cfg, batch, seed));
}
