/**
 * `clay pack`: the kept chips of a chip store (what `clay train --data` reads) into training shards
 * (shard-format.ts, shard-set.ts), so that training reads a few large objects sequentially and decodes
 * nothing but float16.
 *
 * The layout is fixed before anything is written: the listing (sorted by key), put in a seeded
 * permutation (`packOrder`), cut into shards of `chipsPerShard` chips (from `--shard-mb`), so a shard is a
 * random draw of the whole listing. The plan goes to `pack.json`; each shard is written whole (the stores
 * write atomically), then its own index, which marks it complete. A pack that stops (killed, a full disk)
 * resumes where it stopped: complete shards are kept, the others made again, and the same plan gives
 * the same bytes. A plan that differs from the one in `pack.json` (another listing, seed, codec or size)
 * is refused unless `force`.
 *
 * Chips are read and normalised by the chip stream itself (`chipStream`: its decode workers, its skipping
 * of corrupt chips), so a shard holds exactly what the stream would have yielded.
 */
import { ClayError, errorMessage } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { openStore } from '../../core/store/open-store.ts';
import { NUM_BANDS } from '../config.ts';
import { DecodePool } from './decode-pool.ts';
import { listChips } from './list-chips.ts';
import { packOrder } from './order.ts';
import { shardRecord, TAR_END, type ShardCodec } from './shard-format.ts';
import {
  INDEX_KEY, listingHash, PLAN_KEY, readShardIndex, SET_KEY, shardIndexKey, shardKey, writeShardIndex,
  type PackPlan, type ShardIndexRow, type ShardSetManifest,
} from './shard-set.ts';
import { chipStream, defaultWorkers } from './stream.ts';
import type { ChipRef, ChipSample } from './types.ts';

/** Default shard size, MB (MiB) of records. */
export const DEFAULT_SHARD_MB = 256;

/** Options of `packShards`. */
export interface PackOptions {
  /** The chip store: a folder, `s3://` prefix or manifest (as `clay train --data`). */
  source: string;
  /** The shard set: a folder or `s3://` prefix. */
  out: string;
  /** Target shard size in MiB (default 256): chips per shard = this / one chip's record. */
  shardMb?: number;
  codec?: ShardCodec;
  /** Seed of the packing order (default 0). */
  seed?: number;
  /** Chip width and height (default 512). */
  size?: number;
  workers?: number;
  /** Repack from scratch even when a pack (complete or another plan) is there. */
  force?: boolean;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  signal?: AbortSignal;
  /** Called once the plan is fixed, then as each chip is packed (or found packed): progress. */
  onPlan?: (plan: PackPlan) => void;
  onChip?: () => void;
}

/** What `packShards` did. */
export interface PackSummary {
  event: 'Pack:Done';
  out: string;
  shards: number;
  /** Shards made by this run, and found complete from an earlier one. */
  made: number;
  kept: number;
  chips: number;
  packed: number;
  corrupt: number;
  bytes: number;
  codec: ShardCodec;
  chipsPerShard: number;
  ms: number;
}

/** Bytes of one chip's record with codec none (pixels, json and tar headers): what sizes a shard. */
function recordBytes(size: number): number {
  return NUM_BANDS * size * size * 2 + 4 * 512;
}

