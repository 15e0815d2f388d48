/**
 * Chip files: names and places as Clay v0 (`scripts/tile.py`: VERSION "02",
 * `{version}/{mgrs}/{YYYY-MM-DD}/claytile_{mgrs}_{YYYYMMDD}_v02_{NNNN}.tif`), and the GeoTIFF encoding:
 * 13 float32 bands, pixel-interleaved, strips, DEFLATE without predictor (what rioxarray's
 * `to_raster(compress="deflate")` wrote, in 512 x 1 strips), CRS + geotransform of the chip window, band descriptions,
 * colour interpretation, `date=YYYY-MM-DD`, `AREA_OR_POINT=Area` (GTRasterTypeGeoKey = PixelIsArea).
 */
import { createHash } from 'node:crypto';
import type { Grid } from '../../core/grid.ts';
import { encodeTiffShared } from '../worker/pool.ts';
import { encodeTiffAsync, type Predictor, type TiffImage, type TiffOptions } from '../write/tiff-writer.ts';
import { CHIP_BANDS } from './bands.ts';

/** Clay v0's dataset version, the first folder of the layout and the `_v02_` of the names. */
export const CHIP_VERSION = '02';

/** Where the chips of one (mgrs, date) unit live, relative to the output root, ending in '/'. */
export function unitPrefix(mgrs: string, date: string, version = CHIP_VERSION): string {
  return `${version}/${mgrs}/${date}/`;
}

/** The file name of chip `chip` (1-based position, kept or not) of a unit. */
export function chipFileName(mgrs: string, date: string, chip: number, version = CHIP_VERSION): string {
  return `claytile_${mgrs}_${date.replaceAll('-', '')}_v${version}_${String(chip).padStart(4, '0')}.tif`;
}

/** What a chip file name carries (the inverse of `chipFileName`). */
export interface ChipName {
  mgrs: string;
  /** `YYYY-MM-DD`. */
  date: string;
  chip: number;
  version: string;
}

/**
 * Parses `claytile_{mgrs}_{YYYYMMDD}_v{version}_{NNNN}.tif` (a bare name, no folder); undefined for any
 * other name, hidden temporary files of interrupted writes included.
 */
export function parseChipFileName(name: string): ChipName | undefined {
  const m = /^claytile_(\d{1,2}[A-Z]{3})_(\d{4})(\d{2})(\d{2})_v(\d+)_(\d{4,})\.tif$/.exec(name);
  if (m === null) return undefined;
  return { mgrs: m[1]!, date: `${m[2]}-${m[3]}-${m[4]}`, version: m[5]!, chip: Number(m[6]) };
}

/**
 * How chips are georeferenced: `true` is the chip window's own corner; `clay-v0` reproduces v0's
 * half-pixel bug (stackstac labels pixels by their top-left corner, rioxarray reads labels as centres), so
 * the corner lands half a pixel west and north: (x - 5 m, y + 5 m) at 10 m.
 */
export type Georeferencing = 'true' | 'clay-v0';

/** Codecs of chip files. */
export type ChipCodec = 'deflate' | 'zstd';

/** Encoding choices of chip files. */
export interface ChipEncoding {
  /**
   * Rows per strip. Clay v0 wrote 1-row strips (GDAL's default for 13 float32 bands x 512); 16-row strips
   * read the same in GDAL and rasterio, compress about 20 % smaller and encode faster (default 16;
   * `--compat clay-v0` writes 1).
   */
  rowsPerStrip: number;
  /**
   * `deflate` (Clay v0's, every TIFF reader's) or `zstd` (TIFF compression 50000: GDAL >= 2.3 and rasterio
   * read it; on noisy pixels the codec alone encodes 3.4x faster than DEFLATE 6 and decodes about as fast).
   */
  compress: ChipCodec;
  /** The codec's level: zlib's 1..9 (6 is GDAL's and so Clay v0's), zstd's 1..22. */
  level: number;
  /** `none` (v0's) or `float` (the floating-point predictor: smaller files, same pixels). */
  predictor: Extract<Predictor, 'none' | 'float'>;
  georeferencing: Georeferencing;
}

