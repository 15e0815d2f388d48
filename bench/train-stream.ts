/**
 * Chip-stream benchmark: (a) samples/s of `chipStream` alone over the chips of the bundled samples (made
 * once by `clay demo --train-steps 0`, rows 0-2: 49 chips of 512 x 512), with RSS sampled through each epoch (start, middle,
 * end, peak) to show memory stays flat; (b) training samples/s of Clay tiny at 512/32 (batch 2, WASM) on
 * one synthetic in-memory batch; (c) the same training fed by the stream, and the ratio fed / synthetic
 * (goal: >= 0.9, i.e. decoding hides behind the training step).
 *
 *   node --import tsx bench/train-stream.ts [--chips DIR] [--epochs 3] [--batch 4] [--workers 1] [--prefetch 2]
 *                                           [--train-steps 6] [--no-train] [--no-shards]
 *
 * (e) `Bench:Source` lines: the same chips as GeoTIFF chips in their own codec and transcoded by GDAL into the
 * other (ZSTD or DEFLATE), and packed into shards (codecs none, deflate),
 * chips/s per decode core and the cores needed for 500 chips/s (issue 28).
 *
 * `--chips DIR` reuses chips made earlier (any folder `listChips` accepts); otherwise they are generated
 * into a temporary folder from the sources (`clay demo`, the same as `node bin/clay.js demo` after
 * `npm run build`) and removed afterwards. The functions are exported for other benches to reuse.
 */
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DecodePool } from '../model/data/decode-pool.ts';
import { listChips } from '../model/data/list-chips.ts';
import { shardEpochOrder } from '../model/data/order.ts';
import { packShards } from '../model/data/pack.ts';
import { openShardSet } from '../model/data/shard-set.ts';
import type { ObjectStore } from '../core/store/store.ts';
import { chipStream, type ChipStreamOptions, type ChipStreamStats } from '../model/data/stream.ts';
import type { ChipRef } from '../model/data/types.ts';
import { initBackend } from '../model/backend.ts';
import { ClayModel } from '../model/clay.ts';
import { clayConfig, type ClayConfig } from '../model/config.ts';
import { disposeInputs, prepareInputs, type ClayBatch } from '../model/inputs.ts';
import { randomMask } from '../model/masking.ts';
import { initParams } from '../model/params.ts';
import { Trainer } from '../model/trainer.ts';
import { benchBatch } from './train-step-child.ts';
import { createLogger } from '../core/log.ts';
import { openChipTrainData } from '../model/data/train-data.ts';
import { syntheticTrainData } from '../model/data/synthetic.ts';
import { trainRun, type StepEvent, type TrainData } from '../model/train-run.ts';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 2 ** 20;

/** Chips to bench on, and how to remove them when they were generated here. */
export interface BenchChips {
  dir: string;
  refs: ChipRef[];
  cleanup(): Promise<void>;
}

/** The chips in `dir`, or the bundled rows 0-2 made by `clay demo --train-steps 0` into a temporary folder. */
export async function benchChips(dir?: string): Promise<BenchChips> {
  if (dir !== undefined) return { dir, refs: await listChips(dir), cleanup: async () => undefined };
  const tmp = await mkdtemp(join(tmpdir(), 'clay-bench-stream-'));
  const out = join(tmp, 'chips');
  const code = await new Promise<number | null>((resolve, reject) => {
    // The chips only (no training): --train-steps 0; they land in {out}/chips.
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/run.ts'), 'demo', '--out', out, '--train-steps', '0'], { stdio: ['ignore', 'ignore', 'inherit'], cwd: ROOT });
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`clay demo exited with ${code}`);
  return { dir: out, refs: await listChips(out), cleanup: () => rm(tmp, { recursive: true, force: true }) };
}

/** RSS sampled every `everyMs` while running. */
export class RssSampler {
  readonly samples: { t: number; rss: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = performance.now();

  constructor(everyMs = 50) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    this.samples.push({ t: performance.now() - this.t0, rss: process.memoryUsage.rss() });
  }

  /** Stops sampling; RSS in MiB at the start, the middle and the end of the run, and the peak. */
  stop(): { startMiB: number; midMiB: number; endMiB: number; peakMiB: number } {
    clearInterval(this.timer);
    this.sample();
    const s = this.samples;
    const mib = (x: number): number => Math.round(x / MiB);
    return {
      startMiB: mib(s[0]!.rss),
      midMiB: mib(s[Math.floor(s.length / 2)]!.rss),
      endMiB: mib(s.at(-1)!.rss),
      peakMiB: mib(Math.max(...s.map((x) => x.rss))),
    };
  }
}

/** (a) figures of one epoch of the stream alone. */
export interface StreamRate {
  epoch: number;
  samples: number;
  seconds: number;
  samplesPerSec: number;
  rss: ReturnType<RssSampler['stop']>;
  stats: Omit<ChipStreamStats, 'corruptUrls'>;
}

/** (a) Reads `epochs` epochs (shuffled, seed 1) with one decode pool kept across them; nothing else runs. */
export async function streamRate(refs: readonly ChipRef[], opts: { epochs: number; batchSize: number; workers: number; prefetch: number; store?: ObjectStore; order?: (epoch: number) => Uint32Array }): Promise<StreamRate[]> {
  const pool = new DecodePool(opts.workers, { size: 512 });
  const out: StreamRate[] = [];
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const rss = new RssSampler();
      const t0 = performance.now();
      const s = chipStream({ refs, batchSize: opts.batchSize, shuffle: true, seed: 1, epoch, prefetch: opts.prefetch, pool, ...(opts.store ? { store: opts.store } : {}), ...(opts.order ? { order: opts.order(epoch) } : {}) });
      let samples = 0;
      for await (const b of s) samples += b.batch;
      const seconds = (performance.now() - t0) / 1000;
      const { corruptUrls: _c, ...stats } = s.stats;
      out.push({ epoch, samples, seconds, samplesPerSec: samples / seconds, rss: rss.stop(), stats });
    }
  } finally {
    await pool.close();
  }
  return out;
}

