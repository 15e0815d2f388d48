/**
 * Warping source rasters onto a target grid (a chip): nearest neighbour (the default, Clay v0's through
 * stackstac) and bilinear, with GDAL's sampling rules so that `gdalwarp` is the oracle:
 * - nearest: the source pixel containing the target pixel centre, `floor(px + 1e-10)` as GDAL;
 * - bilinear: the 2 x 2 source pixels around it, weights from the distance to their centres, invalid or
 *   outside pixels dropped and the weights renormalised (GDAL's 4-sample formula, used when the source is
 *   not finer than the target, true for every pipeline input); a target pixel whose nearest source pixel
 *   is nodata stays empty, as in GDAL.
 * Per target window only the source window the coordinates reach (plus one pixel for bilinear) is read, so
 * memory follows the chip, not the scene.
 */
import type { Grid, Window } from '../../core/grid.ts';
import { invertTransform } from '../../core/grid.ts';
import { allocRaster, type AnyTypedArray, type Raster, type TileSet } from '../read/raster.ts';
import { coordField, type CoordField } from './transformer.ts';

/** Resampling methods. */
export type Resampling = 'nearest' | 'bilinear';

/** A raster to warp from: its grid and window reads (a `Cog` is one). */
export interface RasterSource {
  readonly grid: Grid;
  /** The file's nodata value, if any. */
  readonly nodata: number | undefined;
  readonly url?: string;
  readWindow(window: Window, options?: { signal?: AbortSignal; fill?: number }): Promise<Raster>;
  /** The decoded tiles covering a window, when the source has tiles to lend (a `Cog`): same-CRS warps sample them in place. */
  readTiles?(window: Window, options?: { signal?: AbortSignal }): Promise<TileSet>;
  /** The tile-cache keys of the tiles a read of `window` holds (a `Cog`), for callers that plan the tiles' lifetimes. */
  tileKeys?(window: Window): string[];
}

/** Options of a warp. */
export interface WarpOptions {
  resampling?: Resampling;
  /** Source value that means "no data" (default the source's own nodata); NaN is always invalid. */
  nodata?: number | null;
  /** Approximate-transformer error bound in source pixels (default 0.125, GDAL's); 0 = exact. */
  maxErrorPx?: number;
  /** Coordinate fields computed for this target, reused across sources (by EPSG and bound). */
  fields?: FieldCache;
  /**
   * Every pixel of `out` holds this value (nothing is warped onto it yet): the first source of a mosaic.
   * Same-CRS nearest warps then copy rows outright where that gives the same pixels (the source's nodata is
   * this value and its samples are integers, or both are NaN), and repeat a row instead of sampling it again when the next target row
   * falls in the same source row (a coarser band upsampled).
   */
  blank?: number;
  signal?: AbortSignal;
}

/** What one warp did. */
export interface WarpResult {
  /**
   * Target pixels written: those that got a valid value; where rows were copied outright (`blank`), every
   * target pixel the source covers, nodata ones included (they hold the blank value either way).
   */
  written: number;
  /** The source window read, if any. */
  sourceWindow: Window | undefined;
}

/**
 * Float64Arrays of one length, handed out and taken back: the coordinate fields of a chip are 2 x 8 bytes
 * per pixel per source CRS (4 MB per CRS for a 512 x 512 chip), so a job that warps chip after chip
 * reuses them instead of leaving that much garbage per chip for the collector.
 */
export class Float64Pool {
  private readonly free = new Map<number, Float64Array[]>();
  /** An array of length `n` (its values are whatever the last user left). */
  take(n: number): Float64Array {
    return this.free.get(n)?.pop() ?? new Float64Array(n);
  }
  /** Gives arrays back for reuse; the caller must not touch them afterwards. */
  give(...arrays: Float64Array[]): void {
    for (const a of arrays) {
      let list = this.free.get(a.length);
      if (list === undefined) this.free.set(a.length, (list = []));
      list.push(a);
    }
  }
  /** Arrays held for reuse. */
  get size(): number {
    let k = 0;
    for (const l of this.free.values()) k += l.length;
    return k;
  }
}

/**
 * Coordinate fields for one target grid, keyed by source EPSG and error bound. With a `pool`, the arrays
 * come from it and `release()` gives them back (the cache is empty afterwards).
 */