/**
 * Defaults: true georeferencing, 16-row strips, ZSTD level 1 (on noisy pixels the job takes 0.58x the CPU of
 * Clay v0's DEFLATE level 6 for files 1.5 % larger; the README's encoding table has the figures).
 */
export const DEFAULT_ENCODING: ChipEncoding = { rowsPerStrip: 16, compress: 'zstd', level: 1, predictor: 'none', georeferencing: 'true' };

/** The default level of each codec. */
export const DEFAULT_LEVEL: Readonly<Record<ChipCodec, number>> = { deflate: 6, zstd: 1 };

/** Clay v0's own encoding: 1-row strips and its half-pixel georeferencing. */
export const CLAY_V0_ENCODING: ChipEncoding = { rowsPerStrip: 1, compress: 'deflate', level: 6, predictor: 'none', georeferencing: 'clay-v0' };

/** The geotransform written for a chip on `grid`. */
export function chipTransform(grid: Grid, georeferencing: Georeferencing): Grid['transform'] {
  const [x0, dx, rx, y0, ry, dy] = grid.transform;
  if (georeferencing === 'true') return [x0, dx, rx, y0, ry, dy];
  return [x0 - 0.5 * dx - 0.5 * rx, dx, rx, y0 - 0.5 * ry - 0.5 * dy, ry, dy];
}

/** TIFF options of a chip on `grid` dated `date` (YYYY-MM-DD). */
export function chipTiffOptions(grid: Grid, date: string, encoding: ChipEncoding): TiffOptions {
  return {
    layout: { kind: 'strips', rowsPerStrip: encoding.rowsPerStrip },
    compression: encoding.compress,
    level: encoding.level,
    predictor: encoding.predictor,
    geo: { epsg: grid.epsg, transform: chipTransform(grid, encoding.georeferencing), rasterType: 'area' },
    metadata: { date },
    bands: CHIP_BANDS.map((b) => ({ description: b.name, colorInterp: b.colorInterp })),
  };
}

/**
 * Encodes a chip: `planes` holds the 13 bands one after the other (band-sequential, width x height each).
 * DEFLATE runs on libuv's thread pool, ZSTD on its worker threads. Returns the file as chunks in file order.
 */
export async function encodeChip(planes: Float32Array, grid: Grid, date: string, encoding: ChipEncoding, options: { signal?: AbortSignal; concurrency?: number } = {}): Promise<Uint8Array[]> {
  return encodeTiffAsync(chipImage(planes, grid), chipTiffOptions(grid, date, encoding), { concurrency: options.concurrency ?? 4, ...(options.signal ? { signal: options.signal } : {}) });
}

/**
 * A chip's file and its sha256. Planes on a SharedArrayBuffer (as `stackChip` makes them) are encoded
 * and hashed whole on a worker thread, one message each way, leaving the main thread to stack the next
 * chip; others as `encodeChip`, hashed here.
 */
export async function encodeChipFile(planes: Float32Array, grid: Grid, date: string, encoding: ChipEncoding, options: { signal?: AbortSignal } = {}): Promise<{ chunks: Uint8Array[]; sha256: string }> {
  if (planes.buffer instanceof SharedArrayBuffer) {
    const { file, sha256 } = await encodeTiffShared(chipImage(planes, grid), chipTiffOptions(grid, date, encoding), options);
    return { chunks: [file], sha256 };
  }
  const chunks = await encodeChip(planes, grid, date, encoding, options);
  const hash = createHash('sha256');
  for (const c of chunks) hash.update(c);
  return { chunks, sha256: hash.digest('hex') };
}

function chipImage(planes: Float32Array, grid: Grid): TiffImage {
  return { width: grid.width, height: grid.height, samples: CHIP_BANDS.length, raster: { dtype: 'float32', data: planes }, interleave: 'band' };
}
