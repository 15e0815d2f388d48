/**
 * The stats stage (Clay v0's `compute_stats`): for every MGRS tile, the pixel count of each WorldCover class
 * under its footprint, read from one overview level of the WorldCover COGs over signed HTTP ranges (never
 * whole files); tiles that are all nodata or all water are dropped; `count` is the number of distinct values.
 *
 * Clay v0 downloaded all of WorldCover and downsampled it with `gdal_translate -ovr 3`; `overview: 3` (the
 * default) reads that same overview level straight from the COGs (GDAL's numbering: 0 is the first overview,
 * so 3 is 1/16 of full resolution, about 150 m at the equator).
 *
 * Resumable (`stats-journal.ts`), bounded: `concurrency` tiles at a time, a shared range-request limit, a
 * decoded-tile cache bounded in bytes, a bounded set of open COG headers, strip-by-strip reads.
 */
import pLimit from 'p-limit';
import { ClayError, errorMessage, isClayError } from '../core/errors.ts';
import type { HttpClient } from '../core/http.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import type { Progress } from '../core/progress.ts';
import { COLLECTIONS } from '../core/stac/pc-items.ts';
import type { PcSigner } from '../core/stac/pc-signer.ts';
import type { StacClient } from '../core/stac/stac-client.ts';
import { Cog, type CachedTile } from '../pipeline/read/cog.ts';
import { newReadStats, type ReadStats } from '../pipeline/read/range-reader.ts';
import { TileCache } from '../pipeline/read/tile-cache.ts';
import { WORLDCOVER_CLASSES, WORLDCOVER_NODATA, WORLDCOVER_WATER } from './classes.ts';
import { footprintBbox, partBboxes, type Footprint, type GridTile } from './footprint.ts';
import { StatsJournal, type JournalEntry, type StatsSettings } from './stats-journal.ts';
import { writeStatsFile, zeroCounts, type StatsRow } from './stats-file.ts';
import { accumulateFootprint, type FootprintMode, type Histogram } from './tile-stats.ts';
import { flatgeobufOrder } from './fgb-order.ts';
import { accumulateV0Bbox, mosaicGrid, WORLDCOVER_BOUNDS } from './v0-window.ts';
import { DEFAULT_WORLDCOVER_YEAR, listWorldCover, WorldCoverIndex } from './worldcover.ts';

/** Clay v0's level: `gdal_translate -ovr 3`. */
export const DEFAULT_OVERVIEW = 3;

/** Options of `computeStats`. */
export interface StatsOptions {
  stac: StacClient;
  http: HttpClient;
  /** Signs blob hrefs (Planetary Computer); omit for open URLs. */
  signer?: PcSigner;
  /** Output stats file (`.fgb` or `.geojson`); its journal is `{out}.journal.jsonl`. */
  out: string;
  /** GDAL `-ovr` number (default 3, Clay v0's), or null for full resolution. */
  overview?: number | null;
  /** WorldCover product year (default 2021, v200, as Clay v0). */
  year?: number;
  footprint?: FootprintMode;
  /**
   * `footprint: 'bbox'`: the extent of v0's WorldCover mosaic, [w, s, e, n] (default WORLDCOVER_BOUNDS, the
   * whole map v0 merged); windows are clipped at its edges as rasterio clips them.
   */
  mosaicBounds?: [number, number, number, number];
  /**
   * Rows of the stats file: in the grid's order (default), or in the order GDAL's FlatGeobuf writer gives
   * (`fgb-order.ts`): Clay v0's file, whose order the sampler's ties depend on.
   */
  rowOrder?: 'grid' | 'gdal-flatgeobuf';
  /** Tiles in flight (default 4). */
  concurrency?: number;
  /** Range requests in flight, all COGs together (default 16). */
  requests?: number;
  /** Decoded-tile cache bound in bytes (default 64 MiB). */
  cacheBytes?: number;
  /** Open COG headers kept (default 256). */
  openCogs?: number;
  /** Start over: remove the journal first. */
  force?: boolean;
  logger?: Logger;
  /** Called once with the number of tiles to do; ticked once per finished tile. */
  progress?: (total: number) => Progress;
  signal?: AbortSignal;
}

/** A tile that failed (it stays out of the journal: the next run retries it). */
export interface TileFailure {
  name: string;
  code: string;
  message: string;
}

