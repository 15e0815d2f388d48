/**
 * Data-parallel training over worker threads: one tfjs backend per core (WASM runs one thread per
 * instance in Node), each with a model replica. A step splits the batch into contiguous shards, each
 * worker computes its shard's gradients; the shard-size-weighted mean (the full-batch gradient: every
 * sample has the same number of masked tokens) goes through AdamW, each worker updating its own share of
 * the parameters, and the replicas then copy each other's shares (see train-worker.ts).
 */
import { Worker } from 'node:worker_threads';
import { ClayError } from '../core/errors.ts';
import type { AdamWOptions } from './adamw.ts';
import { memoryLimitOf, type BackendChoice } from './backend.ts';
import { derive, type ClayConfig } from './config.ts';
import { assertFits } from './footprint.ts';
import type { ClayBatch } from './inputs.ts';
import { countParams, mulberry32, randn } from './params.ts';
import { cosineWarmRestartsLr } from './schedule.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './train-worker.ts';

/** Options of a ParallelTrainer. */
export interface ParallelTrainerOptions extends AdamWOptions {
  readonly workers: number;
  /** Global batch size (split over the workers); its per-worker footprint is checked first. */
  readonly batchSize: number;
  readonly backend?: BackendChoice;
  /** Seed of the default initialisation (identical in every worker). */
  readonly seed?: number;
  /** PyTorch-layout initial parameters by state_dict name. */
  readonly initial?: Record<string, Float32Array>;
  readonly lr?: number;
  readonly schedule?: (step: number) => number;
}

/** Milliseconds spent per phase in the last step (compute per worker, then the update). */
export interface StepProfile {
  readonly gradMs: number[];
  readonly applyMs: number[];
  readonly totalMs: number;
}

class Channel {
  private waiting: ((r: WorkerReply) => void) | null = null;

  constructor(readonly worker: Worker) {
    worker.on('message', (r: WorkerReply) => {
      const w = this.waiting;
      this.waiting = null;
      w?.(r);
    });
  }

  request(req: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => (r.type === 'error' ? reject(new ClayError('INTERNAL', `worker: ${r.message}`)) : resolve(r));
      this.worker.postMessage(req);
    });
  }

  next(): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => (r.type === 'error' ? reject(new ClayError('INTERNAL', `worker: ${r.message}`)) : resolve(r));
    });
  }
}

/** Starts a worker on train-worker: the built .js directly; from source (.ts) through tsx's loader. */
function startWorker(init: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./train-worker.js', import.meta.url), { workerData: init });
  // Node 20 does not apply the parent's `--import tsx` to workers: register tsx inside the worker first.
  const target = JSON.stringify(new URL('./train-worker.ts', import.meta.url).href);
  const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${target}); });`;
  return new Worker(boot, { eval: true, workerData: init });
}

/** Training with one model replica per worker thread; see the file comment. */
export class ParallelTrainer {
  /** Optimizer steps taken. */
  stepCount = 0;
  lastProfile: StepProfile | null = null;

  private constructor(
    readonly cfg: ClayConfig,
    private readonly channels: Channel[],
    private readonly schedule: (step: number) => number,
  ) {}

  /** Starts the workers; refuses (MODEL_CONFIG) a per-worker batch that will not fit the backend. */
  static async create(cfg: ClayConfig, opts: ParallelTrainerOptions): Promise<ParallelTrainer> {
    const backend = opts.backend ?? 'wasm';
    if (!(opts.workers >= 1) || opts.batchSize < opts.workers) {
      throw new ClayError('MODEL_CONFIG', `need 1 <= workers <= batch size, got ${opts.workers} workers for ${opts.batchSize}`);
    }
    assertFits(cfg, Math.ceil(opts.batchSize / opts.workers), 'train', memoryLimitOf(backend), backend);
    const grads = new SharedArrayBuffer(opts.workers * countParams(cfg) * 4);
    const shared = new SharedArrayBuffer(countParams(cfg) * 4);
    const adamw: AdamWOptions = {
      ...(opts.weightDecay === undefined ? {} : { weightDecay: opts.weightDecay }),
      ...(opts.beta1 === undefined ? {} : { beta1: opts.beta1 }),
      ...(opts.beta2 === undefined ? {} : { beta2: opts.beta2 }),
      ...(opts.eps === undefined ? {} : { eps: opts.eps }),
    };
    const channels: Channel[] = [];
    for (let i = 0; i < opts.workers; i++) {
      const init: WorkerInit = {
        index: i, workers: opts.workers, cfg, backend, seed: opts.seed ?? 0, initial: opts.initial ?? null, adamw, grads, shared,
      };
      channels.push(new Channel(startWorker(init)));
    }
    await Promise.all(channels.map((c) => c.next()));
    const baseLr = opts.lr ?? 1e-4;
    return new ParallelTrainer(cfg, channels, opts.schedule ?? ((s) => cosineWarmRestartsLr(s, { baseLr })));
  }

  /**
   * One optimizer step on `batch` with mask noise `[B, G*L]` (or seeded noise from `noiseSeed`).
   * Returns the batch loss before the update.
   */
  async step(batch: ClayBatch, noise: Float32Array | number): Promise<number> {
    const t0 = performance.now();
    const { GL } = derive(this.cfg);
    const B = batch.batch;
    const fullNoise = typeof noise === 'number' ? randn(B * GL, mulberry32(noise)) : noise;
    const W = Math.min(this.channels.length, B);
    const px = batch.pixels.length / B;
    const shards = [...Array(W).keys()].map((i) => [Math.floor((i * B) / W), Math.floor(((i + 1) * B) / W)] as const);
    const replies = await Promise.all(shards.map(([a, b], i) => {
      const ch = this.channels[i];
      if (ch === undefined) throw new ClayError('INTERNAL', 'missing worker');
      return ch.request({
        type: 'grads',
        batch: {
          batch: b - a, pixels: batch.pixels.slice(a * px, b * px),
          latlon: batch.latlon.slice(a * 2, b * 2), timestep: batch.timestep.slice(a * 3, b * 3),
        },
        noise: fullNoise.slice(a * GL, b * GL),
      });
    }));
    const weights = this.channels.map((_, i) => {
      const s = shards[i];
      return s === undefined ? 0 : (s[1] - s[0]) / B;
    });
    let loss = 0;
    const gradMs: number[] = [];
    replies.forEach((r, i) => {
      if (r.type === 'grads') {
        loss += r.loss * (weights[i] ?? 0);
        gradMs.push(r.ms);
      }
    });
    const lr = this.schedule(this.stepCount);
    const applied = await Promise.all(this.channels.map((c) => c.request({ type: 'apply', lr, weights })));
    const synced = await Promise.all(this.channels.map((c) => c.request({ type: 'sync' })));
    this.stepCount += 1;
    this.lastProfile = {
      gradMs,
      applyMs: applied.map((r, i) => (r.type === 'applied' ? r.ms : 0) + ((synced[i]?.type === 'synced' ? synced[i].ms : 0))),
      totalMs: performance.now() - t0,
    };
    return loss;
  }

  /** Parameters of worker 0 in PyTorch layout by state_dict name (the replicas are identical). */
  async parameters(): Promise<Record<string, Float32Array>> {
    const c = this.channels[0];
    if (c === undefined) throw new ClayError('INTERNAL', 'no worker');
    const r = await c.request({ type: 'params' });
    if (r.type !== 'params') throw new ClayError('INTERNAL', 'unexpected worker reply');
    return r.values;
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.channels.map(async (c) => {
      c.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
      await c.worker.terminate();
    }));
  }
}
