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
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { ClayError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { ClayModel } from './clay.ts';
import { CHECKPOINTS_DIR, counterSeed, loadCheckpoint, resolveCheckpoint, saveCheckpoint, type CheckpointMeta } from './checkpoint.ts';
import { NUM_BANDS, type ClayConfig } from './config.ts';
import type { ChipBatch } from './data/types.ts';
import { disposeInputs, prepareInputs, type ClayBatch } from './inputs.ts';
import { lossCurveSvg, type CurvePoint } from './loss-curve.ts';
import { randomMask } from './masking.ts';
import { disposeParams, initParams } from './params.ts';
import { Trainer } from './trainer.ts';

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
  /** Memory limit to check the config against (default: the backend's). */
  readonly memoryLimitBytes?: number | null;
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
async function validate(model: ClayModel, data: TrainData, seed: number): Promise<number> {
  let sum = 0;
  let n = 0;
  let i = 0;
  for await (const b of data.val()) {
    const inputs = prepareInputs(model.cfg, cropBatch(b, model.cfg.imageSize));
    const mask = randomMask(model.cfg, b.batch, counterSeed(seed, VAL_STREAM, i++));
    const loss = tf.tidy(() => model.forward(inputs, mask).loss);
    sum += ((await loss.data())[0] ?? Number.NaN) * b.batch;
    n += b.batch;
    loss.dispose();
    disposeInputs(inputs);
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
  let params;
  const trainer = (p: ReturnType<typeof initParams>): Trainer =>
    new Trainer(new ClayModel(p), { batchSize: opts.batch, lr, ...(opts.weightDecay === undefined ? {} : { weightDecay: opts.weightDecay }), ...(opts.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: opts.memoryLimitBytes }) });
  let t: Trainer;
  const existing = await hasCheckpoint(out);
  if (existing && !opts.resume) {
    throw new ClayError('BAD_ARGUMENT', `${out} already holds a training run (${CHECKPOINTS_DIR}/); pass --resume to continue it or choose another --out`, { input: out });
  }
  let rows: MetricRow[] = [];
  if (existing) {
    const ck = await loadCheckpoint(out);
    const m = ck.meta;
    const mismatch = !sameConfig(m.model.config, cfg) ? 'model config'
      : m.data.batch !== opts.batch ? `batch (${m.data.batch})`
        : m.data.accumulate !== accumulate ? `accumulate (${m.data.accumulate})`
          : m.data.seed !== seed ? `seed (${m.data.seed})`
            : m.schedule.baseLr !== lr ? `lr (${m.schedule.baseLr})` : null;
    if (mismatch !== null) {
      disposeParams(ck.params);
      tf.dispose([...ck.moments.values()].flatMap((x) => [x.expAvg, x.expAvgSq]));
      throw new ClayError('CHECKPOINT_INVALID', `--resume of ${ck.dir} with a different ${mismatch}: resume with the run's own settings`, { input: ck.dir });
    }
    params = ck.params;
    t = trainer(params);
    t.optimizer.restore(m.optimizer.step, ck.moments);
    tf.dispose([...ck.moments.values()].flatMap((x) => [x.expAvg, x.expAvgSq]));
    step = m.step;
    epoch = m.data.epoch;
    position = m.data.samplesInEpoch;
    resumedFrom = step;
    rows = await readMetrics(metricsPath, step);
    await writeFileAtomic(metricsPath, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    logger.info('Train:Resume', { checkpoint: ck.dir, step, epoch, position });
  } else {
    params = initParams(cfg, seed);
    t = trainer(params);
    await writeFileAtomic(metricsPath, '');
  }
  logger.info('Train:Start', {
    model: opts.model.size, imageSize: cfg.imageSize, patchSize: cfg.patchSize, batch: opts.batch, accumulate, lr,
    trainChips: data.trainCount, valChips: data.valCount, stepsPerEpoch, totalSteps, fromStep: step,
    footprintMiB: Math.round(t.footprint.peakBytes / 2 ** 20),
  });

  const losses: CurvePoint[] = rows.filter((r) => r.kind === 'train').map((r) => ({ step: r.step, loss: r.loss }));
  const validation = rows.filter((r) => r.kind === 'val').map((r) => ({ step: r.step, loss: r.loss, epoch: r.epoch }));
  let lastCheckpoint = '';
  let samplesThisRun = 0;
  let computeMs = 0;
  let waitTotalMs = 0;
  const stepsBefore = step;

  const record = async (r: MetricRow): Promise<void> => {
    await appendFile(metricsPath, `${JSON.stringify(r)}\n`);
  };
  const checkpoint = async (): Promise<void> => {
    const meta: CheckpointMeta = {
      format: 'clay-checkpoint/1', step,
      model: { size: opts.model.size, config: cfg },
      optimizer: { kind: 'AdamW', weightDecay: t.optimizer.weightDecay, beta1: t.optimizer.beta1, beta2: t.optimizer.beta2, eps: t.optimizer.eps, step: t.optimizer.step },
      schedule: { kind: 'CosineAnnealingWarmRestarts', baseLr: lr, t0: 1000, tMult: 2, etaMin: 10 * lr },
      data: { epoch, samplesInEpoch: position, seed, batch: opts.batch, accumulate, source: opts.source },
      rng: { kind: 'counter', seed, nextStep: step },
      run: { steps: opts.steps ?? null, epochs: opts.epochs ?? null, checkpointEvery: every },
    };
    lastCheckpoint = await saveCheckpoint(out, params, t.optimizer, meta, opts.keep ?? 3);
    await writeFileAtomic(curvePath, lossCurveSvg(losses, validation, `Clay ${opts.model.size} ${cfg.imageSize}/${cfg.patchSize}, batch ${stepSamples}: loss`));
    logger.info('Train:Checkpoint', { step, checkpoint: lastCheckpoint });
  };

  try {
    while (step < totalSteps) {
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
        const lrNow = t.lr;
        const mbs = micro.map((m, k) => ({
          inputs: prepareInputs(cfg, cropBatch(m, cfg.imageSize)),
          mask: randomMask(cfg, m.batch, counterSeed(seed, step, k)),
        }));
        let loss: number;
        try {
          loss = await t.step(mbs);
        } finally {
          for (const m of mbs) disposeInputs(m.inputs);
        }
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
        opts.onStep?.(ev);
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
  } finally {
    t.dispose();
    t.model.dispose();
    disposeParams(params);
  }

  async function endEpoch(): Promise<void> {
    if (data.valCount > 0) {
      const v = await validate(t.model, data, seed);
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
    out, steps: step, stepsThisRun: step - stepsBefore, resumedFrom, epoch, losses, validation, checkpoint: lastCheckpoint,
    samplesPerSec: samplesThisRun / ((computeMs + waitTotalMs) / 1000 || 1), computeMs, waitMs: waitTotalMs, ms,
  };
}