/** What a stats run did. */
export interface StatsSummary {
  out: string;
  journal: string;
  settings: StatsSettings;
  tiles: number;
  /** Done by this run, and found done in the journal. */
  done: number;
  skipped: number;
  kept: number;
  dropped: { noData: number; allWater: number };
  failed: TileFailure[];
  /** WorldCover items listed for the tiles to do. */
  items: number;
  /** Bytes and range requests fetched by this run. */
  bytes: number;
  requests: number;
  seconds: number;
  /** False when no tile was kept (nothing to write: an empty FlatGeobuf has no schema). */
  written: boolean;
}

/** Computes the stats of `tiles`, resuming from the journal, and writes the stats file. */
export async function computeStats(tiles: readonly GridTile[], options: StatsOptions): Promise<StatsSummary> {
  const started = performance.now();
  const logger = options.logger ?? silentLogger;
  const settings: StatsSettings = {
    collection: COLLECTIONS.worldcover,
    year: options.year ?? DEFAULT_WORLDCOVER_YEAR,
    overview: options.overview === undefined ? DEFAULT_OVERVIEW : options.overview,
    footprint: options.footprint ?? 'polygon',
  };
  if (settings.overview !== null && (!Number.isInteger(settings.overview) || settings.overview < 0)) {
    throw new ClayError('BAD_ARGUMENT', `overview must be an integer >= 0 or full resolution, got ${settings.overview}`, { input: 'overview' });
  }
  const names = new Set<string>();
  for (const t of tiles) {
    if (names.has(t.name)) throw new ClayError('BAD_SAMPLE_FILE', `tile ${t.name} appears twice in the grid (names must be unique)`, { input: t.name });
    names.add(t.name);
  }
  const journal = await StatsJournal.open(`${options.out}.journal.jsonl`, settings, { force: options.force === true });
  const todo = tiles.filter((t) => !journal.entries.has(t.name));
  const skipped = tiles.length - todo.length;
  if (skipped > 0) logger.info('Landcover:Stats:Resume', { journal: journal.path, skipped, todo: todo.length });
  const stats = newReadStats();
  const failed: TileFailure[] = [];
  let items = 0;
  if (todo.length > 0) {
    const area = settings.footprint === 'bbox' ? todo.map((t) => partBboxes(t.footprint)) : todo.map((t) => t.footprint);
    const sources = await listWorldCover(options.stac, { bbox: unionBbox(area), year: settings.year, ...(options.signal ? { signal: options.signal } : {}) });
    items = sources.length;
    logger.info('Landcover:Stats:Items', { items, year: settings.year, tiles: todo.length });
    const index = new WorldCoverIndex(sources);
    const reader = new CogPool(options, settings.overview, stats);
    const progress = options.progress?.(todo.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const tile = todo[next++]!;
        try {
          const entry = await tileEntry(tile, index, reader, settings.footprint, options.mosaicBounds ?? WORLDCOVER_BOUNDS, options.signal);
          await journal.add(entry);
          progress?.tick(1, { tile: tile.name });
        } catch (err) {
          if (options.signal?.aborted || (isClayError(err) && err.code === 'IO')) throw err;
          const code = isClayError(err) ? err.code : 'INTERNAL';
          failed.push({ name: tile.name, code, message: errorMessage(err) });
          logger.warn('Landcover:Stats:Failed', { tile: tile.name, code, message: errorMessage(err) });
          progress?.tick(1, { tile: tile.name });
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, todo.length)) }, worker));
    } finally {
      progress?.stop();
    }
  }
  const rows: StatsRow[] = [];
  let noData = 0, allWater = 0;
  for (const t of tiles) {
    const e = journal.entries.get(t.name);
    if (!e) continue;
    if (e.dropped === 'no-data') noData++;
    else if (e.dropped === 'all-water') allWater++;
    else rows.push({ name: t.name, footprint: t.footprint, count: e.count, pixels: e.pixels });
  }
  if (options.rowOrder === 'gdal-flatgeobuf') {
    const order = flatgeobufOrder(rows.map((r) => footprintBbox(r.footprint)));
    rows.splice(0, rows.length, ...order.map((i) => rows[i]!));
  }
  if (rows.length > 0) await writeStatsFile(options.out, rows);
  const summary: StatsSummary = {
    out: options.out, journal: journal.path, settings, tiles: tiles.length, done: todo.length - failed.length, skipped,
    kept: rows.length, dropped: { noData, allWater }, failed, items, bytes: stats.bytesRead, requests: stats.requests,
    seconds: (performance.now() - started) / 1000, written: rows.length > 0,
  };
  logger.info('Landcover:Stats:Done', {
    tiles: summary.tiles, done: summary.done, skipped, kept: summary.kept, noData, allWater, failed: failed.length,
    bytes: summary.bytes, requests: summary.requests, seconds: Number(summary.seconds.toFixed(2)),
  });
  return summary;
}

