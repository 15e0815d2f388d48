/**
 * `--footprint bbox` against Clay v0's own procedure run by rasterio itself (Debian's python3-rasterio 1.3.5
 * on GDAL 3.6): the window arithmetic (`from_bounds`, the clipped and rounded read shape, nearest sampling)
 * on random fractional and pixel-aligned windows, windows past the raster's edges; then whole stats of the
 * bundled WorldCover against v0's loop over the mosaic v0 would build (`gdal_translate -ovr 3` per COG,
 * `gdal_merge.py`), overlapping parts and windows past the mosaic included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { GeoTransform } from '../../core/grid.ts';
import { StacClient } from '../../core/stac/stac-client.ts';
import { WORLDCOVER_CLASSES } from '../../landcover/classes.ts';
import type { GridTile } from '../../landcover/footprint.ts';
import { computeGrid } from '../../landcover/mgrs-grid.ts';
import { computeStats } from '../../landcover/stats.ts';
import { readStatsFile } from '../../landcover/stats-file.ts';
import { fromBounds, mosaicGrid, sampledIndices } from '../../landcover/v0-window.ts';
import { listWorldCover } from '../../landcover/worldcover.ts';
import { localFile, serveBundled } from '../pipeline/warp/oracle.ts';

const run = promisify(execFile);
const ORACLE = fileURLToPath(new URL('./v0_read.py', import.meta.url));
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-rasterio installs

const box = (w: number, s: number, e: number, n: number): [number, number][] => [[w, s], [e, s], [e, n], [w, n], [w, s]];

/** The geotransform (every bit: gdalinfo prints 15 digits) and size of a raster, as rasterio has them. */
async function gridOf(file: string): Promise<{ transform: GeoTransform; width: number; height: number }> {
  return JSON.parse((await run(PYTHON, [ORACLE, 'grid', file])).stdout) as { transform: GeoTransform; width: number; height: number };
}

