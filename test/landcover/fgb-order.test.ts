/**
 * GDAL's FlatGeobuf row order (the packed Hilbert R-tree's, through std::sort), which Clay v0's stats file
 * had: ours against `ogr2ogr` itself, on 5388 computed MGRS tiles (band-line squares with identical
 * footprints included: ties std::sort orders its own way), and `clay landcover stats --compat clay-v0`
 * against `ogr2ogr` of the same rows in grid order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readVectorFile, writeVectorFile } from '../../core/vector-file.ts';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { HttpClient } from '../../core/http.ts';
import { PcSigner } from '../../core/stac/pc-signer.ts';
import { StacClient } from '../../core/stac/stac-client.ts';
import { flatgeobufOrder } from '../../landcover/fgb-order.ts';
import { computeStats } from '../../landcover/stats.ts';
import { footprintBbox, type GridTile } from '../../landcover/footprint.ts';
import { computeGrid } from '../../landcover/mgrs-grid.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { runCli } from '../helpers/cli.ts';

const run = promisify(execFile);

const names = async (file: string): Promise<string[]> => (await readVectorFile(file)).map((f) => String(f.properties['name']));

test('flatgeobufOrder equals the order ogr2ogr writes, equal footprints included', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-fgb-order-'));
  try {
    const tiles = computeGrid([-30, 20, 60, 70]);
    const boxes = tiles.map((t) => footprintBbox(t.footprint));
    const key = (b: readonly number[]): string => b.join(',');
    const seen = new Set<string>();
    const ties = boxes.filter((b) => (seen.has(key(b)) ? true : (seen.add(key(b)), false))).length;
    assert.ok(tiles.length > 5000 && ties > 50, `${tiles.length} tiles, ${ties} with a footprint another tile has`);
    await writeVectorFile(join(dir, 'grid.fgb'), tiles.map((t) => ({ geometry: t.footprint, properties: { name: t.name } })));
    await run('ogr2ogr', ['-f', 'FlatGeobuf', join(dir, 'gdal.fgb'), join(dir, 'grid.fgb')]);
    assert.deepEqual(flatgeobufOrder(boxes).map((i) => tiles[i]!.name), await names(join(dir, 'gdal.fgb')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('stats with GDAL row order (what --compat clay-v0 writes) equal ogr2ogr of the grid-order file; the CLI flag', async () => {
  const universe = await loadUniverse(BUNDLED_DIR);
  const pc = await startMiniPc({ universe });
  const dir = await mkdtemp(join(tmpdir(), 'clay-fgb-stats-'));
  try {
    const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 5 });
    const signer = new PcSigner({ http, sasApi: pc.sasApi });
    const stac = new StacClient({ url: pc.stacApi, http });
    // A 4 x 4 lattice of small tiles over the bundled WorldCover, in scrambled order.
    const tiles: GridTile[] = [];
    for (let k = 0; k < 16; k++) {
      const i = (k * 7) % 16;
      const x = 5.8 + (i % 4) * 0.09, y = 45.42 + Math.floor(i / 4) * 0.09;
      tiles.push({ name: `t${String(i).padStart(2, '0')}`, footprint: { type: 'Polygon', coordinates: [[[x, y], [x + 0.05, y], [x + 0.05, y + 0.05], [x, y + 0.05], [x, y]]] } });
    }
    const base = { stac, http, signer, footprint: 'bbox' as const };
    await computeStats(tiles, { ...base, out: join(dir, 'grid.fgb') });
    await computeStats(tiles, { ...base, out: join(dir, 'v0.fgb'), rowOrder: 'gdal-flatgeobuf' });
    await run('ogr2ogr', ['-f', 'FlatGeobuf', join(dir, 'gdal.fgb'), join(dir, 'grid.fgb')]);
    const ours = await names(join(dir, 'v0.fgb'));
    assert.ok(ours.length >= 12, `${ours.length} tiles kept`);
    assert.deepEqual(ours, await names(join(dir, 'gdal.fgb')));
    assert.notDeepEqual(ours, await names(join(dir, 'grid.fgb')), 'the orders differ here, so the test can fail');
    // The CLI: --compat clay-v0 is bbox + that order; with --footprint polygon it is refused.
    const common = ['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'landcover', 'stats', '--bbox', '5.0,44.9,7.0,46.3'];
    const v0 = await runCli([...common, '--compat', 'clay-v0', '--out', join(dir, 'cli.fgb')]);
    assert.equal(v0.code, 0, v0.stderr);
    const bad = await runCli([...common, '--compat', 'clay-v0', '--footprint', 'polygon', '--out', join(dir, 'x.fgb')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error BAD_ARGUMENT: /m);
  } finally {
    await pc.close();
    await rm(dir, { recursive: true, force: true });
  }
});
