/**
 * Cloud-optimised GeoTIFF reads over signed HTTP ranges: the only file that imports geotiff.js.
 *
 * geotiff.js parses the header (IFD, geokeys, tile offsets) through a block source of our own, so every
 * byte goes through `RangeReader` (the HTTP layer: retries, abort, keep-alive, signing). Pixels do not go
 * through geotiff.js' `readRasters`: a window read asks for exactly the internal tiles it intersects,
 * coalesces their byte ranges into few requests (bounded concurrency, `p-limit`), decodes them with native
 * zlib (or geotiff.js' decoder, `decoder: 'geotiff'`, for other codecs or to compare) and keeps decoded
 * tiles in a cache bounded in bytes, shared across COGs. Memory is then bounded by the cache and the
 * windows asked for, never by the image. Full-resolution image 0 is read by default; `overview: n` opens
 * the n-th reduced-resolution image instead (GDAL's `-ovr n` numbering: 0 is the first overview), on a grid
 * derived from image 0's georeferencing as GDAL derives it (same corner origin, pixel size scaled by the
 * size ratio), since COG overview IFDs carry no geokeys of their own.
 *
 * A file geotiff.js cannot parse, a tile that does not decode, or a blob shorter than its header says is
 * COG_CORRUPT naming the URL without its token.
 */
import { GeoTIFF, getDecoder } from 'geotiff';
import pLimit, { type LimitFunction } from 'p-limit';
import { ClayError, errorMessage, isClayError } from '../../core/errors.ts';
import { intersectWindows, pointToArea, type GeoTransform, type Grid, type Window } from '../../core/grid.ts';
import { inflateNative, undoPredictor } from './inflate.ts';
import { RangeReader, type BlobAccess } from './range-reader.ts';
import { coalesceRanges, type ByteRange, type CoalesceOptions } from './ranges.ts';
import { allocRaster, bytesPerPixel, dtypeOf, rasterFromBytes, type DType, type Raster } from './raster.ts';
import { TileCache } from './tile-cache.ts';

/** A decoded tile in the cache. */
export interface CachedTile {
  raster: Raster;
  byteLength: number;
}

/** Which tile decoder runs: Node's native zlib (default) or geotiff.js' own (pako for DEFLATE). */
export type TileDecoder = 'zlib' | 'geotiff';

/** Options of `Cog.open`. */
export interface CogOptions extends BlobAccess {
  /** Decoded-tile cache, shared by COGs of a job (default: a private 64 MiB one). */
  cache?: TileCache<CachedTile>;
  /** Limits concurrent range requests; share one across COGs (default: 8 per COG). */
  limit?: LimitFunction;
  decoder?: TileDecoder;
  coalesce?: CoalesceOptions;
  /** Bytes fetched per header block (default 64 KiB). */
  headerBlockBytes?: number;
  /**
   * Read the n-th overview instead of full-resolution image 0, numbered as GDAL's `-ovr n` (0 = the first,
   * largest overview). Overviews are the reduced-resolution IFDs (NewSubfileType bit 0), masks excluded.
   * A file with fewer overviews is a BAD_ARGUMENT error naming the URL and the count.
   */
  overview?: number;
  signal?: AbortSignal;
}

const COMPRESSION_NONE = 1;
const DEFLATE = new Set([8, 32946]);
let nextId = 0;

/** An opened COG: its grid, dtype, nodata, and window reads. */
export class Cog {
  /** The href without its token. */
  readonly url: string;
  /** The grid of the image read (image 0, or the overview), corner based (PixelIsPoint already shifted, as GDAL does). */
  readonly grid: Grid;
  /** The overview read (GDAL's `-ovr` number), or undefined for full-resolution image 0. */
  readonly overview: number | undefined;
  readonly dtype: DType;
  /** GDAL_NODATA, when the file declares one. */
  readonly nodata: number | undefined;
  /** True when the file declared `PixelIsPoint` (its tiepoint was on a pixel centre). */
  readonly pixelIsPoint: boolean;
  readonly tileWidth: number;
  readonly tileHeight: number;
  private readonly id = `cog${nextId++}`;
  private readonly tilesAcross: number;