export class FieldCache {
  private readonly fields = new Map<string, CoordField>();
  constructor(readonly target: Grid, private readonly pool?: Float64Pool) {}

  /** Gives every array to the pool (when there is one) and empties the cache. */
  release(): void {
    if (this.pool) for (const f of this.fields.values()) this.pool.give(f.x, f.y);
    this.fields.clear();
    this.pixels.clear();
  }

  private readonly pixels = new Map<string, SourcePixels>();

  /**
   * Where the target pixel centres fall in a source on `grid` (corner-based pixel coordinates, computed by
   * the samplers from the CRS field and the grid's inverse transform: no per-grid arrays, so two DEM tiles
   * of one CRS share one field), and the span of the valid ones; the span is computed once per grid.
   */
  sourcePixels(grid: Grid, maxErrorPx: number): SourcePixels {
    const st = grid.transform;
    const key = `${grid.epsg}:${st.join(',')}:${grid.width}x${grid.height}:${maxErrorPx}`;
    let p = this.pixels.get(key);
    if (p) return p;
    const inv = invertTransform(st);
    const pixelSize = Math.min(Math.hypot(st[1], st[4]), Math.hypot(st[2], st[5]));
    const { x, y } = this.get(grid.epsg, maxErrorPx * pixelSize);
    const n = this.target.width * this.target.height;
    let minC = Infinity, minR = Infinity, maxC = -Infinity, maxR = -Infinity;
    for (let i = 0; i < n; i++) {
      const wx = x[i]!;
      const wy = y[i]!;
      const px = inv[0] + wx * inv[1] + wy * inv[2];
      const py = inv[3] + wx * inv[4] + wy * inv[5];
      if (px >= 0 && py >= 0 && px < grid.width && py < grid.height) {
        const c = Math.floor(px + 1e-10);
        const r = Math.floor(py + 1e-10);
        if (c < minC) minC = c;
        if (c > maxC) maxC = c;
        if (r < minR) minR = r;
        if (r > maxR) maxR = r;
      }
    }
    p = { x, y, inv, minC, maxC, minR, maxR };
    this.pixels.set(key, p);
    return p;
  }

  /** The field of source-CRS coordinates for EPSG `epsg` with error bound `maxError` (CRS units). */
  get(epsg: number, maxError: number): CoordField {
    const key = epsg === this.target.epsg ? `${epsg}` : `${epsg}:${maxError}`;
    let f = this.fields.get(key);
    if (!f) {
      f = coordField(this.target, epsg, { maxError, ...(this.pool ? { alloc: (n: number) => this.pool!.take(n) } : {}) });
      this.fields.set(key, f);
    }
    return f;
  }
}

/**
 * Warps `source` onto `target`, writing only the target pixels that get a valid value into `out`
 * (row-major, target width x height). Calling it for several sources in order mosaics them: later
 * valid pixels land on top.
 */
export async function warpInto(out: Float32Array, target: Grid, source: RasterSource, options: WarpOptions = {}): Promise<WarpResult> {
  const resampling = options.resampling ?? 'nearest';
  const nodata = options.nodata === undefined ? source.nodata : options.nodata ?? undefined;
  const read = async (win: Window): Promise<Sample> => {
    const raster = await source.readWindow(win, { ...(options.signal ? { signal: options.signal } : {}), fill: nodata ?? Number.NaN });
    return { data: raster.data, win, srcW: source.grid.width, srcH: source.grid.height, nodata: nodata ?? Number.NaN };
  };
  // Same CRS, no rotation, nearest: source column depends on the target column only, row on the row.
  const separable = resampling === 'nearest' ? separableIndices(target, source.grid) : undefined;
  if (separable) {
    const { cols, rows } = separable;
    const win = spanWindow(cols, rows);
    if (!win) return { written: 0, sourceWindow: undefined };
    // Sampled from the tiles in place where the source lends them: no window is copied out of them first.
    const signal = options.signal ? { signal: options.signal } : {};
    const tiles = source.readTiles ? await source.readTiles(win, signal) : windowTiles(win, await source.readWindow(win, { ...signal, fill: nodata ?? Number.NaN }));
    return { written: nearestSeparable(out, cols, rows, tiles, nodata ?? Number.NaN, options.blank), sourceWindow: win };
  }
  const fields = options.fields ?? new FieldCache(target);
  const pixels = fields.sourcePixels(source.grid, options.maxErrorPx ?? 0.125);
  const { minC, maxC, minR, maxR } = pixels;
  if (minC > maxC) return { written: 0, sourceWindow: undefined };
  const margin = resampling === 'bilinear' ? 1 : 0;
  const c0 = Math.max(0, minC - margin);
  const r0 = Math.max(0, minR - margin);
  const c1 = Math.min(source.grid.width - 1, maxC + margin);
  const r1 = Math.min(source.grid.height - 1, maxR + margin);
  const win: Window = { col: c0, row: r0, width: c1 - c0 + 1, height: r1 - r0 + 1 };
  const sample = await read(win);
  const written = resampling === 'nearest' ? nearest(out, pixels, sample) : bilinear(out, pixels, sample);
  return { written, sourceWindow: win };
}

