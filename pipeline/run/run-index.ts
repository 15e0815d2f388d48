/**
 * The main job (`clay run`): for one sample row, plan the dates, then make each (mgrs, date) unit's
 * chips. A unit whose manifest exists is complete and skipped (unless `force`); any other unit is locked
 * (unit-lock.ts: one writer per unit), then redone from scratch (its folder is cleared first), so a job
 * killed at any moment can simply be run again. A unit another run holds is skipped or waited for. The
 * row's outcome is recorded under `{version}/status/` for `clay status` once all its units are complete.
 */
import pLimit from 'p-limit';
import { httpCounts, snapshotStats, type HttpClient, type HttpCounts } from '../../core/http.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { PcSigner } from '../../core/stac/pc-signer.ts';
import type { StacClient } from '../../core/stac/stac-client.ts';
import { CHIP_VERSION, CLAY_V0_ENCODING, DEFAULT_ENCODING, DEFAULT_LEVEL, unitPrefix, type ChipEncoding } from '../chip/chip-file.ts';
import { ClayError, errorMessage } from '../../core/errors.ts';
import { chipUnit, sha256, type UnitOptions } from '../chip/chip-unit.ts';
import { newChipBuffers, type ChipBuffers } from '../chip/stack.ts';
import { mergeChipIndexes } from '../index/chip-index.ts';
import { MANIFEST_NAME, parseManifest, type ChipRecord, type FileRecord, type UnitManifest } from '../chip/manifest.ts';
import type { RejectReason } from '../chip/quality.ts';
import { plan } from '../plan/plan.ts';
import type { PlanMode, ScenePlan } from '../plan/plan-types.ts';
import type { CachedTile, TileDecoder } from '../read/cog.ts';
import { newReadStats, type ReadStats } from '../read/range-reader.ts';
import { TileCache } from '../read/tile-cache.ts';
import type { SampleRow } from '../sample-file.ts';
import type { Resampling } from '../warp/warp.ts';
import { recordRowDone, recordRowFailure } from './row-record.ts';
import { describeHolder, UnitLocks, type LockHolder } from './unit-lock.ts';

/** Options of the main job. */
export interface RunOptions {
  stac: StacClient;
  http: HttpClient;
  signer?: PcSigner;
  store: ObjectStore;
  /** `clay-v0`: v0's selection and its half-pixel georeferencing (`--compat clay-v0`). */
  mode?: PlanMode;
  /** Dates per location (3). */
  dates?: number;
  resampling?: Resampling;
  harmonize?: boolean;
  /** Chip encoding; defaults: DEFAULT_ENCODING, or CLAY_V0_ENCODING in `clay-v0` mode. */
  encoding?: Partial<ChipEncoding>;
  /** Redo complete units too. */
  force?: boolean;
  /** Dataset version folder (`02`). */
  version?: string;
  /**
   * Decoded-tile cache bound in bytes (default 32 MiB), shared by the units of a run. 32 MiB holds what the
   * chips in flight of one block need: on the noisy row a 64 MiB cache cost 10 % more peak memory and no
   * less CPU (an evicted tile is decoded again from the source-bytes cache, not read again).
   */
  cacheBytes?: number;
  /** Compressed source-bytes cache bound in bytes (default 64 MiB), shared by the units of a run. */
  sourceCacheBytes?: number;
  /** Range requests in flight (default 8). */
  requests?: number;
  /** Chips in flight per unit (default 2). */
  inflight?: number;
  decoder?: TileDecoder;
  /** Extra files per kept chip (previews). */
  extras?: UnitOptions['extras'];
  /** Called when a row's plan is known (units to do) and after each chip. */
  onPlan?: (plan: ScenePlan, units: { date: string; skip: boolean; chips: number }[]) => void;
  onChip?: (unit: { mgrs: string; date: string }, record: ChipRecord) => void;
  /**
   * The run's unit locks (`--lock-stale`, `--wait-locked`); default: locks on `store` with the default
   * settings. One per run, so the store is probed once and every lock names the same run.
   */
  locks?: UnitLocks;
  logger?: Logger;
  signal?: AbortSignal;
}

/** A unit another run held, so this run did not make it. */
export interface LockedUnit {
  mgrs: string;
  date: string;
  /** Where the lock is. */
  lock: string;
  /** Who held it (undefined: an unreadable lock, not yet stale). */
  holder: LockHolder | undefined;
  /** How long this run waited for it, ms (`--wait-locked`). */
  waitedMs: number;
}

