/**
 * Every GeoTIFF variant GDAL writes that the COG reader claims to read, read through it over HTTP and
 * compared pixel for pixel with what GDAL reads from the same file: sample types (8 to 64-bit integers,
 * signed and unsigned, float16/32/64), predictors 1, 2 and 3, compressions NONE, DEFLATE, LZW, ZSTD,
 * PACKBITS, LERC, JPEG, tiled and stripped, chunky and planar, overviews and masks, classic and BigTIFF,
 * little and big endian. Windows cross tile edges and reach (and pass) the right and bottom edges. What the
 * reader cannot decode is COG_UNSUPPORTED naming the compression, never COG_CORRUPT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { HttpClient } from '../../../core/http.ts';
import { isClayError } from '../../../core/errors.ts';
import { Cog } from '../../../pipeline/read/cog.ts';
import type { Window } from '../../../core/grid.ts';
import { serveFolder } from '../../helpers/file-server.ts';
import { gdalReads, gdalStructure, HEIGHT, WIDTH, writeVariant, type Variant, type VariantType } from './cog-variants.ts';

const INTS: VariantType[] = ['Byte', 'Int8', 'UInt16', 'Int16', 'UInt32', 'Int32', 'Int64', 'UInt64'];
const FLOATS: VariantType[] = ['Float16', 'Float32', 'Float64'];
const TILED = ['TILED=YES', 'BLOCKXSIZE=128', 'BLOCKYSIZE=128'];

/** Every type x (compression, predictor), single band, tiled, little-endian classic TIFF. */
function codecMatrix(): Variant[] {
  const out: Variant[] = [];
  for (const type of [...INTS, ...FLOATS]) {
    const predictors = FLOATS.includes(type) ? [1, 2, 3] : [1, 2];
    const add = (compress: string, predictor?: number) => out.push({
      name: `${type}-${compress}${predictor ? `-p${predictor}` : ''}`.toLowerCase(), type, bands: 1,
      co: [...TILED, `COMPRESS=${compress}`, ...(predictor ? [`PREDICTOR=${predictor}`] : [])],
    });
    add('NONE');
    add('PACKBITS');
    for (const compress of ['DEFLATE', 'LZW', 'ZSTD']) for (const p of predictors) add(compress, p);
  }
  return out;
}

/** Layouts and containers over a few types: strips, chunky and planar bands, BigTIFF, big-endian, overviews with masks, COG. */
function layoutMatrix(): Variant[] {
  const out: Variant[] = [];
  for (const type of ['Byte', 'UInt16', 'Int64', 'Float16', 'Float32', 'Float64'] as VariantType[]) {
    const p = FLOATS.includes(type) ? 3 : 2;
    const t = type.toLowerCase();
    out.push(
      { name: `${t}-strips-p2`, type, bands: 1, co: ['TILED=NO', 'BLOCKYSIZE=37', 'COMPRESS=DEFLATE', 'PREDICTOR=2'] },
      { name: `${t}-strips-lzw-p${p}`, type, bands: 1, co: ['TILED=NO', 'BLOCKYSIZE=64', 'COMPRESS=LZW', `PREDICTOR=${p}`] },
      { name: `${t}-chunky-p2`, type, bands: 3, co: [...TILED, 'INTERLEAVE=PIXEL', 'COMPRESS=DEFLATE', 'PREDICTOR=2'] },
      { name: `${t}-chunky-strips-p${p}`, type, bands: 3, co: ['TILED=NO', 'BLOCKYSIZE=50', 'INTERLEAVE=PIXEL', 'COMPRESS=ZSTD', `PREDICTOR=${p}`] },
      { name: `${t}-planar-p${p}`, type, bands: 3, co: [...TILED, 'INTERLEAVE=BAND', 'COMPRESS=LZW', `PREDICTOR=${p}`] },
      { name: `${t}-bigtiff-p2`, type, bands: 1, co: [...TILED, 'BIGTIFF=YES', 'COMPRESS=DEFLATE', 'PREDICTOR=2'] },
      { name: `${t}-bigendian-p1`, type, bands: 1, co: [...TILED, 'ENDIANNESS=BIG', 'COMPRESS=DEFLATE'] },
      { name: `${t}-bigendian-p2`, type, bands: 3, co: [...TILED, 'ENDIANNESS=BIG', 'INTERLEAVE=PIXEL', 'COMPRESS=DEFLATE', 'PREDICTOR=2'] },
      { name: `${t}-bigendian-p${p}-planar`, type, bands: 2, co: [...TILED, 'ENDIANNESS=BIG', 'INTERLEAVE=BAND', 'COMPRESS=ZSTD', `PREDICTOR=${p}`] },
      { name: `${t}-overviews-mask`, type, bands: 1, co: [...TILED, 'COMPRESS=DEFLATE', 'PREDICTOR=2'], overviews: true },
      { name: `${t}-cog`, type, bands: 1, co: ['COMPRESS=DEFLATE', `PREDICTOR=${p === 3 ? 'FLOATING_POINT' : 'STANDARD'}`, 'BLOCKSIZE=128'], driver: 'COG', overviews: true },
    );
  }
  // The DEM of the issue: float32, DEFLATE, horizontal predictor, 1024 px tiles (larger than the image).
  out.push({ name: 'dem-float32-deflate-p2-1024', type: 'Float32', bands: 1, co: ['TILED=YES', 'BLOCKXSIZE=1024', 'BLOCKYSIZE=1024', 'COMPRESS=DEFLATE', 'PREDICTOR=2'] });
  // LERC (lossless: MAX_Z_ERROR=0), alone and wrapped in DEFLATE or ZSTD.
  for (const compress of ['LERC', 'LERC_DEFLATE', 'LERC_ZSTD']) {
    out.push({ name: `float32-${compress}`.toLowerCase(), type: 'Float32', bands: 1, co: [...TILED, `COMPRESS=${compress}`, 'MAX_Z_ERROR=0'] });
    out.push({ name: `uint16-${compress}-chunky`.toLowerCase(), type: 'UInt16', bands: 2, co: [...TILED, `COMPRESS=${compress}`, 'MAX_Z_ERROR=0', 'INTERLEAVE=PIXEL'] });
  }
  return out;
}

