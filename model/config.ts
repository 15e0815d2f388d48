/**
 * Clay v0 model configurations: the four sizes of `src/model_clay.py` (clay_tiny .. clay_large), the six
 * band groups, and the sizes derived from image and patch size.
 */
import { ClayError } from '../core/errors.ts';

/** Named Clay v0 sizes. v0 trained `small`. */
export type ModelSize = 'tiny' | 'small' | 'medium' | 'large';

/** One band group: its name (the state_dict key) and its band indices into the 13-band cube, in group order. */
export interface BandGroup {
  readonly name: string;
  readonly bands: readonly number[];
}

/** Clay v0's band groups, in its dict order (fixes G and every group-major layout). */
export const BAND_GROUPS: readonly BandGroup[] = [
  { name: 'rgb', bands: [2, 1, 0] },
  { name: 'rededge', bands: [3, 4, 5, 7] },
  { name: 'nir', bands: [6] },
  { name: 'swir', bands: [8, 9] },
  { name: 'sar', bands: [10, 11] },
  { name: 'dem', bands: [12] },
];

/** Number of bands in the input cube (10 Sentinel-2, 2 Sentinel-1, 1 DEM). */
export const NUM_BANDS = 13;

/** The embedding rule of `model/embed.ts`, in words (file metadata and CLI help). */
export const EMBEDDING_RULE =
  "mean of the encoder's patch tokens without masking; lat/lon and time tokens excluded (Clay v0 predict_step)";

/** Full configuration of a Clay v0 masked autoencoder. Dropout is 0 in every v0 size and is not modelled. */
export interface ClayConfig {
  /** Image side in pixels (square images). */
  readonly imageSize: number;
  /** Patch side in pixels; must divide imageSize. */
  readonly patchSize: number;
  /** Fraction of the G*L group tokens masked; the count is int(maskRatio * G * L), as v0. */
  readonly maskRatio: number;
  /** Encoder width, blocks, attention heads, width per head, MLP width / dim. */
  readonly dim: number;
  readonly depth: number;
  readonly heads: number;
  readonly dimHead: number;
  readonly mlpRatio: number;
  /** The decoder's own width, blocks, heads, width per head, MLP ratio. */
  readonly decoderDim: number;
  readonly decoderDepth: number;
  readonly decoderHeads: number;
  readonly decoderDimHead: number;
  readonly decoderMlpRatio: number;
}

type Architecture = Omit<ClayConfig, 'imageSize' | 'patchSize' | 'maskRatio'>;

/** Architecture of each v0 size (encoder, decoder), from clay_tiny/small/medium/large. */
export const MODEL_SIZES: Readonly<Record<ModelSize, Architecture>> = {
  tiny: {
    dim: 256, depth: 4, heads: 4, dimHead: 64, mlpRatio: 2,
    decoderDim: 128, decoderDepth: 2, decoderHeads: 2, decoderDimHead: 64, decoderMlpRatio: 2,
  },
  small: {
    dim: 768, depth: 12, heads: 12, dimHead: 64, mlpRatio: 4,
    decoderDim: 512, decoderDepth: 8, decoderHeads: 8, decoderDimHead: 64, decoderMlpRatio: 4,
  },
  medium: {
    dim: 1024, depth: 24, heads: 16, dimHead: 64, mlpRatio: 4,
    decoderDim: 512, decoderDepth: 8, decoderHeads: 16, decoderDimHead: 64, decoderMlpRatio: 4,
  },
  large: {
    dim: 1280, depth: 32, heads: 16, dimHead: 64, mlpRatio: 4,
    decoderDim: 512, decoderDepth: 8, decoderHeads: 16, decoderDimHead: 64, decoderMlpRatio: 4,
  },
};

/** A named size at an image/patch size (v0 defaults: 512 px, patch 32, mask ratio 0.75). */
export function clayConfig(
  size: ModelSize,
  opts: { imageSize?: number; patchSize?: number; maskRatio?: number } = {},
): ClayConfig {
  return validateConfig({
    ...MODEL_SIZES[size],
    imageSize: opts.imageSize ?? 512,
    patchSize: opts.patchSize ?? 32,
    maskRatio: opts.maskRatio ?? 0.75,
  });
}

/** Sizes that follow from a config. */
export interface DerivedSizes {
  /** Patches per side. */
  readonly side: number;
  /** Spatial patches L = side^2. */
  readonly L: number;
  /** Band groups G. */
  readonly G: number;
  /** Group tokens G*L. */
  readonly GL: number;
  /** Masked tokens int(maskRatio*G*L). */
  readonly nMasked: number;
  /** Tokens the encoder keeps. */
  readonly nUnmasked: number;
  /** Encoder sequence: unmasked + latlon + time. */
  readonly encoderSeq: number;
  /** Decoder sequence: G*L + 2. */
  readonly decoderSeq: number;
  /** Pixels per patch P*P. */
  readonly PP: number;
}

/** Derived sizes; v0 truncates the masked count (`int(...)`). */
export function derive(cfg: ClayConfig): DerivedSizes {
  const side = cfg.imageSize / cfg.patchSize;
  const L = side * side;
  const G = BAND_GROUPS.length;
  const GL = G * L;
  // v0: int(mask_ratio * num_patches), a float64 product truncated.
  const nMasked = Math.trunc(cfg.maskRatio * GL);
  return {
    side, L, G, GL, nMasked, nUnmasked: GL - nMasked,
    encoderSeq: GL - nMasked + 2, decoderSeq: GL + 2, PP: cfg.patchSize * cfg.patchSize,
  };
}

function fail(message: string): never {
  throw new ClayError('MODEL_CONFIG', message);
}

/** Checks the constraints the original asserts (divisibility, sin-cos dims); returns the config. */
export function validateConfig(cfg: ClayConfig): ClayConfig {
  const ints: (keyof ClayConfig)[] = [
    'imageSize', 'patchSize', 'dim', 'depth', 'heads', 'dimHead', 'mlpRatio',
    'decoderDim', 'decoderDepth', 'decoderHeads', 'decoderDimHead', 'decoderMlpRatio',
  ];
  for (const k of ints) {
    const v = cfg[k];
    if (!Number.isInteger(v) || v <= 0) fail(`${k} must be a positive integer, got ${v}`);
  }
  if (cfg.imageSize % cfg.patchSize !== 0) fail('Image dimensions must be divisible by the patch size.');
  for (const [k, d] of [['dim', cfg.dim], ['decoderDim', cfg.decoderDim]] as const) {
    // pos encoding uses dim/2 split in 4 with (dim/8 - 1) as divisor: dim must be a multiple of 8, >= 16.
    if (d % 8 !== 0 || d < 16) fail(`${k} must be a multiple of 8 and at least 16 (sin-cos encodings), got ${d}`);
  }
  if (!(cfg.maskRatio >= 0 && cfg.maskRatio < 1)) fail(`maskRatio must be in [0, 1), got ${cfg.maskRatio}`);
  return cfg;
}