/**
 * For a source in the target's CRS, both unrotated: the source column of each target column's pixel centre
 * and the source row of each row (-1 outside), as nearest sampling picks them. Undefined otherwise.
 */
function separableIndices(target: Grid, source: Grid): { cols: Int32Array; rows: Int32Array } | undefined {
  const tt = target.transform;
  const st = source.transform;
  if (source.epsg !== target.epsg || tt[2] !== 0 || tt[4] !== 0 || st[2] !== 0 || st[4] !== 0) return undefined;
  const inv = invertTransform(st);
  const cols = new Int32Array(target.width);
  const rows = new Int32Array(target.height);
  // Same arithmetic as the general path (world x of the pixel centre, then the inverse transform).
  for (let c = 0; c < target.width; c++) cols[c] = pixelIndex(inv[0] + (tt[0] + (c + 0.5) * tt[1]) * inv[1], source.width);
  for (let r = 0; r < target.height; r++) rows[r] = pixelIndex(inv[3] + (tt[3] + (r + 0.5) * tt[5]) * inv[5], source.height);
  return { cols, rows };
}

/**
 * The source window a warp of `source` onto `target` reads, when it can be said without coordinate fields:
 * the source in the target's CRS, both unrotated (nearest: the pixels sampled; bilinear: one more on each
 * side, clipped). `null` for other sources; undefined when the target falls outside the source.
 */
export function sameCrsSourceWindow(target: Grid, source: Grid, resampling: Resampling): Window | undefined | null {
  const ix = separableIndices(target, source);
  if (!ix) return null;
  const win = spanWindow(ix.cols, ix.rows);
  if (!win || resampling === 'nearest') return win;
  const c0 = Math.max(0, win.col - 1), r0 = Math.max(0, win.row - 1);
  const c1 = Math.min(source.width - 1, win.col + win.width), r1 = Math.min(source.height - 1, win.row + win.height);
  return { col: c0, row: r0, width: c1 - c0 + 1, height: r1 - r0 + 1 };
}

/** A window read as a tile set of one tile. */
function windowTiles(win: Window, raster: Raster): TileSet {
  return { dtype: raster.dtype, col0: win.col, row0: win.row, across: 1, down: 1, tileWidth: win.width, tileHeight: win.height, rasters: [raster] };
}

/** The source pixel index of continuous coordinate `p` (GDAL's floor(p + 1e-10)), or -1 outside [0, size). */
function pixelIndex(p: number, size: number): number {
  if (!(p >= 0)) return -1;
  const i = Math.floor(p + 1e-10);
  return i < size ? i : -1;
}

/** The window spanned by the valid (>= 0) column and row indices, if any. */
function spanWindow(cols: Int32Array, rows: Int32Array): Window | undefined {
  let c0 = Infinity, c1 = -Infinity, r0 = Infinity, r1 = -Infinity;
  for (const c of cols) if (c >= 0) { c0 = Math.min(c0, c); c1 = Math.max(c1, c); }
  for (const r of rows) if (r >= 0) { r0 = Math.min(r0, r); r1 = Math.max(r1, r); }
  if (c0 > c1 || r0 > r1) return undefined;
  return { col: c0, row: r0, width: c1 - c0 + 1, height: r1 - r0 + 1 };
}

/**
 * Same-CRS nearest sampling, the source column depending on the target column only and the row on the
 * row (`cols`, `rows`: source indices, -1 outside), from the source's tiles in place (a window read is one
 * tile): the target columns are cut into runs that fall in one tile column, and each (target row, run)
 * reads the one tile it falls in. A sparse tile reads as the nodata value in the tiles' dtype, as a window
 * copied out of the tiles holds it.
 */
