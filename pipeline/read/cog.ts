/**
 * Cloud-optimised GeoTIFF reads over signed HTTP ranges: the only file that imports geotiff.js.
 *
 * geotiff.js parses the header (IFD, geokeys, tile offsets) through a block source of our own, so every
 * byte goes through `RangeReader` (the HTTP layer: retries, abort, keep-alive, signing). Pixels do not go
 * through geotiff.js' `readRasters`: a window read asks for exactly the internal tiles it intersects,
 * coalesces their byte ranges into few requests (bounded concurrency, `p-limit`), decompresses them (native
 * zlib, our LZW and PackBits; geotiff.js' ZSTD, LERC and JPEG), then swaps, undoes the predictor and takes
 * the band out as libtiff does (`tile-decode.ts`), and keeps decoded
 * tiles in a cache bounded in bytes, shared across COGs. Memory is then bounded by the cache and the
 * windows asked for, never by the image. Full-resolution image 0 is read by default; `overview: n` opens
 * the n-th reduced-resolution image instead (GDAL's `-ovr n` numbering: 0 is the first overview), on a grid
 * derived from image 0's georeferencing as GDAL derives it (same corner origin, pixel size scaled by the
 * size ratio), since COG overview IFDs carry no geokeys of their own.
 *
 * A file geotiff.js cannot parse, a tile that does not decode, or a blob shorter than its header says is
 * COG_CORRUPT naming the URL without its token (and the tile); a valid file this reader has no decoder for
 * (a compression or sample type) is COG_UNSUPPORTED naming what it lacks.
 */
import { GeoTIFF, getDecoder } from 'geotiff';
import pLimit, { type LimitFunction } from 'p-limit';
import { ClayError, errorMessage, isClayError } from '../../core/errors.ts';
import { intersectWindows, pointToArea, type GeoTransform, type Grid, type Window } from '../../core/grid.ts';
import { inflateNative } from './inflate.ts';
import { inflateTile } from '../worker/pool.ts';
import { lzwDecode } from './lzw.ts';
import { packBitsDecode } from './packbits.ts';
import { RangeReader, type BlobAccess } from './range-reader.ts';
import { coalesceRanges, type ByteRange, type CoalesceOptions } from './ranges.ts';
import { allocRaster, type DType, type Raster, type TileSet } from './raster.ts';
import { rasterDtype, sampleLayout, samplesToRaster, type SampleLayout } from './tile-decode.ts';
import { TileCache } from './tile-cache.ts';

/** A decoded tile in the cache. */
export interface CachedTile {
  raster: Raster;
  byteLength: number;
}

/**
 * Which decompressors run: ours (default: Node's native zlib for DEFLATE, `lzw.ts`, `packbits.ts`) or
 * geotiff.js' own (pako for DEFLATE, its LZW and PackBits), to compare. ZSTD, LERC and JPEG are geotiff.js'
 * either way. Predictors, byte order and band layout are ours in both.
 */
export type TileDecoder = 'zlib' | 'geotiff';

/** Options of `Cog.open`. */
export interface CogOptions extends BlobAccess {
  /** Decoded-tile cache, shared by COGs of a job (default: a private 64 MiB one). */
  cache?: TileCache<CachedTile>;
  /**
   * Source bytes (compressed tiles and header blocks, keyed by blob and byte range), shared by the COGs of
   * a job: a tile evicted from `cache`, or a COG opened again, is decoded from these instead of read again.
   */
  bytesCache?: TileCache<Uint8Array>;
  /** Limits concurrent range requests; share one across COGs (default: 8 per COG). */
  limit?: LimitFunction;
  decoder?: TileDecoder;
  /**
   * DEFLATE tiles (with the `zlib` decoder) inflated and finished on the pipeline's worker threads
   * (`pipeline/worker/`) instead of libuv's pool and this thread: the same pixels, the main thread freed
   * of zlib's per-tile overhead and the predictor loops (default false; the chip job sets it).
   */
  decodeInWorkers?: boolean;
  coalesce?: CoalesceOptions;
  /** Bytes fetched per header block (default 64 KiB). */
  headerBlockBytes?: number;
  /**
   * Read the n-th overview instead of full-resolution image 0, numbered as GDAL's `-ovr n` (0 = the first,
   * largest overview). Overviews are the reduced-resolution IFDs (NewSubfileType bit 0), masks excluded.
   * A file with fewer overviews is a BAD_ARGUMENT error naming the URL and the count.
   */
  overview?: number;
  /** The band (sample) to read, 0-based (default 0), of a multi-band file, chunky or planar. */
  band?: number;
  signal?: AbortSignal;
}

