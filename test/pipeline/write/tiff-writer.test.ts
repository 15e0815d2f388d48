import * as assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromFile } from 'geotiff';
import { isClayError } from '../../../core/errors.ts';
import { loadZstd } from '../../../core/zstd.ts';
import { byteLength, encodeTiff, encodeTiffAsync, writeTiff } from '../../../pipeline/write/tiff-writer.ts';
import type { TiffImage } from '../../../pipeline/write/tiff-writer.ts';
import { gdalinfo, gdalValuesMany, gdalWarnings, haveGdal, readIfds } from './oracle.ts';

const skip = haveGdal() ? false : 'gdal-bin is not installed';
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tiff-writer-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A texture where a one-pixel shift changes the value. */
const u16 = (x: number, y: number): number => 300 + ((7 * x + 13 * y) % 97) + (x >> 6) * 11;

function uint16Image(w: number, h: number): TiffImage {
  const data = new Uint16Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = u16(x, y);
  data[5] = 0;
  return { width: w, height: h, samples: 1, raster: { dtype: 'uint16', data } };
}

const POINTS: Array<[number, number]> = [
  [0, 0],
  [5, 0],
  [1, 0],
  [0, 1],
  [511, 511],
  [512, 3],
  [299, 250],
];

describe('tiff-writer vs gdalinfo', { skip }, () => {
  it('uint16, 1-row strips, DEFLATE, horizontal predictor, projected EPSG', async () => {
    const img = uint16Image(700, 520);
    const path = join(dir, 'u16.tif');
    await writeTiff(path, img, {
      layout: { kind: 'strips', rowsPerStrip: 1 },
      predictor: 'horizontal',
      nodata: 0,
      geo: { epsg: 32631, transform: [720000, 10, 0, 5071000, 0, -10] },
    });
    assert.equal(gdalWarnings(path), '');
    const info = gdalinfo(path);
    assert.deepEqual(info.size, [700, 520]);
    assert.equal(info.stac?.['proj:epsg'], 32631);
    assert.deepEqual(info.geoTransform, [720000, 10, 0, 5071000, 0, -10]);
    assert.equal(info.metadata['']?.['AREA_OR_POINT'], 'Area');
    assert.equal(info.metadata['IMAGE_STRUCTURE']?.['COMPRESSION'], 'DEFLATE');
    assert.equal(info.metadata['IMAGE_STRUCTURE']?.['PREDICTOR'], '2');
    const b = info.bands[0];
    assert.equal(b?.type, 'UInt16');
    assert.deepEqual(b?.block, [700, 1]);
    assert.equal(b?.noDataValue, 0);
    const got = gdalValuesMany(path, POINTS.filter(([c, r]) => c < 700 && r < 520));
    POINTS.forEach(([c, r], i) => assert.deepEqual(got[i], [c === 5 && r === 0 ? 0 : u16(c, r)], `pixel ${c},${r}`));
  });

  it('ZSTD (compression 50000): uint16 tiles with the horizontal predictor, float32 strips with the floating-point predictor; GDAL reads what was written', async () => {
    const img = uint16Image(700, 520);
    const path = join(dir, 'u16-zstd.tif');
    await writeTiff(path, img, { layout: { kind: 'tiles', width: 256, height: 256 }, compression: 'zstd', level: 3, predictor: 'horizontal' });
    assert.equal(gdalWarnings(path), '');
    const info = gdalinfo(path);
    assert.equal(info.metadata['IMAGE_STRUCTURE']?.['COMPRESSION'], 'ZSTD');
    assert.equal(info.metadata['IMAGE_STRUCTURE']?.['PREDICTOR'], '2');
    const got = gdalValuesMany(path, POINTS.filter(([c, r]) => c < 700 && r < 520));
    POINTS.forEach(([c, r], i) => assert.deepEqual(got[i], [c === 5 && r === 0 ? 0 : u16(c, r)], `pixel ${c},${r}`));
    const f = new Float32Array(300 * 40 * 3).map((_, i) => Math.sin(i * 0.37) * 1000 + (i % 7) * 1e-3);
    const fpath = join(dir, 'f32-zstd.tif');
    await writeTiff(fpath, { width: 300, height: 40, samples: 3, raster: { dtype: 'float32', data: f } }, { layout: { kind: 'strips', rowsPerStrip: 16 }, compression: 'zstd', predictor: 'float' });
    assert.equal(gdalinfo(fpath).metadata['IMAGE_STRUCTURE']?.['PREDICTOR'], '3');
    const fpts: Array<[number, number]> = [[0, 0], [299, 39], [17, 20]];
    const vals = gdalValuesMany(fpath, fpts);
    // gdallocationinfo prints 15 significant digits: the float32 nearest to what it prints.
    fpts.forEach(([c, r], i) => assert.deepEqual(vals[i]!.map((v) => Math.fround(v)), [0, 1, 2].map((k) => f[(r * 300 + c) * 3 + k]!), `pixel ${c},${r}`));
  });

  it('13-band float32 chip: band-sequential input, descriptions, colour interpretation, date tag', async () => {
    const w = 512;
    const names = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12', 'vh', 'vv', 'dem'];
    const data = new Float32Array(w * w * 13);
    for (let b = 0; b < 13; b++) for (let i = 0; i < w * w; i++) data[b * w * w + i] = b * 1000 + (i % 977) * 0.25;
    const path = join(dir, 'chip.tif');
    await writeTiff(
      path,
      { width: w, height: w, samples: 13, raster: { dtype: 'float32', data }, interleave: 'band' },
      {
        layout: { kind: 'strips', rowsPerStrip: 1 },
        geo: { epsg: 32631, transform: [725120, 10, 0, 5065880, 0, -10] },
        metadata: { date: '2021-06-15' },
        bands: names.map((description, i) => ({ description, colorInterp: (['Blue', 'Green', 'Red'] as const)[i] ?? 'Gray' })),
      },
    );
    assert.equal(gdalWarnings(path), '');
    const info = gdalinfo(path);
    assert.equal(info.bands.length, 13);
    assert.deepEqual(info.bands.map((b) => b.description), names);
    assert.deepEqual(info.bands.map((b) => b.colorInterpretation), ['Blue', 'Green', 'Red', ...new Array<string>(10).fill('Gray')]);
    assert.equal(info.metadata['']?.['date'], '2021-06-15');
    assert.equal(info.metadata['IMAGE_STRUCTURE']?.['INTERLEAVE'], 'PIXEL');
    assert.equal(info.bands[0]?.type, 'Float32');
    assert.equal(info.bands[0]?.noDataValue, undefined);
    const pts: Array<[number, number]> = [[0, 0], [511, 0], [3, 200], [511, 511]];
    const got = gdalValuesMany(path, pts);
    pts.forEach(([c, r], i) => {
      const idx = r * w + c;
      assert.deepEqual(got[i], names.map((_, b) => b * 1000 + (idx % 977) * 0.25));
    });
  });

  it('float32 EPSG:4326 PixelIsPoint DEM: GDAL shifts the centre tiepoint to the corner; geotiff.js sees the raw tiepoint', async () => {
    const w = 900;
    const h = 1080;
    const data = new Float32Array(w * h);
    for (let i = 0; i < data.length; i++) data[i] = Math.round((400 + (i % w) * 0.3 + Math.floor(i / w) * 0.7) * 4) / 4;
    data[77 * w + 33] = NaN;
    const x0 = 5.75 - 1 / 7200;
    const y0 = 45.8 + 1 / 7200;
    const path = join(dir, 'dem.tif');
    await writeTiff(path, { width: w, height: h, samples: 1, raster: { dtype: 'float32', data } }, {
      layout: { kind: 'tiles', width: 256, height: 256 },
      predictor: 'float',
      geo: { epsg: 4326, transform: [x0, 1 / 3600, 0, y0, 0, -1 / 3600], rasterType: 'point' },
    });
    assert.equal(gdalWarnings(path), '');
    const info = gdalinfo(path);
    assert.equal(info.stac?.['proj:epsg'], 4326);
    assert.equal(info.metadata['']?.['AREA_OR_POINT'], 'Point');
    assert.equal(info.metadata['IMAGE_STRUCTURE']?.['PREDICTOR'], '3');
    const gt = info.geoTransform ?? [];
    assert.ok(Math.abs((gt[0] ?? 0) - x0) < 1e-12 && Math.abs((gt[3] ?? 0) - y0) < 1e-12, `geotransform ${gt.join(',')}`);
    assert.deepEqual(info.bands[0]?.block, [256, 256]);
    const pts: Array<[number, number]> = [[0, 0], [33, 77], [899, 1079], [256, 255], [600, 700]];
    const got = gdalValuesMany(path, pts);
    pts.forEach(([c, r], i) => {
      const v = data[r * w + c] as number;
      if (Number.isNaN(v)) assert.ok(Number.isNaN(got[i]?.[0]));
      else assert.deepEqual(got[i], [v]);
    });
    const tiff = await fromFile(path);
    const image = await tiff.getImage();
    const [ox, oy] = image.getOrigin();
    assert.ok(Math.abs((ox ?? 0) - 5.75) < 1e-12 && Math.abs((oy ?? 0) - 45.8) < 1e-12, 'raw tiepoint = first pixel centre');
  });

  it('uint8 COG: IFDs first, mode overviews 2/4/8/16 as reduced-resolution IFDs, geotiff.js reads every level', async () => {
    const w = 1500;
    const h = 1100;
    const classes = [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100];
    const data = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = x < 40 ? 0 : (classes[(Math.floor(x / 64) + Math.floor(y / 48)) % 11] ?? 0);
    const path = join(dir, 'cog.tif');
    await writeTiff(path, { width: w, height: h, samples: 1, raster: { dtype: 'uint8', data } }, {
      layout: { kind: 'tiles', width: 256, height: 256 },
      nodata: 0,
      overviews: { factors: [2, 4, 8, 16], resampling: 'mode' },
      geo: { epsg: 4326, transform: [5.75, 1 / 12000, 0, 45.8, 0, -1 / 12000] },
    });
    assert.equal(gdalWarnings(path), '');
    const info = gdalinfo(path);
    assert.deepEqual(info.bands[0]?.overviews?.map((o) => o.size), [[750, 550], [375, 275], [188, 138], [94, 69]]);
    assert.equal(info.bands[0]?.noDataValue, 0);
    const ifds = readIfds(path);
    assert.equal(ifds.length, 5);
    assert.deepEqual(ifds.map((d) => d.tags.get(254)?.[0] ?? 0), [0, 1, 1, 1, 1]);
    const firstData = Math.min(...ifds.flatMap((d) => d.tags.get(324) ?? []));
    assert.ok(ifds.every((d) => d.offset < firstData), 'every IFD precedes the tile data');
    // Smallest overview's data first, full resolution last.
    const starts = ifds.map((d) => Math.min(...(d.tags.get(324) ?? [])));
    assert.deepEqual([...starts].sort((a, b) => b - a), starts);
    // Overview level 1 (factor 2): a 2x2 block inside one patch keeps the class; the nodata strip stays 0.
    const ov = gdalValuesMany(`GTIFF_DIR:2:${path}`, [[100, 100], [5, 5]]);
    assert.deepEqual(ov, [[data[200 * w + 200]], [0]]);
    const tiff = await fromFile(path);
    assert.equal(await tiff.getImageCount(), 5);
    const full = await (await tiff.getImage(0)).readRasters({ interleave: true });
    assert.deepEqual(Buffer.from(full as Uint8Array), Buffer.from(data));
  });
});

