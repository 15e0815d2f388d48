import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { geojson } from 'flatgeobuf';
import { fromFile } from 'geotiff';
import { generateSamples } from '../../data-samples/generate.ts';
import type { GenerateResult } from '../../data-samples/generate.ts';
import { gdalinfo, gdalValues, haveGdal } from '../pipeline/write/oracle.ts';

const skip = haveGdal() ? false : 'gdal-bin is not installed';
const MB = 1e6;

interface Item {
  id: string;
  bbox: number[];
  properties: Record<string, unknown>;
  assets: Record<string, { href: string; 'proj:shape'?: number[]; 'proj:transform'?: number[] }>;
}
interface Cases {
  rows: Array<{ index: number; name: string; chips?: Record<string, Array<{ chip: number; cloudyPixels: number; kept: boolean; reasons: string[] }>>; keptChips?: { default: number } }>;
  sentinel2: Record<string, { id: string }>;
  sentinel1: Record<string, { id: string; epsg: number; grid: { transform: number[]; width: number; height: number } }>;
  planted: { s1Nodata: { sceneId: string; pixel: [number, number]; chip: number }; demNan: { item: string; pixel: [number, number]; chip: number } };
  worldcover: { counts: Record<string, Record<string, Record<string, number>>> };
}

let out = '';
let result: GenerateResult;
let cases: Cases;
const items = new Map<string, Item>();

/** The local file of a blob href, as the loopback server maps it. */
function fileOf(href: string): string {
  const u = new URL(href);
  return join(out, 'blobs', u.hostname.split('.')[0] ?? '', decodeURIComponent(u.pathname.slice(1)));
}

function item(id: string): Item {
  const it = items.get(id);
  assert.ok(it, `item ${id}`);
  return it;
}

function close(a: readonly number[] | undefined, b: readonly number[], eps = 1e-9): void {
  assert.ok(a !== undefined && a.length === b.length && a.every((v, i) => Math.abs(v - (b[i] ?? NaN)) <= eps), `${a?.join(',')} != ${b.join(',')}`);
}

/** GDAL's histogram of a Byte file (or one of its IFDs), nodata included when `keepNodata`. */
function byteHistogram(path: string, keepNodata: boolean): number[] {
  const src = keepNodata ? join(out, 'hist.tmp.tif') : path;
  if (keepNodata) execFileSync('gdal_translate', ['-q', '-a_nodata', 'none', path, src]);
  const info = gdalinfo(src, ['-hist']) as unknown as { bands: Array<{ histogram: { count: number; min: number; max: number; buckets: number[] } }> };
  const h = info.bands[0]?.histogram;
  assert.ok(h !== undefined && h.count === 256 && h.min === -0.5 && h.max === 255.5, 'GDAL byte histogram');
  return h.buckets;
}

