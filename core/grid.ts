/**
 * Raster grids: a CRS (EPSG code), an affine geotransform in GDAL order, and a size in pixels; windows
 * (pixel rectangles) on them. All grid math of the toolkit lives here.
 *
 * Conventions (written down once; every other file follows them):
 * - A pixel is addressed by integer (col, row), col to the east, row to the south for north-up grids.
 * - Continuous pixel coordinates (px, py) are measured from the **top-left corner** of the top-left pixel:
 *   pixel (col, row) covers [col, col + 1) x [row, row + 1), and its **centre** is (col + 0.5, row + 0.5).
 * - World coordinates of a continuous pixel position: x = t[0] + px*t[1] + py*t[2],
 *   y = t[3] + px*t[4] + py*t[5] (GDAL's geotransform, corner based, "PixelIsArea").
 * - A source pixel is "hit" by nearest-neighbour resampling when the target pixel centre, mapped into the
 *   source's continuous pixel space, falls inside it: col = floor(px), row = floor(py) (as GDAL does).
 * - **PixelIsPoint** rasters (Copernicus DEM, `AREA_OR_POINT=Point`) put their tiepoint on the centre of
 *   the first pixel. Like GDAL we convert them to the corner convention on open, moving the origin back by
 *   half a pixel (`pointToArea`), so from then on they are ordinary grids. geotiff.js' `getOrigin()`
 *   returns the raw tiepoint: `pipeline/read/cog.ts` applies the shift.
 * - STAC `proj:transform` is in rasterio (Affine) order [a, b, c, d, e, f] = [x res, row rotation, x0,
 *   column rotation, y res, y0]; `fromStacAffine` turns it into GDAL order.
 */

/** GDAL geotransform: [x0, pixel width, row rotation, y0, column rotation, pixel height (< 0 north-up)]. */
export type GeoTransform = readonly [number, number, number, number, number, number];

/** A raster grid: CRS as an EPSG code, a geotransform (GDAL order, corner based) and a size in pixels. */
export interface Grid {
  epsg: number;
  transform: GeoTransform;
  width: number;
  height: number;
}

/** A rectangle of pixels: top-left pixel (col, row) and a size. May extend outside a grid. */
export interface Window {
  col: number;
  row: number;
  width: number;
  height: number;
}

/** Axis-aligned bounds in world units. */
export interface Bounds {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/** The whole grid as a window. */
export function fullWindow(grid: { width: number; height: number }): Window {
  return { col: 0, row: 0, width: grid.width, height: grid.height };
}

/** The intersection of two windows, or undefined when they do not overlap. */
export function intersectWindows(a: Window, b: Window): Window | undefined {
  const col = Math.max(a.col, b.col);
  const row = Math.max(a.row, b.row);
  const right = Math.min(a.col + a.width, b.col + b.width);
  const bottom = Math.min(a.row + a.height, b.row + b.height);
  if (right <= col || bottom <= row) return undefined;
  return { col, row, width: right - col, height: bottom - row };
}

/** World coordinates of a continuous pixel position (corner based: (0, 0) is the top-left corner). */
export function pixelToWorld(t: GeoTransform, px: number, py: number): [number, number] {
  return [t[0] + px * t[1] + py * t[2], t[3] + px * t[4] + py * t[5]];
}

/** World coordinates of the centre of pixel (col, row). */
export function pixelCentre(t: GeoTransform, col: number, row: number): [number, number] {
  return pixelToWorld(t, col + 0.5, row + 0.5);
}

/** The inverse geotransform: maps world (x, y) to continuous pixel (px, py) with the same layout. */
export function invertTransform(t: GeoTransform): GeoTransform {
  const det = t[1] * t[5] - t[2] * t[4];
  if (det === 0 || !Number.isFinite(det)) throw new RangeError(`geotransform [${t.join(', ')}] is not invertible`);
  // Exact for the common north-up case, like GDAL's GDALInvGeoTransform.
  if (t[2] === 0 && t[4] === 0) return [-t[0] / t[1], 1 / t[1], 0, -t[3] / t[5], 0, 1 / t[5]];
  const inv = 1 / det;
  return [
    (t[2] * t[3] - t[0] * t[5]) * inv, t[5] * inv, -t[2] * inv,
    (-t[1] * t[3] + t[0] * t[4]) * inv, -t[4] * inv, t[1] * inv,
  ];
}

/** Continuous pixel position (corner based) of world (x, y). */
export function worldToPixel(t: GeoTransform, x: number, y: number): [number, number] {
  const inv = invertTransform(t);
  return [inv[0] + x * inv[1] + y * inv[2], inv[3] + x * inv[4] + y * inv[5]];
}

/** The bounds of a window of a grid (the outer corners of its edge pixels). */
export function windowBounds(grid: Grid, window: Window = fullWindow(grid)): Bounds {
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [px, py] of [[window.col, window.row], [window.col + window.width, window.row], [window.col, window.row + window.height], [window.col + window.width, window.row + window.height]] as const) {
    const [x, y] = pixelToWorld(grid.transform, px, py);
    xs.push(x);
    ys.push(y);
  }
  return { minX: Math.min(...xs), minY: Math.min(...ys), maxX: Math.max(...xs), maxY: Math.max(...ys) };
}

