/**
 * From the decompressed bytes of one TIFF tile or strip to one band of pixels, as libtiff and GDAL read it:
 * big-endian samples swapped, the predictor undone, the wanted sample taken out of interleaved (chunky)
 * pixels, and the two sample types our rasters do not hold widened: float16 to float32 (as GDAL 3.6 reads
 * `NBITS=16` floats) and 64-bit integers to float64 (exact up to 2^53 in magnitude; beyond that the nearest
 * double). Decompression itself is the codec's (see `cog.ts`); this file knows nothing of codecs.
 */
import { ClayError } from '../../core/errors.ts';
import { halfToNumber } from '../../core/float16.ts';
import { undoPredictor, swapBytes } from './predictor.ts';
import { dtypeOf, rasterFromBytes, type DType, type Raster } from './raster.ts';

/** TIFF SampleFormat: unsigned integer, signed integer, IEEE float. */
export type SampleFormat = 1 | 2 | 3;

/** How the samples of a tile are stored, from its IFD. */
export interface SampleLayout {
  sampleFormat: SampleFormat;
  /** BitsPerSample: 8, 16, 32 or 64 (16 with floats is float16). */
  bits: 8 | 16 | 32 | 64;
  littleEndian: boolean;
  predictor: 1 | 2 | 3;
  /** Samples interleaved per pixel in one tile: SamplesPerPixel when chunky (PlanarConfiguration 1), else 1. */
  samples: number;
  /** Which of the interleaved samples is read (0-based; 0 when planar, where a tile holds one band). */
  sample: number;
}

/**
 * The layout of the file's samples, checked: a sample type this reader has no raster for is COG_UNSUPPORTED
 * (`url` named), a predictor libtiff itself refuses is COG_CORRUPT.
 */
export function sampleLayout(url: string, fields: { sampleFormat: number; bits: number; littleEndian: boolean; predictor: number; samples: number; sample: number }): SampleLayout {
  const { sampleFormat, bits, predictor } = fields;
  const kind = sampleFormat === 1 ? 'unsigned integer' : sampleFormat === 2 ? 'signed integer' : sampleFormat === 3 ? 'float' : `SampleFormat ${sampleFormat}`;
  const ok = (sampleFormat === 1 || sampleFormat === 2) ? [8, 16, 32, 64].includes(bits) : sampleFormat === 3 ? [16, 32, 64].includes(bits) : false;
  if (!ok) throw new ClayError('COG_UNSUPPORTED', `${url}: ${bits}-bit ${kind} samples are not supported (8, 16, 32 or 64-bit integers, 16, 32 or 64-bit floats are)`, { input: url });
  if (predictor !== 1 && predictor !== 2 && predictor !== 3) throw new ClayError('COG_UNSUPPORTED', `${url}: TIFF predictor ${predictor} is not supported (1, 2 and 3 are)`, { input: url });
  if (predictor === 3 && sampleFormat !== 3) throw new ClayError('COG_CORRUPT', `${url}: the floating-point predictor (3) on ${kind} samples (libtiff refuses it too)`, { input: url });
  return { sampleFormat: sampleFormat as SampleFormat, bits: bits as SampleLayout['bits'], littleEndian: fields.littleEndian, predictor, samples: fields.samples, sample: fields.sample };
}

/** The dtype of the rasters read from `layout`: float16 widened to float32, 64-bit integers to float64. */
export function rasterDtype(layout: SampleLayout): DType {
  if (layout.sampleFormat === 3 && layout.bits === 16) return 'float32';
  if (layout.bits === 64 && layout.sampleFormat !== 3) return 'float64';
  return dtypeOf(layout.sampleFormat, layout.bits)!;
}

/**
 * One band of `width` x `rows` pixels from the decompressed bytes `raw` of a tile (which this may modify:
 * pass a buffer of your own). `native` says the codec already produced finished samples in the machine's
 * order (LERC, JPEG): then no swap and no predictor.
 */
export function samplesToRaster(raw: Uint8Array, layout: SampleLayout, width: number, rows: number, native = false): Raster {
  const size = layout.bits / 8;
  const values = width * rows * layout.samples;
  if (raw.byteLength < values * size) throw new RangeError(`decoded ${raw.byteLength} of ${values * size} bytes`);
  const bytes = raw.byteOffset % size === 0 ? raw.subarray(0, values * size) : raw.slice(0, values * size);
  if (!native) {
    if (!layout.littleEndian && layout.predictor !== 3) swapBytes(bytes, size);
    undoPredictor(bytes, layout.predictor, size, width, rows, layout.samples);
  }
  const dtype = rasterDtype(layout);
  const n = width * rows;
  const { samples, sample } = layout;
  if (layout.sampleFormat === 3 && size === 2) {
    const half = new Uint16Array(bytes.buffer, bytes.byteOffset, values);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = halfToNumber(half[i * samples + sample]!);
    return { dtype: 'float32', data: out, width, height: rows };
  }
  if (size === 8 && layout.sampleFormat !== 3) {
    const ints = layout.sampleFormat === 2 ? new BigInt64Array(bytes.buffer, bytes.byteOffset, values) : new BigUint64Array(bytes.buffer, bytes.byteOffset, values);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = Number(ints[i * samples + sample]!);
    return { dtype: 'float64', data: out, width, height: rows };
  }
  const all = rasterFromBytes(dtype, bytes, width * samples, rows);
  if (samples === 1) return all;
  const out = rasterFromBytes(dtype, new Uint8Array(n * size), width, rows);
  const src = all.data;
  const dst = out.data;
  for (let i = 0; i < n; i++) dst[i] = src[i * samples + sample]!;
  return out;
}