function nearestSeparable(out: Float32Array, cols: Int32Array, rows: Int32Array, t: TileSet, nodata: number, blank: number | undefined): number {
  const width = cols.length;
  const { tileWidth: tw, tileHeight: th } = t;
  // Runs of valid target columns [start, end) in one tile column, with the source columns tile-local.
  const local = new Int32Array(width);
  const runs: { start: number; end: number; tile: number; unit: boolean }[] = [];
  for (let c = 0; c < width; c++) {
    const sc = cols[c]!;
    if (sc < 0) continue;
    const tile = Math.floor((sc - t.col0) / tw);
    local[c] = sc - t.col0 - tile * tw;
    const run = runs[runs.length - 1];
    if (run !== undefined && run.end === c && run.tile === tile) {
      if (local[c] !== local[c - 1]! + 1) run.unit = false;
      run.end = c + 1;
    } else runs.push({ start: c, end: c + 1, tile, unit: true });
  }
  if (runs.length === 0) return 0;
  const first = runs[0]!.start;
  const last = runs[runs.length - 1]!.end;
  const fresh = blank !== undefined;
  const integer = t.dtype !== 'float32' && t.dtype !== 'float64';
  const copy = fresh && (Number.isNaN(blank) ? Number.isNaN(nodata) : blank === nodata && integer);
  // A sparse tile reads as the nodata value in the tiles' dtype (an integer tile without one: 0, which is a
  // value), as a window copied out of the tiles holds it.
  const sparse = allocRaster(t.dtype, 1, 1, nodata).data[0]!;
  const sparseWrites = !(sparse === nodata || sparse !== sparse);
  let written = 0;
  let prevRow = -1, prevOut = 0, prevWritten = 0;
  for (let r = 0; r < rows.length; r++) {
    const sr = rows[r]!;
    if (sr < 0) continue;
    const o = r * width;
    if (fresh && sr === prevRow) {
      out.copyWithin(o + first, prevOut + first, prevOut + last);
      written += prevWritten;
      continue;
    }
    const ty = Math.floor((sr - t.row0) / th);
    const lr = sr - t.row0 - ty * th;
    let n = 0;
    for (const run of runs) {
      const raster = t.rasters[ty * t.across + run.tile];
      if (raster === undefined) {
        if (sparseWrites) {
          out.fill(sparse, o + run.start, o + run.end);
          n += run.end - run.start;
        }
        continue;
      }
      const data = raster.data;
      const base = lr * raster.width;
      if (copy && run.unit) {
        const at = base + local[run.start]!;
        out.set(data.subarray(at, at + run.end - run.start), o + run.start);
        n += run.end - run.start;
      } else if (copy) {
        for (let c = run.start; c < run.end; c++) out[o + c] = data[base + local[c]!]!;
        n += run.end - run.start;
      } else {
        for (let c = run.start; c < run.end; c++) {
          const v = data[base + local[c]!]!;
          if (v === nodata || v !== v) continue;
          out[o + c] = v;
          n++;
        }
      }
    }
    written += n;
    prevRow = sr;
    prevOut = o;
    prevWritten = n;
  }
  return written;
}

/**
 * Warps `sources` (bottom first: sort by datetime ascending, Clay v0's order) onto `target` into a new
 * Float32Array filled with `fill` where no source has a valid pixel (S2: 0, S1 and DEM: NaN).
 */
export async function warpMosaic(target: Grid, sources: readonly RasterSource[], options: WarpOptions & { fill?: number } = {}): Promise<Float32Array> {
  const out = new Float32Array(target.width * target.height);
  await mosaicInto(out, target, sources, options);
  return out;
}

/**
 * As `warpMosaic`, into `out` (target width x height, every value overwritten): filled with `fill`
 * (default NaN), then each source warped on top, the first ones onto a target still blank.
 */
export async function mosaicInto(out: Float32Array, target: Grid, sources: readonly RasterSource[], options: WarpOptions & { fill?: number } = {}): Promise<void> {
  const { fill = Number.NaN, ...warp } = options;
  out.fill(fill);
  const fields = warp.fields ?? new FieldCache(target);
  let blank: number | undefined = fill;
  for (const source of sources) {
    const r = await warpInto(out, target, source, { ...warp, fields, ...(blank !== undefined ? { blank } : {}) });
    // Still blank after a source that wrote nothing.
    if (r.written > 0) blank = undefined;
  }
}

