/**
 * Training data held in memory: `n` synthetic chips (seeded noise with some spatial structure), served in
 * the same contract as the chip stream (seeded order per epoch, `skip`, batches with their position). For
 * benchmarks (the rate of training with no I/O at all) and for tests of the training loop.
 */
import { ClayError } from '../../core/errors.ts';
import { mulberry32 } from '../../core/random.ts';
import { NUM_BANDS } from '../config.ts';
import type { BatchStream, TrainData } from '../train-run.ts';
import { epochOrder } from './order.ts';
import type { ChipBatch, ChipPlace } from './types.ts';

interface MemChip {
  place: ChipPlace;
  pixels: Float32Array;
  latlon: [number, number];
  timestep: [number, number, number];
}

function synthChip(i: number, size: number, seed: number): MemChip {
  const rand = mulberry32((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  const pixels = new Float32Array(NUM_BANDS * size * size);
  for (let c = 0; c < NUM_BANDS; c++) {
    const fx = 0.02 + rand() * 0.1;
    const fy = 0.02 + rand() * 0.1;
    const ph = rand() * 6.28;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) pixels[(c * size + y) * size + x] = Math.sin(fx * x + ph) * Math.cos(fy * y) + 0.1 * (rand() - 0.5);
    }
  }
  const mgrs = `${String(10 + (i % 50)).padStart(2, '0')}TAA`;
  const place: ChipPlace = {
    url: `memory://${i}`, key: `memory/${i}`, mgrs, date: '2022-06-01', epsg: 32631, transform: [500000, 10, 0, 5000000, 0, -10],
    width: size, height: size, lon: 3, lat: 45, footprint: [[3, 45], [3.1, 45], [3.1, 45.1], [3, 45.1], [3, 45]],
  };
  return { place, pixels, latlon: [Math.sin(0.7), rand() - 0.5], timestep: [rand(), rand(), rand()] };
}

/** Batches of `chips` in the order `order`, from position `skip`. */
async function* batches(chips: readonly MemChip[], order: ArrayLike<number>, skip: number, batch: number, size: number): AsyncGenerator<ChipBatch> {
  for (let a = skip; a + batch <= order.length; a += batch) {
    const px = NUM_BANDS * size * size;
    const pixels = new Float32Array(batch * px);
    const latlon = new Float32Array(batch * 2);
    const timestep = new Float32Array(batch * 3);
    const places: ChipPlace[] = [];
    for (let k = 0; k < batch; k++) {
      const c = chips[order[a + k] as number] as MemChip;
      pixels.set(c.pixels, k * px);
      latlon.set(c.latlon, k * 2);
      timestep.set(c.timestep, k * 3);
      places.push(c.place);
    }
    yield { batch, pixels, latlon, timestep, chips: places, resumeAt: a + batch };
  }
}

/** Options of `syntheticTrainData`. */
export interface SyntheticDataOptions {
  readonly train: number;
  readonly val?: number;
  /** Chip side in pixels. */
  readonly size: number;
  readonly batch: number;
  readonly seed?: number;
}

/** In-memory training data of synthetic chips; every epoch a fresh seeded order of the same chips. */
export function syntheticTrainData(opts: SyntheticDataOptions): TrainData {
  const seed = opts.seed ?? 42;
  if (opts.train < opts.batch) throw new ClayError('BAD_ARGUMENT', `${opts.train} synthetic chips are fewer than a batch of ${opts.batch}`);
  const chips = Array.from({ length: opts.train }, (_, i) => synthChip(i, opts.size, seed));
  const val = Array.from({ length: opts.val ?? 0 }, (_, i) => synthChip(opts.train + i, opts.size, seed));
  return {
    trainCount: chips.length,
    valCount: val.length,
    // The same epoch order as the chip stream's (MT19937 over [seed, epoch]).
    train: (epoch: number, skip: number): BatchStream => batches(chips, epochOrder(chips.length, { shuffle: true, seed, epoch }), skip, opts.batch, opts.size),
    val: (): BatchStream => batches(val, [...val.keys()], 0, Math.min(opts.batch, Math.max(1, val.length)), opts.size),
  };
}
