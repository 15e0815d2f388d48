/**
 * The chip stream as the trainer's TrainData: list the chips once (or read a shard set's index), split them
 * by MGRS tile into training and validation, then one stream per epoch (seeded order, starting at the
 * checkpoint's position) and a fixed-order stream of the validation chips.
 */
import { ClayError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { BatchStream, TrainData } from '../train-run.ts';
import { DecodePool } from './decode-pool.ts';
import { listChips } from './list-chips.ts';
import { shardEpochOrder } from './order.ts';
import { isShardSet, openShardSet } from './shard-set.ts';
import { splitByTile } from './split.ts';
import { chipStream, defaultWorkers, type ChipStream } from './stream.ts';
import type { ChipRef } from './types.ts';

/** Options of `openChipTrainData`. */
export interface ChipTrainDataOptions {
  /** A folder, an `s3://` prefix or a manifest (see listChips). */
  readonly source: string;
  readonly batch: number;
  readonly seed: number;
  /** Share of the chips held out for validation, as whole MGRS tiles. */
  readonly valFraction: number;
  readonly shuffleBuffer?: number;
  readonly prefetch?: number;
  readonly workers?: number;
  readonly logger: Logger;
  readonly env?: NodeJS.ProcessEnv;
}

/** TrainData over chips, plus the number of distinct corrupt chips skipped so far and `close`. */
export interface ChipTrainData extends TrainData {
  corrupt(): number;
  close(): Promise<void>;
}

/**
 * Lists and splits the chips; streams open lazily, one per pass. A shard set (`clay pack` output: it has
 * `shards.json`) is read through its index: the same split by tile, an epoch order over shards and then
 * within each shard (`shardEpochOrder`), every chip once per epoch.
 */
export async function openChipTrainData(o: ChipTrainDataOptions): Promise<ChipTrainData> {
  const shards = (await isShardSet(o.source, o.env)) ? await openShardSet(o.source, o.env ? { env: o.env } : {}) : undefined;
  if (shards !== undefined && o.shuffleBuffer !== undefined) {
    throw new ClayError('BAD_ARGUMENT', `--shuffle-buffer is for chip folders: ${o.source} is a shard set, whose epochs shuffle shards, then chips within each shard`, { input: '--shuffle-buffer' });
  }
  const refs = shards?.refs ?? (await listChips(o.source, { logger: o.logger, ...(o.env ? { env: o.env } : {}) }));
  const shardOf = new Map<ChipRef, number>(shards ? shards.refs.map((r, i) => [r, shards.shardOf[i]!]) : []);
  const { train, val } = splitByTile(refs, { valFraction: o.valFraction, seed: o.seed });
  const trainShards = shards ? Uint32Array.from(train, (r) => shardOf.get(r)!) : undefined;
  o.logger.info('Train:Data', {
    source: o.source, ...(shards ? { format: 'shards', shards: shards.manifest.shards, codec: shards.manifest.codec } : { format: 'chips' }),
    chips: refs.length, train: train.length, val: val.length, valTiles: [...new Set(val.map((r) => r.mgrs))].sort(),
  });
  // One pool of decode workers for every pass: workers stay warm across epochs and validation.
  const pool = new DecodePool(o.workers ?? defaultWorkers());
  const streams: ChipStream[] = [];
  const track = (s: ChipStream): BatchStream => {
    streams.push(s);
    return s;
  };
  const common = {
    batchSize: o.batch, logger: o.logger, pool, ...(shards ? { store: shards.store } : {}),
    ...(o.prefetch !== undefined ? { prefetch: o.prefetch } : {}),
    ...(o.env ? { env: o.env } : {}),
  };
  return {
    trainCount: train.length,
    valCount: val.length,
    train: (epoch, skip) => track(chipStream({
      ...common, refs: train, shuffle: true, seed: o.seed, epoch, skip, dropLast: true,
      ...(o.shuffleBuffer !== undefined ? { shuffleBuffer: o.shuffleBuffer } : {}),
      ...(trainShards ? { order: shardEpochOrder(trainShards, o.seed, epoch) } : {}),
    })),
    val: () => track(chipStream({ ...common, refs: val, shuffle: false, seed: o.seed, epoch: 0, skip: 0, dropLast: false })),
    // Every pass meets the same corrupt chips again: count each once.
    corrupt: () => new Set(streams.flatMap((s) => s.stats.corruptUrls)).size,
    close: async () => {
      for (const s of streams) await s.close();
      await pool.close();
    },
  };
}