/** Windows: the whole image, across tile edges, to the right/bottom edges exactly, past them, before the origin. */
const WINDOWS: Window[] = [
  { col: 0, row: 0, width: WIDTH, height: HEIGHT },
  { col: 100, row: 90, width: 70, height: 60 },
  { col: 250, row: 120, width: WIDTH - 250, height: HEIGHT - 120 },
  { col: 280, row: 185, width: 40, height: 30 },
  { col: -6, row: -3, width: 140, height: 140 },
];

/** The bytes of `window` of a whole-image reference (`size` bytes a pixel); 0 outside the image. */
function windowOf(ref: Uint8Array, width: number, height: number, size: number, w: Window): Uint8Array {
  const out = new Uint8Array(w.width * w.height * size);
  for (let r = 0; r < w.height; r++) {
    const row = w.row + r;
    if (row < 0 || row >= height) continue;
    for (let c = 0; c < w.width; c++) {
      const col = w.col + c;
      if (col < 0 || col >= width) continue;
      out.set(ref.subarray((row * width + col) * size, (row * width + col + 1) * size), (r * w.width + c) * size);
    }
  }
  return out;
}

const bytesOf = (data: ArrayBufferView): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

/**
 * Equal as floats, any NaN equal to any NaN: GDAL keeps a NaN's payload through float16 -> float32, we give
 * the canonical NaN. (GDAL 3.6 writes ENDIANNESS=BIG + PREDICTOR=3 files whose samples come back byte-swapped,
 * NaNs among them, in GDAL itself too; libtiff's rule, which we follow, reads them the same way.)
 */
function sameFloats(ours: ArrayLike<number>, want: Uint8Array): boolean {
  if (!(ours instanceof Float32Array || ours instanceof Float64Array)) return false;
  const ref = ours instanceof Float32Array ? new Float32Array(want.slice().buffer) : new Float64Array(want.slice().buffer);
  if (ref.length !== ours.length) return false;
  for (let i = 0; i < ref.length; i++) if (ref[i] !== ours[i] && !(Number.isNaN(ref[i]!) && Number.isNaN(ours[i]!))) return false;
  return true;
}