describe('data-samples generator', { skip }, () => {
  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'samples-'));
    result = await generateSamples({ out, force: true });
    cases = JSON.parse(await readFile(join(out, 'cases.json'), 'utf8')) as Cases;
    for (const c of ['sentinel-2-l2a', 'sentinel-1-rtc', 'cop-dem-glo-30', 'esa-worldcover']) {
      const fc = JSON.parse(await readFile(join(out, 'items', `${c}.json`), 'utf8')) as { features: Item[] };
      for (const f of fc.features) items.set(f.id, f);
    }
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('stays under 25 MB and skips a second run from the same sources', async () => {
    assert.ok(result.bytes < 25 * MB, `${result.bytes} bytes`);
    const du = Number(execFileSync('du', ['-sb', out], { encoding: 'utf8' }).split('\t')[0]);
    assert.ok(du < 25 * MB, `du ${du}`);
    const again = await generateSamples({ out });
    assert.equal(again.skipped, true);
  });

  it('every asset href of every item maps to a blob file, and the collections exist', async () => {
    for (const it of items.values()) for (const a of Object.values(it.assets)) assert.ok(existsSync(fileOf(a.href)), a.href);
    const s1 = JSON.parse(await readFile(join(out, 'collections', 'sentinel-1-rtc.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(s1['msft:requires_account'], true);
    for (const c of ['sentinel-2-l2a', 'cop-dem-glo-30', 'esa-worldcover']) assert.ok((await stat(join(out, 'collections', `${c}.json`))).size > 0);
  });

  it('Sentinel-2 COGs match their item: size, CRS, geotransform, nodata, DEFLATE + predictor 2, 512 tiles', () => {
    const b = item(cases.sentinel2['B']?.id ?? '');
    for (const band of ['B02', 'B05', 'B01', 'SCL']) {
      const a = b.assets[band];
      assert.ok(a);
      const info = gdalinfo(fileOf(a.href));
      assert.deepEqual([...info.size].reverse(), a['proj:shape']);
      const t = a['proj:transform'] ?? [];
      assert.deepEqual(info.geoTransform, [t[2], t[0], t[1], t[5], t[3], t[4]]);
      assert.equal(info.stac?.['proj:epsg'], 32631);
      assert.equal(info.bands[0]?.noDataValue, 0);
      assert.equal(info.bands[0]?.type, band === 'SCL' ? 'Byte' : 'UInt16');
      assert.deepEqual(info.bands[0]?.block, [512, 512]);
      assert.equal(info.metadata['IMAGE_STRUCTURE']?.['COMPRESSION'], 'DEFLATE');
      assert.equal(info.metadata['IMAGE_STRUCTURE']?.['PREDICTOR'], '2');
    }
    // Chip 3's single B02 zero, and its neighbour valid.
    const b02 = fileOf(b.assets['B02']?.href ?? '');
    assert.deepEqual(gdalValues(b02, 1300, 200), [0]);
    assert.ok((gdalValues(b02, 1301, 200)[0] ?? 0) > 0);
  });

  it('chip 1 and 2 cloudy SCL counts straddle 30 %, as GDAL counts them', () => {
    const b = item(cases.sentinel2['B']?.id ?? '');
    const chips = cases.rows[0]?.chips?.[b.id] ?? [];
    const scl = fileOf(b.assets['SCL']?.href ?? '');
    for (const chip of [1, 2]) {
      const win = join(out, `scl${chip}.tmp.tif`);
      execFileSync('gdal_translate', ['-q', '-srcwin', String((chip - 1) * 256), '0', '256', '256', scl, win]);
      const h = byteHistogram(win, true);
      const cloudy = [0, 1, 3, 8, 9, 10].reduce((s, c) => s + (h[c] ?? 0), 0) * 4;
      assert.equal(cloudy, chips[chip - 1]?.cloudyPixels);
      assert.equal(cloudy >= 0.3 * 512 * 512, chip === 2);
      for (const c of [1, 3, 8, 9, 10]) assert.ok((h[c] ?? 0) > 0, `class ${c} in chip ${chip}`);
    }
    assert.equal(cases.rows[0]?.keptChips?.default, 47);
  });

  it('Sentinel-1: own UTM grid with sub-pixel origin, nodata -32768, [x, y] proj:shape, planted nodata pixel', () => {
    const d2 = cases.sentinel1['D2'];
    assert.ok(d2);
    const it = item(d2.id);
    const vv = fileOf(it.assets['vv']?.href ?? '');
    const info = gdalinfo(vv);
    assert.equal(info.stac?.['proj:epsg'], 32632);
    assert.deepEqual(info.size, it.properties['proj:shape']);
    close(info.geoTransform, d2.grid.transform);
    const t = it.properties['proj:transform'] as number[];
    assert.equal(t.length, 9);
    close([t[2] ?? NaN, t[5] ?? NaN], [d2.grid.transform[0] ?? NaN, d2.grid.transform[3] ?? NaN]);
    assert.ok(Math.abs(((d2.grid.transform[0] ?? 0) % 10) - 7.2) < 1e-6, 'sub-pixel origin');
    assert.equal(info.bands[0]?.noDataValue, -32768);
    assert.equal(info.bands[0]?.type, 'Float32');
    const [c, r] = cases.planted.s1Nodata.pixel;
    assert.equal(cases.planted.s1Nodata.sceneId, d2.id);
    assert.deepEqual(gdalValues(vv, c, r), [-32768]);
    const v = gdalValues(vv, c + 1, r)[0] ?? 0;
    assert.ok(v > 0.005 && v < 0.6, `gamma0 ${v}`);
  });

  it('Copernicus DEM: PixelIsPoint, tiles abut at 6 deg E, GDAL origin = proj:transform origin, planted NaN', () => {
    const [e5, e6] = ['Copernicus_DSM_COG_10_N45_00_E005_00_DEM', 'Copernicus_DSM_COG_10_N45_00_E006_00_DEM'].map(item);
    assert.ok(e5 && e6);
    const i5 = gdalinfo(fileOf(e5.assets['data']?.href ?? ''));
    const i6 = gdalinfo(fileOf(e6.assets['data']?.href ?? ''));
    assert.equal(i6.metadata['']?.['AREA_OR_POINT'], 'Point');
    assert.equal(i6.stac?.['proj:epsg'], 4326);
    assert.equal(i6.bands[0]?.noDataValue, undefined);
    close(i6.geoTransform?.slice(0, 1), [6 - 1 / 7200], 1e-12);
    close(i6.geoTransform?.slice(3, 4), [45.8 + 1 / 7200], 1e-12);
    const right5 = (i5.geoTransform?.[0] ?? 0) + i5.size[0] * (i5.geoTransform?.[1] ?? 0);
    assert.ok(Math.abs(right5 - (i6.geoTransform?.[0] ?? 0)) < 1e-12, 'abutting');
    const t = e6.properties['proj:transform'] as number[];
    close([t[2] ?? NaN, t[5] ?? NaN], [i6.geoTransform?.[0] ?? NaN, i6.geoTransform?.[3] ?? NaN], 1e-12);
    assert.deepEqual(e6.properties['proj:shape'], [...i6.size].reverse());
    const [c, r] = cases.planted.demNan.pixel;
    const file = fileOf(item(cases.planted.demNan.item).assets['data']?.href ?? '');
    assert.ok(Number.isNaN(gdalValues(file, c, r)[0]));
    const h = gdalValues(file, c + 1, r)[0] ?? NaN;
    assert.ok(h > 0 && (h * 4) % 1 === 0, `height ${h} quantised to 0.25 m`);
  });

  it('WorldCover: COG with 4 mode overviews; GDAL histograms equal the recorded class counts', async () => {
    for (const [id, levels] of Object.entries(cases.worldcover.counts)) {
      const path = fileOf(item(id).assets['map']?.href ?? '');
      const info = gdalinfo(path);
      assert.equal(info.bands[0]?.overviews?.length, 4);
      assert.equal(info.bands[0]?.noDataValue, 0);
      for (const [ifd, level] of [[0, '1'], [3, '8']] as const) {
        const h = byteHistogram(ifd === 0 ? path : `GTIFF_DIR:${ifd + 1}:${path}`, false);
        for (const [cls, n] of Object.entries(levels[level] ?? {})) if (cls !== '0') assert.equal(h[Number(cls)], n, `${id} level ${level} class ${cls}`);
      }
    }
    const first = Object.keys(cases.worldcover.counts)[0] ?? '';
    const tiff = await fromFile(fileOf(item(first).assets['map']?.href ?? ''));
    assert.equal(await tiff.getImageCount(), 5);
  });

  it('MGRS sample: FlatGeobuf readable by ogrinfo and flatgeobuf, rows 31TGL, 01KAB, 31TGK', async () => {
    const so = execFileSync('ogrinfo', ['-so', '-al', join(out, 'mgrs_sample.fgb')], { encoding: 'utf8' });
    assert.match(so, /Feature Count: 3/);
    assert.match(so, /name: String/);
    const names: unknown[] = [];
    for await (const f of geojson.deserialize(new Uint8Array(await readFile(join(out, 'mgrs_sample.fgb'))))) names.push(f.properties?.['name']);
    assert.deepEqual(names, ['31TGL', '01KAB', '31TGK']);
    assert.deepEqual(cases.rows.map((r) => r.name), names);
  });
});