/** Training figures: steps after a warm-up step. */
export interface TrainRate {
  steps: number;
  batch: number;
  seconds: number;
  samplesPerSec: number;
  /** Seconds per step, best and mean. */
  bestStep: number;
  meanStep: number;
  rss: ReturnType<RssSampler['stop']>;
  /** Fed runs: the last epoch's stream figures, `waitMs` summed over epochs (time training waited for data, warm-up included). */
  stream?: Omit<ChipStreamStats, 'corruptUrls'>;
}

/** The configuration the trainer's author benches against: Clay tiny at 512/32. */
export function benchConfig(): ClayConfig {
  return clayConfig('tiny', { imageSize: 512, patchSize: 32 });
}

/** One optimizer step on `batch` (inputs prepared and freed around it). */
async function trainStep(cfg: ClayConfig, trainer: Trainer, batch: ClayBatch, seed: number): Promise<void> {
  const inputs = prepareInputs(cfg, batch);
  try {
    await trainer.step([{ inputs, mask: randomMask(cfg, batch.batch, seed) }]);
  } finally {
    disposeInputs(inputs);
  }
}

async function newTrainer(cfg: ClayConfig, batch: number): Promise<Trainer> {
  await initBackend({ prefer: 'wasm', log: () => {} });
  return new Trainer(new ClayModel(initParams(cfg, 1)), { batchSize: batch });
}

function summarise(times: number[], batch: number, rss: RssSampler): TrainRate {
  const seconds = times.reduce((a, b) => a + b, 0);
  return {
    steps: times.length, batch, seconds, samplesPerSec: (times.length * batch) / seconds,
    bestStep: Math.min(...times), meanStep: seconds / times.length, rss: rss.stop(),
  };
}

/** (b) Training on one synthetic in-memory batch: the ceiling a data pipeline can reach. */
export async function syntheticTrainRate(opts: { steps: number; batch: number }): Promise<TrainRate> {
  const cfg = benchConfig();
  const trainer = await newTrainer(cfg, opts.batch);
  const data = benchBatch(cfg.imageSize, opts.batch);
  await trainStep(cfg, trainer, data, 0); // warm-up: kernels compiled, memory grown
  const rss = new RssSampler();
  const times: number[] = [];
  for (let s = 1; s <= opts.steps; s++) {
    const t0 = performance.now();
    await trainStep(cfg, trainer, data, s);
    times.push((performance.now() - t0) / 1000);
  }
  trainer.dispose();
  return summarise(times, opts.batch, rss);
}

/**
 * (c) The same training fed by the stream (shuffled epochs of `refs`, as many as the steps need). A step's
 * time includes waiting for its batch, so the ratio to (b) is what the stream costs the trainer.
 */
