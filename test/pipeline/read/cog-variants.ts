/**
 * Test helper: GeoTIFF variants written by GDAL (`gdal_translate`, `gdaladdo`) from seeded pixels, and what
 * GDAL itself reads back from them (`gdal_translate -of ENVI`), as the oracle for the project's COG reader.
 * The sources are raw little-endian files behind a VRT, so every GDAL type (64-bit integers too) starts
 * from bytes we chose; nothing binary is stored in the repository.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mulberry32 } from '../../../core/random.ts';

const run = promisify(execFile);

/** The sample types of the matrix: GDAL's names, plus Int8 (SIGNEDBYTE in GDAL 3.6) and Float16 (NBITS=16). */
export type VariantType = 'Byte' | 'Int8' | 'UInt16' | 'Int16' | 'UInt32' | 'Int32' | 'Int64' | 'UInt64' | 'Float16' | 'Float32' | 'Float64';

/** Bytes per sample of the source (Float16 starts as Float32). */
const SOURCE_BYTES: Record<VariantType, number> = { Byte: 1, Int8: 1, UInt16: 2, Int16: 2, UInt32: 4, Int32: 4, Int64: 8, UInt64: 8, Float16: 4, Float32: 4, Float64: 8 };

/** Image size of every variant: tiles of 128 leave partial tiles on the right and bottom. */
export const WIDTH = 300;
export const HEIGHT = 200;

/** One file to write. */
export interface Variant {
  name: string;
  type: VariantType;
  bands: number;
  /** GTiff (or COG) creation options, `KEY=VALUE`. */
  co: string[];
  driver?: 'GTiff' | 'COG';
  /** Internal mask (from band 1) and overviews 2 and 4 (`gdaladdo`), masks of the overviews included. */
  overviews?: boolean;
  /**
   * `noise` (default): integers of random bytes (every bit of every word exercised), floats a field plus
   * noise; `smooth`: a smooth 8-bit field (for lossy JPEG); `texture`: a field plus sensor-like noise in
   * every type (what real imagery compresses like, for benchmarks).
   */
  pixels?: 'noise' | 'smooth' | 'texture';
  /** Image size (default WIDTH x HEIGHT). */
  width?: number;
  height?: number;
}

/** Seeded source pixels of `type`, `bands` bands, band-sequential, little-endian. */
function sourceBytes(type: VariantType, bands: number, seed: number, pixels: NonNullable<Variant['pixels']>, width: number, height: number): Uint8Array {
  const n = width * height * bands;
  const size = SOURCE_BYTES[type];
  const out = new Uint8Array(n * size);
  const view = new DataView(out.buffer);
  const rand = mulberry32(seed);
  for (let i = 0; i < n; i++) {
    const col = i % width;
    const row = Math.floor(i / width) % height;
    const band = Math.floor(i / (width * height));
    const field = Math.sin(col / 23 + band) * Math.cos(row / 17);
    if (pixels === 'smooth') {
      out[i] = Math.round(127 + 100 * field);
    } else if (pixels === 'texture' && type !== 'Float16' && type !== 'Float32' && type !== 'Float64') {
      // A reflectance-like field with +-16 of noise, within every integer type's range.
      const v = Math.round((size === 1 ? 100 : 3000) + (size === 1 ? 60 : 2000) * field + (rand() - 0.5) * 32);
      for (let b = 0; b < size; b++) out[i * size + b] = b < 4 ? (v >>> (8 * b)) & 0xff : 0;
    } else if (type === 'Float16' || type === 'Float32') {
      view.setFloat32(i * 4, 1500 * field + (rand() - 0.5) * 40, true);
    } else if (type === 'Float64') {
      view.setFloat64(i * 8, 1e6 * field + (rand() - 0.5) * 1e-3, true);
    } else {
      // Integers: every byte random, so differencing wraps around and the high words matter.
      for (let b = 0; b < size; b++) out[i * size + b] = Math.floor(rand() * 256);
    }
  }
  return out;
}

