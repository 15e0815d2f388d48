/**
 * Our GeoTIFF / COG encoder (geotiff.js writes neither compression nor GDAL metadata). Classic TIFF,
 * little-endian, pixel-interleaved (PlanarConfiguration 1), strips or tiles, DEFLATE (node:zlib), ZSTD
 * (`zstd.ts`) or none,
 * predictors 1/2/3, GeoKeys for one EPSG code, GDAL_NODATA and GDAL_METADATA (dataset items, band
 * descriptions, colour interpretation). Layout is always "IFDs first": header, every IFD (full resolution,
 * then overviews with NewSubfileType = 1), then block data from the smallest overview to full resolution,
 * which is the COG layout (without GDAL's optional ghost area). `gdalinfo` is the test oracle.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { endianness } from 'node:os';
import { promisify } from 'node:util';
import { deflate, deflateSync } from 'node:zlib';
import { ClayError } from '../../core/errors.ts';
import { buildGeoTags, gdalMetadataXml } from './tiff-geo.ts';
import type { GeoReference, TiffBandInfo } from './tiff-geo.ts';
import { encodeIfd, ifdByteLength, Tag } from './tiff-ifd.ts';
import type { TagValue } from './tiff-ifd.ts';
import { buildOverview } from './tiff-overview.ts';
import type { OverviewResampling } from './tiff-overview.ts';
import { zstdCompress, zstdCompressSync } from '../../core/zstd.ts';
import { allocRaster, applyPredictor, bytesPerSample, checkImage, extractBlock, rasterBytes } from './tiff-raster.ts';
import type { Predictor, Raster, TiffImage } from './tiff-raster.ts';

export type { ColorInterp, GeoReference, TiffBandInfo } from './tiff-geo.ts';
export type { OverviewResampling } from './tiff-overview.ts';
export type { Dtype, Predictor, Raster, TiffImage } from './tiff-raster.ts';

/** Strips of `rowsPerStrip` full-width rows (last one shorter), or tiles (multiples of 16 pixels). */
export type TiffLayout = { kind: 'strips'; rowsPerStrip: number } | { kind: 'tiles'; width: number; height: number };

/** Encoding options. Defaults: 512x512 tiles, DEFLATE level 6, no predictor, no overviews, no geo. */
export interface TiffOptions {
  layout?: TiffLayout;
  compression?: 'none' | 'deflate' | 'zstd';
  /** The codec's level: zlib's 0..9 for DEFLATE (default 6), zstd's 1..22 for ZSTD (default 1). */
  level?: number;
  predictor?: Predictor;
  /** Reduced-resolution levels (e.g. factors [2, 4, 8, 16]), each computed from full resolution. */
  overviews?: { factors: readonly number[]; resampling: OverviewResampling };
  geo?: GeoReference;
  /** Written as GDAL_NODATA (NaN as "nan"); also the value of padding and of empty overview blocks. */
  nodata?: number;
  /** Dataset-level GDAL metadata items, e.g. `{ date: '2021-06-15' }`. */
  metadata?: Readonly<Record<string, string>>;
  /** Per-band description and colour interpretation, index 0 = band 1. */
  bands?: readonly TiffBandInfo[];
}

