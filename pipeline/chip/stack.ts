/**
 * Stacking: the 13 chip bands and SCL of one chip window, read from the planned date's COGs and warped
 * onto the chip's piece of the Sentinel-2 10 m grid. Per chip only the source windows it covers are read
 * (through the shared tile cache), so memory follows the chips in flight, never the tile.
 */
import type { LimitFunction } from 'p-limit';
import { ClayError } from '../../core/errors.ts';
import type { Grid } from '../../core/grid.ts';
import type { HttpClient } from '../../core/http.ts';
import type { PcSigner } from '../../core/stac/pc-signer.ts';
import type { PlannedDate } from '../plan/plan-types.ts';
import { Cog, type CachedTile, type TileDecoder } from '../read/cog.ts';
import type { ReadStats } from '../read/range-reader.ts';
import type { TileCache } from '../read/tile-cache.ts';
import { FieldCache, Float64Pool, mosaicInto, sameCrsSourceWindow, type RasterSource, type Resampling } from '../warp/warp.ts';
import { BOA_OFFSET, CHIP_BANDS, SCL_BAND, type BandSpec } from './bands.ts';

/** PC's Sentinel-1 RTC nodata (`raster:bands[0].nodata`), used when a file does not declare one. */
const S1_NODATA = -32768;

/** The opened sources of one band: COGs in mosaic order (bottom first). */
export interface BandSources {
  band: BandSpec;
  sources: RasterSource[];
}

/** Everything a chip of one planned date reads. */
export interface ChipSources {
  /** The 13 chip bands, in file order. */
  bands: BandSources[];
  scl: BandSources;
}

/** How COGs are reached and cached. */
export interface SourceAccess {
  http: HttpClient;
  signer?: PcSigner;
  cache: TileCache<CachedTile>;
  /** Compressed source bytes (tiles, header blocks) by blob and range: nothing is read twice while it holds them. */
  bytesCache?: TileCache<Uint8Array>;
  limit: LimitFunction;
  stats: ReadStats;
  decoder?: TileDecoder;
  signal?: AbortSignal;
}

/** A source with the nodata value to honour (the file's, or PC's documented one). */
function withNodata(cog: Cog, nodata: number | undefined): RasterSource {
  if (nodata === undefined || cog.nodata !== undefined) return cog;
  return { grid: cog.grid, nodata, url: cog.url, readWindow: (w, o) => cog.readWindow(w, o), readTiles: (w, o) => cog.readTiles(w, o), tileKeys: (w) => cog.tileKeys(w) };
}

/** Opens every COG of a planned date (headers only; pixels are read per chip). */
export async function openChipSources(date: Pick<PlannedDate, 's2' | 's1' | 'dem'>, access: SourceAccess): Promise<ChipSources> {
  const open = (href: string, collection: string): Promise<Cog> =>
    Cog.open(href, {
      http: access.http,
      ...(access.signer ? { signer: access.signer } : {}),
      collection,
      cache: access.cache,
      ...(access.bytesCache ? { bytesCache: access.bytesCache } : {}),
      limit: access.limit,
      stats: access.stats,
      ...(access.decoder ? { decoder: access.decoder } : {}),
      // DEFLATE tiles decode on the worker threads that also encode the chips: the main thread warps.
      decodeInWorkers: true,
      ...(access.signal ? { signal: access.signal } : {}),
    });
  const hrefOf = (hrefs: Record<string, string>, keys: readonly string[], id: string): string => {
    for (const k of keys) if (hrefs[k] !== undefined) return hrefs[k];
    throw new ClayError('STAC_INVALID', `item ${id} has none of the assets ${keys.join(', ')}`, { input: id });
  };
  const sourcesOf = async (band: BandSpec): Promise<BandSources> => {
    const src = band.source;
    if (src.kind === 's2') return { band, sources: [await open(hrefOf(date.s2.hrefs, [src.asset], date.s2.id), date.s2.collection)] };
    if (src.kind === 's1') {
      const keys = src.pol === 'co' ? ['vv', 'hh'] : ['vh', 'hv'];
      const cogs = await Promise.all(date.s1.scenes.map((s) => open(hrefOf(s.hrefs, keys, s.id), s.collection)));
      return { band, sources: cogs.map((c) => withNodata(c, S1_NODATA)) };
    }
    return { band, sources: await Promise.all(date.dem.map((d) => open(hrefOf(d.hrefs, ['data'], d.id), d.collection))) };
  };
  const [scl, ...bands] = await Promise.all([SCL_BAND, ...CHIP_BANDS].map(sourcesOf));
  return { bands, scl: scl! };
}

/**
 * The tile-cache keys of the source tiles a chip on `grid` reads, for the sources whose reads can be said
 * without coordinate fields (in the chip's CRS: every S2 band, a same-zone S1 scene); the others (the DEM,
 * another zone's S1) are not listed. With `resampling` as `stackChip` takes it.
 */