describe('tiff-writer: less common georeferencing and overviews', { skip }, () => {
  it('a rotated geotransform goes through ModelTransformation', async () => {
    const path = join(dir, 'rot.tif');
    const gt = [500000, 10, 2, 5000000, 1, -10] as const;
    await writeTiff(path, uint16Image(64, 48), { layout: { kind: 'strips', rowsPerStrip: 16 }, geo: { epsg: 32632, transform: gt } });
    const info = gdalinfo(path);
    assert.deepEqual(info.geoTransform, [...gt]);
    assert.equal(info.stac?.['proj:epsg'], 32632);
    assert.ok(readIfds(path)[0]?.tags.has(34264));
  });

  it('average overviews skip nodata and round for integers; band-sequential multi-band input', async () => {
    const w = 96;
    const h = 64;
    const data = new Uint16Array(w * h * 2);
    for (let i = 0; i < w * h; i++) {
      data[i] = (i % w) * 10 + 1; // band 1: a ramp across columns
      data[w * h + i] = i % 3 === 0 ? 0 : 500; // band 2: a third nodata
    }
    const path = join(dir, 'avg.tif');
    await writeTiff(path, { width: w, height: h, samples: 2, raster: { dtype: 'uint16', data }, interleave: 'band' }, {
      layout: { kind: 'tiles', width: 32, height: 32 },
      nodata: 0,
      overviews: { factors: [2], resampling: 'average' },
    });
    const info = gdalinfo(path);
    assert.deepEqual(info.bands[1]?.overviews?.map((o) => o.size), [[48, 32]]);
    // Overview pixel (5, 3) = mean of columns 10 and 11: (101 + 111) / 2 = 106; band 2 = 500 (nodata ignored).
    assert.deepEqual(gdalValuesMany(`GTIFF_DIR:2:${path}`, [[5, 3]]), [[106, 500]]);
  });
});

