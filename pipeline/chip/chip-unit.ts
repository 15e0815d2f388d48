/**
 * One unit of work: the chips of one MGRS tile on one planned date. Stacks each 512 x 512 window
 * (row-major from the top-left, full chips only), applies Clay v0's filter, encodes and stores the kept
 * chips (each one atomic PUT or rename), then the unit's chip index (GeoParquet), then the manifest, last. A few chips
 * are in flight at once (reads and warps of one overlap the encoding of another on a worker thread), so memory
 * is bounded by `inflight` chips, never by the tile.
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { ClayError, isClayError } from '../../core/errors.ts';
import { subGrid, windowBounds, type Grid, type Window } from '../../core/grid.ts';
import type { Logger } from '../../core/log.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { PlanMode, PlannedDate } from '../plan/plan-types.ts';
import { pointTransform } from '../warp/proj.ts';
import type { Resampling } from '../warp/warp.ts';
import { BAND_INDEX, BOA_OFFSET, hasBoaOffset } from './bands.ts';
import { CHIP_VERSION, chipFileName, encodeChipFile, unitPrefix, type ChipEncoding } from './chip-file.ts';
import { MANIFEST_NAME, type ChipRecord, type FileRecord, type UnitManifest } from './manifest.ts';
import { writeChipIndex } from '../index/chip-index.ts';
import { assessChip, type RejectReason } from './quality.ts';
import { assessChipShared } from '../worker/pool.ts';
import { indexRows, UNIT_INDEX_NAME } from './unit-index.ts';
import { chipTileKeys, harmonizeStack, newChipBuffers, openChipSources, plane, stackChip, type ChipBuffers, type ChipSources, type ChipStack, type SourceAccess } from './stack.ts';
import { Cog } from '../read/cog.ts';

/** Options of a unit. */
export interface UnitOptions {
  store: ObjectStore;
  access: Omit<SourceAccess, 'signal'>;
  mode: PlanMode;
  encoding: ChipEncoding;
  resampling: Resampling;
  harmonize: boolean;
  /** Dataset version folder (default `02`). */
  version?: string;
  /** Chips in flight at once (default 2). */
  inflight?: number;
  /** Buffers reused from chip to chip; pass the same set to every unit of a run (default: one per unit). */
  buffers?: ChipBuffers;
  /**
   * Writes extra files for a kept chip (previews); returns their records. `offset` is what the S2 planes
   * still carry above reflectance: 1000 for processing baseline >= 04.00 without harmonisation, else 0.
   */
  extras?: (chip: { key: string; planes: Float32Array; grid: Grid; offset: number }) => Promise<FileRecord | undefined>;
  onChip?: (record: ChipRecord) => void;
  /**
   * Called just before the manifest (the unit's commit point) is written; a rejection leaves the unit
   * without one. The run confirms there that it still holds the unit's lock.
   */
  beforeManifest?: () => Promise<void>;
  logger?: Logger;
  signal?: AbortSignal;
}

/**
 * The order chips are made in: blocks of `block` x `block` chips, row-major over the blocks and within
 * each. With `block` the span of the largest source tile in chips, the tiles a block needs are decoded once
 * and then done with, so the tile cache need only hold about one block's tiles, not a whole row of chips
 * across the scene (a 10980-pixel S2 tile is 21 chips wide). Chip numbers stay row-major.
 */
export function blockOrder<T extends { chip: number }>(chips: readonly T[], columns: number, block: number): T[] {
  const b = Math.max(1, Math.floor(block));
  const key = (chip: number): [number, number, number, number] => {
    const r = Math.floor((chip - 1) / columns);
    const c = (chip - 1) % columns;
    return [Math.floor(r / b), Math.floor(c / b), r % b, c % b];
  };
  return [...chips].sort((x, y) => {
    const a = key(x.chip);
    const z = key(y.chip);
    return a[0] - z[0] || a[1] - z[1] || a[2] - z[2] || a[3] - z[3];
  });
}

/** How many chips the largest tile of the S2 sources spans (at least 1, at most 8). */
function tileSpanInChips(sources: ChipSources, grid: Grid, chipSize: number): number {
  let span = 1;
  for (const band of sources.bands) {
    for (const s of band.sources) {
      if (!(s instanceof Cog) || s.grid.epsg !== grid.epsg) continue;
      const scale = Math.abs(s.grid.transform[1] / grid.transform[1]);
      span = Math.max(span, Math.ceil((s.tileWidth * scale) / chipSize), Math.ceil((s.tileHeight * scale) / chipSize));
    }
  }
  return Math.min(span, 8);
}

