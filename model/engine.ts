/**
 * A training engine: what computes the steps of a run. `train-run.ts` owns everything else (settings and
 * their check on `--resume`, the seeded data order, masks, the schedule, checkpoint folders and
 * `latest.json`, metrics, the loss curve, progress), the same whatever the engine; an engine loads or
 * initialises weights, steps a batch and exports its state. Two exist: `tfjs` (this process, the default and
 * the numerical reference) and `torch` (a Python child process, CUDA where there is a GPU).
 */
import type { ClayConfig } from './config.ts';
import type { ClayBatch } from './inputs.ts';

/** Engine names, as `clay train --engine` takes them. */
export type EngineName = 'tfjs' | 'torch';

/** One micro-batch: the model's inputs and the mask noise `[B, G*L]` its mask is the argsort of. */
export interface EngineBatch {
  readonly batch: ClayBatch;
  readonly noise: Float32Array;
}

/** Where an engine's state starts: a fresh initialisation, or a checkpoint folder. */
export type EngineStart =
  | { readonly kind: 'init'; readonly seed: number }
  | { readonly kind: 'checkpoint'; readonly dir: string; readonly optimizerStep: number };

/** AdamW's constants (the rate comes per step from the schedule). */
export interface AdamWConstants {
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
}

/** AdamW's constants as Clay v0 trained (weight decay 0.05, betas 0.9/0.95, eps 1e-8): both engines' defaults. */
export const DEFAULT_ADAMW: AdamWConstants = { weightDecay: 0.05, beta1: 0.9, beta2: 0.95, eps: 1e-8 };

/** What every engine is given. */
export interface EngineOptions {
  readonly cfg: ClayConfig;
  /** Chips per micro-batch (engines that check memory check this size). */
  readonly batch: number;
  readonly start: EngineStart;
  readonly weightDecay?: number;
}

/** A training engine (see the file comment). */
export interface TrainEngine {
  readonly name: EngineName;
  readonly adamw: AdamWConstants;
  /** Optimizer steps taken (AdamW's own count, restored on resume). */
  readonly optimizerStep: number;
  /**
   * False for a data-parallel engine whose ranks here do not include rank 0 (another machine's holds it:
   * that one validates, writes checkpoints and reports). Absent or true: this engine leads.
   */
  readonly leads?: boolean;
  /** What it runs on, for the `Train:Start` event (device, versions, memory estimate, ...). */
  readonly description: Readonly<Record<string, string | number | boolean>>;
  /** One optimizer step at rate `lr`: gradients averaged over `micro`. Resolves with the mean loss before the update. */
  step(micro: readonly EngineBatch[], lr: number): Promise<number>;
  /** The loss of one batch, no update (validation). */
  loss(batch: EngineBatch): Promise<number>;
  /** Writes `weights.safetensors` and `optimizer.safetensors` (PyTorch names and layouts) into `dir`. */
  writeState(dir: string, metadata: Record<string, string>): Promise<void>;
  /** Frees the engine (tensors, the child process). */
  close(): Promise<void>;
  /**
   * After an `EngineRestarted`: loads `start` (the run's last checkpoint, or the seed's initialisation) into
   * the restarted processes, which then take steps again. Engines that never restart have none.
   */
  restart?(start: EngineStart): Promise<void>;
}

/**
 * What a request of an engine rejects with when its processes were lost and have been started again (torchrun's
 * elastic restart, `clay train --max-restarts`): the state they held is gone, so the run rewinds to its last
 * checkpoint and calls `restart`. `restarts` counts them in this run, `reason` says what was lost.
 */
export class EngineRestarted extends Error {
  constructor(readonly reason: string, readonly restarts: number, readonly maxRestarts: number) {
    super(`${reason}; restarted (${restarts} of ${maxRestarts})`);
    this.name = 'EngineRestarted';
  }
}