describe('tiff-writer encoding', () => {
  it('sync and async encoders give identical bytes; uncompressed size is exact', async () => {
    const img = uint16Image(300, 200);
    const opts = { layout: { kind: 'tiles', width: 128, height: 64 }, predictor: 'horizontal', nodata: 0 } as const;
    const a = Buffer.concat(encodeTiff(img, opts));
    const b = Buffer.concat(await encodeTiffAsync(img, opts, { concurrency: 3 }));
    assert.deepEqual(a, b);
    await loadZstd();
    const z = { ...opts, compression: 'zstd' } as const;
    assert.deepEqual(Buffer.concat(encodeTiff(img, z)), Buffer.concat(await encodeTiffAsync(img, z, { concurrency: 3 })), 'ZSTD on this thread and on the worker threads');
    const raw = encodeTiff(img, { layout: { kind: 'strips', rowsPerStrip: 7 }, compression: 'none' });
    const head = raw[0]?.length ?? 0;
    assert.equal(byteLength(raw) - head, 300 * 200 * 2);
  });

  it('geotiff.js decodes float predictor tiles with partial edge tiles and 3 interleaved samples', async () => {
    const w = 70;
    const h = 45;
    const data = new Float32Array(w * h * 3);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 100 + i * 0.01;
    const path = join(dir, 'f3.tif');
    await writeFile(path, Buffer.concat(encodeTiff({ width: w, height: h, samples: 3, raster: { dtype: 'float32', data } }, { layout: { kind: 'tiles', width: 32, height: 16 }, predictor: 'float', level: 9 })));
    const image = await (await fromFile(path)).getImage();
    const got = await image.readRasters({ interleave: true });
    assert.deepEqual(Array.from(got as Float32Array), Array.from(data));
  });

  it('rejects bad options with BAD_ARGUMENT and leaves no temporary file behind', async () => {
    const img = uint16Image(64, 64);
    assert.throws(() => encodeTiff(img, { predictor: 'float' }), (e: unknown) => isClayError(e, 'BAD_ARGUMENT'));
    assert.throws(() => encodeTiff(img, { layout: { kind: 'tiles', width: 100, height: 100 } }), (e: unknown) => isClayError(e, 'BAD_ARGUMENT'));
    assert.throws(() => encodeTiff({ ...img, width: 65 }), (e: unknown) => isClayError(e, 'BAD_ARGUMENT'));
    await writeTiff(join(dir, 'ok.tif'), img);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
  });
});