  private constructor(
    private readonly reader: RangeReader,
    private readonly options: CogOptions,
    private readonly cache: TileCache<CachedTile>,
    private readonly limit: LimitFunction,
    private readonly layout: TileLayout,
    private readonly decode: (bytes: Uint8Array, rows: number) => Promise<Raster>,
    info: { grid: Grid; dtype: DType; nodata: number | undefined; pixelIsPoint: boolean; overview: number | undefined },
  ) {
    this.url = reader.url;
    this.overview = info.overview;
    this.grid = info.grid;
    this.dtype = info.dtype;
    this.nodata = info.nodata;
    this.pixelIsPoint = info.pixelIsPoint;
    this.tileWidth = layout.tileWidth;
    this.tileHeight = layout.tileHeight;
    this.tilesAcross = Math.ceil(info.grid.width / layout.tileWidth);
  }

  /** Opens the COG at `href` (unsigned; the signer signs it) and parses its header. */
  static async open(href: string, options: CogOptions): Promise<Cog> {
    const reader = new RangeReader(href, options);
    const signal = options.signal;
    try {
      const source = headerSource(reader, options.headerBlockBytes ?? 64 * 1024);
      const tiff = await GeoTIFF.fromSource(source, undefined, signal);
      const first = await tiff.getImage(0);
      const image = options.overview === undefined ? first : await overviewImage(tiff, options.overview, reader.url);
      const fd = image.getFileDirectory();
      const width = image.getWidth();
      const height = image.getHeight();
      if (image.getSamplesPerPixel() !== 1) throw corrupt(reader.url, `${image.getSamplesPerPixel()} samples per pixel (only single-band COGs are read)`);
      const dtype = dtypeOf(image.getSampleFormat(0), image.getBitsPerSample(0));
      if (!dtype) throw corrupt(reader.url, `unsupported sample format ${image.getSampleFormat(0)} / ${image.getBitsPerSample(0)} bits`);
      if (!tiff.littleEndian) throw corrupt(reader.url, 'big-endian TIFF (not supported)');
      const tiled = fd.hasTag('TileWidth');
      const layout: TileLayout = {
        tileWidth: tiled ? image.getTileWidth() : width,
        tileHeight: tiled ? image.getTileHeight() : Math.min(height, Number(await fd.loadValue('RowsPerStrip')) || height),
        offsets: numbers(await fd.loadValue(tiled ? 'TileOffsets' : 'StripOffsets')),
        counts: numbers(await fd.loadValue(tiled ? 'TileByteCounts' : 'StripByteCounts')),
        tiled,
      };
      const compression = Number(await fd.loadValue('Compression')) || COMPRESSION_NONE;
      const predictor = Number(await fd.loadValue('Predictor')) || 1;
      const fd0 = first.getFileDirectory();
      const geo = geoOf(first.getGeoKeys(), await fd0.loadValue('ModelTransformation'), await fd0.loadValue('ModelTiepoint'), await fd0.loadValue('ModelPixelScale'), reader.url);
      const nodata = image.getGDALNoData() ?? first.getGDALNoData() ?? undefined;
      const decoder = options.decoder ?? 'zlib';
      const decode = decoder === 'zlib' && (DEFLATE.has(compression) || compression === COMPRESSION_NONE)
        ? zlibDecoder(compression, predictor, dtype, layout.tileWidth)
        : await geotiffDecoder(compression, fd, dtype, layout.tileWidth);
      const grid: Grid = { epsg: geo.epsg, transform: scaleTransform(geo.transform, first.getWidth() / width, first.getHeight() / height), width, height };
      return new Cog(reader, options, options.cache ?? new TileCache<CachedTile>(), options.limit ?? pLimit(8), layout, decode, { grid, dtype, nodata, pixelIsPoint: geo.pixelIsPoint, overview: options.overview });
    } catch (err) {
      if (isClayError(err)) throw err;
      if (signal?.aborted) throw new ClayError('HTTP_ABORTED', `read of ${reader.url} aborted`, { input: reader.url, cause: signal.reason });
      throw corrupt(reader.url, `cannot parse the header: ${errorMessage(err)}`, err);
    }
  }

