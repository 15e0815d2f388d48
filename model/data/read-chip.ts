/**
 * Reads one chip GeoTIFF from its bytes and normalises it as Clay v0's datamodule does (see
 * normalize.ts). Synchronous on purpose: it runs in the stream's worker threads, where blocking zlib is the
 * cheapest way to decode.
 *
 * Supported: what our writer writes (`pipeline/chip/chip-file.ts`: classic little-endian TIFF, strips,
 * PlanarConfiguration 1, ZSTD, DEFLATE or none, predictor 1 or 3, 13 float32 bands) and what GDAL writes for the
 * same data (tiles, PlanarConfiguration 2, PixelIsPoint or ModelTransformation georeferencing). Anything
 * else (not a TIFF, truncated, other band count or sample type, no CRS, no `date` item, a date that is
 * not the name's) is `ClayError('CHIP_CORRUPT')` naming the chip's url and what is wrong.
 */
import { ClayError, errorMessage, isClayError } from '../../core/errors.ts';
import { halfBitsFromFloat32Bits } from '../../core/float16.ts';
import { pixelToWorld } from '../../core/grid.ts';
import { inflateNativeSync } from '../../pipeline/read/inflate.ts';
import { loadZstd, zstdDecompressSync } from '../../core/zstd.ts';
import { undoPredictor } from '../../pipeline/read/predictor.ts';
import { gdalDatasetMetadata, readTiffIfd, tagNumber, tagNumbers, tiffGeoreference, type TiffIfd } from '../../pipeline/read/tiff-header.ts';
import { pointTransform } from '../../pipeline/warp/proj.ts';
import { Tag } from '../../pipeline/write/tiff-ifd.ts';
import { NUM_BANDS } from '../config.ts';
import { normalizationTable, normalizeLatlon, normalizeTimestamp } from './normalize.ts';
import type { ChipPlace, ChipRef, ChipSample } from './types.ts';

// ZSTD chips (the writer's default) decode synchronously once the WebAssembly codec is instantiated: do it
// when this module loads (about 20 ms and 9 MB, once per thread), so `decodeChip` works on any chip as soon
// as it can be imported.
await loadZstd();

/** Options of `decodeChip`. */
export interface DecodeChipOptions {
  /** Required width and height in pixels; a chip of another size is CHIP_CORRUPT (default: not checked). */
  size?: number;
  /** Points per footprint edge (default 8). */
  edgePoints?: number;
}

/** How the pixel blocks of IFD 0 are laid out. */
interface Layout {
  width: number;
  height: number;
  blockWidth: number;
  blockHeight: number;
  /** True for strips (the last one holds only the rows left); false for tiles (always full size). */
  strips: boolean;
  planar: 1 | 2;
  compressed: boolean;
  /** The block codec when compressed. */
  codec: 'deflate' | 'zstd';
  predictor: 1 | 3;
  offsets: readonly number[];
  counts: readonly number[];
}

/** Reads and normalises one chip; see the file comment. `ref.url` names it in errors. */
export function decodeChip(bytes: Uint8Array, ref: ChipRef, options: DecodeChipOptions = {}): ChipSample {
  try {
    const ifd = readTiffIfd(bytes, ref.url);
    const layout = layoutOf(ifd, ref.url, options.size);
    const date = gdalDatasetMetadata(ifd).date;
    if (date === undefined) throw corrupt(ref.url, 'no `date` item in GDAL_METADATA');
    if (date !== ref.date) throw corrupt(ref.url, `its date tag ${JSON.stringify(date)} is not the date ${ref.date} of its name`);
    const timestep = normalizeTimestamp(date);
    const place = placeOf(ifd, ref, layout, options.edgePoints ?? 8);
    const pixels = decodePixels(bytes, layout, ref.url);
    return { ...place, pixels, latlon: normalizeLatlon(place.lon, place.lat), timestep };
  } catch (err) {
    if (isClayError(err, 'CHIP_CORRUPT')) throw err;
    throw corrupt(ref.url, errorMessage(err), err);
  }
}

function corrupt(url: string, why: string, cause?: unknown): ClayError {
  // Lower layers already prefix the url; do not repeat it.
  const what = why.startsWith(`${url}: `) ? why.slice(url.length + 2) : why;
  return new ClayError('CHIP_CORRUPT', `chip ${url}: ${what}`, { input: url, ...(cause === undefined ? {} : { cause }) });
}