export function chipTileKeys(sources: ChipSources, grid: Grid, resampling: Resampling = 'nearest'): string[] {
  const keys = new Set<string>();
  for (const b of [sources.scl, ...sources.bands]) {
    const r = b.band.categorical ? 'nearest' : resampling;
    for (const s of b.sources) {
      if (!s.tileKeys) continue;
      const win = sameCrsSourceWindow(grid, s.grid, r);
      if (win) for (const k of s.tileKeys(win)) keys.add(k);
    }
  }
  return [...keys];
}

/** Options of a stack. */
export interface StackOptions {
  /** For the continuous bands; SCL is always nearest. Default nearest (Clay v0's, through stackstac). */
  resampling?: Resampling;
  /** Remove the +1000 offset of processing baseline >= 04.00 (values below 1000 become 0). */
  harmonize?: boolean;
  /**
   * Which planes to make: `all` (default), `filter` (SCL and the bands the chip filter reads: B02, vh, vv,
   * dem) or `rest` (the other chip bands, into a stack whose `filter` planes are made). A chip the filter
   * rejects then costs no reads of the rest.
   */
  part?: StackPart;
  signal?: AbortSignal;
}

/** A part of a stack: see `StackOptions.part`. */
export type StackPart = 'all' | 'filter' | 'rest';

/** The chip bands Clay v0's filter reads (besides SCL). */
export const FILTER_BANDS: readonly string[] = ['B02', 'vh', 'vv', 'dem'];

/** One stacked chip: the 13 bands band-sequential in `planes`, and SCL. */
export interface ChipStack {
  grid: Grid;
  planes: Float32Array;
  scl: Float32Array;
}

/** A view of band `i` of a stack. */
export function plane(stack: ChipStack, i: number): Float32Array {
  const n = stack.grid.width * stack.grid.height;
  return stack.planes.subarray(i * n, (i + 1) * n);
}

async function warpBand(out: Float32Array, grid: Grid, b: BandSources, fields: FieldCache, options: StackOptions): Promise<void> {
  const resampling = b.band.categorical ? 'nearest' : (options.resampling ?? 'nearest');
  await mosaicInto(out, grid, b.sources, { resampling, fields, fill: b.band.fill, ...(options.signal ? { signal: options.signal } : {}) });
}

/** Buffers of a stack, to reuse: `planes` of 13 x pixels and `scl` of pixels. */
export type StackBuffers = Pick<ChipStack, 'planes' | 'scl'>;

/**
 * What chips reuse from one to the next, across units and rows: stack buffers (a chip's 14 planes) and the
 * warp's coordinate fields (2 x 8 bytes per pixel per source CRS). Without it every chip leaves tens of
 * MB of garbage, and the process's peak memory follows how late the collector runs, not the chips in flight.
 */
export interface ChipBuffers {
  stacks: StackBuffers[];
  fields: Float64Pool;
}

/** An empty set of reusable buffers (it grows to what the chips in flight need at once). */
export function newChipBuffers(): ChipBuffers {
  return { stacks: [], fields: new Float64Pool() };
}

/**
 * Reads and warps the 13 bands and SCL of the chip on `grid` (a window of the planned grid), or the part of
 * them `options.part` names, into `reuse` when given (its sizes must match; every value of the planes made
 * is overwritten, the others are left as they are).
 */
export async function stackChip(sources: ChipSources, grid: Grid, options: StackOptions = {}, reuse?: StackBuffers, fieldPool?: Float64Pool): Promise<ChipStack> {
  const n = grid.width * grid.height;
  const fits = reuse !== undefined && reuse.scl.length === n && reuse.planes.length === n * sources.bands.length;
  // Planes on shared memory: the worker threads filter and encode the chip reading them in place.
  const stack: ChipStack = fits ? { grid, planes: reuse.planes, scl: reuse.scl } : { grid, planes: new Float32Array(new SharedArrayBuffer(n * sources.bands.length * 4)), scl: new Float32Array(new SharedArrayBuffer(n * 4)) };
  const part = options.part ?? 'all';
  const wanted = (b: BandSources): boolean => part === 'all' || FILTER_BANDS.includes(b.band.name) === (part === 'filter');
  const fields = new FieldCache(grid, fieldPool);
  try {
    await Promise.all([
      ...(part === 'rest' ? [] : [warpBand(stack.scl, grid, sources.scl, fields, options)]),
      ...sources.bands.map((b, i) => (wanted(b) ? warpBand(plane(stack, i), grid, b, fields, options) : undefined)),
    ]);
  } finally {
    // Only after every band has settled: a failed band must not hand out arrays another band still reads.
    fields.release();
  }
  return stack;
}

/**
 * Removes the +1000 offset from the S2 reflectance planes in place (`clip(1000) - 1000`, the Planetary
 * Computer's harmonisation): call after the filter, which looks at raw values (B02 == 0 is nodata).
 */
export function harmonizeStack(stack: ChipStack): void {
  CHIP_BANDS.forEach((b, i) => {
    if (b.source.kind !== 's2') return;
    const p = plane(stack, i);
    for (let k = 0; k < p.length; k++) {
      const v = p[k]!;
      p[k] = v > BOA_OFFSET ? v - BOA_OFFSET : 0;
    }
  });
}