/** Packs `source` into shards at `out`; see the file comment. */
export async function packShards(o: PackOptions): Promise<PackSummary> {
  const t0 = performance.now();
  const logger = o.logger ?? silentLogger;
  const call = o.signal ? { signal: o.signal } : {};
  const codec = o.codec ?? 'none';
  const size = o.size ?? 512;
  const shardMb = o.shardMb ?? DEFAULT_SHARD_MB;
  if (!(shardMb > 0)) throw new ClayError('BAD_ARGUMENT', `shard size ${shardMb} MB is not positive`, { input: '--shard-mb' });
  const store = await openStore(o.out, o.env ? { env: o.env } : {});
  const refs = await listChips(o.source, { logger, ...(o.env ? { env: o.env } : {}), ...call });
  if (refs.length === 0) throw new ClayError('BAD_ARGUMENT', `no chips in ${o.source}: nothing to pack`, { input: o.source });
  const chipsPerShard = Math.max(1, Math.floor((shardMb * 2 ** 20) / recordBytes(size)));
  const plan: PackPlan = {
    format: 'clay-pack-plan', version: 1, source: o.source, listingSha256: listingHash(refs), chips: refs.length,
    seed: o.seed ?? 0, codec, chipsPerShard, shards: Math.ceil(refs.length / chipsPerShard), size,
  };
  const same = (p: PackPlan): boolean => p.listingSha256 === plan.listingSha256 && p.seed === plan.seed && p.codec === plan.codec && p.chipsPerShard === plan.chipsPerShard && p.size === plan.size;
  const earlier = await store.get(PLAN_KEY, call);
  let found: PackPlan | undefined;
  // What is already at --out and cannot be resumed: a plan that does not parse as one, or shards and
  // index parts with no plan (another tool's folder, or a plan removed by hand). Their index parts would
  // otherwise count as complete shards of this pack.
  let unknown: string | undefined;
  if (earlier !== undefined) {
    try {
      const parsed = JSON.parse(new TextDecoder().decode(earlier)) as Partial<PackPlan> | null;
      if (parsed?.format !== 'clay-pack-plan' || parsed.version !== 1) unknown = `${store.url(PLAN_KEY)} is not a version 1 pack plan`;
      else found = parsed as PackPlan;
    } catch (err) {
      unknown = `${store.url(PLAN_KEY)} is not JSON (${errorMessage(err)})`;
    }
  } else {
    for (const prefix of ['index/', 'shards/']) {
      for await (const entry of store.list(prefix, call)) {
        unknown = `${store.url(entry.key)} is there but no ${PLAN_KEY}`;
        break;
      }
      if (unknown !== undefined) break;
    }
  }
  if (unknown !== undefined && !o.force) {
    throw new ClayError('BAD_ARGUMENT', `${unknown}: not a pack this can resume; --force to pack again from scratch, or another --out`, { input: o.out });
  }
  if (o.force || unknown !== undefined || (found !== undefined && !same(found))) {
    if (found !== undefined && !same(found) && !o.force) {
      const what = found.listingSha256 !== plan.listingSha256 ? `another listing (${found.chips} chips, ${refs.length} now)` : `other settings (seed ${found.seed}, codec ${found.codec}, ${found.chipsPerShard} chips per shard)`;
      throw new ClayError('BAD_ARGUMENT', `${store.url(PLAN_KEY)} is a pack of ${what}: --force to pack again from scratch, or another --out`, { input: o.out });
    }
    for (const prefix of ['shards/', 'index/']) await store.removePrefix(prefix, call);
    for (const key of [SET_KEY, INDEX_KEY, PLAN_KEY]) await store.remove(key, call);
    found = undefined;
  }
  if (found === undefined) await store.put(PLAN_KEY, new TextEncoder().encode(`${JSON.stringify(plan, null, 1)}\n`), call);
  logger.info('Pack:Plan', { source: o.source, out: store.root, chips: refs.length, shards: plan.shards, chipsPerShard, codec, seed: plan.seed });
  o.onPlan?.(plan);

  const order = packOrder(refs.length, plan.seed);
  const pool = new DecodePool(o.workers ?? defaultWorkers(), { size });
  const rows: ShardIndexRow[] = [];
  const corrupt: string[] = [];
  let made = 0;
  let bytes = 0;
  try {
    for (let k = 0; k < plan.shards; k++) {
      const planned = Array.from(order.subarray(k * chipsPerShard, (k + 1) * chipsPerShard), (i) => refs[i]!);
      const indexBytes = await store.get(shardIndexKey(k), call);
      let shardRows: ShardIndexRow[];
      if (indexBytes !== undefined) {
        shardRows = await readShardIndex(indexBytes, store.url(shardIndexKey(k)));
        logger.info('Pack:Skip', { shard: store.url(shardKey(k)), chips: shardRows.length, reason: 'complete (index present)' });
        for (let i = 0; i < shardRows.length; i++) o.onChip?.();
      } else {
        const t = performance.now();
        const made1 = await makeShard(k, planned, { ...o, codec, size, pool, logger });
        shardRows = made1.rows;
        await store.put(shardKey(k), made1.chunks, call);
        await store.put(shardIndexKey(k), writeShardIndex(shardRows), call);
        made++;
        logger.info('Pack:Shard', { shard: store.url(shardKey(k)), chips: shardRows.length, corrupt: made1.corrupt.length, mb: Number((made1.bytes / 2 ** 20).toFixed(1)), ms: Math.round(performance.now() - t) });
      }
      const ids = new Set(shardRows.map((r) => r.id));
      for (const r of planned) if (!ids.has(r.key)) corrupt.push(r.url);
      bytes += shardRows.reduce((s, r) => s + r.length, 0) + TAR_END.length;
      rows.push(...shardRows);
    }
  } finally {
    await pool.close();
  }
  await store.put(INDEX_KEY, writeShardIndex(rows), call);
  const { format: _f, ...rest } = plan;
  const manifest: ShardSetManifest = { ...rest, format: 'clay-shards', packed: rows.length, skipped: corrupt, bytes, index: INDEX_KEY };
  await store.put(SET_KEY, new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`), call);
  return {
    event: 'Pack:Done', out: store.root, shards: plan.shards, made, kept: plan.shards - made, chips: refs.length, packed: rows.length,
    corrupt: corrupt.length, bytes, codec, chipsPerShard, ms: Math.round(performance.now() - t0),
  };
}

/** Reads and normalises a shard's chips (in plan order, corrupt ones skipped) into its tar's chunks and index rows. */
async function makeShard(k: number, planned: readonly ChipRef[], o: PackOptions & { codec: ShardCodec; size: number; pool: DecodePool; logger: Logger }): Promise<{ chunks: Uint8Array[]; rows: ShardIndexRow[]; corrupt: string[]; bytes: number }> {
  const stream = chipStream({
    refs: planned, batchSize: 1, shuffle: false, dropLast: false, pool: o.pool, size: o.size, logger: o.logger,
    ...(o.env ? { env: o.env } : {}), ...(o.signal ? { signal: o.signal } : {}),
  });
  const chunks: Uint8Array[] = [];
  const rows: ShardIndexRow[] = [];
  let offset = 0;
  try {
    for await (const batch of stream) {
      const place = batch.chips[0]!;
      const sample: ChipSample = {
        ...place, pixels: batch.pixels,
        latlon: [batch.latlon[0]!, batch.latlon[1]!], timestep: [batch.timestep[0]!, batch.timestep[1]!, batch.timestep[2]!],
      };
      const record = shardRecord(sample, rows.length, o.codec);
      chunks.push(...record.chunks);
      rows.push({ shard: shardKey(k), shardNumber: k, offset, length: record.length, id: place.key, mgrs: place.mgrs, date: place.date, footprint: place.footprint });
      offset += record.length;
      o.onChip?.();
    }
  } finally {
    await stream.close();
  }
  chunks.push(TAR_END);
  return { chunks, rows, corrupt: [...stream.stats.corruptUrls], bytes: offset + TAR_END.length };
}
