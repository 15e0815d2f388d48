import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fromStacAffine, fullWindow, gridBounds, intersectWindows, invertTransform, pixelCentre, pixelToWorld, pointToArea,
  sameGrid, subGrid, toStacAffine, windowBounds, windowOfBounds, worldToPixel, type Grid,
} from '../../core/grid.ts';

const row0: Grid = { epsg: 32631, transform: [720000, 10, 0, 5071000, 0, -10], width: 2580, height: 2100 };

test('fromStacAffine turns rasterio order (6 or 9 elements) into GDAL order, and back', () => {
  assert.deepEqual(fromStacAffine([10, 0, 720000, 0, -10, 5071000]), [720000, 10, 0, 5071000, 0, -10]);
  assert.deepEqual(fromStacAffine([10, 0, 718413.7, 0, -10, 5072736.1, 0, 0, 1]), [718413.7, 10, 0, 5072736.1, 0, -10]);
  assert.deepEqual(toStacAffine([720000, 10, 0, 5071000, 0, -10]), [10, 0, 720000, 0, -10, 5071000]);
  assert.throws(() => fromStacAffine([1, 2, 3]), RangeError);
});

test('pixel corners and centres: (0, 0) is the top-left corner, pixel (c, r) is centred on (c + 0.5, r + 0.5)', () => {
  assert.deepEqual(pixelToWorld(row0.transform, 0, 0), [720000, 5071000]);
  assert.deepEqual(pixelCentre(row0.transform, 0, 0), [720005, 5070995]);
  assert.deepEqual(pixelCentre(row0.transform, 2579, 2099), [745795, 5050005]);
  assert.deepEqual(worldToPixel(row0.transform, 720005, 5070995), [0.5, 0.5]);
  const rotated = [100, 2, 0.5, 200, 0.25, -3] as const;
  const [x, y] = pixelToWorld(rotated, 7.25, 3.5);
  const [px, py] = worldToPixel(rotated, x, y);
  assert.ok(Math.abs(px - 7.25) < 1e-12 && Math.abs(py - 3.5) < 1e-12);
  assert.deepEqual(invertTransform([720000, 20, 0, 5071000, 0, -20]), [-36000, 0.05, 0, 253550, 0, -0.05]);
  assert.throws(() => invertTransform([0, 1, 1, 0, 1, 1]), RangeError);
});

test('bounds, windows and sub-grids', () => {
  assert.deepEqual(gridBounds(row0), { minX: 720000, minY: 5050000, maxX: 745800, maxY: 5071000 });
  const chip = { col: 512, row: 1024, width: 512, height: 512 };
  assert.deepEqual(windowBounds(row0, chip), { minX: 725120, minY: 5055640, maxX: 730240, maxY: 5060760 });
  const g = subGrid(row0, chip);
  assert.deepEqual(g, { epsg: 32631, transform: [725120, 10, 0, 5060760, 0, -10], width: 512, height: 512 });
  assert.deepEqual(windowOfBounds(row0, windowBounds(row0, chip)), chip);
  assert.deepEqual(windowOfBounds(row0, { minX: 720001, minY: 5070981, maxX: 720019, maxY: 5070999 }), { col: 0, row: 0, width: 2, height: 2 });
  assert.deepEqual(intersectWindows(fullWindow(row0), { col: 2500, row: -10, width: 512, height: 20 }), { col: 2500, row: 0, width: 80, height: 10 });
  assert.equal(intersectWindows({ col: 0, row: 0, width: 5, height: 5 }, { col: 5, row: 0, width: 5, height: 5 }), undefined);
  assert.ok(sameGrid(row0, { ...row0, transform: [...row0.transform] }));
  assert.ok(!sameGrid(row0, g));
});

test('PixelIsPoint: the tiepoint is the first pixel centre; GDAL (and we) move the origin back half a pixel', () => {
  const px = 1 / 3600;
  // Copernicus DEM N45 E006 as geotiff.js reports it (raw tiepoint on the centre of pixel (0, 0)).
  const raw = [6, px, 0, 45.8, 0, -px] as const;
  const t = pointToArea(raw);
  assert.ok(Math.abs(t[0] - (6 - 1 / 7200)) < 1e-15);
  assert.ok(Math.abs(t[3] - (45.8 + 1 / 7200)) < 1e-15);
  const [cx, cy] = pixelCentre(t, 0, 0);
  assert.ok(Math.abs(cx - 6) < 1e-12 && Math.abs(cy - 45.8) < 1e-12);
});
