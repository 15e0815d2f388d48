/**
 * Memory footprint of a configuration before it runs, so that a config that cannot fit its backend is
 * refused with a clear error instead of an abort inside tfjs (the WASM backend dies with "memory access
 * out of bounds" / "Aborted()" past its 4 GiB heap and is unusable afterwards). The estimate counts float32
 * tensors alive at the peak, from the op structure of this port; `test/model/memory.test.ts` checks it
 * against tfjs's measured peak.
 */
import { ClayError } from '../core/errors.ts';
import { BAND_GROUPS, NUM_BANDS, derive, type ClayConfig } from './config.ts';
import { countParams, paramSpecs } from './params.ts';

/** What the model is used for: a training step (forward + backward + AdamW) or a forward pass only. */
export type FootprintMode = 'train' | 'forward';

/** Estimated bytes by part; `peakBytes` is what must fit. */
export interface Footprint {
  readonly paramBytes: number;
  /** Gradients and AdamW moments (train only). */
  readonly optimizerBytes: number;
  /** Activations alive at the peak. */
  readonly activationBytes: number;
  readonly peakBytes: number;
}

interface Stack {
  n: number;
  d: number;
  inner: number;
  heads: number;
  mlp: number;
  depth: number;
}

/** Floats one block keeps for backward (LN outputs, q/k/v, attention probabilities, MLP activations). */
function savedPerBlock(B: number, s: Stack): number {
  return B * s.n * (3 * s.d + 5 * s.inner + 3 * s.mlp) + B * s.heads * s.n * s.n;
}

/** Floats alive inside one block's backward (its temporaries are freed together at its end). */
function backwardPerBlock(B: number, s: Stack): number {
  return B * s.n * (6 * s.d + 8 * s.inner + 4 * s.mlp) + 6 * B * s.heads * s.n * s.n;
}

/** Floats alive inside one block's forward without a tape (attention one head at a time). */
function forwardPerBlock(B: number, s: Stack): number {
  return B * s.n * (8 * s.d + 5 * s.inner + 6 * s.mlp) + 4 * s.n * s.n;
}

/** Fixed overhead: the encodings, small tensors, allocator bookkeeping (measured on the golden config). */
export const FIXED_OVERHEAD_BYTES = 8 * 1024 ** 2;

/** Safety factor on activations: allocator slack, rounding of this count (calibrated in memory.test.ts). */
export const ACTIVATION_MARGIN = 1.25;

/** Estimated footprint of `cfg` at batch size `batch` (per micro-batch). */
export function estimateFootprint(cfg: ClayConfig, batch: number, mode: FootprintMode): Footprint {
  const sz = derive(cfg);
  const B = batch;
  const N = countParams(cfg);
  const pixels = B * NUM_BANDS * cfg.imageSize * cfg.imageSize;
  const enc: Stack = {
    n: mode === 'train' ? sz.encoderSeq : sz.GL + 2, d: cfg.dim, inner: cfg.heads * cfg.dimHead,
    heads: cfg.heads, mlp: cfg.dim * cfg.mlpRatio, depth: cfg.depth,
  };
  const dec: Stack = {
    n: sz.decoderSeq, d: cfg.decoderDim, inner: cfg.decoderHeads * cfg.decoderDimHead,
    heads: cfg.decoderHeads, mlp: cfg.decoderDim * cfg.decoderMlpRatio, depth: cfg.decoderDepth,
  };
  // Group patches, and the patch embeddings (projection, LayerNorm, encodings, gathered tokens).
  const embed = pixels + 4 * B * sz.GL * cfg.dim;
  let floats: number;
  let optimizer = 0;
  if (mode === 'train') {
    optimizer = 4 * N * 4; // gradients, their running sum under accumulation, AdamW's two moments
    const saved = enc.depth * savedPerBlock(B, enc) + dec.depth * savedPerBlock(B, dec);
    const heads = 5 * pixels; // head targets, loss weights, saved residuals, one head's temporaries
    const transient = Math.max(backwardPerBlock(B, enc), backwardPerBlock(B, dec));
    floats = embed + heads + saved + transient;
  } else {
    // Each block's output (and two tfjs bookkeeping copies of it) stays until the caller's tidy ends.
    floats = embed + 3 * enc.depth * B * enc.n * enc.d + forwardPerBlock(B, enc);
  }
  const paramBytes = N * 4;
  const activationBytes = floats * 4 * ACTIVATION_MARGIN + FIXED_OVERHEAD_BYTES;
  return { paramBytes, optimizerBytes: optimizer, activationBytes, peakBytes: paramBytes + optimizer + activationBytes };
}

/** The largest single tensor of a step, by what it is. */
export interface LargestTensor {
  /** What the tensor is ("decoder attention scores of one sample", ...). */
  readonly name: string;
  readonly bytes: number;
}

/**
 * The largest single tensor `cfg` makes at `batch` for `mode`, from the op structure of this port (the
 * backends that bound one tensor, WebGPU's `maxStorageBufferBindingSize`, refuse a larger one). Attention
 * scores are per sample (every head of one sample in one tensor when training, one head at a time
 * forward-only) and grow with tokens squared; the rest grow with the batch.
 */
