/**
 * decodeChip against independent oracles: GDAL reads the same files (`gdalinfo -json` for CRS, transform
 * and the date tag; `gdal_translate -of ENVI` for the raw pixels; `gdaltransform` for the centre and the
 * footprint), and numpy applies Clay v0's datamodule formulas to what GDAL read (v0_datamodule.py, float16
 * emulated with numpy.float16). Chips: the real ones `clay run` makes from the bundled universe (test/helpers/chips.ts), and
 * synthetic ones in every layout we read (our writer's default, v0's 1-row strips with the float predictor
 * in the southern hemisphere, GDAL's tiled band-interleaved rewrite, PixelIsPoint, a rotated grid).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { isClayError } from '../../../core/errors.ts';
import type { Grid } from '../../../core/grid.ts';
import { chipTiffOptions, CLAY_V0_ENCODING, DEFAULT_ENCODING, encodeChip } from '../../../pipeline/chip/chip-file.ts';
import { encodeTiff } from '../../../pipeline/write/tiff-writer.ts';
import { decodeChip } from '../../../model/data/read-chip.ts';
import type { ChipRef, ChipSample } from '../../../model/data/types.ts';
import { bundledChips } from '../../helpers/chips.ts';
import { gdalinfo, gdaltransform } from '../../pipeline/chip/gdal.ts';
import { chipGrid, syntheticPlanes } from './chips.ts';

const run = promisify(execFile);
const ORACLE = fileURLToPath(new URL('./v0_datamodule.py', import.meta.url));
const SIZE = 512;
let dir: string;
/** Files to check against the oracles, with the refs they are read under. */
const files: { name: string; ref: ChipRef }[] = [];

const refOf = (path: string, date: string, mgrs = '31TGL'): ChipRef => ({ url: path, key: path.slice(dir.length + 1), mgrs, date });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clay-read-chip-'));
  const chips = await bundledChips();
  for (const date of ['2021-06-15', '2017-08-10']) {
    const unit = join(chips, '02', '31TGL', date);
    const tifs = (await readdir(unit)).filter((f) => f.endsWith('.tif')).sort();
    for (const f of [tifs[0]!, tifs.at(-1)!]) files.push({ name: `bundled ${f}`, ref: { url: join(unit, f), key: join('02', '31TGL', date, f), mgrs: '31TGL', date } });
  }
  const synth = async (name: string, grid: Grid, date: string, encoding = DEFAULT_ENCODING): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, await encodeChip(syntheticPlanes(SIZE, name.length, true), grid, date, encoding));
    return path;
  };
  const def = await synth('default.tif', chipGrid('31TGL', 3, SIZE), '2021-06-15');
  files.push({ name: 'ours, default encoding', ref: refOf(def, '2021-06-15') });
  const south = await synth('v0-float.tif', chipGrid('55HBU', 1, SIZE), '2019-12-31', { ...CLAY_V0_ENCODING, predictor: 'float' });
  files.push({ name: "v0's 1-row strips + float predictor, south", ref: refOf(south, '2019-12-31', '55HBU') });
  const rotated = await synth('rotated.tif', { epsg: 32631, transform: [600_000, 9.998, 0.2, 5_000_000, 0.2, -9.998], width: SIZE, height: SIZE }, '2020-02-29');
  files.push({ name: 'rotated grid (ModelTransformation)', ref: refOf(rotated, '2020-02-29') });
  const tiled = join(dir, 'gdal-tiled.tif');
  await run('gdal_translate', ['-q', '-co', 'TILED=YES', '-co', 'BLOCKXSIZE=256', '-co', 'BLOCKYSIZE=256', '-co', 'INTERLEAVE=BAND', '-co', 'COMPRESS=DEFLATE', '-co', 'PREDICTOR=3', def, tiled]);
  files.push({ name: 'GDAL rewrite: tiled, band-interleaved, predictor 3', ref: refOf(tiled, '2021-06-15') });
  const point = join(dir, 'gdal-point.tif');
  await run('gdal_translate', ['-q', '-mo', 'AREA_OR_POINT=Point', '-co', 'COMPRESS=DEFLATE', def, point]);
  files.push({ name: 'GDAL rewrite: PixelIsPoint', ref: refOf(point, '2021-06-15') });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** EPSG code at the end of GDAL's WKT2. */
