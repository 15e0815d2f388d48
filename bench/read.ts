/**
 * COG decode benchmark: one 2048 x 2048 image per variant (sample type x compression x predictor x layout,
 * textured pixels: a field plus sensor-like noise), written by `gdal_translate`, served on 127.0.0.1 and read
 * whole through the project's COG reader (cold tile cache each pass); beside it, in the same run, GDAL
 * reading the same local file (`gdal_translate -of ENVI`, one process per pass, start-up included). Prints
 * per variant the stored MB, our decoded MB/s, GDAL's, and ours / GDAL's, so a slow path is visible.
 *
 *   node --import tsx bench/read.ts [--passes 3] [--only NAME,NAME] [--decoder zlib|geotiff]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { HttpClient } from '../core/http.ts';
import { Cog, type CachedTile, type TileDecoder } from '../pipeline/read/cog.ts';
import { TileCache } from '../pipeline/read/tile-cache.ts';
import { serveFolder } from '../test/helpers/file-server.ts';
import { writeVariant, type Variant } from '../test/pipeline/read/cog-variants.ts';

const run = promisify(execFile);
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const passes = Number(arg('passes', '3'));
const only = arg('only', '').split(',').filter(Boolean);
const decoder = arg('decoder', 'zlib') as TileDecoder;
if (decoder !== 'zlib' && decoder !== 'geotiff') throw new Error('--decoder must be zlib or geotiff');

const SIZE = 2048;
const TILES = ['TILED=YES', 'BLOCKXSIZE=512', 'BLOCKYSIZE=512'];
const v = (name: string, type: Variant['type'], co: string[], bands = 1): Variant => ({ name, type, bands, co, pixels: 'texture', width: SIZE, height: SIZE });
const VARIANTS: Variant[] = [
  v('uint16-none', 'UInt16', [...TILES]),
  v('uint16-deflate-p2', 'UInt16', [...TILES, 'COMPRESS=DEFLATE', 'PREDICTOR=2']),
  v('uint16-lzw-p2', 'UInt16', [...TILES, 'COMPRESS=LZW', 'PREDICTOR=2']),
  v('uint16-zstd-p2', 'UInt16', [...TILES, 'COMPRESS=ZSTD', 'PREDICTOR=2']),
  v('uint16-packbits', 'UInt16', [...TILES, 'COMPRESS=PACKBITS']),
  v('uint16-lerc-zstd', 'UInt16', [...TILES, 'COMPRESS=LERC_ZSTD', 'MAX_Z_ERROR=0']),
  v('uint16-deflate-p2-bigendian', 'UInt16', [...TILES, 'COMPRESS=DEFLATE', 'PREDICTOR=2', 'ENDIANNESS=BIG']),
  v('uint16-deflate-p2-strips', 'UInt16', ['TILED=NO', 'BLOCKYSIZE=64', 'COMPRESS=DEFLATE', 'PREDICTOR=2']),
  v('uint16-deflate-p2-chunky3', 'UInt16', [...TILES, 'COMPRESS=DEFLATE', 'PREDICTOR=2', 'INTERLEAVE=PIXEL'], 3),
  v('float32-deflate-p2', 'Float32', [...TILES, 'COMPRESS=DEFLATE', 'PREDICTOR=2']),
  v('float32-deflate-p3', 'Float32', [...TILES, 'COMPRESS=DEFLATE', 'PREDICTOR=3']),
  v('float32-lzw-p3', 'Float32', [...TILES, 'COMPRESS=LZW', 'PREDICTOR=3']),
  v('float32-zstd-p3', 'Float32', [...TILES, 'COMPRESS=ZSTD', 'PREDICTOR=3']),
  v('float32-lerc', 'Float32', [...TILES, 'COMPRESS=LERC', 'MAX_Z_ERROR=0']),
  v('float16-deflate-p3', 'Float16', [...TILES, 'COMPRESS=DEFLATE', 'PREDICTOR=3']),
  v('float64-deflate-p2', 'Float64', [...TILES, 'COMPRESS=DEFLATE', 'PREDICTOR=2']),
  v('int64-zstd-p2', 'Int64', [...TILES, 'COMPRESS=ZSTD', 'PREDICTOR=2']),
  { ...v('byte-jpeg', 'Byte', [...TILES, 'COMPRESS=JPEG']), pixels: 'smooth' as const },
].filter((x) => only.length === 0 || only.includes(x.name));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = await mkdtemp(join(tmpdir(), 'clay-bench-read-'));
const served = await serveFolder(dir);
const http = new HttpClient({});
try {
  console.log(`COG decode, ${SIZE} x ${SIZE} per band, tiles 512 (strips 64 rows), median of ${passes} passes, decoder ${decoder}`);
  console.log(['variant', 'stored MB', 'decoded MB', 'ours MB/s', 'GDAL MB/s', 'ours/GDAL'].map((h, i) => (i === 0 ? h.padEnd(30) : h.padStart(11))).join(''));
  for (const [k, variant] of VARIANTS.entries()) {
    const file = await writeVariant(dir, variant, 7000 + k);
    const stored = (await stat(file)).size;
    const ours: number[] = [];
    const gdal: number[] = [];
    let decoded = 0;
    for (let p = 0; p < passes; p++) {
      const started = performance.now();
      const cog = await Cog.open(`${served.base}${basename(file)}`, { http, decoder, cache: new TileCache<CachedTile>(256 * 1024 * 1024) });
      const raster = await cog.readWindow({ col: 0, row: 0, width: SIZE, height: SIZE });
      ours.push(performance.now() - started);
      decoded = raster.data.byteLength;
      const g0 = performance.now();
      await run('gdal_translate', ['-q', '-of', 'ENVI', '-b', '1', file, join(dir, 'gdal.bin')]);
      gdal.push(performance.now() - g0);
    }
    const mbps = (ms: number): number => decoded / 1e6 / (ms / 1000);
    const row = [variant.name.padEnd(30), (stored / 1e6).toFixed(1), (decoded / 1e6).toFixed(1), mbps(median(ours)).toFixed(0), mbps(median(gdal)).toFixed(0), (median(gdal) / median(ours)).toFixed(2)];
    console.log(row.map((c, i) => (i === 0 ? c : c.padStart(11))).join(''));
  }
} finally {
  await served.close();
  await rm(dir, { recursive: true, force: true });
}
