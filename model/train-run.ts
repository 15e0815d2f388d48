/**
 * A training run of Clay v0's MAE fed by a chip stream: AdamW with v0's schedule, gradient accumulation,
 * checkpoints every N steps (see checkpoint.ts), an exact `resume`, validation loss after each epoch, the
 * losses as JSON lines in `{out}/metrics.jsonl` and a loss curve in `{out}/loss.svg`.
 *
 * Exactness: the data order of an epoch is a function of (seed, epoch), masks of a micro-batch a function
 * of (seed, step, micro-batch), and a checkpoint holds the weights, the optimizer's moments and step, and
 * the data position; so a run killed and resumed ends with the same weights, bit for bit on the same
 * backend, as one that was never interrupted.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { ClayError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { CHECKPOINTS_DIR, counterSeed, readCheckpointMeta, resolveCheckpoint, saveCheckpoint, type CheckpointMeta } from './checkpoint.ts';
import { NUM_BANDS, type ClayConfig } from './config.ts';
import type { ChipBatch } from './data/types.ts';
import { EngineRestarted, type EngineBatch, type EngineStart, type TrainEngine } from './engine.ts';
import type { ClayBatch } from './inputs.ts';
import { lossCurveSvg, type CurvePoint } from './loss-curve.ts';
import { maskNoise } from './masking.ts';
import { cosineWarmRestartsLr } from './schedule.ts';

/** Batches of one pass; `return()` (a `break` in for-await) stops the producer. */
export type BatchStream = AsyncIterable<ChipBatch>;

/** Where training batches come from. */
export interface TrainData {
  /** Training chips (positions in an epoch's order). */
  readonly trainCount: number;
  /** Validation chips (0: no validation). */
  readonly valCount: number;
  /** Batches of `batch` chips of epoch `epoch`, in that epoch's seeded order, starting at position `skip`. */
  train(epoch: number, skip: number): BatchStream;
  /** The validation chips in a fixed order, in batches. */
  val(): BatchStream;
}

/** Options of a training run. */
export interface TrainRunOptions {
  /** Output folder (checkpoints, metrics.jsonl, loss.svg). Local. */
  readonly out: string;
  /** Model size name (for the record) and its config. */
  readonly model: { readonly size: string; readonly config: ClayConfig };
  /** Chips per micro-batch. */
  readonly batch: number;
  /** Micro-batches per optimizer step (gradients averaged). Default 1. */
  readonly accumulate?: number;
  /** Base learning rate (v0: 1e-4; the schedule rises to 10x within a cycle). */
  readonly lr?: number;
  readonly weightDecay?: number;
  /** Stop after this many optimizer steps (in total, counting those of a resumed run) ... */
  readonly steps?: number;
  /** ... or after this many epochs (default 1 when `steps` is not given). */
  readonly epochs?: number;
  /** Seed of the initialisation, the data order and the masks. Default 42. */
  readonly seed?: number;
  /** Write a checkpoint every this many optimizer steps (and always at the end). Default 100. */
  readonly checkpointEvery?: number;
  /** Checkpoints kept. Default 3. */
  readonly keep?: number;
  /** Continue the run in `out` from its latest checkpoint (a fresh start when there is none). */
  readonly resume?: boolean;
  /**
   * Starts the engine that computes the steps (weights from `start`, AdamW with `weightDecay`). Default: the
   * tfjs engine on the current backend (`tfjs-engine.ts`); `torch-engine.ts` starts the PyTorch one.
   */
  readonly engine?: (start: EngineStart) => Promise<TrainEngine>;
  /** Memory limit to check the config against, tfjs engine (default: the backend's). */
  readonly memoryLimitBytes?: number | null;
  /** Called with every step's micro-batches as the engine gets them (tests compare engines' data). */
  readonly onBatches?: (step: number, micro: readonly EngineBatch[]) => void;
  /** The data source's description, recorded in checkpoints. */
  readonly source: string;
  readonly logger: Logger;
  /** Called after every optimizer step (progress display). */
  readonly onStep?: (e: StepEvent) => void;
}

/** What one optimizer step reports. */
export interface StepEvent {
  readonly step: number;
  readonly totalSteps: number;
  readonly epoch: number;
  readonly loss: number;
  readonly lr: number;
  /** Samples per second of this step, data wait included. */
  readonly samplesPerSec: number;
  /** Milliseconds this step waited for data. */
  readonly waitMs: number;
}

