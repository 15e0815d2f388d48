import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isClayError } from '../../core/errors.ts';
import { StacClient } from '../../core/stac/stac-client.ts';
import { readSampleFile } from '../../pipeline/sample-file.ts';
import { WORLDCOVER_CLASSES } from '../../landcover/classes.ts';
import type { Footprint, GridTile } from '../../landcover/footprint.ts';
import { computeGrid } from '../../landcover/mgrs-grid.ts';
import { computeStats, type StatsOptions } from '../../landcover/stats.ts';
import { readStatsFile, type StatsRow } from '../../landcover/stats-file.ts';
import { listWorldCover } from '../../landcover/worldcover.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { localFile, serveBundled, type Served } from '../pipeline/warp/oracle.ts';
import { gdalHistogram, ogrinfo, run } from './gdal.ts';

const box = (w: number, s: number, e: number, n: number): [number, number][] => [[w, s], [e, s], [e, n], [w, n], [w, s]];

/** A water pixel's centre on overview `ovr` of a local WorldCover file, found by GDAL (AAIGrid text). */
async function waterPixel(file: string, ovr: number): Promise<[number, number, number]> {
  const dir = await mkdtemp(join(tmpdir(), 'clay-water-'));
  try {
    await run('gdal_translate', ['-q', '-ovr', String(ovr), '-of', 'AAIGrid', file, join(dir, 'g.asc')]);
    const lines = (await readFile(join(dir, 'g.asc'), 'utf8')).trim().split('\n');
    const header = Object.fromEntries(lines.slice(0, 6).map((l) => l.trim().split(/\s+/) as [string, string]));
    const cell = Number(header.cellsize), x0 = Number(header.xllcorner), rows = Number(header.nrows);
    const y0 = Number(header.yllcorner) + rows * cell;
    for (let r = 1; r < rows - 1; r++) {
      const v = lines[6 + r]!.trim().split(/\s+/).map(Number);
      for (let c = 1; c + 1 < v.length; c++) if (v[c] === 80) return [x0 + (c + 0.5) * cell, y0 - (r + 0.5) * cell, cell];
    }
    throw new Error('no water pixel');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The test tiles: computed MGRS tiles over the bundled WorldCover, the bundled sample rows, and shaped footprints. */
async function testTiles(water: [number, number, number]): Promise<GridTile[]> {
  const computed = computeGrid([5.8, 45.45, 6.15, 45.75]);
  const rows = (await readSampleFile(`${BUNDLED_DIR}mgrs_sample.fgb`)).map((r) => ({ name: `row${r.index}-${r.name}`, footprint: r.geometry as Footprint }));
  const [wx, wy, cell] = water;
  return [
    ...computed,
    ...rows,
    { name: 'holed', footprint: { type: 'Polygon', coordinates: [box(5.85, 45.5, 6.1, 45.7), [[5.9, 45.55], [6.05, 45.56], [5.95, 45.65], [5.9, 45.55]]] } },
    { name: 'two-parts', footprint: { type: 'MultiPolygon', coordinates: [[box(5.79, 45.41, 5.83, 45.44)], [[[6.12, 45.7], [6.19, 45.71], [6.18, 45.79], [6.12, 45.7]]]] } },
    { name: 'in-the-nodata-block', footprint: { type: 'Polygon', coordinates: [box(6.13, 45.74, 6.19, 45.79)] } },
    { name: 'one-water-pixel', footprint: { type: 'Polygon', coordinates: [box(wx - 0.3 * cell, wy - 0.3 * cell, wx + 0.3 * cell, wy + 0.3 * cell)] } },
    { name: 'off-the-map', footprint: { type: 'Polygon', coordinates: [box(10, 10, 10.5, 10.5)] } },
  ];
}

function options(s: Served, out: string, extra: Partial<StatsOptions> = {}): StatsOptions {
  return { stac: new StacClient({ url: s.pc.stacApi, http: s.http }), http: s.http, signer: s.signer, out, concurrency: 3, ...extra };
}

async function worldcoverFiles(s: Served): Promise<string[]> {
  const sources = await listWorldCover(new StacClient({ url: s.pc.stacApi, http: s.http }), { bbox: [-180, -90, 180, 90] });
  assert.equal(sources.length, 2);
  return sources.map((x) => localFile(x.href));
}

test('class counts equal gdal_rasterize + gdalinfo -hist at the same overview level, for every tile shape; v0 drop rules', async () => {
  const s = await serveBundled();
  const dir = await mkdtemp(join(tmpdir(), 'clay-stats-'));
  try {
    const files = await worldcoverFiles(s);
    const tiles = await testTiles(await waterPixel(files[0]!, 3));
    for (const overview of [3, 1, null] as const) {
      // --footprint bbox is v0's rasterio window read, checked against rasterio in v0-parity.test.ts.
      for (const footprint of ['polygon'] as const) {
        const out = join(dir, `stats-${overview}-${footprint}.fgb`);
        const summary = await computeStats(tiles, options(s, out, { overview, footprint }));
        assert.equal(summary.failed.length, 0, JSON.stringify(summary.failed));
        assert.equal(summary.done, tiles.length);
        const journal = (await readFile(summary.journal, 'utf8')).trim().split('\n').slice(1).map((l) => JSON.parse(l) as { name: string; dropped: string | null; count: number; nodata: number });
        const rows = new Map<string, StatsRow>((await readStatsFile(out)).map((r) => [r.name, r]));
        let dropped = 0;
        for (const t of tiles) {
          const gdal = await gdalHistogram(files, t.footprint, overview);
          const valid = [...gdal].filter(([v]) => v !== 0);
          const total = valid.reduce((n, [, c]) => n + c, 0);
          const entry = journal.find((e) => e.name === t.name)!;
          const label = `${t.name} overview ${overview} ${footprint}`;
          const expectDrop = total === 0 ? 'no-data' : valid.every(([v]) => v === 80) ? 'all-water' : null;
          assert.equal(entry.dropped, expectDrop, label);
          if (expectDrop) {
            dropped++;
            assert.ok(!rows.has(t.name), `${label} is not in the stats file`);
            continue;
          }
          const row = rows.get(t.name)!;
          assert.ok(row, label);
          for (const c of WORLDCOVER_CLASSES) assert.equal(row.pixels[c.key], gdal.get(c.value) ?? 0, `${label} class ${c.value}`);
          assert.equal(row.count, valid.length, `${label} count`);
          assert.equal(entry.count, valid.length);
        }
        assert.equal(summary.kept + summary.dropped.noData + summary.dropped.allWater, tiles.length);
        assert.equal(summary.dropped.noData + summary.dropped.allWater, dropped);
        if (overview === 3 && footprint === 'polygon') {
          // The designed cases happen: an all-water tile, all-nodata tiles, a tile with every class.
          assert.equal(journal.find((e) => e.name === 'one-water-pixel')!.dropped, 'all-water');
          assert.equal(journal.find((e) => e.name === 'in-the-nodata-block')!.dropped, 'no-data');
          assert.ok(journal.find((e) => e.name === 'in-the-nodata-block')!.nodata > 0);
          assert.equal(journal.find((e) => e.name === 'off-the-map')!.dropped, 'no-data');
          assert.equal(rows.get('row0-31TGL')!.count, 11);
        }
      }
    }
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('ogrinfo reads the stats file: Clay v0 fields, one MultiPolygon feature per kept tile, the counts written', async () => {
  const s = await serveBundled();
  const dir = await mkdtemp(join(tmpdir(), 'clay-stats-'));
  try {
    const tiles = computeGrid([5.8, 45.45, 6.15, 45.75]);
    const out = join(dir, 'mgrs_stats.fgb');
    const summary = await computeStats(tiles, options(s, out));
    const layer = await ogrinfo(out);
    assert.equal(layer.featureCount, summary.kept);
    assert.deepEqual(layer.fields.map((f) => f.name), ['name', 'count', ...WORLDCOVER_CLASSES.map((c) => c.column)]);
    assert.equal(layer.geometryType, 'Multi Polygon');
    assert.equal(layer.features.length, summary.kept);
    const ours = await readStatsFile(out);
    layer.features.forEach((f, i) => {
      assert.equal(f.properties.name, ours[i]!.name);
      for (const c of WORLDCOVER_CLASSES) assert.equal(f.properties[c.column], ours[i]!.pixels[c.key]);
    });
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a run that stopped part way resumes: journal tiles are skipped (no blob read for them), a torn last line is redone, the result equals a fresh run', async () => {
  const s = await serveBundled();
  const dir = await mkdtemp(join(tmpdir(), 'clay-stats-'));
  try {
    const files = await worldcoverFiles(s);
    const tiles = await testTiles(await waterPixel(files[0]!, 3));
    const out = join(dir, 'stats.fgb');
    const first = await computeStats(tiles.slice(0, 4), options(s, out));
    assert.equal(first.done, 4);
    await appendFile(first.journal, '{"name":"holed","dropped":nu'); // the process died mid-line
    const blobsBefore = s.pc.requests.filter((r) => r.service === 'blob').length;
    const second = await computeStats(tiles, options(s, out));
    assert.equal(second.skipped, 4);
    assert.equal(second.done, tiles.length - 4);
    const third = await computeStats(tiles, options(s, out));
    assert.equal(third.skipped, tiles.length);
    assert.equal(third.done, 0);
    assert.equal(third.bytes, 0);
    assert.ok(s.pc.requests.filter((r) => r.service === 'blob').length > blobsBefore);
    const fresh = join(dir, 'fresh.fgb');
    await computeStats(tiles, options(s, fresh));
    assert.deepEqual(await readStatsFile(out), await readStatsFile(fresh));
    // Other settings: the journal is refused until --force.
    await assert.rejects(computeStats(tiles, options(s, out, { overview: 2 })), (e) => isClayError(e, 'BAD_ARGUMENT'));
    const forced = await computeStats(tiles, options(s, out, { overview: 2, force: true }));
    assert.equal(forced.skipped, 0);
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a tile that fails is reported and left out of the journal (the next run retries it); duplicate names are BAD_SAMPLE_FILE', async () => {
  const s = await serveBundled();
  const dir = await mkdtemp(join(tmpdir(), 'clay-stats-'));
  try {
    const tiles = computeGrid([5.8, 45.45, 6.15, 45.75]);
    const off: GridTile = { name: 'off-the-map', footprint: { type: 'Polygon', coordinates: [box(10, 10, 10.5, 10.5)] } };
    // The bundled COGs have 4 overviews: overview 9 fails every tile that has WorldCover under it.
    const summary = await computeStats([...tiles, off], options(s, join(dir, 'bad.fgb'), { overview: 9 }));
    assert.deepEqual(summary.failed.map((f) => f.name).sort(), tiles.map((t) => t.name).sort());
    assert.ok(summary.failed.every((f) => f.code === 'BAD_ARGUMENT'));
    assert.equal(summary.done, 1);
    assert.equal(summary.written, false);
    await assert.rejects(computeStats([off, off], options(s, join(dir, 'dup.fgb'))), (e) => isClayError(e, 'BAD_SAMPLE_FILE'));
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});
