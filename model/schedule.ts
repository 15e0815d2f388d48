/**
 * Clay v0's learning-rate schedule: torch's `CosineAnnealingWarmRestarts(T_0=1000, T_mult=2,
 * eta_min=10*lr)`, stepped once per optimizer step. Because eta_min is ten times the base rate, the rate
 * RISES from lr to 10*lr within each cycle (1000, 2000, 4000 ... steps) and falls back to lr at a restart.
 */

/** Schedule parameters (v0: T_0 1000, T_mult 2, eta_min = 10 * base lr). */
export interface WarmRestartsOptions {
  readonly baseLr: number;
  readonly t0?: number;
  readonly tMult?: number;
  readonly etaMin?: number;
}

/** The learning rate at optimizer step `step` (0-based: step 0 uses the base rate), in float64. */
export function cosineWarmRestartsLr(step: number, opts: WarmRestartsOptions): number {
  const t0 = opts.t0 ?? 1000;
  const tMult = opts.tMult ?? 2;
  const etaMin = opts.etaMin ?? 10 * opts.baseLr;
  // Walk the cycles with integers as torch's incremental step() does (no log-rounding at boundaries).
  let tCur = step;
  let tI = t0;
  while (tCur >= tI) {
    tCur -= tI;
    tI *= tMult;
  }
  return etaMin + ((opts.baseLr - etaMin) * (1 + Math.cos((Math.PI * tCur) / tI))) / 2;
}
