/**
 * Tile decoding on Node's native zlib (libuv thread pool: inflates run in parallel with each other and
 * with the warp loop on the main thread) and TIFF predictors 2 (horizontal differencing) and 3 (floating
 * point). `bench/warp.ts --decoder geotiff` measures geotiff.js' own decoder (pako, pure JS) on the same
 * work; native zlib is the default because it measured faster (see the bench).
 */
import { inflate as inflateCb, inflateSync } from 'node:zlib';
import { promisify } from 'node:util';
import { bytesPerPixel, type DType } from './raster.ts';

const inflateAsync = promisify(inflateCb);

/**
 * Inflates a zlib (TIFF DEFLATE / Adobe DEFLATE) stream off the main thread. With `expected` (the
 * decoded size, known for a TIFF tile) the output comes in one buffer instead of 16 KiB pieces
 * concatenated: one callback on the main thread per tile instead of dozens.
 */
export async function inflateNative(bytes: Uint8Array, expected?: number): Promise<Uint8Array> {
  const out = await inflateAsync(bytes, expected !== undefined && expected > 0 ? { chunkSize: Math.max(64, expected) } : {});
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Inflates a zlib stream synchronously (for worker threads, where blocking is the point). `expected` is
 * the decoded size: the output comes in one buffer, and a stream that inflates to more is a RangeError
 * instead of an unbounded allocation.
 */
export function inflateNativeSync(bytes: Uint8Array, expected: number): Uint8Array {
  const out = inflateSync(bytes, { chunkSize: Math.max(64, expected), maxOutputLength: Math.max(1, expected) });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Undoes TIFF predictor `predictor` in place on decoded little-endian bytes of one tile or strip of
 * `width` x `rows` pixels with `samples` interleaved samples per pixel (PlanarConfiguration 1; 1 for
 * planar or single-band data). Predictor 1 is a no-op; 2 is horizontal differencing on integer samples;
 * 3 is the floating-point predictor (per row: byte planes, most significant first, differenced with a
 * stride of `samples` bytes, as libtiff's fpAcc).
 */
export function undoPredictor(bytes: Uint8Array, predictor: number, dtype: DType, width: number, rows: number, samples = 1): void {
  if (predictor === 1) return;
  const size = bytesPerPixel(dtype);
  if (predictor === 2) return undoHorizontal(bytes, dtype, width * samples, rows, samples);
  if (predictor === 3) {
    const wc = width * samples;
    const rowBytes = wc * size;
    const copy = new Uint8Array(rowBytes);
    for (let r = 0; r < rows; r++) {
      const row = bytes.subarray(r * rowBytes, (r + 1) * rowBytes);
      for (let i = samples; i < rowBytes; i++) row[i] = (row[i]! + row[i - samples]!) & 0xff;
      copy.set(row);
      for (let i = 0; i < wc; i++) {
        for (let b = 0; b < size; b++) row[i * size + b] = copy[(size - b - 1) * wc + i]!;
      }
    }
    return;
  }
  throw new RangeError(`unsupported TIFF predictor ${predictor}`);
}

/** Horizontal differencing undone over rows of `width` values, `stride` values apart (samples per pixel). */
function undoHorizontal(bytes: Uint8Array, dtype: DType, width: number, rows: number, stride: number): void {
  const size = bytesPerPixel(dtype);
  if (size === 1) {
    for (let r = 0; r < rows; r++) {
      const o = r * width;
      for (let i = stride; i < width; i++) bytes[o + i] = (bytes[o + i]! + bytes[o + i - stride]!) & 0xff;
    }
    return;
  }
  if (bytes.byteOffset % size !== 0) throw new RangeError('misaligned tile buffer');
  const n = width * rows;
  if (size === 2) {
    const v = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let r = 0; r < rows; r++) {
      const o = r * width;
      for (let i = stride; i < width; i++) v[o + i] = (v[o + i]! + v[o + i - stride]!) & 0xffff;
    }
    return;
  }
  if (size === 4 && dtype !== 'float32') {
    const v = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    for (let r = 0; r < rows; r++) {
      const o = r * width;
      for (let i = stride; i < width; i++) v[o + i] = (v[o + i]! + v[o + i - stride]!) >>> 0;
    }
    return;
  }
  throw new RangeError(`predictor 2 on ${dtype} samples is not supported`);
}
