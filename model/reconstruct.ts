/**
 * `clay reconstruct`'s stage: one chip through the masked autoencoder, and the picture of its input RGB,
 * masked input and reconstruction side by side.
 *
 * Reading the decoder's pixels: the heads' outputs are concatenated in GROUP order, and v0's loss compares
 * channel position k with cube band k (model/heads.ts, trap 1), so a trained model's channel k predicts
 * band k; that is how v0's own LogIntermediatePredictions callback shows them (pixels[i][0] beside
 * batch["pixels"][i][0]). Patches are put back as v0 does ("b c (h w) (p1 p2) -> b c (h p1) (w p2)") and
 * un-normalised with v0's per-band mean/std back to reflectance.
 *
 * The reconstruction panel shows the decoder's output on every patch, visible ones included, as the MAE
 * paper's figures do (its output on visible patches carries no loss and looks worse); `visible: 'input'`
 * pastes the input there instead. A patch is greyed in the masked panel when its rgb-group token is masked:
 * B04, B03 and B02 are all in that group, so exactly those patches were hidden from the encoder's RGB.
 */
import * as tf from '@tensorflow/tfjs';
import { ClayError } from '../core/errors.ts';
import { panelsPng, stretchRgb, type RgbImage } from '../pipeline/write/preview.ts';
import type { ClayModel } from './clay.ts';
import { BAND_GROUPS, NUM_BANDS, derive, type ClayConfig } from './config.ts';
import { CLAY_V0_MEAN, CLAY_V0_STD } from './data/normalize.ts';
import { disposeInputs, patchifyCube, prepareInputs, type ClayBatch } from './inputs.ts';
import { randomMask, type Mask } from './masking.ts';
import type { ChipSample } from './data/types.ts';

/** Band indexes of the picture's red, green, blue: B04, B03, B02 (as the chip previews). */
export const RGB_BANDS: readonly [number, number, number] = [2, 1, 0];

/** Value of the greyed-out masked patches (each of R, G, B). */
export const MASK_GREY = 128;

/** What the reconstruction panel shows on patches the encoder saw. */
export type VisiblePatches = 'model' | 'input';

/** The decoder's output for one chip under one mask. */
export interface Reconstruction {
  /** The mask used (batch 1). */
  readonly mask: Mask;
  /** `[13, H, W]`, channel k read as band k, still normalised. */
  readonly pixels: Float32Array;
  /** v0's loss for this chip and mask (per-patch MSE over masked patches, per group). */
  readonly loss: number;
}

/** Patches `[C, L, P*P]` back to planes `[C, H, W]`. */
export function unpatchify(cfg: ClayConfig, patches: Float32Array, channels = NUM_BANDS): Float32Array {
  const { side, L, PP } = derive(cfg);
  const P = cfg.patchSize;
  const H = cfg.imageSize;
  if (patches.length !== channels * L * PP) throw new ClayError('INTERNAL', `${patches.length} patch values, expected ${channels}x${L}x${PP}`);
  const out = new Float32Array(channels * H * H);
  for (let c = 0; c < channels; c++) {
    for (let l = 0; l < L; l++) {
      const y0 = Math.floor(l / side) * P;
      const x0 = (l % side) * P;
      for (let p1 = 0; p1 < P; p1++) {
        const src = (c * L + l) * PP + p1 * P;
        out.set(patches.subarray(src, src + P), (c * H + y0 + p1) * H + x0);
      }
    }
  }
  return out;
}

/** Normalised planes `[13, n]` back to reflectance with v0's mean/std (`x * std + mean`). */
export function denormalize(planes: Float32Array, pixelsPerBand: number): Float32Array {
  const out = new Float32Array(planes.length);
  for (let b = 0; b < planes.length / pixelsPerBand; b++) {
    const mean = CLAY_V0_MEAN[b] ?? 0;
    const std = CLAY_V0_STD[b] ?? 1;
    for (let i = b * pixelsPerBand; i < (b + 1) * pixelsPerBand; i++) out[i] = planes[i]! * std + mean;
  }
  return out;
}

/** Per spatial patch l (row-major), 1 when the rgb group's token is masked (batch 1). */
export function maskedRgbPatches(cfg: ClayConfig, mask: Mask): Uint8Array {
  const { L } = derive(cfg);
  const g = BAND_GROUPS.findIndex((x) => x.name === 'rgb');
  return Uint8Array.from(mask.maskedMatrix.subarray(g * L, (g + 1) * L));
}

