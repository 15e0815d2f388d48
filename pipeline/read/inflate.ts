/**
 * Tile inflation on Node's native zlib (libuv thread pool: inflates run in parallel with each other and
 * with the warp loop on the main thread); predictors are undone in `predictor.ts`. `bench/warp.ts
 * --decoder geotiff` measures geotiff.js' own inflate (pako, pure JS) on the same work; native zlib is the
 * default because it measured faster (see the bench).
 */
import { inflate as inflateCb, inflateSync } from 'node:zlib';
import { promisify } from 'node:util';

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
