/**
 * The WorldCover histogram of one MGRS tile: for each WorldCover COG under the footprint, the overview's
 * pixels whose centres lie inside the footprint (gdal_rasterize's rule, `rasterize.ts`), counted by value.
 * Reads go row strip by row strip (one strip of COG tiles at a time), so memory is bounded by a strip of
 * the footprint's bounding box, never by the tile or the COG; decoded COG tiles live in the shared cache.
 *
 * Clay v0 read each part's bounding box out of a downsampled mosaic (`from_bounds(*polygon.bounds)`):
 * `footprint: 'bbox'` reads that way, in `v0-window.ts`; this file counts the footprint itself.
 */
import { ClayError } from '../core/errors.ts';
import { intersectWindows } from '../core/grid.ts';
import type { Cog } from '../pipeline/read/cog.ts';
import type { Footprint } from './footprint.ts';
import { rowSpans, toPixelSpace } from './rasterize.ts';

/** How a footprint selects pixels: the polygon (default) or each part's bounding box (Clay v0). */
export type FootprintMode = 'polygon' | 'bbox';

/** A 256-bin histogram of uint8 values (index = value). */
export type Histogram = Float64Array;

/** Adds to `hist` the values of `cog`'s pixels whose centres lie inside `footprint` (lon/lat). */
export async function accumulateFootprint(cog: Cog, footprint: Footprint, hist: Histogram, options: { signal?: AbortSignal } = {}): Promise<number> {
  if (cog.dtype !== 'uint8') throw new ClayError('COG_CORRUPT', `${cog.url}: WorldCover maps are uint8, this COG is ${cog.dtype}`, { input: cog.url });
  if (cog.grid.epsg !== 4326) throw new ClayError('COG_CORRUPT', `${cog.url}: WorldCover maps are in EPSG:4326, this COG is in EPSG:${cog.grid.epsg}`, { input: cog.url });
  const poly = toPixelSpace(footprint, cog.grid.transform);
  const box = intersectWindows(
    { col: poly.colMin, row: poly.rowMin, width: poly.colMax - poly.colMin, height: poly.rowMax - poly.rowMin },
    { col: 0, row: 0, width: cog.grid.width, height: cog.grid.height },
  );
  if (!box) return 0;
  const spans: number[] = [];
  const strip = cog.tileHeight;
  let counted = 0;
  for (let top = Math.floor(box.row / strip) * strip; top < box.row + box.height; top += strip) {
    const r0 = Math.max(top, box.row);
    const r1 = Math.min(top + strip, box.row + box.height);
    // Only the columns this strip's spans touch.
    let c0 = Infinity, c1 = -Infinity;
    for (let r = r0; r < r1; r++) {
      if (rowSpans(poly, r, cog.grid.width, spans) === 0) continue;
      c0 = Math.min(c0, spans[0]!);
      c1 = Math.max(c1, spans[spans.length - 1]!);
    }
    if (c1 <= c0) continue;
    const window = { col: c0, row: r0, width: c1 - c0, height: r1 - r0 };
    const raster = await cog.readWindow(window, options.signal ? { signal: options.signal } : {});
    const data = raster.data as Uint8Array;
    for (let r = r0; r < r1; r++) {
      const n = rowSpans(poly, r, cog.grid.width, spans);
      const base = (r - r0) * window.width - c0;
      for (let k = 0; k < n; k++) {
        for (let c = spans[2 * k]!; c < spans[2 * k + 1]!; c++) hist[data[base + c]!]! += 1;
        counted += spans[2 * k + 1]! - spans[2 * k]!;
      }
    }
  }
  return counted;
}