test('window arithmetic equals rasterio 1.3 read(window=from_bounds(...)): 1500 random windows, fractional, on the lattice, past the edges', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-v0-window-'));
  try {
    // An index raster on a WorldCover-like lattice (1/1500 degree): value = 1 + row * width + col.
    const W = 330, H = 260;
    const idx = new Int32Array(W * H).map((_, i) => i + 1);
    await writeFile(join(dir, 'idx.bin'), new Uint8Array(idx.buffer));
    await writeFile(join(dir, 'idx.hdr'), `ENVI\nsamples = ${W}\nlines = ${H}\nbands = 1\nheader offset = 0\nfile type = ENVI Standard\ndata type = 3\ninterleave = bsq\nbyte order = 0\n`);
    await run('gdal_translate', ['-q', '-a_srs', 'EPSG:4326', '-a_ullr', '5.78', '45.8', String(5.78 + W / 1500), String(45.8 - H / 1500), join(dir, 'idx.bin'), join(dir, 'idx.tif')]);
    const grid = await gridOf(join(dir, 'idx.tif'));
    const { stdout } = await run(PYTHON, [ORACLE, 'probe', join(dir, 'idx.tif'), '1500', '7'], { maxBuffer: 1 << 26 });
    let compared = 0, clipped = 0, aligned = 0, halves = 0;
    for (const line of stdout.trim().split('\n')) {
      const p = JSON.parse(line) as { bounds: [number, number, number, number]; window: number[]; shape: [number, number]; rows: number[]; cols: number[] };
      const win = fromBounds(...p.bounds, grid.transform);
      assert.deepEqual(win, p.window, `from_bounds of ${p.bounds}`);
      const rows = sampledIndices(win[1], win[3], grid.height);
      const cols = sampledIndices(win[0], win[2], grid.width);
      assert.deepEqual([rows.length, cols.length], p.shape, `shape of window ${p.window}`);
      if (p.shape[0] > 0 && p.shape[1] > 0) {
        assert.deepEqual(rows, p.rows, `rows of window ${p.window}`);
        assert.deepEqual(cols, p.cols, `cols of window ${p.window}`);
      }
      if (win[0] < 0 || win[1] < 0 || win[0] + win[2] > W || win[1] + win[3] > H) clipped++;
      if (Math.abs(win[0] - Math.round(win[0])) < 1e-6 && Math.abs(win[2] - Math.round(win[2])) < 1e-6) aligned++;
      if (Math.abs(win[2] % 1 - 0.5) < 1e-6) halves++;
      compared++;
    }
    assert.equal(compared, 1500);
    assert.ok(clipped > 50 && aligned > 50 && halves > 50, `${clipped} windows past an edge, ${aligned} on the lattice, ${halves} of k + 0.5 pixels`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--footprint bbox stats equal v0\'s loop (rasterio over gdal_merge of gdal_translate -ovr 3) on the bundled WorldCover', async () => {
  const s = await serveBundled();
  const dir = await mkdtemp(join(tmpdir(), 'clay-v0-stats-'));
  try {
    const stac = new StacClient({ url: s.pc.stacApi, http: s.http });
    const sources = await listWorldCover(stac, { bbox: [-180, -90, 180, 90] });
    const files = sources.map((x) => localFile(x.href));
    const ovr = await Promise.all(files.map(async (f, i) => {
      const out = join(dir, `ovr-${i}.tif`);
      await run('gdal_translate', ['-q', '-ovr', '3', f, out]);
      return out;
    }));
    const mosaic = join(dir, 'worldcover.tif');
    await run('gdal_merge.py', ['-q', '-o', mosaic, ...ovr.sort()]);
    const g = await gridOf(mosaic);
    const [w, dx, , n, , dy] = g.transform;
    const bounds: [number, number, number, number] = [w, n + dy * g.height, w + dx * g.width, n];
    // Our model of the mosaic is gdal_merge's grid.
    const ours = mosaicGrid((await gridOf(ovr[0]!)).transform, bounds);
    assert.deepEqual([ours.width, ours.height], [g.width, g.height]);
    ours.transform.forEach((v, i) => assert.ok(Math.abs(v - g.transform[i]!) < 1e-12, `transform[${i}]`));
    const px = dx;
    const tiles: GridTile[] = [
      ...computeGrid([5.8, 45.45, 6.15, 45.75]),
      { name: 'fractional', footprint: { type: 'Polygon', coordinates: [box(5.8123, 45.4567, 5.9234, 45.6012)] } },
      { name: 'on-the-lattice', footprint: { type: 'Polygon', coordinates: [box(w + 40 * px, n - 300 * px, w + 140 * px, n - 200 * px)] } },
      { name: 'across-both-cogs', footprint: { type: 'Polygon', coordinates: [box(5.95, 45.5, 6.07, 45.6)] } },
      { name: 'past-the-mosaic', footprint: { type: 'Polygon', coordinates: [box(5.7, 45.7, 5.85, 45.9)] } },
      { name: 'overlapping-parts', footprint: { type: 'MultiPolygon', coordinates: [[box(5.9, 45.5, 5.98, 45.58)], [box(5.95, 45.55, 6.03, 45.63)]] } },
      { name: 'a-triangle', footprint: { type: 'Polygon', coordinates: [[[5.83, 45.47], [6.11, 45.52], [5.9, 45.71], [5.83, 45.47]]] } },
    ];
    const out = join(dir, 'stats.fgb');
    const summary = await computeStats(tiles, { stac, http: s.http, signer: s.signer, out, footprint: 'bbox', overview: 3, mosaicBounds: bounds });
    assert.equal(summary.failed.length, 0, JSON.stringify(summary.failed));
    const rows = new Map((await readStatsFile(out)).map((r) => [r.name, r]));
    await writeFile(join(dir, 'tiles.json'), JSON.stringify(tiles.map((t) => ({ name: t.name, geometry: t.footprint }))));
    const { stdout } = await run(PYTHON, [ORACLE, 'stats', mosaic, join(dir, 'tiles.json')], { maxBuffer: 1 << 24 });
    let checked = 0;
    for (const line of stdout.trim().split('\n')) {
      const o = JSON.parse(line) as { name: string; hist: Record<string, number> };
      const valid = Object.entries(o.hist).filter(([v]) => v !== '0');
      const row = rows.get(o.name);
      if (valid.length === 0 || valid.every(([v]) => v === '80')) {
        assert.equal(row, undefined, `${o.name} is dropped as v0 drops it`);
        continue;
      }
      assert.ok(row, `${o.name} is kept`);
      for (const c of WORLDCOVER_CLASSES) assert.equal(row.pixels[c.key], o.hist[String(c.value)] ?? 0, `${o.name} class ${c.value}`);
      assert.equal(row.count, valid.length, `${o.name} count`);
      checked++;
    }
    assert.ok(checked >= tiles.length - 2, `${checked} tiles compared`);
    // Overlapping parts are stacked (counted twice), as v0 reads them.
    const both = rows.get('overlapping-parts')!;
    const total = WORLDCOVER_CLASSES.reduce((a, c) => a + both.pixels[c.key], 0);
    assert.ok(total > 0);
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});