/** What happened to one unit. */
export interface UnitOutcome {
  mgrs: string;
  date: string;
  status: 'done' | 'skipped';
  /** Key of the unit's manifest. */
  manifest: string;
  candidates: number;
  kept: number;
  rejected: Record<RejectReason, number>;
  bytesWritten: number;
  bytesRead: number;
  ms: number;
  /** The unit's chip index. */
  indexFile: FileRecord;
}

/** What happened to one row. */
export interface IndexResult {
  index: number;
  mgrs: string;
  /** The plan's status: `no-data` rows have no units. */
  status: ScenePlan['status'];
  message: string;
  /** The units made or found complete, in plan order. */
  units: UnitOutcome[];
  /**
   * Units another run held to the end (not made, not complete when the row ended): the row is then not
   * recorded complete, and `clay status` shows it incomplete until the holder finishes.
   */
  locked: LockedUnit[];
  /** STAC requests of the plan. */
  stacRequests: number;
  /**
   * The HTTP client's requests, attempts and retries by cause while this row ran (STAC, SAS and blobs).
   * A delta of the shared client's counters: exact when the rows of a client run one after the other, as
   * `clay run` runs them.
   */
  http: HttpCounts;
}

/** A run's shared state: the tile cache and read counters carry across the rows of one process. */
export interface RunState {
  cache: TileCache<CachedTile>;
  /** Compressed source bytes (tiles and header blocks), so that no range is read twice while they fit. */
  bytesCache: TileCache<Uint8Array>;
  /** Stack buffers and coordinate fields, reused by every chip of the run. */
  buffers: ChipBuffers;
  stats: ReadStats;
  limit: ReturnType<typeof pLimit>;
}

/** The default bound of the decoded-tile cache (see `RunOptions.cacheBytes`). */
export const DEFAULT_TILE_CACHE_BYTES = 32 * 1024 * 1024;

/** Fresh shared state for `options`. */
export function newRunState(options: Pick<RunOptions, 'cacheBytes' | 'sourceCacheBytes' | 'requests'> = {}): RunState {
  return {
    cache: new TileCache<CachedTile>(options.cacheBytes ?? DEFAULT_TILE_CACHE_BYTES), bytesCache: new TileCache<Uint8Array>(options.sourceCacheBytes ?? 64 * 1024 * 1024), buffers: newChipBuffers(), stats: newReadStats(), limit: pLimit(options.requests ?? 8),
  };
}

function outcomeOf(m: UnitManifest, status: UnitOutcome['status'], key: string): UnitOutcome {
  return {
    mgrs: m.mgrs, date: m.date, status, manifest: key,
    candidates: m.totals.candidates, kept: m.totals.kept, rejected: m.totals.rejected, bytesWritten: m.totals.bytesWritten,
    bytesRead: status === 'done' ? m.run.bytesRead : 0, ms: status === 'done' ? m.run.ms : 0,
    indexFile: m.indexFile,
  };
}

/**
 * Runs the main job for one sample row: plan, then every unit not yet complete. Records the row's outcome
 * in the output (see `row-record.ts`): complete when every unit is, failed (code and message) when it
 * throws, unless `signal` fired (a cancelled row is not a failed one). The error is rethrown as is.
 */
/** The mode's encoding with `given` over it; a codec given without a level gets that codec's default level. */
export function chipEncoding(mode: PlanMode, given: Partial<ChipEncoding> = {}): ChipEncoding {
  const base = mode === 'clay-v0' ? CLAY_V0_ENCODING : DEFAULT_ENCODING;
  const codec = given.compress ?? base.compress;
  const level = given.level ?? (given.compress !== undefined && given.compress !== base.compress ? DEFAULT_LEVEL[codec] : base.level);
  return { ...base, ...given, compress: codec, level };
}