const COMPRESSION_NONE = 1;
const DEFLATE = new Set([8, 32946]);
const LZW = 5;
const PACKBITS = 32773;

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
  /** The cache keys' prefix: the blob (URL without token), the image and the band read. */
  private readonly id: string;
  private readonly tilesAcross: number;
  /** Tile bytes are read onto shared memory: they decode on the worker threads, which read them in place. */
  private readonly sharedReads: boolean;

  private constructor(
    private readonly reader: RangeReader,
    private readonly options: CogOptions,
    private readonly cache: TileCache<CachedTile>,
    private readonly limit: LimitFunction,
    private readonly layout: BlockLayout,
    private readonly header: HeaderBlocks,
    private readonly decode: (bytes: Uint8Array, rows: number) => Promise<Raster>,
    info: { grid: Grid; dtype: DType; nodata: number | undefined; pixelIsPoint: boolean; overview: number | undefined; band: number; sharedReads: boolean },
  ) {
    this.sharedReads = info.sharedReads;
    // Keyed by the blob, not this object: a COG opened again (the DEM of every date of a tile) finds its tiles.
    this.id = `${reader.url}|${info.overview ?? 'full'}|${info.band}`;
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
      const header = headerSource(reader, options.headerBlockBytes ?? 64 * 1024, options.bytesCache);
      const tiff = await GeoTIFF.fromSource(header.source, undefined, signal);
      const first = await tiff.getImage(0);
      const image = options.overview === undefined ? first : await overviewImage(tiff, options.overview, reader.url);
      const fd = image.getFileDirectory();
      const width = image.getWidth();
      const height = image.getHeight();
      const samplesPerPixel = image.getSamplesPerPixel();
      const band = options.band ?? 0;
      if (!Number.isInteger(band) || band < 0 || band >= samplesPerPixel) throw new ClayError('BAD_ARGUMENT', `${reader.url} has ${samplesPerPixel} band(s): band ${band} does not exist (0-based)`, { input: reader.url });
      const bits = numbers(await fd.loadValue('BitsPerSample'));
      if (bits.some((b) => b !== bits[0])) throw new ClayError('COG_UNSUPPORTED', `${reader.url}: bands of different bit depths (${bits.join(', ')})`, { input: reader.url });
      const planar = (Number(await fd.loadValue('PlanarConfiguration')) || 1) === 2;
      const samples = planar ? 1 : samplesPerPixel;
      const layout = sampleLayout(reader.url, {
        sampleFormat: image.getSampleFormat(0), bits: image.getBitsPerSample(0), littleEndian: tiff.littleEndian,
        predictor: Number(await fd.loadValue('Predictor')) || 1, samples, sample: planar ? 0 : band,
      });
      const dtype = rasterDtype(layout);
      const tiled = fd.hasTag('TileWidth');
      const blocks: BlockLayout = {
        tileWidth: tiled ? image.getTileWidth() : width,
        tileHeight: tiled ? image.getTileHeight() : Math.min(height, Number(await fd.loadValue('RowsPerStrip')) || height),
        offsets: numbers(await fd.loadValue(tiled ? 'TileOffsets' : 'StripOffsets')),
        counts: numbers(await fd.loadValue(tiled ? 'TileByteCounts' : 'StripByteCounts')),
        tiled,
        bandOffset: 0,
      };
      const perBand = Math.ceil(width / blocks.tileWidth) * Math.ceil(height / blocks.tileHeight);
      if (planar) blocks.bandOffset = band * perBand;
      if (blocks.offsets.length < blocks.bandOffset + perBand || blocks.counts.length < blocks.bandOffset + perBand) {
        throw corrupt(reader.url, `${Math.min(blocks.offsets.length, blocks.counts.length)} tile offsets/byte counts for ${planar ? samplesPerPixel * perBand : perBand} tiles`);
      }
      const compression = Number(await fd.loadValue('Compression')) || COMPRESSION_NONE;
      const fd0 = first.getFileDirectory();
      const geo = geoOf(first.getGeoKeys(), await fd0.loadValue('ModelTransformation'), await fd0.loadValue('ModelTiepoint'), await fd0.loadValue('ModelPixelScale'), reader.url);
      const nodata = image.getGDALNoData() ?? first.getGDALNoData() ?? undefined;
      const codec = await codecFor(compression, options.decoder ?? 'zlib', fd, layout, blocks.tileWidth, reader.url, options.decodeInWorkers ?? false);
      const decode = (bytes: Uint8Array, rows: number): Promise<Raster> => decodeBlock(codec, bytes, layout, blocks.tileWidth, rows);
      const grid: Grid = { epsg: geo.epsg, transform: scaleTransform(geo.transform, first.getWidth() / width, first.getHeight() / height), width, height };
      return new Cog(reader, options, options.cache ?? new TileCache<CachedTile>(), options.limit ?? pLimit(8), blocks, header.blocks, decode, { grid, dtype, nodata, pixelIsPoint: geo.pixelIsPoint, overview: options.overview, band, sharedReads: codec.inWorkers === true });
    } catch (err) {
      if (isClayError(err)) throw err;
      if (signal?.aborted) throw new ClayError('HTTP_ABORTED', `read of ${reader.url} aborted`, { input: reader.url, cause: signal.reason });
      throw corrupt(reader.url, `cannot parse the header: ${errorMessage(err)}`, err);
    }
  }

  /** Byte range of internal tile (tx, ty) in the file (length 0: a sparse tile). */
  tileByteRange(tx: number, ty: number): { offset: number; length: number } {
    const block = ty * this.tilesAcross + tx + this.layout.bandOffset;
    return { offset: this.layout.offsets[block] ?? 0, length: this.layout.counts[block] ?? 0 };
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
    if (options.signal?.aborted) throw new ClayError('HTTP_ABORTED', `read of ${this.url} aborted`, { input: this.url, cause: options.signal.reason });
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

  /** The cache keys of the stored (not sparse) tiles that `window` intersects. */
  tileKeys(window: Window): string[] {
    const inside = intersectWindows(window, { col: 0, row: 0, width: this.grid.width, height: this.grid.height });
    if (!inside) return [];
    const tw = this.tileWidth;
    const th = this.tileHeight;
    const keys: string[] = [];
    for (let ty = Math.floor(inside.row / th); ty <= Math.floor((inside.row + inside.height - 1) / th); ty++) {
      for (let tx = Math.floor(inside.col / tw); tx <= Math.floor((inside.col + inside.width - 1) / tw); tx++) {
        const index = ty * this.tilesAcross + tx;
        if (this.layout.counts[index + this.layout.bandOffset] !== 0) keys.push(`${this.id}/${index}`);
      }
    }
    return keys;
  }

  /**
   * The decoded tiles that `window` (inside the image) intersects, for reads that sample them in place
   * (`warpInto`) instead of copying a window out of them first.
   */
  async readTiles(window: Window, options: { signal?: AbortSignal } = {}): Promise<TileSet> {
    if (options.signal?.aborted) throw new ClayError('HTTP_ABORTED', `read of ${this.url} aborted`, { input: this.url, cause: options.signal.reason });
    const tw = this.tileWidth;
    const th = this.tileHeight;
    const inside = intersectWindows(window, { col: 0, row: 0, width: this.grid.width, height: this.grid.height });
    if (!inside) return { dtype: this.dtype, col0: 0, row0: 0, across: 0, down: 0, tileWidth: tw, tileHeight: th, rasters: [] };
    const tx0 = Math.floor(inside.col / tw), ty0 = Math.floor(inside.row / th);
    const tx1 = Math.floor((inside.col + inside.width - 1) / tw), ty1 = Math.floor((inside.row + inside.height - 1) / th);
    const tiles: { tx: number; ty: number }[] = [];
    for (let ty = ty0; ty <= ty1; ty++) for (let tx = tx0; tx <= tx1; tx++) tiles.push({ tx, ty });
    const loaded = await this.loadTiles(tiles, options.signal);
    return { dtype: this.dtype, col0: tx0 * tw, row0: ty0 * th, across: tx1 - tx0 + 1, down: ty1 - ty0 + 1, tileWidth: tw, tileHeight: th, rasters: loaded.map((t) => t?.raster) };
  }

  /** The tiles (decoded), from the cache or read in coalesced ranges; undefined for sparse tiles. */
  private async loadTiles(tiles: { tx: number; ty: number }[], signal: AbortSignal | undefined): Promise<(CachedTile | undefined)[]> {
    const wanted: ByteRange<{ key: string; index: number; raw: string; prefix: Uint8Array }>[] = [];
    const known = new Map<string, Uint8Array>();
    const bytesCache = this.options.bytesCache;
    for (const { tx, ty } of tiles) {
      const index = ty * this.tilesAcross + tx;
      const key = `${this.id}/${index}`;
      const offset = this.layout.offsets[index + this.layout.bandOffset];
      const length = this.layout.counts[index + this.layout.bandOffset];
      if (offset === undefined || length === undefined) throw corrupt(this.url, `no offset for tile ${index}`);
      if (length === 0 || this.cache.has(key)) continue;
      // Bytes already here (the source-bytes cache; the header blocks, which hold a small file's first
      // tiles) are decoded from what we have; of a tile the header blocks hold the start of, only the rest is read.
      const raw = `${this.url}@${offset}+${length}`;
      const prefix = bytesCache?.get(raw) ?? this.header.prefixAt(offset, length);
      if (prefix.byteLength === length) {
        known.set(key, prefix);
        continue;
      }
      wanted.push({ key: { key, index, raw, prefix }, offset: offset + prefix.byteLength, length: length - prefix.byteLength });
    }
    const groups = coalesceRanges(wanted, this.options.coalesce);
    const pending = new Map<string, Promise<CachedTile>>();
    const readOptions = { ...(signal ? { signal } : {}), ...(this.sharedReads ? { shared: true } : {}) };
    for (const group of groups) {
      const bytes = this.limit(() => this.reader.read(group.offset, group.length, readOptions));
      bytes.catch(() => undefined); // observed through the member promises below
      for (const m of group.members) {
        const tile = m.key.index + this.layout.bandOffset;
        const alone = (err: unknown): never => {
          // Bytes past the end of the blob: name the tile, as GDAL's "Read error at tile N" does.
          if (isClayError(err, 'COG_CORRUPT')) throw corrupt(this.url, `tile ${tile} (bytes ${m.offset}..${m.offset + m.length - 1}) cannot be read: ${err.message}`, err);
          throw err;
        };
        const got = (b: Uint8Array): Promise<CachedTile> => {
          // A cached view of a shared range keeps that range alive until its last tile leaves the cache (a
          // range is a few neighbouring tiles); a private one is copied so the cache holds the tile alone.
          const whole = m.key.prefix.byteLength > 0 ? joined(m.key.prefix, b, this.sharedReads) : bytesCache && !this.sharedReads ? b.slice() : b;
          bytesCache?.set(m.key.raw, whole);
          return this.decodeTile(whole, m.key.index);
        };
        pending.set(m.key.key, bytes.then(
          (b) => got(b.subarray(m.offset - group.offset, m.offset - group.offset + m.length)),
          (err: unknown) => {
            if (!isClayError(err, 'COG_CORRUPT') || group.members.length === 1) return alone(err);
            // A coalesced range ran past the end: each of its tiles on its own, so only the missing ones fail.
            return this.limit(() => this.reader.read(m.offset, m.length, readOptions)).then(got, alone);
          },
        ));
      }
    }
    return Promise.all(tiles.map(({ tx, ty }) => {
      const index = ty * this.tilesAcross + tx;
      if (this.layout.counts[index + this.layout.bandOffset] === 0) return undefined;
      const key = `${this.id}/${index}`;
      const have = known.get(key);
      return this.cache.getOrLoad(key, () => pending.get(key) ?? (have !== undefined ? this.decodeTile(have, index) : undefined) ?? Promise.reject(new ClayError('INTERNAL', `tile ${key} was neither cached nor requested`)));
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
      if (isClayError(err)) throw err;
      throw corrupt(this.url, `tile ${index + this.layout.bandOffset} does not decode: ${errorMessage(err)}`, err);
    }
    const stats = this.reader.stats;
    stats.decodeMs += performance.now() - started;
    stats.tilesDecoded++;
    stats.bytesDecoded += raster.data.byteLength;
    return { raster, byteLength: raster.data.byteLength };
  }
}

/** `a` then `b` in one new buffer (on shared memory with `shared`). */
function joined(a: Uint8Array, b: Uint8Array, shared: boolean): Uint8Array {
  const out = new Uint8Array(shared ? new SharedArrayBuffer(a.byteLength + b.byteLength) : new ArrayBuffer(a.byteLength + b.byteLength));
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** Where the tiles (or strips) are. */
interface BlockLayout {
  tileWidth: number;
  tileHeight: number;
  /** Every tile's (strip's) offset and byte count, all bands' when planar. */
  offsets: number[];
  counts: number[];
  tiled: boolean;
  /** Index of the band read's first tile in `offsets` (0 unless planar). */
  bandOffset: number;
}

/** A decompressor: the tile's stored bytes to its decompressed bytes (`native`: finished samples in machine order). */
interface Codec {
  decompress: (bytes: Uint8Array, expected: number) => Promise<Uint8Array>;
  native: boolean;
  /** Decompress and finish the samples on the pipeline's worker threads (DEFLATE only). */
  inWorkers?: true;
}

/** TIFF Compression tag values, named as GDAL names them, for messages. */
const COMPRESSION_NAMES: Record<number, string> = {
  1: 'NONE', 2: 'CCITTRLE', 3: 'CCITTFAX3', 4: 'CCITTFAX4', 5: 'LZW', 6: 'OJPEG', 7: 'JPEG', 8: 'DEFLATE', 32946: 'DEFLATE (Adobe)',
  32773: 'PACKBITS', 34712: 'JPEG2000', 34887: 'LERC', 34925: 'LZMA', 50000: 'ZSTD', 50001: 'WEBP', 50002: 'JXL',
};

/** Compressions geotiff.js decodes for us (DEFLATE, LZW and PackBits too, with `decoder: 'geotiff'`, to compare). */
const GEOTIFF_CODECS = new Set([5, 7, 8, 32946, 32773, 34887, 50000]);

/** The decompressor of `compression`, or COG_UNSUPPORTED naming it. */
async function codecFor(compression: number, decoder: TileDecoder, fd: GeoFileDirectory, layout: SampleLayout, width: number, url: string, inWorkers: boolean): Promise<Codec> {
  if (compression === COMPRESSION_NONE) return { decompress: async (bytes) => bytes.slice(), native: false };
  if (decoder === 'zlib') {
    if (DEFLATE.has(compression)) return { decompress: (bytes, expected) => inflateNative(bytes, expected), native: false, ...(inWorkers ? { inWorkers } : {}) };
    if (compression === LZW) return { decompress: async (bytes, expected) => lzwDecode(bytes, expected), native: false };
    if (compression === PACKBITS) return { decompress: async (bytes, expected) => packBitsDecode(bytes, expected), native: false };
  }
  const name = COMPRESSION_NAMES[compression] ?? `compression ${compression}`;
  if (!GEOTIFF_CODECS.has(compression)) throw new ClayError('COG_UNSUPPORTED', `${url}: ${name} compression is not supported (NONE, DEFLATE, LZW, ZSTD, PACKBITS, LERC and JPEG are)`, { input: url });
  const jpeg = compression === 7;
  if (jpeg && layout.bits !== 8) throw new ClayError('COG_UNSUPPORTED', `${url}: ${layout.bits}-bit JPEG is not supported (8-bit is)`, { input: url });
  if (jpeg && Number(await fd.loadValue('PhotometricInterpretation')) === 6) {
    throw new ClayError('COG_UNSUPPORTED', `${url}: JPEG in YCbCr (PHOTOMETRIC=YCBCR) is not supported (its chroma upsampling and colour conversion would not match GDAL's)`, { input: url });
  }
  // geotiff.js' decoders undo no predictor through decodeBlock: predictor, byte order and sample layout stay ours.
  const params = {
    tileWidth: width, tileHeight: 0, planarConfiguration: layout.samples > 1 ? 1 : 2, bitsPerSample: layout.bits, predictor: 1,
    ...(jpeg ? { JPEGTables: await fd.loadValue('JPEGTables') } : {}),
    ...(compression === 34887 ? { LercParameters: await fd.loadValue('LercParameters') } : {}),
  };
  const native = jpeg || compression === 34887;
  return {
    native,
    decompress: async (bytes, expected) => {
      const codec = await getDecoder(compression, { ...params, tileHeight: expected / (width * layout.samples * (layout.bits / 8)) });
      const out = await codec.decodeBlock(bytes.slice().buffer);
      return new Uint8Array(out);
    },
  };
}

/** One tile: decompressed, then swapped, predictor undone, the band taken out (`tile-decode.ts`). */
async function decodeBlock(codec: Codec, bytes: Uint8Array, layout: SampleLayout, width: number, rows: number): Promise<Raster> {
  const expected = width * rows * layout.samples * (layout.bits / 8);
  if (codec.inWorkers) return inflateTile(bytes, expected, layout, width, rows);
  const raw = await codec.decompress(bytes, expected);
  if (raw.byteLength < expected) throw new Error(`decoded ${raw.byteLength} of ${expected} bytes`);
  return samplesToRaster(raw, layout, width, rows, codec.native);
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

/** The header blocks a COG's open fetched, kept so that tile bytes inside them are not requested again. */
interface HeaderBlocks {
  /** The longest start of [offset, offset + length) that fetched blocks hold: all of it, part, or nothing. */
  prefixAt(offset: number, length: number): Uint8Array;
}

/**
 * A geotiff.js source serving header reads from blocks fetched through `reader` (one request per block,
 * shared by concurrent slices), and the blocks it fetched.
 */
function headerSource(reader: RangeReader, blockBytes: number, bytesCache: TileCache<Uint8Array> | undefined): { source: Parameters<typeof GeoTIFF.fromSource>[0]; blocks: HeaderBlocks } {
  const loading = new Map<number, Promise<Uint8Array>>();
  const loaded = new Map<number, Uint8Array>();
  const block = (i: number, signal: AbortSignal | undefined): Promise<Uint8Array> => {
    let p = loading.get(i);
    if (p === undefined) {
      if (reader.fileSize !== undefined && i * blockBytes >= reader.fileSize) return Promise.resolve(new Uint8Array(0));
      const key = `${reader.url}@h${blockBytes}:${i}`;
      const read = (): Promise<Uint8Array> => reader.read(i * blockBytes, blockBytes, { allowShort: true, ...(signal ? { signal } : {}) });
      p = (bytesCache ? bytesCache.getOrLoad(key, read) : read()).then((data) => {
        loaded.set(i, data);
        return data;
      });
      loading.set(i, p);
      p.catch(() => loading.delete(i));
    }
    return p;
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
  const blocks: HeaderBlocks = {
    prefixAt(offset, length) {
      const parts: Uint8Array[] = [];
      let at = offset;
      while (at < offset + length) {
        const i = Math.floor(at / blockBytes);
        const data = loaded.get(i);
        const end = Math.min(offset + length, i * blockBytes + (data?.byteLength ?? 0));
        if (data === undefined || end <= at) break;
        parts.push(data.subarray(at - i * blockBytes, end - i * blockBytes));
        at = end;
        if (data.byteLength < blockBytes) break;
      }
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    },
  };
  return {
    source: {
      fetch: (slices, signal) => Promise.all(slices.map((s) => slice(s.offset, s.length, signal))),
      fetchSlice: async (s, signal) => ({ ...s, data: await slice(s.offset, s.length, signal) }),
      get fileSize() {
        return reader.fileSize ?? null;
      },
      close: async () => undefined,
    },
    blocks,
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
