/**
 * The output grid of a planned date, its chip layout and the bytes its chips will read, from STAC metadata
 * alone (no COG is opened while planning).
 */
import { boxCoverage } from '../../core/coverage.ts';
import type { Bbox } from '../../core/geometry.ts';
import { S2_ASSETS, type DemItem, type S2Item } from '../../core/stac/pc-items.ts';
import type { ByteEstimate, PlannedDate, PlannedGrid } from './plan-types.ts';
import type { S1Selection } from './select-s1.ts';

/**
 * The S2 item's own 10 m grid, from the B02 asset's `proj:transform` (rasterio order [a, b, c, d, e, f])
 * and `proj:shape` ([rows, cols]), as a GDAL geotransform.
 */
export function plannedGrid(s2: S2Item): PlannedGrid {
  const { transform: t, shape } = s2.assets.B02;
  const [a, b, c, d, e, f] = t;
  const [height, width] = shape;
  const xs = [c, c + a * width, c + b * height, c + a * width + b * height];
  const ys = [f, f + d * width, f + e * height, f + d * width + e * height];
  return {
    epsg: s2.epsg,
    transform: [c, a, b, f, d, e],
    width,
    height,
    bounds: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)],
  };
}

/** Full `size` chips from the top-left, row-major (10980 px -> 21 x 21 = 441). */
export function chipLayout(grid: PlannedGrid, size: number): PlannedDate['chips'] {
  const columns = Math.floor(grid.width / size);
  const rows = Math.floor(grid.height / size);
  return { size, columns, rows, count: columns * rows };
}

/** Bytes per sample of the assets read: S2 reflectances uint16, SCL uint8, S1 and DEM float32. */
const S2_SAMPLE_BYTES = (key: string): number => (key === 'SCL' ? 1 : 2);
const FLOAT32 = 4;

/**
 * Uncompressed bytes of the source pixels under the chips: S2 assets at their own resolution over the chip
 * area; each S1 scene (two polarisations) over its share of the bbox; each DEM tile over its part of the
 * bbox. Compressed reads are smaller (DEFLATE), tile-edge overhead makes them a little larger.
 */
export function estimateBytes(s2: S2Item, s1: S1Selection, dem: DemItem[], bbox: Bbox, grid: PlannedGrid, chips: PlannedDate['chips']): ByteEstimate {
  const res = Math.abs(grid.transform[1]);
  const chipArea = chips.columns * chips.size * res * chips.rows * chips.size * Math.abs(grid.transform[5]);
  const gridArea = grid.width * res * grid.height * Math.abs(grid.transform[5]);
  let s2Bytes = 0;
  for (const key of S2_ASSETS) {
    const t = s2.assets[key].transform;
    s2Bytes += (chipArea / Math.abs(t[0] * t[4])) * S2_SAMPLE_BYTES(key);
  }
  const chipShare = gridArea > 0 ? chipArea / gridArea : 0;
  let s1Bytes = 0;
  for (const { scene, overlap } of s1.chosen) {
    const t = scene.transform;
    s1Bytes += ((chipArea * overlap) / Math.abs(t[0] * t[4])) * 2 * FLOAT32;
  }
  let demBytes = 0;
  for (const tile of dem) {
    const t = tile.data.transform;
    demBytes += (boxCoverage([tile.item.geometry], bbox).area * chipShare / Math.abs(t[0] * t[4])) * FLOAT32;
  }
  const s2r = Math.round(s2Bytes), s1r = Math.round(s1Bytes), demr = Math.round(demBytes);
  return { s2: s2r, s1: s1r, dem: demr, total: s2r + s1r + demr };
}