/** The bounds of a whole grid. */
export function gridBounds(grid: Grid): Bounds {
  return windowBounds(grid);
}

/** The grid of a window: same CRS and pixel size, origin at the window's top-left corner. */
export function subGrid(grid: Grid, window: Window): Grid {
  const [x0, y0] = pixelToWorld(grid.transform, window.col, window.row);
  const t = grid.transform;
  return { epsg: grid.epsg, transform: [x0, t[1], t[2], y0, t[4], t[5]], width: window.width, height: window.height };
}

/**
 * The smallest window of `grid` whose pixels cover `bounds` (world units, same CRS), not clipped to the
 * grid. Only for grids without rotation.
 */
export function windowOfBounds(grid: Grid, bounds: Bounds): Window {
  const [ax, ay] = worldToPixel(grid.transform, bounds.minX, bounds.maxY);
  const [bx, by] = worldToPixel(grid.transform, bounds.maxX, bounds.minY);
  const col = Math.floor(Math.min(ax, bx));
  const row = Math.floor(Math.min(ay, by));
  return { col, row, width: Math.ceil(Math.max(ax, bx)) - col, height: Math.ceil(Math.max(ay, by)) - row };
}

/** Converts a STAC / rasterio affine [a, b, c, d, e, f] (6 or the first 6 of 9) to GDAL order. */
export function fromStacAffine(a: readonly number[]): GeoTransform {
  if (a.length < 6) throw new RangeError(`an affine needs 6 coefficients, got ${a.length}`);
  return [a[2]!, a[0]!, a[1]!, a[5]!, a[3]!, a[4]!];
}

/** Converts a GDAL geotransform to rasterio / STAC order [a, b, c, d, e, f]. */
export function toStacAffine(t: GeoTransform): [number, number, number, number, number, number] {
  return [t[1], t[2], t[0], t[4], t[5], t[3]];
}

/**
 * The corner-based transform of a PixelIsPoint raster whose tiepoint `t` sits on the centre of pixel
 * (0, 0): the origin moves back by half a pixel along both axes, as GDAL does when it opens such a file.
 */
export function pointToArea(t: GeoTransform): GeoTransform {
  return [t[0] - 0.5 * t[1] - 0.5 * t[2], t[1], t[2], t[3] - 0.5 * t[4] - 0.5 * t[5], t[4], t[5]];
}

/** True when the two grids share CRS and transform exactly (same pixels). */
export function sameGrid(a: Grid, b: Grid): boolean {
  return a.epsg === b.epsg && a.width === b.width && a.height === b.height && a.transform.every((v, i) => v === b.transform[i]);
}