/** Opens each variant over HTTP and compares every band and window with GDAL's reading (and each overview). */
async function checkVariants(variants: Variant[], seed: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'clay-cog-variants-'));
  const served = await serveFolder(dir);
  const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 5 });
  let compared = 0;
  try {
    for (const [k, v] of variants.entries()) {
      const file = await writeVariant(dir, v, seed + k);
      const href = `${served.base}${basename(file)}`;
      for (let band = 0; band < v.bands; band++) {
        const levels: (number | undefined)[] = v.overviews ? [undefined, 0, 1] : [undefined];
        for (const overview of levels) {
          const ref = await gdalReads(dir, file, v.type, band, overview);
          // DEFLATE tiles decode on this thread (libuv's zlib) or on the pipeline's workers (the chip job's way).
          for (const decodeInWorkers of [false, true]) {
          const cog = await Cog.open(href, { http, band, decodeInWorkers, ...(overview === undefined ? {} : { overview }) });
          const { width, height } = cog.grid;
          const size = ref.byteLength / (width * height);
          assert.equal(size, cog.dtype === 'float64' ? 8 : cog.dtype === 'float32' || cog.dtype.endsWith('32') ? 4 : cog.dtype.endsWith('16') ? 2 : 1, `${v.name}: dtype ${cog.dtype}`);
          const windows = overview === undefined ? WINDOWS : [{ col: 0, row: 0, width, height }, { col: width - 30, row: height - 20, width: 40, height: 30 }];
          for (const w of windows) {
            const ours = await cog.readWindow(w, { fill: 0 });
            const want = windowOf(ref, width, height, size, w);
            const got = bytesOf(ours.data);
            if (!Buffer.from(got).equals(Buffer.from(want)) && !sameFloats(ours.data, want)) {
              let i = 0;
              while (got[i] === want[i]) i++;
              assert.fail(`${v.name} band ${band} overview ${overview ?? '-'}${decodeInWorkers ? ' (decoded in workers)' : ''} window ${JSON.stringify(w)}: first differing byte ${i} (pixel ${Math.floor(i / size)}): ours ${got[i]}, GDAL ${want[i]}`);
            }
            if (!decodeInWorkers) compared++;
          }
          }
        }
      }
    }
  } finally {
    await served.close();
    await rm(dir, { recursive: true, force: true });
  }
  return compared;
}

test('every sample type x compression x predictor reads as GDAL reads it (tiled, every window)', async () => {
  const variants = codecMatrix();
  const compared = await checkVariants(variants, 1000);
  assert.equal(compared, variants.length * WINDOWS.length);
});

test('strips, chunky and planar bands, BigTIFF, big-endian, overviews with masks, COG, LERC read as GDAL reads them', async () => {
  const variants = layoutMatrix();
  // The matrix really holds what it says: GDAL reports the interleave, the blocks, the overviews and masks.
  const dir = await mkdtemp(join(tmpdir(), 'clay-cog-structure-'));
  try {
    const planar = await gdalStructure(await writeVariant(dir, variants.find((v) => v.name === 'float32-planar-p3')!, 1));
    assert.equal(planar.interleave, 'BAND');
    const strips = await gdalStructure(await writeVariant(dir, variants.find((v) => v.name === 'uint16-strips-p2')!, 1));
    assert.deepEqual(strips.bands[0]!.block, [WIDTH, 37]);
    const ovr = await gdalStructure(await writeVariant(dir, variants.find((v) => v.name === 'float16-cog')!, 1));
    assert.equal(ovr.bands[0]!.overviews?.length, 2);
    assert.deepEqual(ovr.bands[0]!.mask?.flags, ['PER_DATASET']);
    assert.equal(ovr.bands[0]!.type, 'Float32');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const compared = await checkVariants(variants, 2000);
  assert.ok(compared > variants.length * 2, `${compared} windows compared`);
});

test('JPEG (8-bit, grey and RGB) reads within one grey level of GDAL; YCbCr JPEG, LZMA and WebP are COG_UNSUPPORTED naming the compression', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-cog-jpeg-'));
  const served = await serveFolder(dir);
  const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 5 });
  try {
    const jpegs: Variant[] = [
      { name: 'byte-jpeg', type: 'Byte', bands: 1, co: [...TILED, 'COMPRESS=JPEG'], pixels: 'smooth' },
      { name: 'byte-jpeg-rgb', type: 'Byte', bands: 3, co: [...TILED, 'COMPRESS=JPEG', 'PHOTOMETRIC=RGB'], pixels: 'smooth' },
    ];
    for (const [k, v] of jpegs.entries()) {
      const file = await writeVariant(dir, v, 3000 + k);
      for (let band = 0; band < v.bands; band++) {
        const cog = await Cog.open(`${served.base}${basename(file)}`, { http, band });
        const ref = await gdalReads(dir, file, v.type, band);
        const ours = (await cog.readWindow({ col: 0, row: 0, width: WIDTH, height: HEIGHT })).data;
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
        assert.ok(worst <= 1, `${v.name} band ${band}: worst difference ${worst} grey levels`);
      }
    }
    const unsupported: [Variant, string][] = [
      [{ name: 'byte-jpeg-ycbcr', type: 'Byte', bands: 3, co: [...TILED, 'COMPRESS=JPEG', 'PHOTOMETRIC=YCBCR'], pixels: 'smooth' }, 'YCbCr'],
      [{ name: 'uint16-lzma', type: 'UInt16', bands: 1, co: [...TILED, 'COMPRESS=LZMA'] }, 'LZMA'],
      [{ name: 'byte-webp', type: 'Byte', bands: 3, co: [...TILED, 'COMPRESS=WEBP', 'WEBP_LOSSLESS=YES'], pixels: 'smooth' }, 'WEBP'],
    ];
    for (const [k, [v, named]] of unsupported.entries()) {
      const file = await writeVariant(dir, v, 4000 + k);
      await assert.rejects(Cog.open(`${served.base}${basename(file)}`, { http }), (err: unknown) => {
        assert.ok(isClayError(err, 'COG_UNSUPPORTED'), `${v.name}: ${String(err)}`);
        assert.ok(err.message.includes(named) && err.message.includes(basename(file)), err.message);
        return true;
      });
    }
    // A band past the last is a BAD_ARGUMENT naming the count.
    const file = await writeVariant(dir, { name: 'uint16-2bands', type: 'UInt16', bands: 2, co: TILED }, 5000);
    await assert.rejects(Cog.open(`${served.base}${basename(file)}`, { http, band: 2 }), (err: unknown) => isClayError(err, 'BAD_ARGUMENT'));
  } finally {
    await served.close();
    await rm(dir, { recursive: true, force: true });
  }
});

