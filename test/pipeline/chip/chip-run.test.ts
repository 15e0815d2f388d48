/**
 * The main job on bundled row 0 (31TGL: 3 dates, 60 candidate chips), checked with GDAL: every chip's
 * structure (`gdalinfo`), the kept/rejected sets and reasons against the designed cases, and pixel values
 * (`gdallocationinfo` on the chips) against the source COGs read by `gdallocationinfo` at the pixel
 * centres' coordinates (nearest neighbour, the latest valid Sentinel-1 scene on top).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpClient } from '../../../core/http.ts';
import { loadUniverse } from '../../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../../core/mini-pc/server.ts';
import { PcSigner } from '../../../core/stac/pc-signer.ts';
import { StacClient } from '../../../core/stac/stac-client.ts';
import { openStore } from '../../../core/store/open-store.ts';
import { parseManifest, type UnitManifest } from '../../../pipeline/chip/manifest.ts';
import { readChipIndex } from '../../../pipeline/index/chip-index.ts';
import { runIndex, type IndexResult, type RunOptions } from '../../../pipeline/run/run-index.ts';
import { readSampleFile } from '../../../pipeline/sample-file.ts';
import { BUNDLED_DIR, bundledCases } from '../../helpers/bundled.ts';
import { localFile } from '../warp/oracle.ts';
import { gdalinfo, gdaltransform, locationValues } from './gdal.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadZstd } from '../../../core/zstd.ts';
import { decodeChip } from '../../../model/data/read-chip.ts';
import pLimit from 'p-limit';
import { subGrid } from '../../../core/grid.ts';
import { assessChip } from '../../../pipeline/chip/quality.ts';
import { chipTileKeys, FILTER_BANDS, openChipSources, plane, stackChip, type SourceAccess } from '../../../pipeline/chip/stack.ts';
import type { CachedTile } from '../../../pipeline/read/cog.ts';
import { newReadStats } from '../../../pipeline/read/range-reader.ts';
import { TileCache } from '../../../pipeline/read/tile-cache.ts';

const exec = promisify(execFile);

const BANDS = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12', 'vh', 'vv', 'dem'];
const COLORS = ['Blue', 'Green', 'Red', ...new Array<string>(10).fill('Gray')];

interface CaseChip { chip: number; window: { col: number; row: number }; cloudyPixels: number; kept: boolean; reasons: string[] }

let pc: MiniPc;
let dir: string;
let result: IndexResult;
let manifests: UnitManifest[];

async function runRow0(out: string, extra: Partial<RunOptions> = {}): Promise<IndexResult> {
  const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 5 });
  const rows = await readSampleFile(join(BUNDLED_DIR, 'mgrs_sample.fgb'));
  return runIndex(rows[0]!, { stac: new StacClient({ url: pc.stacApi, http }), http, signer: new PcSigner({ http, sasApi: pc.sasApi }), store: await openStore(out), ...extra });
}

before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  dir = await mkdtemp(join(tmpdir(), 'clay-chips-'));
  result = await runRow0(join(dir, 'out'));
  manifests = await Promise.all(result.units.map(async (u) => parseManifest(await readFile(join(dir, 'out', u.manifest)), u.manifest)));
});

after(async () => {
  await pc.close();
  await rm(dir, { recursive: true, force: true });
});

test('row 0: three units, kept/rejected sets and reasons equal the designed cases (cloud under and at 30 %, one B02 zero, a NaN S1 pixel, a NaN DEM pixel)', async () => {
  const cases = await bundledCases();
  const row0 = cases.rows[0] as unknown as { chips: Record<string, CaseChip[]>; keptChips: { default: number } };
  assert.deepEqual(result.units.map((u) => u.status), ['done', 'done', 'done']);
  let kept = 0;
  for (const m of manifests) {
    const expected = row0.chips[m.plan.s2.id]!;
    assert.equal(m.chips.length, expected.length, `${m.date} candidates`);
    for (const c of m.chips) {
      const e = expected.find((x) => x.chip === c.chip)!;
      assert.deepEqual({ chip: c.chip, kept: c.kept, reasons: c.reasons, cloudyPixels: c.cloudyPixels, col: c.window.col, row: c.window.row }, { chip: e.chip, kept: e.kept, reasons: e.reasons, cloudyPixels: e.cloudyPixels, col: e.window.col, row: e.window.row }, `${m.date} chip ${c.chip}`);
      assert.equal(c.file !== undefined, c.kept);
    }
    kept += m.totals.kept;
    // Exactly the kept chips are on disk, plus the unit's index and manifest.
    const files = (await readdir(join(dir, 'out', '02', '31TGL', m.date))).sort();
    const names = m.chips.filter((c) => c.kept).map((c) => `claytile_31TGL_${m.date.replaceAll('-', '')}_v02_${String(c.chip).padStart(4, '0')}.tif`);
    assert.deepEqual(files, [...names, 'chips.parquet', 'manifest.json'].sort());
  }
  assert.equal(kept, row0.keptChips.default);
  // The designed filter cases of date 2021-06-15.
  const b = manifests.find((m) => m.date === '2021-06-15')!;
  const byChip = (n: number) => b.chips.find((c) => c.chip === n)!;
  assert.deepEqual([byChip(1).kept, byChip(1).cloudyPixels], [true, 78640]);
  assert.deepEqual([byChip(2).kept, byChip(2).reasons], [false, ['cloud']]);
  assert.deepEqual(byChip(3).reasons, ['b02_nodata']);
  assert.deepEqual(byChip(4).reasons, ['s1_nodata']);
  assert.deepEqual(byChip(5).reasons, ['dem_nodata']);
});

test('every chip opens in gdalinfo: 512 x 512, 13 Float32 bands, descriptions, colours, UTM CRS, the window\'s geotransform, date tag, Area, ZSTD', async () => {
  let checked = 0;
  for (const m of manifests) {
    const t = m.plan.grid.transform;
    for (const c of m.chips) {
      if (!c.file) continue;
      const info = await gdalinfo(join(dir, 'out', c.file.key));
      assert.deepEqual(info.size, [512, 512]);
      assert.equal(info.bands.length, 13);
      assert.deepEqual(info.bands.map((x) => x.description), BANDS);
      assert.deepEqual(info.bands.map((x) => x.colorInterpretation), COLORS);
      assert.ok(info.bands.every((x) => x.type === 'Float32' && x.noDataValue === undefined));
      assert.match(info.coordinateSystem.wkt, /ID\["EPSG",32631\]\]$/);
      assert.deepEqual(info.geoTransform, [t[0] + c.window.col * t[1], t[1], 0, t[3] + c.window.row * t[5], 0, t[5]]);
      assert.equal(info.metadata['']?.date, m.date);
      assert.equal(info.metadata['']?.AREA_OR_POINT, 'Area');
      assert.equal(info.metadata.IMAGE_STRUCTURE?.COMPRESSION, 'ZSTD');
      assert.equal(info.metadata.IMAGE_STRUCTURE?.INTERLEAVE, 'PIXEL');
      checked++;
    }
  }
  assert.equal(checked, 47);
});

test('pixel values: chips read by gdallocationinfo equal the source COGs read by gdallocationinfo at the pixel centres', async () => {
  // Every kept chip of the three dates: one or two S1 scenes (UTM 31 and 32), both DEM tiles. Points of
  // a date are batched: one gdallocationinfo per source file and date, one per chip.
  let checked = 0;
  for (const m of manifests) {
    const t = m.plan.grid.transform;
    const srs = `EPSG:${m.plan.grid.epsg}`;
    const samples: { chip: number; pixel: [number, number]; world: [number, number]; values: number[] }[] = [];
    for (const c of m.chips.filter((x) => x.kept)) {
      // 12 pixels per chip, deterministic, spread over the chip (corners included).
      const pixels: [number, number][] = [[0, 0], [511, 0], [0, 511], [511, 511]];
      for (let k = 0; k < 8; k++) pixels.push([(k * 61 + c.chip * 17) % 512, (k * 137 + c.chip * 29) % 512]);
      const values = await locationValues(join(dir, 'out', c.file!.key), pixels, { bands: 13 });
      pixels.forEach((p, k) => samples.push({ chip: c.chip, pixel: p, world: [t[0] + (c.window.col + p[0] + 0.5) * t[1], t[3] + (c.window.row + p[1] + 0.5) * t[5]], values: values[k]! }));
    }
    const world = samples.map((x) => x.world);
    const where = (k: number): string => `${m.date} chip ${samples[k]!.chip} at ${samples[k]!.pixel}`;
    for (const [b, name] of BANDS.slice(0, 10).entries()) {
      const src = await locationValues(localFile(m.plan.s2.hrefs[name]!), world, { srs });
      samples.forEach((x, k) => assert.equal(x.values[b], src[k]![0], `${where(k)} ${name}`));
    }
    // Sentinel-1 (the latest valid scene on top) and the DEM, through another CRS: exact points, with the
    // approximate transformer's tolerance (GDAL's default, 0.125 source pixel) where a centre lies near a
    // source pixel edge: then the chip value must be the mosaic's value within that distance.
    const layers: [number, string[], number][] = [
      [10, m.plan.s1.scenes.map((s) => localFile(s.hrefs.vh!)), 1.25],
      [11, m.plan.s1.scenes.map((s) => localFile(s.hrefs.vv!)), 1.25],
      [12, m.plan.dem.map((d) => localFile(d.hrefs.data!)), 4],
    ];
    for (const [b, files, tol] of layers) {
      const exact = await mosaicAt(files, world, m.plan.grid.epsg);
      const off: [number, number][] = [];
      samples.forEach((x, k) => {
        if (sameValue(x.values[b]!, exact[k]!)) return;
        for (const dx of [-tol, 0, tol]) for (const dy of [-tol, 0, tol]) off.push([x.world[0] + dx, x.world[1] + dy]);
      });
      const near = off.length > 0 ? await mosaicAt(files, off, m.plan.grid.epsg) : [];
      let o = 0;
      samples.forEach((x, k) => {
        if (sameValue(x.values[b]!, exact[k]!)) return;
        const around = near.slice(o, o + 9);
        o += 9;
        assert.ok(around.some((v) => sameValue(x.values[b]!, v)), `${where(k)} ${BANDS[b]}: ${x.values[b]} is not the mosaic's value ${exact[k]} nor one within ${tol} m (${around.join(', ')})`);
        nearEdge++;
      });
    }
    checked += samples.length;
  }
  assert.equal(checked, 47 * 12);
  // Most samples match the exact point; a few (near a source pixel edge) take the neighbour.
  assert.ok(nearEdge < (checked * 3) / 10, `${nearEdge} of ${checked * 3} S1/DEM samples near an edge`);
  console.log(`pixel samples: ${checked} x 13 bands; S1/DEM samples within the transformer tolerance of an edge: ${nearEdge}`);
});

/** Samples near a source pixel edge that took the neighbouring source pixel (within the error bound). */
let nearEdge = 0;