interface Block {
  img: TiffImage;
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Level {
  img: TiffImage;
  blocks: Block[];
  overview: boolean;
}

function checkOptions(img: TiffImage, o: TiffOptions): TiffLayout {
  checkImage(img);
  const layout = o.layout ?? { kind: 'tiles', width: 512, height: 512 };
  if (layout.kind === 'tiles' && (layout.width % 16 !== 0 || layout.height % 16 !== 0 || layout.width < 16 || layout.height < 16)) {
    throw new ClayError('BAD_ARGUMENT', `tile size ${layout.width}x${layout.height} is not a positive multiple of 16`);
  }
  if (layout.kind === 'strips' && !(Number.isInteger(layout.rowsPerStrip) && layout.rowsPerStrip >= 1)) {
    throw new ClayError('BAD_ARGUMENT', `rowsPerStrip ${layout.rowsPerStrip} must be a positive integer`);
  }
  if (o.predictor === 'float' && img.raster.dtype !== 'float32') {
    throw new ClayError('BAD_ARGUMENT', `floating-point predictor needs float32, got ${img.raster.dtype}`);
  }
  for (const f of o.overviews?.factors ?? []) {
    if (!Number.isInteger(f) || f < 2) throw new ClayError('BAD_ARGUMENT', `overview factor ${f} must be an integer >= 2`);
  }
  if (o.bands !== undefined && o.bands.length > img.samples) {
    throw new ClayError('BAD_ARGUMENT', `${o.bands.length} band infos for ${img.samples} bands`);
  }
  if (endianness() !== 'LE') throw new ClayError('INTERNAL', 'the TIFF writer assumes a little-endian host');
  return layout;
}

function blocksOf(img: TiffImage, layout: TiffLayout): Block[] {
  const out: Block[] = [];
  const bw = layout.kind === 'tiles' ? layout.width : img.width;
  const bh = layout.kind === 'tiles' ? layout.height : layout.rowsPerStrip;
  for (let y = 0; y < img.height; y += bh) {
    for (let x = 0; x < img.width; x += bw) {
      out.push({ img, x, y, w: bw, h: layout.kind === 'tiles' ? bh : Math.min(bh, img.height - y) });
    }
  }
  return out;
}

function plan(img: TiffImage, o: TiffOptions): Level[] {
  const layout = checkOptions(img, o);
  const factors = [...(o.overviews?.factors ?? [])].sort((a, b) => a - b);
  const levels: Level[] = [{ img, blocks: blocksOf(img, layout), overview: false }];
  for (const f of factors) {
    const ov = buildOverview(img, f, o.overviews?.resampling ?? 'nearest', o.nodata);
    levels.push({ img: ov, blocks: blocksOf(ov, layout), overview: true });
  }
  return levels;
}

/** Raw (predicted, uncompressed) bytes of one block, in `scratch` when given (and large enough). */
function rawBlock(b: Block, o: TiffOptions, scratch?: Raster): Uint8Array {
  const fill = o.nodata !== undefined && !(Number.isNaN(o.nodata) && b.img.raster.dtype !== 'float32') ? o.nodata : 0;
  const block = extractBlock(b.img, b.x, b.y, b.w, b.h, fill, scratch);
  applyPredictor(block, o.predictor ?? 'none', b.w, b.img.samples);
  return rasterBytes(block);
}

function imageTags(level: Level, o: TiffOptions, offsets: number[], counts: number[]): TagValue[] {
  const { img } = level;
  const s = img.samples;
  const dtype = img.raster.dtype;
  const layout = o.layout ?? { kind: 'tiles', width: 512, height: 512 };
  const tags: TagValue[] = [
    { tag: Tag.ImageWidth, type: 'long', value: [img.width] },
    { tag: Tag.ImageLength, type: 'long', value: [img.height] },
    { tag: Tag.BitsPerSample, type: 'short', value: new Array<number>(s).fill(bytesPerSample(dtype) * 8) },
    { tag: Tag.Compression, type: 'short', value: [o.compression === 'none' ? 1 : o.compression === 'zstd' ? 50000 : 8] },
    { tag: Tag.Photometric, type: 'short', value: [1] },
    { tag: Tag.SamplesPerPixel, type: 'short', value: [s] },
    { tag: Tag.PlanarConfiguration, type: 'short', value: [1] },
    { tag: Tag.SampleFormat, type: 'short', value: new Array<number>(s).fill(dtype === 'float32' ? 3 : 1) },
  ];
  if (level.overview) tags.push({ tag: Tag.NewSubfileType, type: 'long', value: [1] });
  if (layout.kind === 'tiles') {
    tags.push(
      { tag: Tag.TileWidth, type: 'long', value: [layout.width] },
      { tag: Tag.TileLength, type: 'long', value: [layout.height] },
      { tag: Tag.TileOffsets, type: 'long', value: offsets },
      { tag: Tag.TileByteCounts, type: 'long', value: counts },
    );
  } else {
    tags.push(
      { tag: Tag.RowsPerStrip, type: 'long', value: [layout.rowsPerStrip] },
      { tag: Tag.StripOffsets, type: 'long', value: offsets },
      { tag: Tag.StripByteCounts, type: 'long', value: counts },
    );
  }
  const predictor = o.predictor ?? 'none';
  if (predictor !== 'none') tags.push({ tag: Tag.Predictor, type: 'short', value: [predictor === 'horizontal' ? 2 : 3] });
  // Extra samples are "unspecified" so libtiff does not warn about MINISBLACK with several samples.
  if (s > 1) tags.push({ tag: Tag.ExtraSamples, type: 'short', value: new Array<number>(s - 1).fill(0) });
  if (o.nodata !== undefined) tags.push({ tag: Tag.GdalNodata, type: 'ascii', value: Number.isNaN(o.nodata) ? 'nan' : String(o.nodata) });
  if (!level.overview) {
    if (o.geo !== undefined) tags.push(...buildGeoTags(o.geo));
    const xml = gdalMetadataXml(o.metadata ?? {}, o.bands ?? []);
    if (xml !== undefined) tags.push({ tag: Tag.GdalMetadata, type: 'ascii', value: xml });
  }
  return tags.sort((a, b) => a.tag - b.tag);
}

/** Lays out header + IFDs given every block's compressed bytes (levels[i] blocks in order). */
function assemble(levels: Level[], o: TiffOptions, data: Uint8Array[][]): Uint8Array[] {
  const zeros = (n: number): number[] => new Array<number>(n).fill(0);
  const sizes = levels.map((l) => ifdByteLength(imageTags(l, o, zeros(l.blocks.length), zeros(l.blocks.length))));
  const headLen = 8 + sizes.reduce((a, b) => a + b, 0);
  const offsets: number[][] = levels.map(() => []);
  let at = headLen;
  for (let i = levels.length - 1; i >= 0; i--) {
    for (const chunk of data[i] ?? []) {
      offsets[i]?.push(at);
      at += chunk.length;
    }
  }
  if (at > 0xffffffff) throw new ClayError('BAD_ARGUMENT', `TIFF of ${at} bytes needs BigTIFF, which this writer does not write`);
  const head = new Uint8Array(headLen);
  const view = new DataView(head.buffer);
  view.setUint16(0, 0x4949, true);
  view.setUint16(2, 42, true);
  view.setUint32(4, 8, true);
  let ifd = 8;
  levels.forEach((l, i) => {
    const tags = imageTags(l, o, offsets[i] ?? [], (data[i] ?? []).map((c) => c.length));
    const next = i + 1 < levels.length ? ifd + (sizes[i] ?? 0) : 0;
    encodeIfd(head, 0, ifd, tags, next);
    ifd = next;
  });
  const out: Uint8Array[] = [head];
  for (let i = levels.length - 1; i >= 0; i--) out.push(...(data[i] ?? []));
  return out;
}

function compressSync(raw: Uint8Array, o: TiffOptions): Uint8Array {
  if (o.compression === 'zstd') return zstdCompressSync(raw, o.level ?? 1);
  return o.compression === 'none' ? raw : deflateSync(raw, { level: o.level ?? 6 });
}

/**
 * Encodes an image as a GeoTIFF, synchronously (ZSTD once `loadZstd()` has resolved). Returns the file as chunks in file order (header and
 * IFDs first); concatenate or write them in sequence.
 */
export function encodeTiff(img: TiffImage, options: TiffOptions = {}): Uint8Array[] {
  const levels = plan(img, options);
  // Compressed blocks are extracted into one reused buffer (the codec copies what it keeps); uncompressed
  // ones are the file's bytes, each its own.
  const maxBlock = levels.reduce((m, l) => l.blocks.reduce((k, b) => Math.max(k, b.w * b.h * b.img.samples), m), 0);
  const scratch = options.compression === 'none' ? undefined : allocRaster(img.raster.dtype, maxBlock);
  const data = levels.map((l) => l.blocks.map((b) => compressSync(rawBlock(b, options, scratch), options)));
  return assemble(levels, options, data);
}

const deflateAsync = promisify(deflate);
/** Output piece size of async DEFLATE: larger than zlib's 16 KiB (fewer callbacks), small enough that
 * the piece a compressed block ends in does not hold much unused memory. */
const DEFLATE_CHUNK = 64 * 1024;

/**
 * As `encodeTiff`, compressing blocks on libuv's thread pool (DEFLATE) or zstd's worker threads (ZSTD),
 * `concurrency` at a time, so several cores work on one file. Prefer it for large images.
 */
export async function encodeTiffAsync(
  img: TiffImage,
  options: TiffOptions = {},
  { concurrency = 4, signal }: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<Uint8Array[]> {
  const levels = plan(img, options);
  const jobs = levels.flatMap((l, li) => l.blocks.map((b, bi) => ({ b, li, bi })));
  const data: Uint8Array[][] = levels.map((l) => new Array<Uint8Array>(l.blocks.length));
  let next = 0;
  const maxBlock = jobs.reduce((m, j) => Math.max(m, j.b.w * j.b.h * j.b.img.samples), 0);
  const worker = async (): Promise<void> => {
    // Each worker reuses one block buffer: DEFLATE has consumed it before the worker's next block.
    // For ZSTD the buffer is shared: the zstd worker reads the block in place, no copy per block.
    const scratch = options.compression === 'none' ? undefined : allocRaster(img.raster.dtype, maxBlock, options.compression === 'zstd');
    while (next < jobs.length) {
      signal?.throwIfAborted();
      const job = jobs[next++];
      if (job === undefined) break;
      const raw = rawBlock(job.b, options, scratch);
      const level = data[job.li];
      if (level === undefined) throw new ClayError('INTERNAL', 'missing level');
      level[job.bi] = options.compression === 'none' ? raw
        : options.compression === 'zstd' ? await zstdCompress(raw, options.level ?? 1)
          : await deflateAsync(raw, { level: options.level ?? 6, chunkSize: DEFLATE_CHUNK });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return assemble(levels, options, data);
}

/** Total byte length of encoded chunks. */
export function byteLength(chunks: readonly Uint8Array[]): number {
  return chunks.reduce((a, c) => a + c.length, 0);
}

/**
 * Writes encoded chunks to `path` atomically: a temporary sibling name first, then a rename, so a
 * finished-looking file is a finished file. Returns the byte count.
 */
export async function writeChunksAtomic(path: string, chunks: readonly Uint8Array[]): Promise<number> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'w');
    try {
      for (let i = 0; i < chunks.length; i += 256) await fh.writev(chunks.slice(i, i + 256));
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true });
    throw new ClayError('IO', `cannot write ${path}`, { input: path, cause });
  }
  return byteLength(chunks);
}

/** Encodes (on the thread pool) and writes a GeoTIFF atomically. Returns the byte count. */
export async function writeTiff(path: string, img: TiffImage, options: TiffOptions = {}, opts: { signal?: AbortSignal } = {}): Promise<number> {
  const chunks = await encodeTiffAsync(img, options, opts);
  return writeChunksAtomic(path, chunks);
}