  /** Byte range of internal tile (tx, ty) in the file (length 0: a sparse tile). */
  tileByteRange(tx: number, ty: number): { offset: number; length: number } {
    const index = ty * this.tilesAcross + tx;
    return { offset: this.layout.offsets[index] ?? 0, length: this.layout.counts[index] ?? 0 };
  }

  /** Size of the blob in bytes, once known. */
  get fileSize(): number | undefined {
    return this.reader.fileSize;
  }

  /**
   * The pixels of `window` (may reach outside the image: those pixels are `fill`, default the nodata value
   * or 0), in the COG's dtype. Reads only the tiles the window intersects.
   */
  async readWindow(window: Window, options: { signal?: AbortSignal; fill?: number } = {}): Promise<Raster> {
    const out = allocRaster(this.dtype, window.width, window.height, options.fill ?? this.nodata ?? 0);
    const inside = intersectWindows(window, { col: 0, row: 0, width: this.grid.width, height: this.grid.height });
    if (!inside) return out;
    const tw = this.tileWidth;
    const th = this.tileHeight;
    const tiles: { tx: number; ty: number }[] = [];
    for (let ty = Math.floor(inside.row / th); ty <= Math.floor((inside.row + inside.height - 1) / th); ty++) {
      for (let tx = Math.floor(inside.col / tw); tx <= Math.floor((inside.col + inside.width - 1) / tw); tx++) tiles.push({ tx, ty });
    }
    const loaded = await this.loadTiles(tiles, options.signal);
    for (let k = 0; k < tiles.length; k++) {
      const { tx, ty } = tiles[k]!;
      const tile = loaded[k];
      if (!tile) continue; // sparse tile: stays `fill`, as GDAL reads it as nodata
      copyTile(tile.raster, tx * tw, ty * th, out, window, inside);
    }
    return out;
  }

  /** The tiles (decoded), from the cache or read in coalesced ranges; undefined for sparse tiles. */
  private async loadTiles(tiles: { tx: number; ty: number }[], signal: AbortSignal | undefined): Promise<(CachedTile | undefined)[]> {
    const wanted: ByteRange<{ key: string; index: number }>[] = [];
    for (const { tx, ty } of tiles) {
      const index = ty * this.tilesAcross + tx;
      const key = `${this.id}/${index}`;
      const offset = this.layout.offsets[index];
      const length = this.layout.counts[index];
      if (offset === undefined || length === undefined) throw corrupt(this.url, `no offset for tile ${index}`);
      if (length > 0 && !this.cache.has(key)) wanted.push({ key: { key, index }, offset, length });
    }
    const groups = coalesceRanges(wanted, this.options.coalesce);
    const pending = new Map<string, Promise<CachedTile>>();
    for (const group of groups) {
      const bytes = this.limit(() => this.reader.read(group.offset, group.length, signal ? { signal } : {}));
      bytes.catch(() => undefined); // observed through the member promises below
      for (const m of group.members) {
        pending.set(m.key.key, bytes.then((b) => this.decodeTile(b.subarray(m.offset - group.offset, m.offset - group.offset + m.length), m.key.index)));
      }
    }
    return Promise.all(tiles.map(({ tx, ty }) => {
      const index = ty * this.tilesAcross + tx;
      if (this.layout.counts[index] === 0) return undefined;
      const key = `${this.id}/${index}`;
      return this.cache.getOrLoad(key, () => pending.get(key) ?? Promise.reject(new ClayError('INTERNAL', `tile ${key} was neither cached nor requested`)));
    }));
  }

  private async decodeTile(bytes: Uint8Array, index: number): Promise<CachedTile> {
    const { tileHeight, tiled } = this.layout;
    const rows = tiled ? tileHeight : Math.min(tileHeight, this.grid.height - Math.floor(index / this.tilesAcross) * tileHeight);
    const started = performance.now();
    let raster: Raster;
    try {
      raster = await this.decode(bytes, rows);
    } catch (err) {
      throw corrupt(this.url, `tile ${index} does not decode: ${errorMessage(err)}`, err);
    }
    const stats = this.reader.stats;
    stats.decodeMs += performance.now() - started;
    stats.tilesDecoded++;
    stats.bytesDecoded += raster.data.byteLength;
    return { raster, byteLength: raster.data.byteLength };
  }
}

