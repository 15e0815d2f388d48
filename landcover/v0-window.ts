/**
 * Clay v0's `--footprint bbox` read, exactly: v0 merged the downsampled WorldCover into one mosaic
 * (`gdal_translate -ovr 3` per tile, then `gdal_merge.py`) and, per part of a tile, read
 * `cover.read(1, window=from_bounds(*part.bounds, cover.transform))` with rasterio 1.3. That read:
 * 1. `from_bounds` maps the part's bounds through the inverse affine (affine's own float arithmetic) into a
 *    fractional window;
 * 2. the window is intersected with the mosaic, and the output has floor(h + 0.5) x floor(w + 0.5) pixels
 *    (rasterio's `round_lengths`: a half rounds up, unlike Python's round);
 * 3. GDAL samples it by nearest neighbour: output pixel i takes source row floor(top + (i + 0.5) * h / n),
 *    clamped to the mosaic (likewise columns).
 * So a column or row may be repeated or skipped, and parts are stacked, never merged (an overlap counts
 * twice). Measured against rasterio 1.3.5 / GDAL 3.6 (test/landcover/v0-parity.test.ts). The mosaic is a grid
 * on the COGs' own lattice over `bounds`; pixels no COG covers are 0 (nodata), as gdal_merge leaves them.
 */
import type { GeoTransform } from '../core/grid.ts';
import type { Cog } from '../pipeline/read/cog.ts';
import { footprintPolygons, type Footprint } from './footprint.ts';
import type { Histogram } from './tile-stats.ts';

/** WorldCover v200's extent (3x3-degree tiles from S60 to N81): the mosaic v0 built from all of it. */
export const WORLDCOVER_BOUNDS: [number, number, number, number] = [-180, -60, 180, 84];

/** The grid of v0's mosaic: gdal_merge's (origin at the north-west corner, first file's pixel size). */
export interface MosaicGrid {
  readonly transform: GeoTransform;
  readonly width: number;
  readonly height: number;
}

/** gdal_merge's grid over `bounds` ([w, s, e, n]) with the pixel size of `lattice` (a COG's transform). */
export function mosaicGrid(lattice: GeoTransform, bounds: readonly [number, number, number, number]): MosaicGrid {
  const [w, s, e, n] = bounds;
  const dx = lattice[1];
  const dy = lattice[5];
  // gdal_merge.py: xsize = int((lrx - ulx) / psize_x + 0.5)
  return { transform: [w, dx, 0, n, 0, dy], width: Math.trunc((e - w) / dx + 0.5), height: Math.trunc((s - n) / dy + 0.5) };
}

/** rasterio's rounding of window lengths (`Window.round_lengths`): floor(x + 0.5), halves up. */
export function roundLength(x: number): number {
  return Math.floor(x + 0.5);
}

/** rasterio 1.3's `from_bounds(left, bottom, right, top, transform)`: [colOff, rowOff, width, height]. */
export function fromBounds(left: number, bottom: number, right: number, top: number, t: GeoTransform): [number, number, number, number] {
  // affine's Affine(a, b, c, d, e, f) from GDAL's (c, a, b, f, d, e), and its __invert__ / __mul__.
  const [c, a, b, f, d, e] = t;
  const idet = 1 / (a * e - b * d);
  const ra = e * idet;
  const rb = -b * idet;
  const rd = -d * idet;
  const re = a * idet;
  const rc = -c * ra - f * rb;
  const rf = -c * rd - f * re;
  const xs = [left, right, right, left];
  const ys = [top, top, bottom, bottom];
  const cols = xs.map((x, i) => x * ra + ys[i]! * rb + rc);
  const rows = xs.map((x, i) => x * rd + ys[i]! * re + rf);
  const c0 = Math.min(...cols);
  const r0 = Math.min(...rows);
  return [c0, r0, Math.max(Math.max(...cols) - c0, 0), Math.max(Math.max(...rows) - r0, 0)];
}

/** The source indices a rasterio read samples along one axis of a window (offset, size) of an axis of `n` pixels. */
export function sampledIndices(offset: number, size: number, n: number): number[] {
  const lo = Math.max(offset, 0);
  const hi = Math.min(offset + size, n);
  const count = hi > lo ? roundLength(hi - lo) : 0;
  const out: number[] = [];
  const inc = (hi - lo) / count;
  for (let i = 0; i < count; i++) out.push(Math.min(Math.max(Math.floor(lo + (i + 0.5) * inc), 0), n - 1));
  return out;
}

/** [minx, miny, maxx, maxy] of every coordinate of one part (shapely's `bounds`). */
function partBounds(rings: [number, number][][]): [number, number, number, number] {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const ring of rings) {
    for (const [x, y] of ring) {
      w = Math.min(w, x); e = Math.max(e, x); s = Math.min(s, y); n = Math.max(n, y);
    }
  }
  return [w, s, e, n];
}

/**
 * Adds to `hist` every pixel v0's read gives for each part of `footprint` (nodata included: the caller
 * drops it as v0 did), reading from `cogs` (the COGs under the footprint, on the mosaic's lattice).
 * Returns the number of pixels read.
 */
export async function accumulateV0Bbox(cogs: readonly Cog[], footprint: Footprint, mosaic: MosaicGrid, hist: Histogram, options: { signal?: AbortSignal } = {}): Promise<number> {
  let total = 0;
  const [x0, dx, , y0, , dy] = mosaic.transform;
  for (const part of footprintPolygons(footprint)) {
    const [left, bottom, right, top] = partBounds(part);
    const [co, ro, w, h] = fromBounds(left, bottom, right, top, mosaic.transform);
    const rows = sampledIndices(ro, h, mosaic.height);
    const cols = sampledIndices(co, w, mosaic.width);
    if (rows.length === 0 || cols.length === 0) continue;
    const values = new Uint8Array(rows.length * cols.length); // 0 where no COG lies
    for (const cog of cogs) {
      // The COG's place in the mosaic (its origin lies on the mosaic's lattice).
      const ct = cog.grid.transform;
      const oc = Math.round((ct[0] - x0) / dx);
      const or = Math.round((ct[3] - y0) / dy);
      const inCols = cols.map((c) => c - oc);
      const inRows = rows.map((r) => r - or);
      const cMin = Math.max(0, Math.min(...inCols));
      const cMax = Math.min(cog.grid.width - 1, Math.max(...inCols));
      const rMin = Math.max(0, Math.min(...inRows));
      const rMax = Math.min(cog.grid.height - 1, Math.max(...inRows));
      if (cMax < cMin || rMax < rMin) continue;
      const window = { col: cMin, row: rMin, width: cMax - cMin + 1, height: rMax - rMin + 1 };
      const raster = await cog.readWindow(window, options.signal ? { signal: options.signal } : {});
      const data = raster.data as Uint8Array;
      inRows.forEach((r, i) => {
        if (r < rMin || r > rMax) return;
        inCols.forEach((c, j) => {
          if (c >= cMin && c <= cMax) values[i * cols.length + j] = data[(r - rMin) * window.width + (c - cMin)]!;
        });
      });
    }
    for (const v of values) hist[v]! += 1;
    total += values.length;
  }
  return total;
}