export async function fedTrainRate(refs: readonly ChipRef[], opts: { steps: number; batch: number } & Pick<ChipStreamOptions, 'workers' | 'prefetch'>): Promise<TrainRate> {
  if (refs.length < opts.batch) throw new Error(`${refs.length} chips cannot fill a batch of ${opts.batch}`);
  const cfg = benchConfig();
  const trainer = await newTrainer(cfg, opts.batch);
  const pool = new DecodePool(opts.workers ?? 1, { size: cfg.imageSize });
  const times: number[] = [];
  let rss: RssSampler | undefined;
  let stats: Omit<ChipStreamStats, 'corruptUrls'> | undefined;
  let waitMs = 0;
  try {
    let step = 0;
    for (let epoch = 0; step <= opts.steps; epoch++) {
      const s = chipStream({ refs, batchSize: opts.batch, dropLast: true, shuffle: true, seed: 1, epoch, pool, ...(opts.prefetch === undefined ? {} : { prefetch: opts.prefetch }) });
      let t0 = performance.now();
      for await (const b of s) {
        await trainStep(cfg, trainer, b, step);
        // Step 0 is the warm-up (and the stream's first batch, read while nothing else runs).
        if (step > 0) times.push((performance.now() - t0) / 1000);
        else rss = new RssSampler();
        if (++step > opts.steps) break;
        t0 = performance.now();
      }
      const { corruptUrls: _c, ...st } = s.stats;
      waitMs += st.waitMs;
      stats = { ...st, waitMs };
    }
  } finally {
    await pool.close();
    trainer.dispose();
  }
  return { ...summarise(times, opts.batch, rss ?? new RssSampler()), ...(stats ? { stream: stats } : {}) };
}

/**
 * (d) The shipped training loop (`trainRun`, what `clay train` runs: checkpoint bookkeeping, metrics, the
 * data position) on `data`; steps after the first, each timed with its wait for data.
 */
export async function trainRunRate(data: TrainData & { close?: () => Promise<void> }, steps: number, batch: number): Promise<TrainRate> {
  await initBackend({ prefer: 'wasm', log: () => {} });
  const out = await mkdtemp(join(tmpdir(), 'clay-bench-trainrun-'));
  const times: number[] = [];
  let rss: RssSampler | undefined;
  try {
    await trainRun(data, {
      out, model: { size: 'tiny', config: benchConfig() }, batch, steps: steps + 1, checkpointEvery: 10_000, source: 'bench',
      logger: createLogger({ write: () => undefined }),
      onStep: (e: StepEvent) => {
        if (e.step === 1) rss = new RssSampler();
        else times.push(batch / e.samplesPerSec);
      },
    });
  } finally {
    await data.close?.();
    await rm(out, { recursive: true, force: true });
  }
  return summarise(times, batch, rss ?? new RssSampler());
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}

async function main(): Promise<void> {
  const epochs = Number(arg('epochs', '3'));
  const batchSize = Number(arg('batch', '4'));
  const workers = Number(arg('workers', '1'));
  const prefetch = Number(arg('prefetch', '2'));
  const steps = Number(arg('train-steps', '6'));
  const print = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  print({ event: 'Bench:Machine', cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) });
  const chips = await benchChips(process.argv.includes('--chips') ? arg('chips', '') : undefined);
  try {
    print({ event: 'Bench:Chips', dir: chips.dir, chips: chips.refs.length });
    for (const r of await streamRate(chips.refs, { epochs, batchSize, workers, prefetch })) {
      print({
        event: 'Bench:Stream', epoch: r.epoch, samples: r.samples, seconds: round(r.seconds), samplesPerSec: round(r.samplesPerSec), workers, batchSize, prefetch,
        rssMiB: r.rss, decodeMsPerChip: round(r.stats.decodeMs / Math.max(1, r.stats.chips)), readMsPerChip: round(r.stats.readMs / Math.max(1, r.stats.chips)),
        MBps: round(r.stats.bytesRead / MiB / r.seconds), peakBuffered: r.stats.peakBuffered, bound: r.stats.bound,
      });
    }
    if (!process.argv.includes('--no-shards')) await shardRates(chips, { epochs, batchSize, workers, prefetch }, print);
    if (process.argv.includes('--no-train')) return;
    const synthetic = await syntheticTrainRate({ steps, batch: 2 });
    print({ event: 'Bench:TrainSynthetic', samplesPerSec: round(synthetic.samplesPerSec), bestStep: round(synthetic.bestStep), meanStep: round(synthetic.meanStep), steps, rssMiB: synthetic.rss });
    const fed = await fedTrainRate(chips.refs, { steps, batch: 2, workers, prefetch });
    print({
      event: 'Bench:TrainFed', samplesPerSec: round(fed.samplesPerSec), bestStep: round(fed.bestStep), meanStep: round(fed.meanStep), steps, rssMiB: fed.rss,
      waitMs: round(fed.stream?.waitMs ?? 0), corrupt: fed.stream?.corrupt, ratioFedToSynthetic: round(fed.samplesPerSec / synthetic.samplesPerSec),
      // Best steps are less disturbed by other work on a shared machine than means.
      ratioBestStep: round(synthetic.bestStep / fed.bestStep),
    });
    // The same comparison through trainRun, the loop `clay train` runs.
    const quiet = createLogger({ write: () => undefined });
    const runSynthetic = await trainRunRate(syntheticTrainData({ train: Math.max(4, 2 * (steps + 1)), size: 512, batch: 2, seed: 1 }), steps, 2);
    const runFed = await trainRunRate(await openChipTrainData({ source: chips.dir, batch: 2, seed: 1, valFraction: 0, workers, prefetch, logger: quiet }), steps, 2);
    print({
      event: 'Bench:TrainRun', syntheticSamplesPerSec: round(runSynthetic.samplesPerSec), fedSamplesPerSec: round(runFed.samplesPerSec), steps,
      ratioFedToSynthetic: round(runFed.samplesPerSec / runSynthetic.samplesPerSec), ratioBestStep: round(runSynthetic.bestStep / runFed.bestStep),
      rssMiB: { synthetic: runSynthetic.rss, fed: runFed.rss },
    });
  } finally {
    await chips.cleanup();
  }
}