/** The windows of a planned date's chips, numbered 1.. row-major. */
export function chipWindows(date: PlannedDate): { chip: number; window: Window }[] {
  const { size, columns, rows } = date.chips;
  const out: { chip: number; window: Window }[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) out.push({ chip: out.length + 1, window: { col: c * size, row: r * size, width: size, height: size } });
  }
  return out;
}

function footprintOf(grid: Grid, window: Window): { bounds: ChipRecord['bounds']; footprint: ChipRecord['footprint'] } {
  const b = windowBounds(grid, window);
  const t = pointTransform(grid.epsg, 4326);
  const p: [number, number] = [0, 0];
  const ll = (x: number, y: number): [number, number] => {
    t.apply(x, y, p);
    return [Math.round(p[0] * 1e9) / 1e9, Math.round(p[1] * 1e9) / 1e9];
  };
  const ring = [ll(b.minX, b.maxY), ll(b.maxX, b.maxY), ll(b.maxX, b.minY), ll(b.minX, b.minY)];
  return { bounds: [b.minX, b.minY, b.maxX, b.maxY], footprint: [...ring, ring[0]!] };
}

/** sha256 of chunks, hex. */
export function sha256(chunks: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

/** Makes the chips of `date` for sample row `index` and writes its manifest last. */
export async function chipUnit(mgrs: string, index: number, date: PlannedDate, options: UnitOptions): Promise<UnitManifest> {
  const started = Date.now();
  const version = options.version ?? CHIP_VERSION;
  const prefix = unitPrefix(mgrs, date.date, version);
  const { store } = options;
  const stats = options.access.stats;
  const read0 = { bytes: stats.bytesRead, requests: stats.requests };
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  const harmonized = options.harmonize && hasBoaOffset(date.s2.processingBaseline);
  const encoding = options.encoding;
  const times = { stackMs: 0, encodeMs: 0, storeMs: 0 };
  try {
    const sources = await openChipSources(date, { ...options.access, signal });
    const grid: Grid = { epsg: date.grid.epsg, transform: date.grid.transform, width: date.grid.width, height: date.grid.height };
    const limit = pLimit(Math.max(1, options.inflight ?? 2));
    // Stack buffers and coordinate fields are recycled: at most `inflight` chips' worth is ever allocated.
    const buffers = options.buffers ?? newChipBuffers();
    const free = buffers.stacks;
    // Chip order (blocks of chips, so that a tile's uses come close together).
    const order = blockOrder(chipWindows(date), date.chips.columns, tileSpanInChips(sources, grid, date.chips.size));
    // Planned tile lifetimes: the tiles each chip reads (where that can be said up front) and how many
    // chips still will. Once the last of them is done, a tile leaves the cache before any still needed.
    const cache = options.access.cache;
    const tilesOf = new Map<number, string[]>();
    const uses = new Map<string, number>();
    for (const { chip, window } of order) {
      const keys = chipTileKeys(sources, subGrid(grid, window), options.resampling);
      tilesOf.set(chip, keys);
      for (const k of keys) uses.set(k, (uses.get(k) ?? 0) + 1);
    }
    const chipDone = (chip: number): void => {
      for (const k of tilesOf.get(chip) ?? []) {
        const left = (uses.get(k) ?? 1) - 1;
        if (left > 0) uses.set(k, left);
        else {
          uses.delete(k);
          cache.done(k);
        }
      }
    };
    const one = async ({ chip, window }: { chip: number; window: Window }): Promise<ChipRecord> => {
      signal.throwIfAborted();
      const t0 = performance.now();
      const chipGrid = subGrid(grid, window);
      try {
        // The filter's planes first: a rejected chip reads none of the other bands.
        const stack = await stackChip(sources, chipGrid, { resampling: options.resampling, part: 'filter', signal }, free.pop(), buffers.fields);
        try {
          return await finish(chip, window, chipGrid, stack, t0);
        } finally {
          free.push({ planes: stack.planes, scl: stack.scl });
        }
      } finally {
        chipDone(chip);
      }
    };
    const finish = async (chip: number, window: Window, chipGrid: Grid, stack: ChipStack, t0: number): Promise<ChipRecord> => {
      const input = { b02: plane(stack, BAND_INDEX.B02!), vh: plane(stack, BAND_INDEX.vh!), vv: plane(stack, BAND_INDEX.vv!), dem: plane(stack, BAND_INDEX.dem!), scl: stack.scl };
      // The filter runs on a worker thread when the planes are shared (as `stackChip` makes them).
      const shared = stack.planes.buffer instanceof SharedArrayBuffer && stack.scl.buffer instanceof SharedArrayBuffer;
      const q = shared ? await assessChipShared(input) : assessChip(input);
      if (q.kept) await stackChip(sources, chipGrid, { resampling: options.resampling, part: 'rest', signal }, stack, buffers.fields);
      const t1 = performance.now();
      times.stackMs += t1 - t0;
      const record: ChipRecord = { chip, window, ...footprintOf(grid, window), ...q };
      if (q.kept) {
        if (harmonized) harmonizeStack(stack);
        const { chunks, sha256: digest } = await encodeChipFile(stack.planes, chipGrid, date.date, encoding, { signal });
        const t2 = performance.now();
        times.encodeMs += t2 - t1;
        const key = prefix + chipFileName(mgrs, date.date, chip, version);
        const bytes = await store.put(key, chunks, { contentType: 'image/tiff; application=geotiff', signal });
        record.file = { key, bytes, sha256: digest };
        const offset = hasBoaOffset(date.s2.processingBaseline) && !harmonized ? BOA_OFFSET : 0;
        const preview = await options.extras?.({ key, planes: stack.planes, grid: chipGrid, offset });
        if (preview) record.preview = preview;
        times.storeMs += performance.now() - t2;
      }
      options.onChip?.(record);
      return record;
    };
    // Queued chips start with `throwIfAborted`, so after a failure they end at once.
    const made = await settleAll(order.map((w) => limit(() => one(w))), () => controller.abort(new ClayError('INTERNAL', 'a sibling chip failed')));
    const chips = made.sort((a, b) => a.chip - b.chip);
    const rejected: Record<RejectReason, number> = { cloud: 0, b02_nodata: 0, s1_nodata: 0, dem_nodata: 0 };
    for (const c of chips) for (const r of c.reasons) rejected[r] += 1;
    const { estimate: _estimate, ...planned } = date;
    const body: Omit<UnitManifest, 'run' | 'indexFile'> = {
      manifestVersion: 1,
      version,
      mgrs,
      date: date.date,
      index,
      settings: { mode: options.mode, resampling: options.resampling, harmonize: options.harmonize, harmonized, encoding, previews: options.extras !== undefined, chipSize: date.chips.size },
      plan: planned,
      chips,
      totals: {
        candidates: chips.length,
        kept: chips.filter((c) => c.kept).length,
        rejected,
        bytesWritten: chips.reduce((n, c) => n + (c.file?.bytes ?? 0) + (c.preview?.bytes ?? 0), 0),
      },
    };
    const indexBytes = writeChipIndex(indexRows(body));
    const indexKey = prefix + UNIT_INDEX_NAME;
    const indexFile: FileRecord = { key: indexKey, bytes: await store.put(indexKey, [indexBytes], { contentType: 'application/vnd.apache.parquet', signal }), sha256: sha256([indexBytes]) };
    body.totals.bytesWritten += indexFile.bytes;
    const manifest: UnitManifest = {
      ...body,
      indexFile,
      run: {
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date().toISOString(),
        ms: Date.now() - started,
        stackMs: Math.round(times.stackMs),
        encodeMs: Math.round(times.encodeMs),
        storeMs: Math.round(times.storeMs),
        bytesRead: stats.bytesRead - read0.bytes,
        requests: stats.requests - read0.requests,
        tool: 'clay-pipeline',
      },
    };
    signal.throwIfAborted();
    await options.beforeManifest?.();
    signal.throwIfAborted();
    await store.put(prefix + MANIFEST_NAME, [new TextEncoder().encode(JSON.stringify(manifest, null, 1) + '\n')], { contentType: 'application/json', signal });
    return manifest;
  } catch (err) {
    if (options.signal?.aborted && !isClayError(err)) throw new ClayError('HTTP_ABORTED', `unit ${prefix} aborted`, { input: prefix, cause: options.signal.reason });
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Awaits every promise; on the first failure calls `onFailure` (to stop the others) and, once all have
 * settled (so nothing still writes), rethrows that first failure.
 */
async function settleAll<T>(promises: readonly Promise<T>[], onFailure: () => void): Promise<T[]> {
  let first: { err: unknown } | undefined;
  const guarded = promises.map((p) =>
    p.catch((err: unknown) => {
      if (!first) {
        first = { err };
        onFailure();
      }
      return undefined;
    }),
  );
  const results = await Promise.all(guarded);
  if (first) throw first.err;
  return results as T[];
}
