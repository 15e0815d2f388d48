/**
 * Small geometry helpers for the generator: grids, lon/lat polygons of projected rectangles, polygon
 * rasterisation by pixel centre (even-odd scanlines), bboxes, and a deterministic integer hash.
 */
import { fromUtm, toUtm, zoneOf } from './utm.ts';

/** A north-up grid: top-left corner (x0, y0), square pixel `res`, in `epsg`. */
export interface Grid {
  epsg: number;
  x0: number;
  y0: number;
  res: number;
  width: number;
  height: number;
}

/** A ring of [x, y] points (closed or not). */
export type Ring = Array<[number, number]>;

/** [minx, miny, maxx, maxy] */
export type BBox = [number, number, number, number];

/** Bounds of a grid in its CRS. */
export function gridBounds(g: Grid): BBox {
  return [g.x0, g.y0 - g.height * g.res, g.x0 + g.width * g.res, g.y0];
}

/** A grid's GDAL geotransform. */
export function geoTransform(g: Grid): [number, number, number, number, number, number] {
  return [g.x0, g.res, 0, g.y0, 0, -g.res];
}

/** A STAC `proj:transform` (rasterio Affine order: a, b, c, d, e, f[, 0, 0, 1]). */
export function projTransform(g: Grid, nine: boolean): number[] {
  const t = [g.res, 0, g.x0, 0, -g.res, g.y0];
  return nine ? [...t, 0, 0, 1] : t;
}

/** Bounding box of points. */
export function bboxOf(points: ReadonlyArray<readonly [number, number]>): BBox {
  let [a, b, c, d] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of points) {
    a = Math.min(a, x);
    b = Math.min(b, y);
    c = Math.max(c, x);
    d = Math.max(d, y);
  }
  return [a, b, c, d];
}

/** Inserts `n - 1` points between consecutive ring vertices (the ring is treated as closed). */
export function densify(ring: Ring, n: number): Ring {
  const out: Ring = [];
  ring.forEach((p, i) => {
    const q = ring[(i + 1) % ring.length] ?? p;
    for (let k = 0; k < n; k++) out.push([p[0] + ((q[0] - p[0]) * k) / n, p[1] + ((q[1] - p[1]) * k) / n]);
  });
  return out;
}

/** A UTM ring (in `epsg`) as lon/lat, rounded to 1e-9 degrees (about 0.1 mm). */
export function utmRingToLonLat(ring: Ring, epsg: number): Ring {
  const z = zoneOf(epsg);
  return ring.map(([x, y]) => {
    const [lon, lat] = fromUtm(x, y, z);
    return [round9(lon), round9(lat)];
  });
}

/** A lon/lat ring projected to UTM `epsg`. */
export function lonLatRingToUtm(ring: Ring, epsg: number): Ring {
  const z = zoneOf(epsg);
  return ring.map(([lon, lat]) => toUtm(lon, lat, z));
}

/** Rounds to 9 decimals. */
export function round9(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}

/** A GeoJSON Polygon from one ring (closed on output, counter-clockwise expected by the caller). */
export function polygon(ring: Ring): { type: 'Polygon'; coordinates: Array<Array<[number, number]>> } {
  const first = ring[0];
  return { type: 'Polygon', coordinates: [first === undefined ? [] : [...ring, first]] };
}

/** An axis-aligned rectangle ring, counter-clockwise: [x0,y0],[x1,y0],[x1,y1],[x0,y1]. */
export function rectRing([x0, y0, x1, y1]: BBox): Ring {
  return [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ];
}

/**
 * Rasterises a polygon (in the grid's CRS) into a mask: 1 where the pixel centre is inside
 * (even-odd rule), 0 elsewhere.
 */
export function rasterizeRing(g: Grid, ring: Ring): Uint8Array {
  const mask = new Uint8Array(g.width * g.height);
  const px = ring.map(([x, y]): [number, number] => [(x - g.x0) / g.res, (g.y0 - y) / g.res]);
  const xs: number[] = [];
  for (let r = 0; r < g.height; r++) {
    const cy = r + 0.5;
    xs.length = 0;
    px.forEach((p, i) => {
      const q = px[(i + 1) % px.length] ?? p;
      if ((p[1] <= cy && q[1] > cy) || (q[1] <= cy && p[1] > cy)) xs.push(p[0] + ((cy - p[1]) * (q[0] - p[0])) / (q[1] - p[1]));
    });
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // Pixel c is inside when its centre c + 0.5 lies in [xs[k], xs[k+1]).
      const c0 = Math.max(0, Math.ceil((xs[k] ?? 0) - 0.5));
      const c1 = Math.min(g.width, Math.ceil((xs[k + 1] ?? 0) - 0.5));
      if (c1 > c0) mask.fill(1, r * g.width + c0, r * g.width + c1);
    }
  }
  return mask;
}

/** A 32-bit integer hash of three integers, as a float in [0, 1). */
export function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a | 0, 0x27d4eb2d) ^ Math.imul(b | 0, 0x165667b1) ^ Math.imul(c | 0, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