export async function runIndex(row: SampleRow, options: RunOptions, state: RunState = newRunState(options)): Promise<IndexResult> {
  const logger = options.logger ?? silentLogger;
  const version = options.version ?? CHIP_VERSION;
  const { store, signal } = options;
  let result: IndexResult;
  const before = snapshotStats(options.http.stats);
  try {
    result = { ...(await runRow(row, options, state)), http: httpCounts(options.http.stats, before) };
  } catch (err) {
    if (!signal?.aborted) {
      try {
        await recordRowFailure(store, { index: row.index, mgrs: row.name }, err, { version });
      } catch (recordErr) {
        // The row's own error is what the caller must see; a read-only output cannot take the record either.
        logger.warn('Run:RecordFailed', { index: row.index, mgrs: row.name, error: errorMessage(recordErr) });
      }
    }
    throw err;
  }
  // Units another run holds are not this run's to vouch for: the run that finishes last records the row.
  if (result.locked.length === 0) {
    await recordRowDone(store, { index: row.index, mgrs: result.mgrs, planStatus: result.status, units: result.units.map((u) => ({ date: u.date, manifest: u.manifest })) }, { version, ...(signal ? { signal } : {}) });
  }
  return result;
}

async function runRow(row: SampleRow, options: RunOptions, state: RunState): Promise<Omit<IndexResult, 'http'>> {
  const logger = options.logger ?? silentLogger;
  const mode = options.mode ?? 'default';
  const version = options.version ?? CHIP_VERSION;
  const { store, signal } = options;
  const call = signal ? { signal } : {};
  const locks = options.locks ?? new UnitLocks({ store, logger, version });
  const planned = await plan(row, { stac: options.stac, mode, logger, ...(options.dates !== undefined ? { dates: options.dates } : {}), ...call });
  const manifestKeys = planned.dates.map((d) => unitPrefix(planned.mgrs, d.date, version) + MANIFEST_NAME);
  const existing = await Promise.all(planned.dates.map(async (d, i) => (options.force ? undefined : readManifest(store, manifestKeys[i]!, { mgrs: planned.mgrs, date: d.date }, logger, signal))));
  options.onPlan?.(planned, planned.dates.map((d, i) => ({ date: d.date, skip: existing[i] !== undefined, chips: d.chips.count })));
  const outcomes: (UnitOutcome | LockedUnit)[] = [];
  for (const [i, date] of planned.dates.entries()) {
    const key = manifestKeys[i]!;
    const fields = { index: row.index, mgrs: planned.mgrs, date: date.date };
    const manifest = existing[i];
    if (manifest) {
      logger.info('Run:Skip', { ...fields, reason: 'complete (manifest present)', manifest: store.url(key) });
      outcomes.push(outcomeOf(manifest, 'skipped', key));
      continue;
    }
    // The lock comes first: nothing of the unit, an earlier attempt's leftovers included, is touched without it.
    const got = await locks.acquire(fields, signal);
    if ('lockedOut' in got) {
      const { url, holder, ageMs, waitedMs } = got.lockedOut;
      logger.warn('Run:Locked', { ...fields, lock: url, holder: describeHolder(holder), refreshedAgoS: Math.round(ageMs / 1000), waitedS: Math.round(waitedMs / 1000), message: 'another run holds this unit: skipped' });
      outcomes.push({ mgrs: planned.mgrs, date: date.date, lock: url, holder, waitedMs });
      continue;
    }
    const lock = got.held;
    try {
      // Another run may have finished the unit since the look above (or while this one waited).
      const now = options.force ? undefined : await readManifest(store, key, fields, logger, signal);
      if (now) {
        logger.info('Run:Skip', { ...fields, reason: 'completed by another run', manifest: store.url(key) });
        outcomes.push(outcomeOf(now, 'skipped', key));
        continue;
      }
      outcomes.push(await makeUnit(row, planned.mgrs, date, key, options, state, signal ? AbortSignal.any([signal, lock.lost]) : lock.lost, () => lock.confirm()));
    } catch (err) {
      if (lock.lost.aborted && !signal?.aborted) throw lock.lost.reason;
      throw err;
    } finally {
      await lock.release();
    }
  }
  // Units held by others may have been finished meanwhile: the run that ends last finds them all complete.
  for (const [i, o] of outcomes.entries()) {
    if (!('lock' in o)) continue;
    const m = await readManifest(store, manifestKeys[i]!, o, logger, signal);
    if (!m) continue;
    logger.info('Run:Skip', { index: row.index, mgrs: o.mgrs, date: o.date, reason: 'completed by another run', manifest: store.url(manifestKeys[i]!) });
    outcomes[i] = outcomeOf(m, 'skipped', manifestKeys[i]!);
  }
  const units = outcomes.filter((o): o is UnitOutcome => !('lock' in o));
  const locked = outcomes.filter((o): o is LockedUnit => 'lock' in o);
  return { index: row.index, mgrs: planned.mgrs, status: planned.status, message: planned.message, units, locked, stacRequests: planned.totals.stacRequests };
}

