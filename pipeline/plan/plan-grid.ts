/**
 * The output grid of a planned date, its chip layout and the bytes its chips will read, from STAC metadata
 * alone (no COG is opened while planning).
 */
import { boxCoverage } from '../../core/coverage.ts';
import { fromStacAffine, gridBounds } from '../../core/grid.ts';
import type { Bbox } from '../../core/geometry.ts';
import { COLLECTIONS, S2_ASSETS, type DemItem, type S2Item } from '../../core/stac/pc-items.ts';
import type { ByteEstimate, FileRead, PlannedDate, PlannedGrid } from './plan-types.ts';
import type { S1Selection } from './select-s1.ts';

/**
 * The S2 item's own 10 m grid, from the B02 asset's `proj:transform` (rasterio order [a, b, c, d, e, f])
 * and `proj:shape` ([rows, cols]), as a GDAL geotransform.
 */
export function plannedGrid(s2: S2Item): PlannedGrid {
  const [height, width] = s2.assets.B02.shape;
  const [x0, xres, rotx, y0, roty, yres] = fromStacAffine(s2.assets.B02.transform);
  const grid = { epsg: s2.epsg, transform: [x0, xres, rotx, y0, roty, yres] as PlannedGrid['transform'], width, height };
  const b = gridBounds(grid);
  return { ...grid, bounds: [b.minX, b.minY, b.maxX, b.maxY] };
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
 * Uncompressed bytes of the source pixels under the chips, file by file: S2 assets at their own resolution
 * over the chip area; each S1 scene (two polarisations) over its share of the bbox; each DEM tile over its
 * part of the bbox. `share` is the part of each file the chips need, so a probe of the files' sizes
 * turns this into an estimate of compressed reads (`probeSizes`).
 */
export function estimateBytes(s2: S2Item, s1: S1Selection, dem: DemItem[], bbox: Bbox, grid: PlannedGrid, chips: PlannedDate['chips']): ByteEstimate {
  const res = Math.abs(grid.transform[1]);
  const chipArea = chips.columns * chips.size * res * chips.rows * chips.size * Math.abs(grid.transform[5]);
  const gridArea = grid.width * res * grid.height * Math.abs(grid.transform[5]);
  const chipShare = gridArea > 0 ? chipArea / gridArea : 0;
  const files: FileRead[] = [];
  for (const key of S2_ASSETS) {
    const a = s2.assets[key];
    const pixelArea = Math.abs(a.transform[0] * a.transform[4]);
    files.push({ collection: s2.item.collection, href: a.href, share: clamp(chipArea / (pixelArea * a.shape[0] * a.shape[1])), bytes: Math.round((chipArea / pixelArea) * S2_SAMPLE_BYTES(key)) });
  }
  for (const { scene, overlap } of s1.chosen) {
    const pixelArea = Math.abs(scene.transform[0] * scene.transform[4]);
    const [p, q] = scene.shapeAsPublished; // [rows, cols] or [x, y]: the product is the same
    const pixels = (chipArea * overlap) / pixelArea;
    for (const href of [scene.co.href, scene.cross.href]) {
      files.push({ collection: scene.item.collection, href, share: clamp(pixels / (p * q)), bytes: Math.round(pixels * FLOAT32) });
    }
  }
  for (const tile of dem) {
    const t = tile.data.transform;
    const pixels = (boxCoverage([tile.item.geometry], bbox).area * chipShare) / Math.abs(t[0] * t[4]);
    files.push({ collection: tile.item.collection, href: tile.data.href, share: clamp(pixels / (tile.data.shape[0] * tile.data.shape[1])), bytes: Math.round(pixels * FLOAT32) });
  }
  const sum = (c: string): number => files.filter((f) => f.collection === c).reduce((n, f) => n + f.bytes, 0);
  const s2b = sum(COLLECTIONS.s2), s1b = sum(COLLECTIONS.s1), demb = sum(COLLECTIONS.dem);
  return { s2: s2b, s1: s1b, dem: demb, total: s2b + s1b + demb, files };
}

function clamp(x: number): number {
  return Math.max(0, Math.min(1, x));
}
