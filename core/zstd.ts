/**
 * ZSTD for GeoTIFF blocks (TIFF Compression 50000, as GDAL and libtiff write and read it), through
 * `@bokuweb/zstd-wasm`: zstd's C library built to WebAssembly, no install step. `loadZstd()` instantiates
 * it once per thread; after that compression and decompression are synchronous. `zstdCompress` spreads
 * blocks over a pool of worker threads (`zstd-worker.ts`), so encoding uses every core and leaves this
 * thread to stack the next chip.
 */
import { availableParallelism } from 'node:os';
import { compress, decompress, init } from '@bokuweb/zstd-wasm';
import { ClayError, errorMessage, isClayError } from './errors.ts';
import { WorkerPool } from './worker-pool.ts';

/** zstd's levels as the writer takes them (zstd's own: 1 fastest .. 22; GDAL's ZSTD_LEVEL default is 9). */
export const ZSTD_LEVELS = { min: 1, max: 22 } as const;

let ready: Promise<void> | undefined;
let loaded = false;

/** Instantiates the WebAssembly codec in this thread (once). */
export function loadZstd(): Promise<void> {
  ready ??= init().then(() => {
    loaded = true;
  });
  return ready;
}

function needLoaded(): void {
  if (!loaded) throw new ClayError('INTERNAL', 'zstd is used before loadZstd() resolved');
}

/** One block compressed in this thread (after `loadZstd`). */
export function zstdCompressSync(raw: Uint8Array, level: number): Uint8Array {
  needLoaded();
  return compress(raw, level);
}

/** One block decompressed in this thread (after `loadZstd`); `expected` bytes, else RangeError. */
export function zstdDecompressSync(bytes: Uint8Array, expected: number): Uint8Array {
  needLoaded();
  const out = decompress(bytes, { defaultHeapSize: Math.max(expected, 1024) });
  if (out.length !== expected) throw new RangeError(`zstd block holds ${out.length} bytes, expected ${expected}`);
  return out;
}

type ZstdRequest = { raw: Uint8Array; level: number };

let pool: WorkerPool<ZstdRequest, Uint8Array> | undefined;

/**
 * One block compressed on the worker pool (one thread per core, at most 4). `raw` on a SharedArrayBuffer is
 * read there in place and must not change until the promise settles; any other goes as a copy of the block
 * alone (transferred: cloning a view would copy its whole buffer).
 */
export function zstdCompress(raw: Uint8Array, level: number): Promise<Uint8Array> {
  pool ??= new WorkerPool(new URL('./zstd-worker.ts', import.meta.url), Math.max(1, Math.min(4, availableParallelism())), 'zstd');
  const internal = (err: unknown): never => {
    throw isClayError(err) ? err : new ClayError('INTERNAL', errorMessage(err), { cause: err });
  };
  if (raw.buffer instanceof SharedArrayBuffer) return pool.run({ raw, level }).catch(internal);
  const copy = raw.slice();
  return pool.run({ raw: copy, level }, [copy.buffer]).catch(internal);
}
