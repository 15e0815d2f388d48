import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Grid } from '../../core/grid.ts';
import type { Footprint } from '../../landcover/footprint.ts';
import { rowSpans, toPixelSpace } from '../../landcover/rasterize.ts';
import { computeGrid } from '../../landcover/mgrs-grid.ts';
import { gdalMask } from './gdal.ts';

/** Our mask of `footprint` on `grid`, from the row spans. */
function ourMask(footprint: Footprint, grid: Grid): Uint8Array {
  const poly = toPixelSpace(footprint, grid.transform);
  const mask = new Uint8Array(grid.width * grid.height);
  const spans: number[] = [];
  for (let r = Math.max(0, poly.rowMin); r < Math.min(grid.height, poly.rowMax); r++) {
    const n = rowSpans(poly, r, grid.width, spans);
    for (let k = 0; k < n; k++) mask.fill(1, r * grid.width + spans[2 * k]!, r * grid.width + spans[2 * k + 1]!);
  }
  return mask;
}

// A 1/750-degree grid (WorldCover's overview 3) over 5.5..6.5 E, 45..46 N.
const GRID: Grid = { epsg: 4326, transform: [5.5, 1 / 750, 0, 46, 0, -1 / 750], width: 750, height: 750 };
const px = (c: number, r: number): [number, number] => [5.5 + c / 750, 46 - r / 750];

const CASES: Record<string, Footprint> = {
  'a rotated quadrilateral (an MGRS footprint shape)': { type: 'Polygon', coordinates: [[[5.61, 45.12], [6.31, 45.09], [6.35, 45.83], [5.57, 45.86], [5.61, 45.12]]] },
  'a concave polygon with a hole': {
    type: 'Polygon',
    coordinates: [
      [[5.6, 45.1], [6.4, 45.1], [6.4, 45.9], [6.0, 45.5], [5.6, 45.9], [5.6, 45.1]],
      [[5.8, 45.2], [6.2, 45.2], [6.0, 45.4], [5.8, 45.2]],
    ],
  },
  'two parts': { type: 'MultiPolygon', coordinates: [[[[5.52, 45.02], [5.9, 45.02], [5.9, 45.4], [5.52, 45.02]]], [[[6.1, 45.6], [6.45, 45.6], [6.45, 45.97], [6.1, 45.97], [6.1, 45.6]]]] },
  // Vertices on pixel centres and horizontal edges on scanlines: GDAL's tie rules decide.
  'edges through pixel centres': { type: 'Polygon', coordinates: [[px(10.5, 10.5), px(200.5, 10.5), px(200.5, 120.5), px(100.5, 60.5), px(10.5, 120.5), px(10.5, 10.5)]] },
  'edges on pixel corners': { type: 'Polygon', coordinates: [[px(300, 300), px(400, 300), px(400, 420), px(300, 420), px(300, 300)]] },
  'reaching outside the grid': { type: 'Polygon', coordinates: [[[5.3, 45.7], [5.7, 45.7], [5.7, 46.2], [5.3, 46.2], [5.3, 45.7]]] },
};

test('row spans select the pixels gdal_rasterize burns, pixel for pixel', async () => {
  const computed = computeGrid([5.9, 45.4, 6.0, 45.5]).map((t): [string, Footprint] => [`computed tile ${t.name}`, t.footprint]);
  for (const [name, footprint] of [...Object.entries(CASES), ...computed]) {
    const ours = ourMask(footprint, GRID);
    const gdal = await gdalMask(footprint, GRID);
    const inside = gdal.reduce((n, v) => n + v, 0);
    assert.ok(inside > 0, `${name}: GDAL burns some pixels`);
    let differ = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] !== gdal[i]) differ++;
    assert.equal(differ, 0, `${name}: ${differ} of ${inside} pixels differ from gdal_rasterize`);
  }
});