export function largestTensor(cfg: ClayConfig, batch: number, mode: FootprintMode): LargestTensor {
  const sz = derive(cfg);
  const B = batch;
  const cMax = Math.max(...BAND_GROUPS.map((g) => g.bands.length));
  const stacks = [
    { name: 'encoder', n: mode === 'train' ? sz.encoderSeq : sz.GL + 2, d: cfg.dim, heads: cfg.heads, inner: cfg.heads * cfg.dimHead, mlp: cfg.dim * cfg.mlpRatio },
    ...(mode === 'train' ? [{
      name: 'decoder', n: sz.decoderSeq, d: cfg.decoderDim, heads: cfg.decoderHeads, inner: cfg.decoderHeads * cfg.decoderDimHead, mlp: cfg.decoderDim * cfg.decoderMlpRatio,
    }] : []),
  ];
  const floats: [string, number][] = [
    ['input patches of a band group', B * sz.L * cMax * sz.PP],
    ['encoder tokens before masking', B * sz.GL * cfg.dim],
    ['largest parameter', Math.max(...paramSpecs(cfg).map((s) => s.torchShape.reduce((a, b) => a * b, 1)))],
  ];
  if (mode === 'train') floats.push(['decoder pixel head output', B * sz.L * cMax * sz.PP], ['decoder tokens', B * sz.GL * cfg.decoderDim]);
  for (const s of stacks) {
    floats.push(
      [`${s.name} attention scores of one sample`, (mode === 'train' ? s.heads : 1) * s.n * s.n],
      [`${s.name} q/k/v projection`, B * s.n * 3 * s.inner],
      [`${s.name} MLP hidden layer`, B * s.n * s.mlp],
    );
  }
  const [name, n] = floats.reduce((a, b) => (b[1] > a[1] ? b : a));
  return { name, bytes: n * 4 };
}

/** Share of a backend's memory limit the estimate may use (the rest: allocator slack and fragmentation). */
export const USABLE_FRACTION = 0.85;

/**
 * Throws MODEL_CONFIG (naming the limit) when `cfg` at `batch` would not fit `limitBytes` (null =
 * unbounded), or when its largest tensor exceeds `tensorLimitBytes` (webgpu: the adapter's largest buffer
 * binding; null = none), naming the tensor and the limit.
 */
export function assertFits(cfg: ClayConfig, batch: number, mode: FootprintMode, limitBytes: number | null, backend = 'this backend', tensorLimitBytes: number | null = null): Footprint {
  if (tensorLimitBytes !== null) {
    const t = largestTensor(cfg, batch, mode);
    if (t.bytes > tensorLimitBytes) {
      const mib = (b: number) => `${(b / 1024 ** 2).toFixed(1)} MiB`;
      throw new ClayError('MODEL_CONFIG',
        `${mode} of dim ${cfg.dim}/depth ${cfg.depth} at ${cfg.imageSize}/${cfg.patchSize}, batch ${batch}: the ${t.name} is ${mib(t.bytes)}, ` +
        `more than ${backend}'s largest buffer binding (maxStorageBufferBindingSize) of ${mib(tensorLimitBytes)}. ` +
        (/attention scores/.test(t.name) ? 'Attention grows with tokens squared: use a larger patch size or a smaller image.' : 'Use a smaller batch (gradient accumulation keeps the effective batch).'),
        { input: `${backend}:${t.name}:${tensorLimitBytes}` });
    }
  }
  const f = estimateFootprint(cfg, batch, mode);
  if (limitBytes !== null && f.peakBytes > USABLE_FRACTION * limitBytes) {
    const gib = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;
    throw new ClayError('MODEL_CONFIG',
      `${mode} of dim ${cfg.dim}/depth ${cfg.depth} at ${cfg.imageSize}/${cfg.patchSize}, batch ${batch} needs about ` +
      `${gib(f.peakBytes)}; ${backend} is limited to ${gib(limitBytes)} (usable ${gib(USABLE_FRACTION * limitBytes)}). ` +
      'Use a smaller batch (gradient accumulation keeps the effective batch) or the tfjs-node backend.',
      { input: `${backend}:${gib(limitBytes)}` });
  }
  return f;
}

/**
 * Largest batch in 1..max that fits `limitBytes` for `mode`, and whose largest tensor fits
 * `tensorLimitBytes` (0 when even one sample does not).
 */
export function largestFittingBatch(cfg: ClayConfig, mode: FootprintMode, limitBytes: number | null, max = 1024, tensorLimitBytes: number | null = null): number {
  if (limitBytes === null && tensorLimitBytes === null) return max;
  let best = 0;
  for (let b = 1; b <= max; b++) {
    if (limitBytes !== null && estimateFootprint(cfg, b, mode).peakBytes > USABLE_FRACTION * limitBytes) break;
    if (tensorLimitBytes !== null && largestTensor(cfg, b, mode).bytes > tensorLimitBytes) break;
    best = b;
  }
  return best;
}
