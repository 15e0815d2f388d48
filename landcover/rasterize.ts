/**
 * Which pixels of a raster a footprint covers, by gdal_rasterize's rule (GDAL's `llrasterize.cpp`, default
 * mode, not ALL_TOUCHED): a pixel is inside when its centre is, scanline by scanline, even-odd over every
 * ring of every part. An edge counts for the scanline through pixel-centre height y when y lies in
 * [lower end, upper end); a span between crossings xa < xb covers columns floor(xa + 0.5) .. floor(xb + 0.5) - 1;
 * a horizontal edge lying exactly on a scanline is filled on its own when it runs right to left, as GDAL does.
 * Written from that rule (not from GDAL's code); `test/landcover/rasterize.test.ts` checks it against
 * `gdal_rasterize`.
 */
import { invertTransform, type GeoTransform } from '../core/grid.ts';
import { footprintPolygons, type Footprint } from './footprint.ts';

/** A footprint's rings in continuous pixel coordinates of a grid, with its row range. */
export interface PixelPolygon {
  /** Rings as flat [x0, y0, x1, y1, ...] (closed: last point = first). */
  rings: Float64Array[];
  /** Pixel rows whose centres may be inside: [rowMin, rowMax). */
  rowMin: number;
  rowMax: number;
  /** Columns that may be touched: [colMin, colMax). */
  colMin: number;
  colMax: number;
}

/** `footprint` (lon/lat, or the grid's CRS) mapped into the pixel space of a grid with geotransform `t`. */
export function toPixelSpace(footprint: Footprint, t: GeoTransform): PixelPolygon {
  const inv = invertTransform(t);
  const rings: Float64Array[] = [];
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (const poly of footprintPolygons(footprint)) {
    for (const ring of poly) {
      const out = new Float64Array(ring.length * 2);
      ring.forEach(([x, y], k) => {
        const px = inv[0] + x * inv[1] + y * inv[2];
        const py = inv[3] + x * inv[4] + y * inv[5];
        out[2 * k] = px;
        out[2 * k + 1] = py;
        if (px < minX) minX = px;
        if (px > maxX) maxX = px;
        if (py < minY) minY = py;
        if (py > maxY) maxY = py;
      });
      rings.push(out);
    }
  }
  if (rings.length === 0) return { rings, rowMin: 0, rowMax: 0, colMin: 0, colMax: 0 };
  return {
    rings,
    rowMin: Math.floor(minY - 0.5), rowMax: Math.ceil(maxY + 0.5),
    colMin: Math.floor(minX - 0.5), colMax: Math.ceil(maxX + 0.5),
  };
}

/**
 * The covered column spans of pixel row `row`, as pairs [c0, c1) appended to `out` (cleared first), clipped
 * to [0, width). Returns the number of pairs.
 */
export function rowSpans(poly: PixelPolygon, row: number, width: number, out: number[]): number {
  out.length = 0;
  const y = row + 0.5;
  const xs: number[] = [];
  for (const r of poly.rings) {
    const n = r.length / 2;
    for (let i = 1; i < n; i++) {
      let x1 = r[2 * (i - 1)]!, y1 = r[2 * (i - 1) + 1]!;
      let x2 = r[2 * i]!, y2 = r[2 * i + 1]!;
      if ((y1 < y && y2 < y) || (y1 > y && y2 > y)) continue;
      if (y1 === y2) {
        // Exactly on the scanline: edges running right to left are filled on their own (GDAL's rule).
        if (x1 > x2) pushSpan(out, Math.floor(x2 + 0.5), Math.floor(x1 + 0.5), width);
        continue;
      }
      if (y1 > y2) {
        [x1, x2] = [x2, x1];
        [y1, y2] = [y2, y1];
      }
      if (y < y2 && y >= y1) xs.push(((y - y1) * (x2 - x1)) / (y2 - y1) + x1);
    }
  }
  xs.sort((a, b) => a - b);
  for (let i = 0; i + 1 < xs.length; i += 2) pushSpan(out, Math.floor(xs[i]! + 0.5), Math.floor(xs[i + 1]! + 0.5), width);
  if (out.length > 2) mergeSpans(out);
  return out.length / 2;
}

/** Sorts and merges overlapping spans in place (GDAL burns a pixel once however many spans cover it). */
function mergeSpans(out: number[]): void {
  const pairs: [number, number][] = [];
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i]!, out[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  out.length = 0;
  for (const [a, b] of pairs) {
    const last = out.length - 1;
    if (last > 0 && a <= out[last]!) out[last] = Math.max(out[last]!, b);
    else out.push(a, b);
  }
}

function pushSpan(out: number[], c0: number, c1: number, width: number): void {
  const a = Math.max(0, c0);
  const b = Math.min(width, c1);
  if (b > a) out.push(a, b);
}