function layoutOf(ifd: TiffIfd, url: string, size: number | undefined): Layout {
  const width = tagNumber(ifd, Tag.ImageWidth) ?? 0;
  const height = tagNumber(ifd, Tag.ImageLength) ?? 0;
  if (width < 1 || height < 1) throw corrupt(url, `bad image size ${width}x${height}`);
  if (size !== undefined && (width !== size || height !== size)) throw corrupt(url, `size ${width}x${height}, expected ${size}x${size}`);
  if (!ifd.littleEndian) throw corrupt(url, 'big-endian TIFF is not supported');
  const samples = tagNumber(ifd, Tag.SamplesPerPixel, 1);
  if (samples !== NUM_BANDS) throw corrupt(url, `${samples} bands, expected ${NUM_BANDS}`);
  const bits = tagNumbers(ifd, Tag.BitsPerSample) ?? [1];
  const formats = tagNumbers(ifd, Tag.SampleFormat) ?? [1];
  if (!bits.every((b) => b === 32) || !formats.every((f) => f === 3)) {
    throw corrupt(url, `samples are ${bits[0]}-bit of SampleFormat ${formats[0]}, expected float32`);
  }
  const compression = tagNumber(ifd, Tag.Compression, 1);
  if (compression !== 1 && compression !== 8 && compression !== 32946 && compression !== 50000) throw corrupt(url, `compression ${compression} is not supported (none, DEFLATE or ZSTD)`);
  const predictor = tagNumber(ifd, Tag.Predictor, 1);
  if (predictor !== 1 && predictor !== 3) throw corrupt(url, `predictor ${predictor} is not supported on float32 (1 or 3)`);
  const planar = tagNumber(ifd, Tag.PlanarConfiguration, 1);
  if (planar !== 1 && planar !== 2) throw corrupt(url, `PlanarConfiguration ${planar}`);
  const tiled = ifd.tags.has(Tag.TileWidth);
  const blockWidth = tiled ? tagNumber(ifd, Tag.TileWidth) ?? 0 : width;
  const blockHeight = tiled ? tagNumber(ifd, Tag.TileLength) ?? 0 : Math.min(height, tagNumber(ifd, Tag.RowsPerStrip, height) ?? height);
  if (blockWidth < 1 || blockHeight < 1) throw corrupt(url, `bad block size ${blockWidth}x${blockHeight}`);
  const offsets = tagNumbers(ifd, tiled ? Tag.TileOffsets : Tag.StripOffsets);
  const counts = tagNumbers(ifd, tiled ? Tag.TileByteCounts : Tag.StripByteCounts);
  const blocks = Math.ceil(width / blockWidth) * Math.ceil(height / blockHeight) * (planar === 2 ? NUM_BANDS : 1);
  if (offsets?.length !== blocks || counts?.length !== blocks) {
    throw corrupt(url, `${offsets?.length ?? 0} block offsets and ${counts?.length ?? 0} byte counts, expected ${blocks}`);
  }
  return { width, height, blockWidth, blockHeight, strips: !tiled, planar, compressed: compression !== 1, codec: compression === 50000 ? 'zstd' : 'deflate', predictor, offsets, counts };
}

/** Grid, centre and footprint; the centre is rasterio's `lnglat()`: the middle of the bounds, in EPSG:4326. */
function placeOf(ifd: TiffIfd, ref: ChipRef, layout: Layout, edgePoints: number): ChipPlace {
  const { epsg, transform } = tiffGeoreference(ifd, ref.url);
  const { width, height } = layout;
  const toLonLat = pointTransform(epsg, 4326);
  const out: [number, number] = [0, 0];
  const lonlat = (px: number, py: number): [number, number] => {
    const [x, y] = pixelToWorld(transform, px, py);
    toLonLat.apply(x, y, out);
    if (!Number.isFinite(out[0]) || !Number.isFinite(out[1])) throw corrupt(ref.url, `pixel (${px}, ${py}) has no lon/lat in EPSG:${epsg}`);
    return [out[0], out[1]];
  };
  const [lon, lat] = lonlat(width / 2, height / 2);
  const footprint = footprintOf(width, height, edgePoints, lonlat);
  return { url: ref.url, key: ref.key, mgrs: ref.mgrs, date: ref.date, epsg, transform, width, height, lon, lat, footprint };
}

/** The image's edges, `n` points each (corners included once), in lon/lat: a closed counter-clockwise ring. */
function footprintOf(width: number, height: number, n: number, lonlat: (px: number, py: number) => [number, number]): [number, number][] {
  const k = Math.max(1, Math.floor(n));
  const ring: [number, number][] = [];
  const edge = (x0: number, y0: number, x1: number, y1: number): void => {
    for (let i = 0; i < k; i++) ring.push(lonlat(x0 + ((x1 - x0) * i) / k, y0 + ((y1 - y0) * i) / k));
  };
  // Top-left, down the left edge, along the bottom, up the right, back along the top: counter-clockwise on
  // the ground for a north-up grid; the signed area below settles any other orientation.
  edge(0, 0, 0, height);
  edge(0, height, width, height);
  edge(width, height, width, 0);
  edge(width, 0, 0, 0);
  ring.push(ring[0]!);
  let area = 0;
  for (let i = 0; i + 1 < ring.length; i++) area += ring[i]![0] * ring[i + 1]![1] - ring[i + 1]![0] * ring[i]![1];
  return area < 0 ? ring.reverse() : ring;
}

