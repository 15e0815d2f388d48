/**
 * Matmul FLOPs of one Clay training step (forward x 3: the backward does two products per forward one),
 * for the achieved-GFLOP/s figure of bench/train-step.ts. Elementwise work is not counted.
 */
import { BAND_GROUPS, derive, type ClayConfig } from '../model/config.ts';

function stackFlops(rows: number, seqPerSample: number, batch: number, d: number, inner: number, heads: number, mlp: number): number {
  const proj = 2 * rows * d * (3 * inner) + 2 * rows * inner * d + 2 * 2 * rows * d * mlp;
  const attn = 2 * 2 * batch * heads * seqPerSample * seqPerSample * (inner / heads);
  return proj + attn;
}

/** Forward matmul FLOPs of the masked autoencoder at `batch`. */
export function forwardFlops(cfg: ClayConfig, batch: number): number {
  const sz = derive(cfg);
  const bands = BAND_GROUPS.reduce((s, g) => s + g.bands.length, 0);
  const embed = 2 * batch * sz.L * bands * sz.PP * cfg.dim;
  const enc = cfg.depth * stackFlops(batch * sz.encoderSeq, sz.encoderSeq, batch, cfg.dim, cfg.heads * cfg.dimHead, cfg.heads, cfg.dim * cfg.mlpRatio);
  const toDec = 2 * batch * sz.encoderSeq * cfg.dim * cfg.decoderDim;
  const dec = cfg.decoderDepth * stackFlops(batch * sz.decoderSeq, sz.decoderSeq, batch, cfg.decoderDim,
    cfg.decoderHeads * cfg.decoderDimHead, cfg.decoderHeads, cfg.decoderDim * cfg.decoderMlpRatio);
  const heads = 2 * batch * sz.L * cfg.decoderDim * bands * sz.PP;
  return embed + enc + toDec + dec + heads;
}

/** Matmul FLOPs of one training step (forward + backward). */
export function trainStepFlops(cfg: ClayConfig, batch: number): number {
  return 3 * forwardFlops(cfg, batch);
}