/** The outcome of a run. */
export interface TrainResult {
  readonly out: string;
  readonly steps: number;
  /** Steps taken by this invocation (fewer than `steps` after a resume). */
  readonly stepsThisRun: number;
  readonly resumedFrom: number | null;
  /** Times the engine was restarted and the run rewound to its last checkpoint (`--max-restarts`). */
  readonly restarts: number;
  readonly epoch: number;
  readonly losses: CurvePoint[];
  readonly validation: (CurvePoint & { epoch: number })[];
  readonly checkpoint: string;
  /** Training samples per second of this invocation's steps, time waiting for data included. */
  readonly samplesPerSec: number;
  /** Milliseconds in steps (gradients and update) and waiting for the data stream. */
  readonly computeMs: number;
  readonly waitMs: number;
  readonly ms: number;
}

interface MetricRow {
  kind: 'train' | 'val';
  step: number;
  epoch: number;
  loss: number;
  lr?: number;
}

/** Crops the centre `size` x `size` of each chip when the model's image is smaller than the chips. */
export function cropBatch(b: ChipBatch, size: number): ClayBatch {
  const side = Math.round(Math.sqrt(b.pixels.length / (b.batch * NUM_BANDS)));
  if (side === size) return b;
  if (side < size) {
    throw new ClayError('MODEL_CONFIG', `chips of ${side}x${side} are smaller than the model's image size ${size}`, { input: b.chips[0]?.url ?? '' });
  }
  const off = Math.floor((side - size) / 2);
  const out = new Float32Array(b.batch * NUM_BANDS * size * size);
  for (let p = 0; p < b.batch * NUM_BANDS; p++) {
    for (let y = 0; y < size; y++) {
      const src = (p * side + off + y) * side + off;
      out.set(b.pixels.subarray(src, src + size), (p * size + y) * size);
    }
  }
  return { batch: b.batch, pixels: out, latlon: b.latlon, timestep: b.timestep };
}

async function readMetrics(path: string, upTo: number): Promise<MetricRow[]> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const rows: MetricRow[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const r = JSON.parse(line) as MetricRow;
      // Rows past the checkpoint (and a line cut by a kill) belong to the steps that will be redone.
      if ((r.kind === 'train' || r.kind === 'val') && r.step <= upTo) rows.push(r);
    } catch {
      // a torn last line
    }
  }
  return rows;
}

const VAL_STREAM = 0xfffffff0;

/** Mean loss over the validation chips, each batch with its own fixed mask (same masks every epoch). */
async function validate(engine: TrainEngine, cfg: ClayConfig, data: TrainData, seed: number): Promise<number> {
  let sum = 0;
  let n = 0;
  let i = 0;
  for await (const b of data.val()) {
    const loss = await engine.loss({ batch: cropBatch(b, cfg.imageSize), noise: maskNoise(cfg, b.batch, counterSeed(seed, VAL_STREAM, i++)) });
    sum += loss * b.batch;
    n += b.batch;
  }
  return n === 0 ? Number.NaN : sum / n;
}

