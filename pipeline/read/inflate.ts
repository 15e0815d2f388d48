/**
 * Tile decoding on Node's native zlib (libuv thread pool: inflates run in parallel with each other and
 * with the warp loop on the main thread) and TIFF predictors 2 (horizontal differencing) and 3 (floating
 * point). `bench/warp.ts --decoder geotiff` measures geotiff.js' own decoder (pako, pure JS) on the same
 * work; native zlib is the default because it measured faster (see the bench).
 */
import { inflate as inflateCb } from 'node:zlib';
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
 * Undoes TIFF predictor `predictor` in place on decoded little-endian bytes of one single-sample tile
 * (`width` x `rows`). Predictor 1 is a no-op; 2 is horizontal differencing on integer samples; 3 is the
 * floating-point predictor (byte planes, most significant first, differenced along the row).
 */
export function undoPredictor(bytes: Uint8Array, predictor: number, dtype: DType, width: number, rows: number): void {
  if (predictor === 1) return;
  const size = bytesPerPixel(dtype);
  if (predictor === 2) return undoHorizontal(bytes, dtype, width, rows);
  if (predictor === 3) {
    const rowBytes = width * size;
    const copy = new Uint8Array(rowBytes);
    for (let r = 0; r < rows; r++) {
      const row = bytes.subarray(r * rowBytes, (r + 1) * rowBytes);
      for (let i = 1; i < rowBytes; i++) row[i] = (row[i]! + row[i - 1]!) & 0xff;
      copy.set(row);
      for (let i = 0; i < width; i++) {
        for (let b = 0; b < size; b++) row[i * size + b] = copy[(size - b - 1) * width + i]!;
      }
    }
    return;
  }
  throw new RangeError(`unsupported TIFF predictor ${predictor}`);
}

function undoHorizontal(bytes: Uint8Array, dtype: DType, width: number, rows: number): void {
  const size = bytesPerPixel(dtype);
  if (size === 1) {
    for (let r = 0; r < rows; r++) {
      const o = r * width;
      for (let i = 1; i < width; i++) bytes[o + i] = (bytes[o + i]! + bytes[o + i - 1]!) & 0xff;
    }
    return;
  }
  if (bytes.byteOffset % size !== 0) throw new RangeError('misaligned tile buffer');
  const n = width * rows;
  if (size === 2) {
    const v = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let r = 0; r < rows; r++) {
      const o = r * width;
      let acc = v[o]!;
      for (let i = 1; i < width; i++) {
        acc = (acc + v[o + i]!) & 0xffff;
        v[o + i] = acc;
      }
    }
    return;
  }
  if (size === 4 && dtype !== 'float32') {
    const v = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    for (let r = 0; r < rows; r++) {
      const o = r * width;
      for (let i = 1; i < width; i++) v[o + i] = (v[o + i]! + v[o + i - 1]!) >>> 0;
    }
    return;
  }
  throw new RangeError(`predictor 2 on ${dtype} samples is not supported`);
}