/** Runs one chip (batch 1) through encoder and decoder under `mask` (results read back awaited). */
export async function reconstruct(model: ClayModel, sample: ClayBatch, mask: Mask): Promise<Reconstruction> {
  const cfg = model.cfg;
  if (sample.batch !== 1 || mask.batch !== 1) throw new ClayError('MODEL_CONFIG', 'reconstruct takes one chip and one mask');
  const inputs = prepareInputs(cfg, sample, false);
  try {
    const [pixels, loss] = tf.tidy(() => {
      const encoded = model.encode(inputs, mask, undefined, false);
      const px = model.pixels(model.decode(encoded, mask));
      const { L, PP } = model.sizes;
      const target = tf.tensor4d(patchifyCube(cfg, 1, sample.pixels), [1, NUM_BANDS, L, PP]);
      return [px, model.loss(px, target, mask)];
    });
    try {
      const [px, l] = await Promise.all([pixels.data(), loss.data()]);
      return { mask, pixels: unpatchify(cfg, Float32Array.from(px)), loss: l[0] ?? NaN };
    } finally {
      tf.dispose([pixels, loss]);
    }
  } finally {
    disposeInputs(inputs);
  }
}

/** Copies RGB patch l of `from` into `to`, or fills it with `grey`. */
function paintPatch(to: RgbImage, cfg: ClayConfig, l: number, from: RgbImage | number): void {
  const side = cfg.imageSize / cfg.patchSize;
  const P = cfg.patchSize;
  const y0 = Math.floor(l / side) * P;
  const x0 = (l % side) * P;
  for (let y = y0; y < y0 + P; y++) {
    const a = (y * to.width + x0) * 3;
    if (typeof from === 'number') to.data.fill(from, a, a + P * 3);
    else to.data.set(from.data.subarray(a, a + P * 3), a);
  }
}

/** The three panels: input RGB, masked input (masked patches grey), reconstruction. */
export interface ReconstructionPanels {
  readonly input: RgbImage;
  readonly masked: RgbImage;
  readonly reconstruction: RgbImage;
}

/**
 * The panels from the model's input `[13, H, W]` (normalised, as the chip stream gives it) and its
 * reconstruction. Both are un-normalised the same way and drawn under the chip previews' stretch, so the
 * input panel is the chip as the model saw it: the file's reflectance after v0's float16 normalisation
 * (within a few reflectance units of the file, NaN black).
 */
export function reconstructionPanels(cfg: ClayConfig, inputPixels: Float32Array, rec: Reconstruction, visible: VisiblePatches = 'model'): ReconstructionPanels {
  const H = cfg.imageSize;
  if (inputPixels.length !== NUM_BANDS * H * H) throw new ClayError('INTERNAL', `input pixels are not [13, ${H}, ${H}]`);
  const input = stretchRgb(denormalize(inputPixels, H * H), H, H, RGB_BANDS);
  const masked: RgbImage = { ...input, data: input.data.slice() };
  const reconstruction = stretchRgb(denormalize(rec.pixels, H * H), H, H, RGB_BANDS);
  maskedRgbPatches(cfg, rec.mask).forEach((m, l) => {
    if (m === 1) paintPatch(masked, cfg, l, MASK_GREY);
    else if (visible === 'input') paintPatch(reconstruction, cfg, l, input);
  });
  return { input, masked, reconstruction };
}

/** The PNG of the panels side by side (input, masked, reconstruction; see preview.ts for the gap). */
export function reconstructionPng(panels: ReconstructionPanels): Promise<Uint8Array> {
  return panelsPng([panels.input, panels.masked, panels.reconstruction]);
}

/** Options of `reconstructionPicture`. */
export interface PictureOptions {
  /** Seed of the random mask (default 0); the model's `maskRatio` sets how much is masked. */
  readonly seed?: number;
  readonly visible?: VisiblePatches;
}

/** A reconstruction picture and what it shows. */
export interface ReconstructionPicture {
  readonly png: Uint8Array;
  /** v0's loss on this chip and mask. */
  readonly loss: number;
  /** Spatial patches whose rgb token was masked, of `patches`. */
  readonly maskedPatches: number;
  readonly patches: number;
}

/** One chip (as the chip stream reads it) masked, reconstructed and drawn; BAD_ARGUMENT when its size is not the model's. */
export async function reconstructionPicture(model: ClayModel, chip: ChipSample, options: PictureOptions = {}): Promise<ReconstructionPicture> {
  const cfg = model.cfg;
  if (chip.width !== cfg.imageSize || chip.height !== cfg.imageSize) {
    throw new ClayError('BAD_ARGUMENT', `${chip.url} is ${chip.width}x${chip.height} px; the model takes ${cfg.imageSize}x${cfg.imageSize} (--image-size)`, { input: chip.url });
  }
  const sample: ClayBatch = { batch: 1, pixels: chip.pixels, latlon: Float32Array.from(chip.latlon), timestep: Float32Array.from(chip.timestep) };
  const rec = await reconstruct(model, sample, randomMask(cfg, 1, options.seed ?? 0));
  const png = await reconstructionPng(reconstructionPanels(cfg, chip.pixels, rec, options.visible));
  const masked = maskedRgbPatches(cfg, rec.mask).reduce((n, m) => n + m, 0);
  return { png, loss: rec.loss, maskedPatches: masked, patches: model.sizes.L };
}