/** True when GDAL fails to read every pixel of `file` (the oracle for "corrupt"). */
async function gdalFails(dir: string, file: string): Promise<boolean> {
  try {
    await gdalReads(dir, file, 'Float32', 0);
    return false;
  } catch {
    return true;
  }
}

test('COG_CORRUPT only where GDAL fails too (truncated tile, tile offset past the end, inflate error), naming the file and the tile, decoded here or in workers; the other tiles still read', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-cog-corrupt-'));
  const served = await serveFolder(dir);
  const http = new HttpClient({ maxAttempts: 1 });
  try {
    const v: Variant = { name: 'good', type: 'Float32', bands: 1, co: [...TILED, 'COMPRESS=DEFLATE', 'PREDICTOR=2'] };
    const good = new Uint8Array(await readFile(await writeVariant(dir, v, 6000)));
    const probe = await Cog.open(`${served.base}good.tif`, { http });
    const last = probe.tileByteRange(2, 1); // tile 5, the last one written
    const middle = probe.tileByteRange(1, 0); // tile 1
    const offsetAt = Buffer.from(good.subarray(0, 4096)).indexOf(Buffer.from(new Uint32Array([last.offset]).buffer));
    assert.ok(offsetAt > 0, 'tile 5 offset found in the header');
    const files: Record<string, Uint8Array> = {
      'truncated.tif': good.slice(0, last.offset + 10),
      'offset.tif': (() => { const b = good.slice(); new DataView(b.buffer).setUint32(offsetAt, good.byteLength + 100_000, true); return b; })(),
      'inflate.tif': (() => { const b = good.slice(); for (let i = middle.offset + 2; i < middle.offset + 40; i++) b[i] = 0xff ^ b[i]!; return b; })(),
    };
    for (const [name, bytes] of Object.entries(files)) {
      await writeFile(join(dir, name), bytes);
      assert.ok(await gdalFails(dir, join(dir, name)), `GDAL reads ${name}: not a corrupt file`);
      const tile = name === 'inflate.tif' ? 1 : 5;
      for (const decodeInWorkers of [false, true]) {
        const cog = await Cog.open(`${served.base}${name}`, { http, decodeInWorkers });
        await assert.rejects(cog.readWindow({ col: 0, row: 0, width: WIDTH, height: HEIGHT }), (err: unknown) => {
          assert.ok(isClayError(err, 'COG_CORRUPT'), `${name}${decodeInWorkers ? ' (workers)' : ''}: ${String(err)}`);
          assert.ok(err.message.includes(name) && err.message.includes(`tile ${tile}`), err.message);
          return true;
        });
        await assert.doesNotReject(cog.readWindow({ col: 0, row: 130, width: 100, height: 60 }), `${name}: tile 3 still reads`);
      }
    }
  } finally {
    await served.close();
    await rm(dir, { recursive: true, force: true });
  }
});