function epsgOfWkt(wkt: string): number {
  const m = /ID\["EPSG",(\d+)\]\]\s*$/.exec(wkt);
  assert.ok(m, 'WKT has an EPSG id');
  return Number(m[1]);
}

/** Index of the first pixel that differs (NaN equals NaN), or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) return i;
  }
  return -1;
}

async function oracle(f: { name: string; ref: ChipRef }, s: ChipSample): Promise<void> {
  const info = await gdalinfo(f.ref.url);
  assert.deepEqual(info.size, [s.width, s.height]);
  assert.equal(s.epsg, epsgOfWkt(info.coordinateSystem.wkt));
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(s.transform[i]! - info.geoTransform[i]!) <= 1e-9 * Math.max(1, Math.abs(info.geoTransform[i]!)), `transform[${i}] ${s.transform[i]} vs GDAL ${info.geoTransform[i]}`);
  assert.equal(info.metadata['']?.date, s.date);
  // Centre: the middle of the bounds in lon/lat (rasterio's lnglat()), via gdaltransform.
  const t = info.geoTransform;
  const at = (px: number, py: number): [number, number] => [t[0]! + px * t[1]! + py * t[2]!, t[3]! + px * t[4]! + py * t[5]!];
  const [centre] = await gdaltransform([at(s.width / 2, s.height / 2)], s.epsg, 4326);
  assert.ok(Math.abs(s.lon - centre![0]) < 1e-9 && Math.abs(s.lat - centre![1]) < 1e-9, `centre ${s.lon},${s.lat} vs GDAL ${centre!.join(',')}`);
  // Footprint: closed, counter-clockwise, 8 points per edge, corners where GDAL puts them.
  const ring = s.footprint;
  assert.equal(ring.length, 33);
  assert.deepEqual(ring[0], ring.at(-1));
  let area = 0;
  for (let i = 0; i + 1 < ring.length; i++) area += ring[i]![0] * ring[i + 1]![1] - ring[i + 1]![0] * ring[i]![1];
  assert.ok(area > 0, 'counter-clockwise');
  const corners = await gdaltransform([at(0, 0), at(0, s.height), at(s.width, s.height), at(s.width, 0)], s.epsg, 4326);
  const ringCorners = area > 0 ? [0, 8, 16, 24].map((i) => ring[i]!) : [];
  for (const c of corners) assert.ok(ringCorners.some((r) => Math.abs(r[0] - c[0]) < 1e-9 && Math.abs(r[1] - c[1]) < 1e-9), `corner ${c.join(',')} on the ring`);
  // Pixels, lat/lon and time: numpy's v0 formulas on the values GDAL read.
  const raw = join(dir, 'raw.bin');
  const norm = join(dir, 'norm.bin');
  await run('gdal_translate', ['-q', '-of', 'ENVI', '-co', 'INTERLEAVE=BSQ', '-ot', 'Float32', f.ref.url, raw]);
  const { stdout } = await run('python3', [ORACLE, raw, norm, String(s.height), String(s.width), s.date, String(centre![0]), String(centre![1])]);
  const want = JSON.parse(stdout) as { latlon: [number, number]; timestep: [number, number, number] };
  assert.deepEqual(s.latlon, want.latlon);
  assert.deepEqual(s.timestep, want.timestep);
  const buf = await readFile(norm);
  const expected = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  assert.equal(s.pixels.length, expected.length);
  const d = firstDifference(s.pixels, expected);
  assert.equal(d, -1, d < 0 ? '' : `pixel ${d} (band ${Math.floor(d / (s.width * s.height))}): ${s.pixels[d]} vs numpy ${expected[d]}`);
}

test('decodeChip reads every layout as GDAL does and normalises exactly as Clay v0 (numpy float16 oracle)', async () => {
  assert.ok(files.length >= 9);
  for (const f of files) {
    const bytes = new Uint8Array(await readFile(f.ref.url));
    const s = decodeChip(bytes, f.ref);
    assert.equal(s.url, f.ref.url, f.name);
    assert.deepEqual([s.width, s.height, s.pixels.length], [SIZE, SIZE, 13 * SIZE * SIZE], f.name);
    await oracle(f, s);
  }
});

test('decodeChip: the float16 edge cases keep v0 semantics (NaN stays NaN, overflow to infinity, ties to even)', async () => {
  const f = files.find((x) => x.name.startsWith('ours'))!;
  const s = decodeChip(new Uint8Array(await readFile(f.ref.url)), f.ref);
  assert.ok(Number.isNaN(s.pixels[5]!));
  assert.equal(s.pixels[6], Infinity);
  // 65510 -> 65504; (65504 - 1369) / 2027 = 31.64 -> 31.640625 in float16.
  assert.equal(s.pixels[7], 31.640625);
  assert.equal(s.pixels[8], Infinity);
  // decodeChip leaves the caller's bytes alone (predictor 3 undoes in place on its own copy).
  const p = files.find((x) => x.name.startsWith("v0's"))!;
  const bytes = new Uint8Array(await readFile(p.ref.url));
  const copy = bytes.slice();
  decodeChip(bytes, p.ref);
  assert.deepEqual(bytes, copy);
});

test('decodeChip: anything wrong is CHIP_CORRUPT naming the chip', async () => {
  const f = files.find((x) => x.name.startsWith('ours'))!;
  const good = new Uint8Array(await readFile(f.ref.url));
  const grid = chipGrid('31TGL', 3, 32);
  const small = syntheticPlanes(32, 1);
  const opts = chipTiffOptions(grid, '2021-06-15', DEFAULT_ENCODING);
  const concat = (chunks: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(chunks));
  const flipped = good.slice();
  for (let i = good.length - 4000; i < good.length - 3000; i++) flipped[i] = flipped[i]! ^ 0x5a;
  const cases: [string, Uint8Array, ChipRef][] = [
    ['truncated in the pixels', good.subarray(0, Math.floor(good.length * 0.6)), f.ref],
    ['truncated in the header', good.subarray(0, 100), f.ref],
    ['empty', new Uint8Array(0), f.ref],
    ['not a TIFF', new TextEncoder().encode('<html>not found</html>'.repeat(10)), f.ref],
    ['garbled DEFLATE', flipped, f.ref],
    ['a date that is not the name\'s', good, { ...f.ref, date: '2021-06-16' }],
    ['no date', concat(encodeTiff({ width: 32, height: 32, samples: 13, raster: { dtype: 'float32', data: small }, interleave: 'band' }, { ...opts, metadata: {} })), f.ref],
    ['12 bands', concat(encodeTiff({ width: 32, height: 32, samples: 12, raster: { dtype: 'float32', data: small.subarray(0, 12 * 1024) }, interleave: 'band' }, { ...opts, bands: [] })), f.ref],
    ['uint16', concat(encodeTiff({ width: 32, height: 32, samples: 13, raster: { dtype: 'uint16', data: new Uint16Array(13 * 1024) }, interleave: 'band' }, opts)), f.ref],
    ['no CRS', concat(encodeTiff({ width: 32, height: 32, samples: 13, raster: { dtype: 'float32', data: small }, interleave: 'band' }, { ...opts, geo: undefined })), f.ref],
  ];
  for (const [name, bytes, ref] of cases) {
    assert.throws(() => decodeChip(bytes, ref), (e: unknown) => isClayError(e, 'CHIP_CORRUPT') && e.input === ref.url && e.message.includes(ref.url), name);
  }
  // A size other than the one asked for.
  const ok = concat(encodeTiff({ width: 32, height: 32, samples: 13, raster: { dtype: 'float32', data: small }, interleave: 'band' }, opts));
  assert.equal(decodeChip(ok, f.ref).width, 32);
  assert.throws(() => decodeChip(ok, f.ref, { size: 512 }), (e: unknown) => isClayError(e, 'CHIP_CORRUPT'));
});