function vrt(type: VariantType, bands: number, raw: string, width: number, height: number): string {
  const gdalType = type === 'Int8' ? 'Byte' : type === 'Float16' ? 'Float32' : type;
  const size = SOURCE_BYTES[type];
  const band = (b: number) => `  <VRTRasterBand dataType="${gdalType}" band="${b + 1}" subClass="VRTRawRasterBand">
    <SourceFilename relativetoVRT="1">${raw}</SourceFilename>
    <ImageOffset>${b * width * height * size}</ImageOffset><PixelOffset>${size}</PixelOffset><LineOffset>${width * size}</LineOffset><ByteOrder>LSB</ByteOrder>
  </VRTRasterBand>`;
  return `<VRTDataset rasterXSize="${width}" rasterYSize="${height}">
  <SRS>EPSG:32631</SRS>
  <GeoTransform>500000, 10, 0, 5000000, 0, -10</GeoTransform>
${Array.from({ length: bands }, (_, b) => band(b)).join('\n')}
</VRTDataset>
`;
}

/** Writes `v` as `dir/{v.name}.tif` through GDAL; returns its path. */
export async function writeVariant(dir: string, v: Variant, seed: number): Promise<string> {
  const raw = `${v.name}.src.bin`;
  const width = v.width ?? WIDTH;
  const height = v.height ?? HEIGHT;
  await writeFile(join(dir, raw), sourceBytes(v.type, v.bands, seed, v.pixels ?? 'noise', width, height));
  await writeFile(join(dir, `${v.name}.src.vrt`), vrt(v.type, v.bands, raw, width, height));
  const file = join(dir, `${v.name}.tif`);
  const typeCo = v.type === 'Int8' ? ['PIXELTYPE=SIGNEDBYTE'] : v.type === 'Float16' ? ['NBITS=16'] : [];
  const co = [...typeCo, ...v.co].flatMap((c) => ['-co', c]);
  if (v.overviews) {
    // An internal mask and overviews (with their masks) first, then the requested layout copied from it.
    const staged = join(dir, `${v.name}.staged.tif`);
    await run('gdal_translate', ['-q', '-mask', '1', '--config', 'GDAL_TIFF_INTERNAL_MASK', 'YES', ...typeCo.flatMap((c) => ['-co', c]), '-co', 'TILED=YES', join(dir, `${v.name}.src.vrt`), staged]);
    await run('gdaladdo', ['-q', '-r', 'nearest', '--config', 'GDAL_TIFF_INTERNAL_MASK', 'YES', staged, '2', '4']);
    const copy = v.driver === 'COG' ? [] : ['-co', 'COPY_SRC_OVERVIEWS=YES'];
    await run('gdal_translate', ['-q', '-of', v.driver ?? 'GTiff', '--config', 'GDAL_TIFF_INTERNAL_MASK', 'YES', ...copy, ...co, staged, file]);
  } else {
    await run('gdal_translate', ['-q', '-of', v.driver ?? 'GTiff', ...co, join(dir, `${v.name}.src.vrt`), file]);
  }
  return file;
}

/**
 * What GDAL reads from band `band` (0-based) of `file` (overview `overview` when given), whole, as raw
 * little-endian bytes of the type our reader returns: Float32 for Float16, Float64 for 64-bit integers.
 */
export async function gdalReads(dir: string, file: string, type: VariantType, band: number, overview?: number): Promise<Uint8Array> {
  const out = join(dir, `ref-${Math.random().toString(36).slice(2)}.bin`);
  const ot = type === 'Int64' || type === 'UInt64' ? ['-ot', 'Float64'] : [];
  const ovr = overview === undefined ? [] : ['-ovr', String(overview)];
  await run('gdal_translate', ['-q', '-of', 'ENVI', '-b', String(band + 1), ...ot, ...ovr, file, out]);
  return new Uint8Array(await readFile(out));
}

/** What `gdalinfo -json` says of a file's structure (to check the matrix really has each variant). */
export async function gdalStructure(file: string): Promise<{ compression?: string; interleave?: string; bands: { type: string; block: [number, number]; overviews?: unknown[]; mask?: { flags: string[] } }[] }> {
  const info = JSON.parse((await run('gdalinfo', ['-json', file])).stdout) as {
    metadata?: { IMAGE_STRUCTURE?: { COMPRESSION?: string; INTERLEAVE?: string } };
    bands: { type: string; block: [number, number]; overviews?: unknown[]; mask?: { flags: string[] } }[];
  };
  return { ...(info.metadata?.IMAGE_STRUCTURE?.COMPRESSION ? { compression: info.metadata.IMAGE_STRUCTURE.COMPRESSION } : {}), ...(info.metadata?.IMAGE_STRUCTURE?.INTERLEAVE ? { interleave: info.metadata.IMAGE_STRUCTURE.INTERLEAVE } : {}), bands: info.bands };
}