/** The unit's manifest, or undefined when there is none or it cannot be parsed (then the unit is redone). */
async function readManifest(store: ObjectStore, key: string, unit: { mgrs: string; date: string }, logger: Logger, signal: AbortSignal | undefined): Promise<UnitManifest | undefined> {
  const bytes = await store.get(key, signal ? { signal } : {});
  if (!bytes) return undefined;
  try {
    return parseManifest(bytes, store.url(key));
  } catch (err) {
    logger.warn('Run:BadManifest', { mgrs: unit.mgrs, date: unit.date, manifest: store.url(key), error: errorMessage(err) });
    return undefined;
  }
}

/** Clears what an earlier attempt left of the unit and makes it; the caller holds its lock. */
async function makeUnit(row: SampleRow, mgrs: string, date: ScenePlan['dates'][number], key: string, options: RunOptions, state: RunState, signal: AbortSignal, beforeManifest: () => Promise<void>): Promise<UnitOutcome> {
  const logger = options.logger ?? silentLogger;
  const mode = options.mode ?? 'default';
  const version = options.version ?? CHIP_VERSION;
  const { store } = options;
  const prefix = unitPrefix(mgrs, date.date, version);
  const removed = await store.removePrefix(prefix, { signal });
  if (removed > 0) logger.info('Run:Redo', { index: row.index, mgrs, date: date.date, reason: options.force ? '--force' : 'incomplete (no manifest)', removed });
  logger.info('Run:Unit:Start', { index: row.index, mgrs, date: date.date, chips: date.chips.count });
  const made = await chipUnit(mgrs, row.index, date, {
    store,
    access: { http: options.http, ...(options.signer ? { signer: options.signer } : {}), cache: state.cache, bytesCache: state.bytesCache, limit: state.limit, stats: state.stats, ...(options.decoder ? { decoder: options.decoder } : {}) },
    mode,
    encoding: chipEncoding(mode, options.encoding),
    resampling: options.resampling ?? 'nearest',
    harmonize: options.harmonize ?? false,
    version,
    buffers: state.buffers,
    ...(options.inflight !== undefined ? { inflight: options.inflight } : {}),
    ...(options.extras ? { extras: options.extras } : {}),
    ...(options.onChip ? { onChip: (r: ChipRecord) => options.onChip?.({ mgrs, date: date.date }, r) } : {}),
    beforeManifest,
    logger,
    signal,
  });
  logger.info('Run:Unit:Done', { index: row.index, mgrs, date: date.date, kept: made.totals.kept, candidates: made.totals.candidates, ms: made.run.ms });
  return outcomeOf(made, 'done', key);
}

/** Where a run's merged chip index goes: `{version}/index/row-{N}.parquet` or `rows-{min}-{max}.parquet`. */
export function runIndexKey(indices: readonly number[], version = CHIP_VERSION): string {
  const min = Math.min(...indices), max = Math.max(...indices);
  return `${version}/index/${indices.length === 1 ? `row-${min}` : `rows-${min}-${max}`}.parquet`;
}

/**
 * Merges the chip indexes of the units of `results` (done or skipped) into one GeoParquet file at `key`;
 * resolves with its record, or undefined when there were no units.
 */
export async function writeRunIndex(store: ObjectStore, results: readonly IndexResult[], key: string, options: { signal?: AbortSignal } = {}): Promise<FileRecord | undefined> {
  const parts: Uint8Array[] = [];
  for (const r of results) {
    for (const u of r.units) {
      const bytes = await store.get(u.indexFile.key, options);
      if (!bytes) throw new ClayError('IO', `the chip index ${store.url(u.indexFile.key)} of a complete unit is missing`, { input: store.url(u.indexFile.key) });
      parts.push(bytes);
    }
  }
  if (parts.length === 0) return undefined;
  const merged = await mergeChipIndexes(parts);
  const bytes = await store.put(key, [merged], { contentType: 'application/vnd.apache.parquet', ...options });
  return { key, bytes, sha256: sha256([merged]) };
}