function sameValue(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/**
 * The mosaic of `files` (bottom first; the latest valid value on top) at points of EPSG `epsg`, each file
 * read by `gdallocationinfo`; S1's -32768 and answers outside a file are no value (NaN).
 */
async function mosaicAt(files: string[], points: [number, number][], epsg: number): Promise<number[]> {
  const out = new Array<number>(points.length).fill(Number.NaN);
  for (const f of files) {
    const vals = await locationValues(f, points, { srs: `EPSG:${epsg}` });
    vals.forEach((v, k) => {
      if (Number.isFinite(v[0]) && v[0] !== -32768) out[k] = v[0]!;
    });
  }
  return out;
}

test('the unit chip index (GeoParquet) has one row per candidate chip, as the manifest says', async () => {
  for (const m of manifests) {
    const rows = await readChipIndex(await readFile(join(dir, 'out', m.indexFile.key)), m.indexFile.key);
    assert.equal(rows.length, m.chips.length);
    assert.deepEqual(rows.map((r) => [r.chip, r.kept, r.reasons.join()]), m.chips.map((c) => [c.chip, c.kept, c.reasons.join()]));
    assert.ok(rows.every((r) => r.s2Item === m.plan.s2.id && r.epsg === 32631 && r.footprint.length === 5));
    // The footprint's corners are the window's corners in lon/lat (GDAL's transform as the oracle).
    const r0 = rows[0]!;
    const [tl] = await gdaltransform([[r0.bounds[0], r0.bounds[3]]], 32631, 4326);
    assert.ok(Math.abs(r0.footprint[0]![0] - tl![0]) < 1e-8 && Math.abs(r0.footprint[0]![1] - tl![1]) < 1e-8);
  }
});

test('--compat clay-v0: the same pixels, georeferenced half a pixel west and north, in 1-row strips of DEFLATE', async () => {
  const compat = await runRow0(join(dir, 'compat'), { mode: 'clay-v0' });
  assert.equal(compat.units.reduce((n, u) => n + u.kept, 0), 47);
  const m = parseManifest(await readFile(join(dir, 'compat', compat.units[0]!.manifest)), 'compat');
  const c = m.chips.find((x) => x.kept)!;
  const ours = await gdalinfo(join(dir, 'compat', c.file!.key));
  const t = m.plan.grid.transform;
  assert.deepEqual(ours.geoTransform, [t[0] + c.window.col * 10 - 5, 10, 0, t[3] - c.window.row * 10 + 5, 0, -10]);
  assert.deepEqual(ours.bands[0]!.block, [512, 1]);
  assert.equal(ours.metadata.IMAGE_STRUCTURE?.COMPRESSION, 'DEFLATE');
  const pts: [number, number][] = [[0, 0], [100, 200], [511, 511]];
  const a = await locationValues(join(dir, 'compat', c.file!.key), pts, { bands: 13 });
  const b = await locationValues(join(dir, 'out', c.file!.key), pts, { bands: 13 });
  assert.deepEqual(a, b);
});

test('--compress deflate, and zstd with the float predictor: the same pixels as the default ZSTD chips, bit for bit, read by GDAL and by the chip reader', async () => {
  await loadZstd();
  for (const [name, encoding] of [['deflate', { compress: 'deflate' }], ['zstd-float', { compress: 'zstd', level: 3, predictor: 'float' }]] as const) {
    const other = await runRow0(join(dir, name), { encoding });
    assert.equal(other.units.reduce((n, u) => n + u.kept, 0), 47);
    let checked = 0;
    for (const m of manifests) {
      for (const c of m.chips) {
        if (!c.file) continue;
        const [a, b] = await Promise.all([readFile(join(dir, 'out', c.file.key)), readFile(join(dir, name, c.file.key))]);
        const ref = { url: c.file.key, key: c.file.key, mgrs: '31TGL', date: m.date };
        const [x, y] = [decodeChip(a, ref), decodeChip(b, ref)];
        assert.ok(Buffer.from(x.pixels.buffer, x.pixels.byteOffset, x.pixels.byteLength).equals(Buffer.from(y.pixels.buffer, y.pixels.byteOffset, y.pixels.byteLength)), `${name} ${c.file.key}`);
        checked++;
      }
    }
    assert.equal(checked, 47);
    // GDAL, the independent reader: the whole raster of one chip of each, and its codec.
    const key = manifests[1]!.chips.find((c) => c.kept)!.file!.key;
    const info = await gdalinfo(join(dir, name, key));
    assert.equal(info.metadata.IMAGE_STRUCTURE?.COMPRESSION, name === 'deflate' ? 'DEFLATE' : 'ZSTD');
    if (name === 'zstd-float') assert.equal(info.metadata.IMAGE_STRUCTURE?.PREDICTOR, '3');
    const raw = async (f: string): Promise<Buffer> => {
      const to = `${f}.raw`;
      await exec('gdal_translate', ['-q', '-of', 'ENVI', f, to]);
      return readFile(to);
    };
    assert.ok((await raw(join(dir, name, key))).equals(await raw(join(dir, 'out', key))), `GDAL reads ${name} and ZSTD the same`);
  }
});

test('a chip is stacked in two parts: the filter\'s planes (SCL, B02, vh, vv, dem) read none of the other bands; the rest completes the stack, bit for bit as one pass', async () => {
  const m = manifests.find((x) => x.date === '2021-06-15')!;
  const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 5 });
  const access: SourceAccess = { http, signer: new PcSigner({ http, sasApi: pc.sasApi }), cache: new TileCache<CachedTile>(), limit: pLimit(8), stats: newReadStats() };
  const sources = await openChipSources(m.plan, access);
  const chip = m.chips.find((c) => c.chip === 2)!; // rejected: cloud
  const grid = subGrid(m.plan.grid, { ...chip.window, width: 512, height: 512 });
  const n = 512 * 512;
  const fresh = (): { planes: Float32Array; scl: Float32Array } => ({ planes: new Float32Array(new SharedArrayBuffer(13 * n * 4)).fill(-7), scl: new Float32Array(new SharedArrayBuffer(n * 4)).fill(-7) });
  const blobPaths = (from: number): string[] => pc.requests.slice(from).filter((r) => r.service === 'blob').map((r) => r.path);
  const from = pc.requests.length;
  const twoPart = await stackChip(sources, grid, { part: 'filter' }, fresh());
  const filterReads = blobPaths(from);
  assert.ok(filterReads.length > 0);
  const rest = BANDS.filter((b) => !FILTER_BANDS.includes(b));
  for (const b of rest) assert.ok(!filterReads.some((p) => p.includes(`_${b}_`)), `the filter part read ${b}: ${filterReads.join(' ')}`);
  for (const [i, b] of BANDS.entries()) assert.equal(plane(twoPart, i).every((v) => v === -7), rest.includes(b), `${b}: ${rest.includes(b) ? 'left as it was' : 'made'}`);
  assert.equal(assessChip({ b02: plane(twoPart, 0), vh: plane(twoPart, 10), vv: plane(twoPart, 11), dem: plane(twoPart, 12), scl: twoPart.scl }).cloudyPixels, chip.cloudyPixels);
  const from2 = pc.requests.length;
  await stackChip(sources, grid, { part: 'rest' }, twoPart);
  assert.ok(!blobPaths(from2).some((p) => p.includes('_SCL_') || p.includes('_B02_')), 'the rest part reads no filter band again');
  const onePass = await stackChip(sources, grid, {}, fresh());
  const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  assert.ok(bytes(twoPart.planes).equals(bytes(onePass.planes)) && bytes(twoPart.scl).equals(bytes(onePass.scl)));
});