/** Decodes every block into `[13, H, W]` planes, normalised through v0's float16 tables. */
function decodePixels(bytes: Uint8Array, layout: Layout, url: string): Float32Array {
  const { width, height, blockWidth: bw, blockHeight: bh, planar } = layout;
  const table = normalizationTable();
  const out = new Float32Array(NUM_BANDS * width * height);
  const across = Math.ceil(width / bw);
  const perBand = across * Math.ceil(height / bh);
  const samples = planar === 1 ? NUM_BANDS : 1;
  for (let i = 0; i < layout.offsets.length; i++) {
    const j = i % perBand;
    const x0 = (j % across) * bw;
    const y0 = Math.floor(j / across) * bh;
    const rows = layout.strips ? Math.min(bh, height - y0) : bh;
    const words = blockWords(bytes, layout, i, bw * rows * samples, url);
    undoPredictor(new Uint8Array(words.buffer, words.byteOffset, words.byteLength), layout.predictor, 4, bw, rows, samples);
    const block = { x0, y0, bw, cols: Math.min(bw, width - x0), rows: Math.min(rows, height - y0) };
    if (planar === 1) scatterInterleaved(words, block, table, out, width, height);
    else scatterBand(words, block, table, Math.floor(i / perBand), out, width, height);
  }
  return out;
}

interface BlockPlace {
  x0: number;
  y0: number;
  /** Stored block width (pixels per stored row). */
  bw: number;
  /** Columns and rows inside the image. */
  cols: number;
  rows: number;
}

/** Normalises a pixel-interleaved block into the band planes of `out` (pixel-major: the source is read once). */
function scatterInterleaved(words: Uint32Array, p: BlockPlace, table: Float32Array, out: Float32Array, width: number, height: number): void {
  const plane = width * height;
  for (let r = 0; r < p.rows; r++) {
    let src = r * p.bw * NUM_BANDS;
    const dst0 = (p.y0 + r) * width + p.x0;
    for (let c = 0; c < p.cols; c++) {
      for (let b = 0, dst = dst0 + c; b < NUM_BANDS; b++, dst += plane) out[dst] = table[(b << 16) | halfBits(words[src++]!)]!;
    }
  }
}

/** Normalises one band's block (PlanarConfiguration 2) into its plane of `out`. */
function scatterBand(words: Uint32Array, p: BlockPlace, table: Float32Array, band: number, out: Float32Array, width: number, height: number): void {
  const base = band << 16;
  for (let r = 0; r < p.rows; r++) {
    let src = r * p.bw;
    let dst = band * width * height + (p.y0 + r) * width + p.x0;
    for (let c = 0; c < p.cols; c++) out[dst++] = table[base | halfBits(words[src++]!)]!;
  }
}

/** float32 bits -> float16 bits: the normal range inline (the hot path), the rest in core/float16.ts. */
function halfBits(bits: number): number {
  const abs = bits & 0x7fffffff;
  if (abs >= 0x38800000 && abs < 0x477ff000) {
    const r = abs - 0x38000000;
    return ((bits >>> 16) & 0x8000) | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
  }
  return halfBitsFromFloat32Bits(bits);
}

/** Block `i`'s decoded bytes as 32-bit words (a copy when the bytes are stored raw and misaligned). */
function blockWords(bytes: Uint8Array, layout: Layout, i: number, values: number, url: string): Uint32Array {
  const offset = layout.offsets[i]!;
  const count = layout.counts[i]!;
  if (offset + count > bytes.length) throw corrupt(url, `block ${i} (${count} bytes at ${offset}) runs past the end of the ${bytes.length}-byte file: truncated`);
  const stored = bytes.subarray(offset, offset + count);
  const expected = values * 4;
  let raw: Uint8Array;
  if (layout.compressed) {
    try {
      raw = layout.codec === 'zstd' ? zstdDecompressSync(stored, expected) : inflateNativeSync(stored, expected);
    } catch (err) {
      if (isClayError(err, 'INTERNAL')) throw err;
      throw corrupt(url, `block ${i} does not ${layout.codec === 'zstd' ? 'decompress (zstd)' : 'inflate'}: ${errorMessage(err)}`, err);
    }
  } else {
    raw = stored;
  }
  if (raw.length !== expected) throw corrupt(url, `block ${i} holds ${raw.length} bytes, expected ${expected}`);
  // Predictor 3 rewrites in place: the caller's bytes are never modified, so stored blocks are copied then;
  // inflated ones are ours. A misaligned buffer is copied too (a Uint32Array view needs 4-byte alignment).
  const own = raw.byteOffset % 4 === 0 && (layout.compressed || layout.predictor === 1) ? raw : raw.slice();
  return new Uint32Array(own.buffer, own.byteOffset, values);
}