/** Where the tiles (or strips) are. */
interface TileLayout {
  tileWidth: number;
  tileHeight: number;
  offsets: number[];
  counts: number[];
  tiled: boolean;
}

function zlibDecoder(compression: number, predictor: number, dtype: DType, width: number): (bytes: Uint8Array, rows: number) => Promise<Raster> {
  const size = bytesPerPixel(dtype);
  return async (bytes, rows) => {
    const needed = width * rows * size;
    const raw = compression === COMPRESSION_NONE ? bytes.slice() : await inflateNative(bytes, needed);
    if (raw.byteLength < needed) throw new Error(`decoded ${raw.byteLength} of ${needed} bytes`);
    const own = raw.byteOffset % size === 0 ? raw : raw.slice();
    undoPredictor(own, predictor, dtype, width, rows);
    return rasterFromBytes(dtype, own, width, rows);
  };
}

async function geotiffDecoder(compression: number, fd: GeoFileDirectory, dtype: DType, width: number): Promise<(bytes: Uint8Array, rows: number) => Promise<Raster>> {
  const params = {
    tileWidth: width,
    tileHeight: 0,
    planarConfiguration: Number(await fd.loadValue('PlanarConfiguration')) || 1,
    bitsPerSample: bytesPerPixel(dtype) * 8,
    predictor: Number(await fd.loadValue('Predictor')) || 1,
  };
  return async (bytes, rows) => {
    const decoder = await getDecoder(compression, { ...params, tileHeight: rows });
    const copy = bytes.slice();
    const out = new Uint8Array(await decoder.decode(copy.buffer));
    return rasterFromBytes(dtype, out, width, rows);
  };
}

/** A geotiff.js image. */
type GeoImage = Awaited<ReturnType<GeoTIFF['getImage']>>;

/** The n-th reduced-resolution image (GDAL's `-ovr n`): IFDs after the first with NewSubfileType bit 0 and not bit 2 (mask). */
async function overviewImage(tiff: GeoTIFF, n: number, url: string): Promise<GeoImage> {
  if (!Number.isInteger(n) || n < 0) throw new ClayError('BAD_ARGUMENT', `overview must be an integer >= 0, got ${n}`, { input: url });
  const count = await tiff.getImageCount();
  let found = 0;
  for (let i = 1; i < count; i++) {
    const image = await tiff.getImage(i);
    const kind = Number(await image.getFileDirectory().loadValue('NewSubfileType')) || 0;
    if ((kind & 1) === 0 || (kind & 4) !== 0) continue;
    if (found === n) return image;
    found++;
  }
  throw new ClayError('BAD_ARGUMENT', `${url} has ${found} overview(s): overview ${n} does not exist`, { input: url });
}

/** The transform of an image `fx` x `fy` times coarser than `t`, same corner origin (as GDAL derives overview grids). */
function scaleTransform(t: GeoTransform, fx: number, fy: number): GeoTransform {
  if (fx === 1 && fy === 1) return t;
  return [t[0], t[1] * fx, t[2] * fy, t[3], t[4] * fx, t[5] * fy];
}

/** The file directory type of geotiff.js images. */
type GeoFileDirectory = ReturnType<Awaited<ReturnType<GeoTIFF['getImage']>>['getFileDirectory']>;