/**
 * Issue 28's figure: the same chips read as GeoTIFF chips and as training shards (`packShards`, codecs none
 * and deflate), the second of two stream epochs each with the same decode workers; chips/s per decode core is 1000 / the
 * decode milliseconds per chip (a worker's own time), and the cores needed for 500 chips/s follow from it.
 */
async function shardRates(chips: BenchChips, opts: { epochs: number; batchSize: number; workers: number; prefetch: number }, print: (o: Record<string, unknown>) => void): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'clay-bench-shards-'));
  try {
    // Two epochs through one pool, the second measured: a training run's steady state (warm workers,
    // recycled buffers), not the start-up of a pool that a run pays once.
    const geotiff = (await streamRate(chips.refs, { ...opts, epochs: 2 }))[1]!;
    const perCore = (r: StreamRate): number => 1000 / Math.max(1e-9, r.stats.decodeMs / Math.max(1, r.stats.chips));
    // The same chips in the other GeoTIFF codec (GDAL transcodes them: same pixels, same tags).
    const codecOf = async (f: string): Promise<string> => /COMPRESSION=(\w+)/.exec((await exec('gdalinfo', [f])).stdout)?.[1]?.toLowerCase() ?? 'none';
    const own = await codecOf(chips.refs[0]!.url);
    const otherCodec = own === 'zstd' ? 'deflate' : 'zstd';
    const otherDir = join(tmp, `geotiff-${otherCodec}`);
    await cp(chips.dir, otherDir, { recursive: true });
    const otherRefs = await listChips(otherDir);
    for (const r of otherRefs) {
      await exec('gdal_translate', ['-q', '-co', `COMPRESS=${otherCodec.toUpperCase()}`, '-co', otherCodec === 'zstd' ? 'ZSTD_LEVEL=1' : 'ZLEVEL=6', '-co', 'BLOCKYSIZE=16', r.url, `${r.url}.t.tif`]);
      await rename(`${r.url}.t.tif`, r.url);
    }
    const other = (await streamRate(otherRefs, { ...opts, epochs: 2 }))[1]!;
    for (const [codec, r] of [[own, geotiff], [otherCodec, other]] as const) {
      print({ event: 'Bench:Source', source: `geotiff (${codec})`, chips: r.samples, samplesPerSec: round(r.samplesPerSec), decodeMsPerChip: round(r.stats.decodeMs / r.stats.chips), chipsPerSecPerDecodeCore: round(perCore(r)), coresFor500: round(500 / perCore(r)), MB: round(r.stats.bytesRead / MiB), rssMiB: r.rss });
    }
    for (const codec of ['none', 'deflate'] as const) {
      const out = join(tmp, codec);
      const t0 = performance.now();
      const packed = await packShards({ source: chips.dir, out, codec, workers: opts.workers });
      const packS = (performance.now() - t0) / 1000;
      const set = await openShardSet(out);
      const r = (await streamRate(set.refs, { ...opts, epochs: 2, store: set.store, order: (e) => shardEpochOrder(set.shardOf, 1, e) }))[1]!;
      print({
        event: 'Bench:Source', source: `shards (${codec})`, chips: r.samples, samplesPerSec: round(r.samplesPerSec), decodeMsPerChip: round(r.stats.decodeMs / r.stats.chips),
        chipsPerSecPerDecodeCore: round(perCore(r)), coresFor500: round(500 / perCore(r)), MB: round(r.stats.bytesRead / MiB), rssMiB: r.rss,
        perCoreVsGeotiff: round(perCore(r) / perCore(geotiff)), wallVsGeotiff: round(r.samplesPerSec / geotiff.samplesPerSec),
        pack: { seconds: round(packS), shards: packed.shards, MB: round(packed.bytes / MiB) },
      });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (process.argv[1]?.endsWith('train-stream.ts')) await main();