test('chipTileKeys names exactly the tiles a chip reads from sources in its CRS (every S2 band, same-zone S1); the tiles it reads besides are the DEM\'s and the other zone\'s', async () => {
  for (const m of manifests) {
    const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 5 });
    for (const chipNo of [1, 7, 20]) {
      const cache = new TileCache<CachedTile>(1 << 30);
      const sources = await openChipSources(m.plan, { http, signer: new PcSigner({ http, sasApi: pc.sasApi }), cache, limit: pLimit(8), stats: newReadStats() });
      const c = m.chips.find((x) => x.chip === chipNo)!;
      const grid = subGrid(m.plan.grid, { ...c.window, width: 512, height: 512 });
      const planned = chipTileKeys(sources, grid);
      await stackChip(sources, grid, {}, undefined);
      const read = cache.keys();
      assert.ok(planned.length > 0);
      assert.deepEqual(planned.filter((k) => !read.includes(k)), [], `${m.date} chip ${chipNo}: planned but not read`);
      const elsewhere = [sources.scl, ...sources.bands].flatMap((b) => b.sources).filter((s) => s.grid.epsg !== grid.epsg).map((s) => s.url!);
      assert.ok(elsewhere.length > 0);
      for (const k of read.filter((x) => !planned.includes(x))) assert.ok(elsewhere.some((u) => k.startsWith(u)), `${m.date} chip ${chipNo}: ${k} read but not planned`);
    }
  }
});