/** Items ordered for a mosaic: datetime ascending (stable), so the latest valid pixel ends on top. */
export function mosaicOrder<T extends { datetime: Date }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => a.datetime.getTime() - b.datetime.getTime());
}

/**
 * Where each target pixel centre falls in a source grid: `inv` applied to the field (x, y), as
 * `inv[0] + x * inv[1] + y * inv[2]` and `inv[3] + x * inv[4] + y * inv[5]`; and the span of those inside it.
 */
interface SourcePixels {
  x: Float64Array;
  y: Float64Array;
  inv: readonly [number, number, number, number, number, number];
  minC: number;
  maxC: number;
  minR: number;
  maxR: number;
}

interface Sample {
  data: AnyTypedArray;
  win: Window;
  srcW: number;
  srcH: number;
  nodata: number;
}

function nearest(out: Float32Array, p: SourcePixels, s: Sample): number {
  const { data, win, nodata } = s;
  const { x, y } = p;
  const [i0, i1, i2, i3, i4, i5] = p.inv;
  const cMin = win.col, rMin = win.row, cMax = win.col + win.width, rMax = win.row + win.height, w = win.width;
  let written = 0;
  for (let i = 0; i < out.length; i++) {
    const wx = x[i]!;
    const wy = y[i]!;
    const px = i0 + wx * i1 + wy * i2;
    const py = i3 + wx * i4 + wy * i5;
    if (!(px >= 0 && py >= 0)) continue;
    const c = Math.floor(px + 1e-10);
    const r = Math.floor(py + 1e-10);
    if (c < cMin || r < rMin || c >= cMax || r >= rMax) continue;
    const v = data[(r - rMin) * w + (c - cMin)]!;
    if (v === nodata || v !== v) continue;
    out[i] = v;
    written++;
  }
  return written;
}

function bilinear(out: Float32Array, p: SourcePixels, s: Sample): number {
  const { data, win, nodata } = s;
  const { x, y } = p;
  const [i0, i1, i2, i3, i4, i5] = p.inv;
  const hasNodata = nodata === nodata;
  const cMin = win.col, rMin = win.row, cMax = win.col + win.width, rMax = win.row + win.height, w = win.width;
  let written = 0;
  for (let i = 0; i < out.length; i++) {
    const wx = x[i]!;
    const wy = y[i]!;
    const px = i0 + wx * i1 + wy * i2;
    const py = i3 + wx * i4 + wy * i5;
    if (!(px >= 0 && py >= 0)) continue;
    const nc = Math.floor(px + 1e-10);
    const nr = Math.floor(py + 1e-10);
    if (nc >= s.srcW || nr >= s.srcH) continue;
    if (hasNodata) {
      // GDAL's validity mask: a target pixel whose nearest source pixel is nodata stays empty.
      const v = nc < cMin || nr < rMin || nc >= cMax || nr >= rMax ? nodata : data[(nr - rMin) * w + (nc - cMin)]!;
      if (v === nodata || v !== v) continue;
    }
    const ic = Math.floor(px - 0.5);
    const ir = Math.floor(py - 0.5);
    const rx = 1.5 - (px - ic); // weight of column ic (GDAL's dfRatioX)
    const ry = 1.5 - (py - ir);
    let acc = 0;
    let div = 0;
    for (let k = 0; k < 4; k++) {
      const c = ic + (k & 1);
      const r = ir + (k >> 1);
      // Outside the image (and so outside `win`, which is clipped to it): dropped.
      if (c < cMin || r < rMin || c >= cMax || r >= rMax) continue;
      const v = data[(r - rMin) * w + (c - cMin)]!;
      // With a nodata value, nodata (and NaN) pixels are dropped; without one, NaN propagates, as in GDAL.
      if (hasNodata && (v === nodata || v !== v)) continue;
      const wgt = ((k & 1) === 0 ? rx : 1 - rx) * ((k >> 1) === 0 ? ry : 1 - ry);
      acc += v * wgt;
      div += wgt;
    }
    if (div < 0.00001) continue;
    out[i] = div === 1 ? acc : acc / div;
    written++;
  }
  return written;
}
