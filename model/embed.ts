/**
 * Embeddings as Clay v0's predict_step makes them: the encoder without masking, averaged over the patch
 * tokens (the lat/lon and time tokens excluded). Batches are cut into chunks whose forward-only footprint
 * fits the backend (WASM: 4 GiB), so any batch size runs; a config where even one sample cannot fit is
 * refused with MODEL_CONFIG.
 */
import * as tf from '@tensorflow/tfjs';
import { ClayError } from '../core/errors.ts';
import { currentBackend } from './backend.ts';
import type { ClayModel } from './clay.ts';
import { NUM_BANDS } from './config.ts';
import { assertFits, largestFittingBatch } from './footprint.ts';
import { disposeInputs, prepareInputs, type ClayBatch } from './inputs.ts';

/** Options of `embed`. */
export interface EmbedOptions {
  /** Memory limit to plan chunks for; default the current backend's, null = unbounded. */
  readonly memoryLimitBytes?: number | null;
  /**
   * Upper bound on samples per chunk; default 2. Bigger chunks fit (small 512/32: 6 on WASM) but run
   * slower per sample here (measured on WASM, small 512/32: 18.9 s/sample at 2, 37.6 at 6).
   */
  readonly maxChunk?: number;
}

/** Mean patch-token embeddings `[B, dim]`, row-major (each chunk read back awaited). */
export async function embed(model: ClayModel, batch: ClayBatch, opts: EmbedOptions = {}): Promise<Float32Array> {
  const cfg = model.cfg;
  const limit = opts.memoryLimitBytes === undefined ? (currentBackend()?.memoryLimitBytes ?? null) : opts.memoryLimitBytes;
  const tensorLimit = currentBackend()?.tensorLimitBytes ?? null;
  const chunk = Math.min(largestFittingBatch(cfg, 'forward', limit, batch.batch, tensorLimit), opts.maxChunk ?? 2);
  if (chunk < 1) {
    // Names the limit that one sample exceeds (memory, or the largest tensor).
    assertFits(cfg, 1, 'forward', limit, currentBackend()?.choice ?? 'backend', tensorLimit);
    throw new ClayError('MODEL_CONFIG', `one sample of this config does not fit the backend's ${((limit ?? 0) / 1024 ** 3).toFixed(2)} GiB`);
  }
  const { GL } = model.sizes;
  const D = cfg.dim;
  const px = NUM_BANDS * cfg.imageSize * cfg.imageSize;
  const out = new Float32Array(batch.batch * D);
  for (let a = 0; a < batch.batch; a += chunk) {
    const b = Math.min(batch.batch, a + chunk);
    const inputs = prepareInputs(cfg, {
      batch: b - a, pixels: batch.pixels.subarray(a * px, b * px),
      latlon: batch.latlon.subarray(a * 2, b * 2), timestep: batch.timestep.subarray(a * 3, b * 3),
    }, false);
    const mean = tf.tidy(() => {
      const enc = model.encode(inputs, null, undefined, false);
      return tf.mean(tf.slice(enc, [0, 0, 0], [b - a, GL, D]), 1);
    });
    disposeInputs(inputs);
    out.set(await mean.data(), a * D);
    mean.dispose();
  }
  return out;
}
