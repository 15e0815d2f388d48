/**
 * ZSTD for GeoTIFF blocks (TIFF Compression 50000, as GDAL and libtiff write and read it), through zstd's
 * C library in two builds:
 * - `native`: `@toondepauw/node-zstd`, a Node-API addon whose prebuilt binary comes from the npm registry as
 *   a per-platform package (an optional dependency: no install step, no compiler). It compresses at about
 *   1.7x the speed of the WebAssembly build at level 1 on noisy float32 strips.
 * - `wasm`: `@bokuweb/zstd-wasm`, the same library built to WebAssembly: it compresses where the addon has
 *   no binary, and it always decompresses. The addon's decoder streams, and streaming, zstd does not notice
 *   most damage to a frame without a checksum (neither build writes one, nor does GDAL): of 27,000 frames
 *   with 50 bytes garbled it raised an error for 51, the one-shot WebAssembly decoder for 24,800.
 * `loadZstd()` loads them per thread (the compressor: `native` when it loads; `CLAY_ZSTD=native|wasm` forces
 * one, and a forced `native` that does not load is an error). After that compression and decompression are
 * synchronous. Both compressors write valid zstd frames that decode to the same bytes; the frames differ in
 * their header (the WebAssembly build records the content size, the addon does not). `zstdCompress`
 * spreads blocks over a pool of worker threads (`zstd-worker.ts`), so encoding uses every core and leaves
 * this thread to stack the next chip.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { compress, decompress, init } from '@bokuweb/zstd-wasm';
import { ClayError, errorMessage, isClayError } from './errors.ts';
import { WorkerPool } from './worker-pool.ts';

/** zstd's levels as the writer takes them (zstd's own: 1 fastest .. 22; GDAL's ZSTD_LEVEL default is 9). */
export const ZSTD_LEVELS = { min: 1, max: 22 } as const;

/** The builds of zstd this module can use. */
export type ZstdBackendName = 'native' | 'wasm';

interface ZstdBackend {
  name: ZstdBackendName;
  compress(raw: Uint8Array, level: number): Uint8Array;
}

/** The part of `@toondepauw/node-zstd` used here. */
interface NativeZstd {
  Encoder: new (level: number) => { encodeSync(data: Buffer): Buffer };
}

const asBuffer = (a: Uint8Array): Buffer => (Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength));
/** A plain Uint8Array over a Buffer's bytes: `Buffer#slice` is a view, not the copy callers expect of `slice`. */
const plainView = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function nativeBackend(): ZstdBackend {
  const mod = createRequire(import.meta.url)('@toondepauw/node-zstd') as NativeZstd;
  const encoders = new Map<number, { encodeSync(data: Buffer): Buffer }>();
  return {
    name: 'native',
    compress(raw, level) {
      let e = encoders.get(level);
      if (e === undefined) encoders.set(level, (e = new mod.Encoder(level)));
      return plainView(e.encodeSync(asBuffer(raw)));
    },
  };
}

const wasmBackend: ZstdBackend = { name: 'wasm', compress: (raw, level) => compress(raw, level) };

let ready: Promise<void> | undefined;
let backend: ZstdBackend | undefined;

/** The compressor `loadZstd` chooses in this thread: `CLAY_ZSTD` if set, else `native` when its addon loads. */
function chooseBackend(): ZstdBackend {
  const want = process.env.CLAY_ZSTD;
  if (want !== undefined && want !== '' && want !== 'native' && want !== 'wasm') {
    throw new ClayError('BAD_ARGUMENT', `CLAY_ZSTD=${want}: expected native or wasm`, { input: 'CLAY_ZSTD' });
  }
  if (want !== 'wasm') {
    try {
      return nativeBackend();
    } catch (err) {
      if (want === 'native') throw new ClayError('BAD_ARGUMENT', `CLAY_ZSTD=native: the zstd addon (@toondepauw/node-zstd) does not load here: ${errorMessage(err)}`, { input: 'CLAY_ZSTD', cause: err });
    }
  }
  return wasmBackend;
}

/**
 * Loads zstd in this thread (once): the WebAssembly build (the decoder, and the compressor where the
 * addon does not load) and the native addon's compressor.
 */
export function loadZstd(): Promise<void> {
  ready ??= Promise.resolve().then(chooseBackend).then(async (b) => {
    await init();
    backend = b;
  });
  return ready;
}

/** The compressor in use in this thread (after `loadZstd`). */
export function zstdBackend(): ZstdBackendName {
  return loaded().name;
}

function loaded(): ZstdBackend {
  if (backend === undefined) throw new ClayError('INTERNAL', 'zstd is used before loadZstd() resolved');
  return backend;
}

/** One block compressed in this thread (after `loadZstd`). */
export function zstdCompressSync(raw: Uint8Array, level: number): Uint8Array {
  return loaded().compress(raw, level);
}

/** One block decompressed in this thread (after `loadZstd`, by the WebAssembly build); `expected` bytes, else RangeError. */
export function zstdDecompressSync(bytes: Uint8Array, expected: number): Uint8Array {
  loaded();
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