/** A geotiff.js source serving header reads from blocks fetched through `reader`. */
function headerSource(reader: RangeReader, blockBytes: number): Parameters<typeof GeoTIFF.fromSource>[0] {
  const blocks = new Map<number, Uint8Array>();
  const block = async (i: number, signal: AbortSignal | undefined): Promise<Uint8Array> => {
    const have = blocks.get(i);
    if (have) return have;
    if (reader.fileSize !== undefined && i * blockBytes >= reader.fileSize) return new Uint8Array(0);
    const data = await reader.read(i * blockBytes, blockBytes, { allowShort: true, ...(signal ? { signal } : {}) });
    blocks.set(i, data);
    return data;
  };
  const slice = async (offset: number, length: number, signal: AbortSignal | undefined): Promise<ArrayBuffer> => {
    const out = new Uint8Array(length);
    let got = 0;
    for (let i = Math.floor(offset / blockBytes); i * blockBytes < offset + length; i++) {
      const data = await block(i, signal);
      const start = Math.max(offset, i * blockBytes);
      const end = Math.min(offset + length, i * blockBytes + data.byteLength);
      if (end > start) {
        out.set(data.subarray(start - i * blockBytes, end - i * blockBytes), start - offset);
        got = end - offset;
      }
      if (data.byteLength < blockBytes) break;
    }
    return got === length ? out.buffer : out.slice(0, Math.max(0, got)).buffer;
  };
  return {
    fetch: (slices, signal) => Promise.all(slices.map((s) => slice(s.offset, s.length, signal))),
    fetchSlice: async (s, signal) => ({ ...s, data: await slice(s.offset, s.length, signal) }),
    get fileSize() {
      return reader.fileSize ?? null;
    },
    close: async () => undefined,
  };
}

/** EPSG, corner-based transform and PixelIsPoint from the geokeys and model tags. */
function geoOf(keys: Partial<Record<string, unknown>> | null, matrix: unknown, tiepoint: unknown, scale: unknown, url: string): { epsg: number; transform: GeoTransform; pixelIsPoint: boolean } {
  const epsg = Number(keys?.ProjectedCSTypeGeoKey ?? keys?.GeographicTypeGeoKey);
  if (!Number.isInteger(epsg) || epsg <= 0 || epsg === 32767) throw corrupt(url, 'no EPSG code in the geokeys');
  const pixelIsPoint = Number(keys?.GTRasterTypeGeoKey) === 2;
  let t: GeoTransform;
  const m = matrix === undefined ? [] : numbers(matrix);
  if (m.length >= 8) {
    t = [m[3]!, m[0]!, m[1]!, m[7]!, m[4]!, m[5]!];
  } else {
    const tp = tiepoint === undefined ? [] : numbers(tiepoint);
    const s = scale === undefined ? [] : numbers(scale);
    if (tp.length < 6 || s.length < 2) throw corrupt(url, 'no georeferencing (ModelTiepoint + ModelPixelScale or ModelTransformation)');
    t = [tp[3]! - tp[0]! * s[0]!, s[0]!, 0, tp[4]! + tp[1]! * s[1]!, 0, -s[1]!];
  }
  // GDAL's default (GTIFF_POINT_GEO_IGNORE=FALSE): a PixelIsPoint tiepoint is a pixel centre.
  return { epsg, transform: pixelIsPoint ? pointToArea(t) : t, pixelIsPoint };
}

function numbers(v: unknown): number[] {
  if (typeof v === 'number' || typeof v === 'bigint') return [Number(v)];
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<number | bigint>, (x) => Number(x));
  return [];
}

/** Copies the part of `tile` (whose top-left pixel is (x0, y0) in the image) inside `inside` into `out`. */
function copyTile(tile: Raster, x0: number, y0: number, out: Raster, window: Window, inside: Window): void {
  const c0 = Math.max(inside.col, x0);
  const c1 = Math.min(inside.col + inside.width, x0 + tile.width);
  const r0 = Math.max(inside.row, y0);
  const r1 = Math.min(inside.row + inside.height, y0 + tile.height);
  if (c1 <= c0 || r1 <= r0) return;
  const src = tile.data;
  const dst: { set(array: ArrayLike<number>, offset?: number): void } = out.data;
  for (let r = r0; r < r1; r++) {
    const from = (r - y0) * tile.width + (c0 - x0);
    const to = (r - window.row) * out.width + (c0 - window.col);
    dst.set(src.subarray(from, from + (c1 - c0)), to);
  }
}

function corrupt(url: string, why: string, cause?: unknown): ClayError {
  return new ClayError('COG_CORRUPT', `${url}: ${why}`, { input: url, ...(cause === undefined ? {} : { cause }) });
}