/** The histogram of one tile over its WorldCover sources, as a journal entry (v0's drop rules applied). */
async function tileEntry(tile: GridTile, index: WorldCoverIndex, reader: CogPool, mode: FootprintMode, mosaic: [number, number, number, number], signal: AbortSignal | undefined): Promise<JournalEntry> {
  const hist: Histogram = new Float64Array(256);
  const on = signal ? { signal } : {};
  if (mode === 'bbox') {
    // v0's read spans every COG under each part's box at once (one mosaic).
    const sources = index.under(partBboxes(tile.footprint));
    const cogs = await Promise.all(sources.map((src) => reader.open(src.href, signal)));
    if (cogs.length > 0) await accumulateV0Bbox(cogs, tile.footprint, mosaicGrid(cogs[0]!.grid.transform, mosaic), hist, on);
    return histogramEntry(tile.name, hist, sources.map((s) => s.id));
  }
  const sources = index.under(tile.footprint);
  for (const src of sources) {
    const cog = await reader.open(src.href, signal);
    await accumulateFootprint(cog, tile.footprint, hist, on);
  }
  return histogramEntry(tile.name, hist, sources.map((s) => s.id));
}

/** A journal entry from a 256-bin histogram: counts per class, v0's `count`, and the drop rule. */
export function histogramEntry(name: string, hist: Histogram, items: string[]): JournalEntry {
  const pixels = zeroCounts();
  for (const c of WORLDCOVER_CLASSES) pixels[c.key] = hist[c.value]!;
  let valid = 0, count = 0;
  for (let v = 0; v < 256; v++) {
    if (v === WORLDCOVER_NODATA || hist[v] === 0) continue;
    valid += hist[v]!;
    count++;
  }
  const classified = WORLDCOVER_CLASSES.reduce((n, c) => n + pixels[c.key], 0);
  const dropped = valid === 0 ? 'no-data' : hist[WORLDCOVER_WATER] === valid ? 'all-water' : null;
  return { name, dropped, pixels, count, other: valid - classified, nodata: hist[WORLDCOVER_NODATA]!, items };
}

/** Opened COGs (one header read per COG while it stays in the pool), sharing a tile cache and a request limit. */
class CogPool {
  private readonly open_ = new Map<string, Promise<Cog>>();
  private readonly cache: TileCache<CachedTile>;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly max: number;

  constructor(private readonly options: StatsOptions, private readonly overview: number | null, private readonly stats: ReadStats) {
    this.cache = new TileCache<CachedTile>(options.cacheBytes ?? 64 * 1024 * 1024);
    this.limit = pLimit(options.requests ?? 16);
    this.max = options.openCogs ?? 256;
  }

  open(href: string, signal: AbortSignal | undefined): Promise<Cog> {
    const have = this.open_.get(href);
    if (have) {
      this.open_.delete(href);
      this.open_.set(href, have);
      return have;
    }
    const o = this.options;
    const opening = Cog.open(href, {
      http: o.http, collection: COLLECTIONS.worldcover, stats: this.stats, cache: this.cache, limit: this.limit,
      ...(o.signer ? { signer: o.signer } : {}), ...(this.overview === null ? {} : { overview: this.overview }), ...(signal ? { signal } : {}),
    });
    opening.catch(() => this.open_.delete(href));
    this.open_.set(href, opening);
    while (this.open_.size > this.max) this.open_.delete(this.open_.keys().next().value!);
    return opening;
  }
}

function unionBbox(footprints: Footprint[]): [number, number, number, number] {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const f of footprints) {
    const [a, b, c, d] = footprintBbox(f);
    w = Math.min(w, a); s = Math.min(s, b); e = Math.max(e, c); n = Math.max(n, d);
  }
  return [w, s, e, n];
}