function sameConfig(a: ClayConfig, b: ClayConfig): boolean {
  const keys = Object.keys(a) as (keyof ClayConfig)[];
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

async function hasCheckpoint(out: string): Promise<boolean> {
  try {
    await resolveCheckpoint(out);
    return true;
  } catch {
    return false;
  }
}

/** Where a run continues from checkpoint `dir`: the engine's start and the data position. */
function placeOf(dir: string, m: CheckpointMeta): { start: EngineStart; step: number; epoch: number; position: number } {
  return { start: { kind: 'checkpoint', dir, optimizerStep: m.optimizer.step }, step: m.step, epoch: m.data.epoch, position: m.data.samplesInEpoch };
}

/** Trains; see the file comment. */
export async function trainRun(data: TrainData, opts: TrainRunOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const { out, logger } = opts;
  const cfg = opts.model.config;
  const accumulate = opts.accumulate ?? 1;
  const seed = opts.seed ?? 42;
  const lr = opts.lr ?? 1e-4;
  const every = opts.checkpointEvery ?? 100;
  for (const [k, v] of [['batch', opts.batch], ['accumulate', accumulate], ['checkpointEvery', every]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ClayError('BAD_ARGUMENT', `${k} must be a positive integer, got ${v}`, { input: k });
  }
  const stepSamples = opts.batch * accumulate;
  const stepsPerEpoch = Math.floor(data.trainCount / stepSamples);
  if (stepsPerEpoch < 1) {
    throw new ClayError('BAD_ARGUMENT', `${data.trainCount} training chips are fewer than one step's ${stepSamples} (batch ${opts.batch} x accumulate ${accumulate})`, { input: opts.source });
  }
  const totalSteps = opts.steps ?? (opts.epochs ?? 1) * stepsPerEpoch;
  await mkdir(out, { recursive: true });
  const metricsPath = join(out, 'metrics.jsonl');
  const curvePath = join(out, 'loss.svg');

  let step = 0;
  let epoch = 0;
  let position = 0;
  let resumedFrom: number | null = null;
  const existing = await hasCheckpoint(out);
  if (existing && !opts.resume) {
    throw new ClayError('BAD_ARGUMENT', `${out} already holds a training run (${CHECKPOINTS_DIR}/); pass --resume to continue it or choose another --out`, { input: out });
  }
  let rows: MetricRow[] = [];
  let start: EngineStart = { kind: 'init', seed };
  if (existing) {
    const dir = await resolveCheckpoint(out);
    const m = await readCheckpointMeta(dir);
    const mismatch = !sameConfig(m.model.config, cfg) ? 'model config'
      : m.data.batch !== opts.batch ? `batch (${m.data.batch})`
        : m.data.accumulate !== accumulate ? `accumulate (${m.data.accumulate})`
          : m.data.seed !== seed ? `seed (${m.data.seed})`
            : m.schedule.baseLr !== lr ? `lr (${m.schedule.baseLr})` : null;
    if (mismatch !== null) {
      throw new ClayError('CHECKPOINT_INVALID', `--resume of ${dir} with a different ${mismatch}: resume with the run's own settings`, { input: dir });
    }
    ({ start, step, epoch, position } = placeOf(dir, m));
    resumedFrom = step;
  }
  const engine = opts.engine !== undefined ? await opts.engine(start) : await (await import('./tfjs-engine.ts')).startTfjsEngine({
    cfg, batch: opts.batch, start, lr,
    ...(opts.weightDecay === undefined ? {} : { weightDecay: opts.weightDecay }),
    ...(opts.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: opts.memoryLimitBytes }),
  });
  // A data-parallel machine without rank 0 steps with the others but writes nothing (no metrics, no
  // checkpoints: rank 0's machine writes them into the same `out`, a shared volume, from which every machine
  // resumes) and reports no steps; rank 0 validates.
  let writes = engine.leads !== false;
  if (!writes) logger.info('Train:Follower', { out, message: 'rank 0 runs on another machine: it writes the metrics and checkpoints and reports the steps' });
  if (existing) {
    if (writes) {
      rows = await readMetrics(metricsPath, step);
      await writeFileAtomic(metricsPath, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    }
    logger.info('Train:Resume', { checkpoint: start.kind === 'checkpoint' ? start.dir : '', step, epoch, position, engine: engine.name });
  } else if (writes) {
    await writeFileAtomic(metricsPath, '');
  }
  logger.info('Train:Start', {
    model: opts.model.size, imageSize: cfg.imageSize, patchSize: cfg.patchSize, batch: opts.batch, accumulate, lr,
    trainChips: data.trainCount, valChips: data.valCount, stepsPerEpoch, totalSteps, fromStep: step,
    ...engine.description,
  });

  const losses: CurvePoint[] = rows.filter((r) => r.kind === 'train').map((r) => ({ step: r.step, loss: r.loss }));
  const validation = rows.filter((r) => r.kind === 'val').map((r) => ({ step: r.step, loss: r.loss, epoch: r.epoch }));
  let lastCheckpoint = '';
  let samplesThisRun = 0;
  let computeMs = 0;
  let waitTotalMs = 0;
  const stepsBefore = step;
  let restarts = 0;

  const record = async (r: MetricRow): Promise<void> => {
    if (writes) await appendFile(metricsPath, `${JSON.stringify(r)}\n`);
  };
  const checkpoint = async (): Promise<void> => {
    if (!writes) return;
    const meta: CheckpointMeta = {
      format: 'clay-checkpoint/1', step,
      model: { size: opts.model.size, config: cfg },
      optimizer: { kind: 'AdamW', ...engine.adamw, step: engine.optimizerStep },
      schedule: { kind: 'CosineAnnealingWarmRestarts', baseLr: lr, t0: 1000, tMult: 2, etaMin: 10 * lr },
      data: { epoch, samplesInEpoch: position, seed, batch: opts.batch, accumulate, source: opts.source },
      rng: { kind: 'counter', seed, nextStep: step },
      run: { steps: opts.steps ?? null, epochs: opts.epochs ?? null, checkpointEvery: every },
    };
    lastCheckpoint = await saveCheckpoint(out, (dir, metadata) => engine.writeState(dir, metadata), meta, opts.keep ?? 3);
    await writeFileAtomic(curvePath, lossCurveSvg(losses, validation, `Clay ${opts.model.size} ${cfg.imageSize}/${cfg.patchSize}, batch ${stepSamples}: loss`));
    logger.info('Train:Checkpoint', { step, checkpoint: lastCheckpoint });
  };

  /**
   * The engine's processes were lost and started again (`--max-restarts`): back to the last checkpoint (or the
   * start), as `--resume` would, and on with the same data order, masks and schedule.
   */
  const rewind = async (why: EngineRestarted): Promise<void> => {
    if (engine.restart === undefined) throw why;
    restarts += 1;
    let from: EngineStart = { kind: 'init', seed };
    [step, epoch, position] = [0, 0, 0];
    if (await hasCheckpoint(out)) {
      const dir = await resolveCheckpoint(out);
      ({ start: from, step, epoch, position } = placeOf(dir, await readCheckpointMeta(dir)));
    }
    logger.warn('Train:Restart', { restart: why.restarts, maxRestarts: why.maxRestarts, lost: why.reason, checkpoint: from.kind === 'checkpoint' ? from.dir : '', step, epoch, position });
    await engine.restart(from);
    writes = engine.leads !== false;
    const kept = writes ? await readMetrics(metricsPath, step) : [];
    if (writes) await writeFileAtomic(metricsPath, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    losses.splice(0, losses.length, ...kept.filter((r) => r.kind === 'train').map((r) => ({ step: r.step, loss: r.loss })));
    validation.splice(0, validation.length, ...kept.filter((r) => r.kind === 'val').map((r) => ({ step: r.step, loss: r.loss, epoch: r.epoch })));
  };

  try {
    while (step < totalSteps) {
      try {
        await pass();
      } catch (err) {
        if (!(err instanceof EngineRestarted)) throw err;
        await rewind(err);
      }
    }
  } finally {
    await engine.close();
  }

  /** Steps from the current position to the end of its epoch (or the last step). */
  async function pass(): Promise<void> {
    let closed = false;
    let stepsThisPass = 0;
    let micro: ChipBatch[] = [];
    let waitStart = performance.now();
    let waitMs = 0;
    for await (const b of data.train(epoch, position)) {
      waitMs += performance.now() - waitStart;
      micro.push(b);
      if (micro.length < accumulate) {
        waitStart = performance.now();
        continue;
      }
      const c0 = performance.now();
      const lrNow = cosineWarmRestartsLr(engine.optimizerStep, { baseLr: lr });
      const mbs: EngineBatch[] = micro.map((m, k) => ({ batch: cropBatch(m, cfg.imageSize), noise: maskNoise(cfg, m.batch, counterSeed(seed, step, k)) }));
      opts.onBatches?.(step, mbs);
      const loss = await engine.step(mbs, lrNow);
      const ms = performance.now() - c0;
      computeMs += ms;
      waitTotalMs += waitMs;
      step += 1;
      stepsThisPass += 1;
      position = micro[micro.length - 1]?.resumeAt ?? position + stepSamples;
      samplesThisRun += stepSamples;
      losses.push({ step, loss });
      await record({ kind: 'train', step, epoch, loss, lr: lrNow });
      const ev: StepEvent = { step, totalSteps, epoch, loss, lr: lrNow, samplesPerSec: stepSamples / ((ms + waitMs) / 1000), waitMs };
      logger.debug('Train:Step', { ...ev });
      if (writes) opts.onStep?.(ev);
      micro = [];
      waitMs = 0;
      if (!Number.isFinite(loss)) throw new ClayError('MODEL_CONFIG', `the loss became ${loss} at step ${step}; lower --lr`, { input: String(step) });
      // The epoch is over when no full step is left in it: validate before the checkpoint records the position.
      const exhausted = data.trainCount - position < stepSamples;
      if (exhausted) {
        await endEpoch();
        closed = true;
      }
      if (step % every === 0 || step >= totalSteps) await checkpoint();
      if (exhausted || step >= totalSteps) break;
      waitStart = performance.now();
    }
    if (!closed && step < totalSteps) {
      // The stream ended early (chips skipped as corrupt): the epoch is over all the same.
      if (stepsThisPass === 0) throw new ClayError('BAD_ARGUMENT', `epoch ${epoch} yielded no complete step: too few readable chips in ${opts.source}`, { input: opts.source });
      await endEpoch();
    }
  }

  async function endEpoch(): Promise<void> {
    if (data.valCount > 0 && writes) {
      const v = await validate(engine, cfg, data, seed);
      validation.push({ step, loss: v, epoch });
      await record({ kind: 'val', step, epoch, loss: v });
      logger.info('Train:Validation', { epoch, step, loss: v, chips: data.valCount });
    }
    epoch += 1;
    position = 0;
  }

  const ms = performance.now() - t0;
  if (lastCheckpoint === '') lastCheckpoint = await resolveCheckpoint(out);
  return {
    out, steps: step, stepsThisRun: step - stepsBefore, resumedFrom, restarts, epoch, losses, validation, checkpoint: lastCheckpoint,
    samplesPerSec: samplesThisRun / ((computeMs + waitTotalMs) / 1000 || 1), computeMs, waitMs: waitTotalMs, ms,
  };
}
