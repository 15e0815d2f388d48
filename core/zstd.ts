/**
 * ZSTD for GeoTIFF blocks (TIFF Compression 50000, as GDAL and libtiff write and read it), through zstd's
 * C library, in one of two builds:
 * - `native`: `@toondepauw/node-zstd`, a Node-API addon whose prebuilt binary comes from the npm registry as
 *   a per-platform package (an optional dependency: no install step, no compiler). About 1.7x the speed of
 *   the WebAssembly build at level 1 on noisy float32 strips, and no WebAssembly heap per thread.
 * - `wasm`: `@bokuweb/zstd-wasm`, the same library built to WebAssembly, for platforms without a prebuilt
 *   binary.
 * `loadZstd()` picks one per thread (`native` when it loads; `CLAY_ZSTD=native|wasm` forces one, and a forced
 * `native` that does not load is an error). After that compression and decompression are synchronous.
 * Both write valid zstd frames that every reader decodes to the same bytes; the frames differ only in their
 * header (the WebAssembly build records the content size, the addon does not). `zstdCompress` spreads
 * blocks over a pool of worker threads (`zstd-worker.ts`), so encoding uses every core and leaves this
 * thread to stack the next chip.
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
  decompress(bytes: Uint8Array, expected: number): Uint8Array;
}

/** The part of `@toondepauw/node-zstd` used here. */
interface NativeZstd {
  Encoder: new (level: number) => { encodeSync(data: Buffer): Buffer };
  Decoder: new () => { decodeSync(data: Buffer): Buffer };
}

const asBuffer = (a: Uint8Array): Buffer => (Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength));
/** A plain Uint8Array over a Buffer's bytes: `Buffer#slice` is a view, not the copy callers expect of `slice`. */
const plainView = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * The content size a frame's header declares, when it declares one (RFC 8878, 3.1.1.1): checked before the
 * addon decodes, which grows its output to whatever the frame holds.
 */
export function zstdFrameContentSize(frame: Uint8Array): number | undefined {
  if (frame.length < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return undefined;
  const fhd = frame[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = fcsFlag === 0 ? single : [1, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return undefined;
  const at = 5 + (single ? 0 : 1) + dictBytes;
  if (frame.length < at + fcsBytes) return undefined;
  let v = 0;
  for (let k = fcsBytes - 1; k >= 0; k--) v = v * 256 + frame[at + k]!;
  return fcsBytes === 2 ? v + 256 : v;
}

function nativeBackend(): ZstdBackend {
  const mod = createRequire(import.meta.url)('@toondepauw/node-zstd') as NativeZstd;
  const encoders = new Map<number, { encodeSync(data: Buffer): Buffer }>();
  const decoder = new mod.Decoder();
  return {
    name: 'native',
    compress(raw, level) {
      let e = encoders.get(level);
      if (e === undefined) encoders.set(level, (e = new mod.Encoder(level)));
      return plainView(e.encodeSync(asBuffer(raw)));
    },
    decompress(bytes, expected) {
      const declared = zstdFrameContentSize(bytes);
      if (declared !== undefined && declared !== expected) throw new RangeError(`zstd block declares ${declared} bytes, expected ${expected}`);
      return plainView(decoder.decodeSync(asBuffer(bytes)));
    },
  };
}

const wasmBackend: ZstdBackend = {
  name: 'wasm',
  compress: (raw, level) => compress(raw, level),
  decompress: (bytes, expected) => decompress(bytes, { defaultHeapSize: Math.max(expected, 1024) }),
};

let ready: Promise<void> | undefined;
let backend: ZstdBackend | undefined;

/** The build `loadZstd` chooses in this thread: `CLAY_ZSTD` if set, else `native` when its addon loads. */
async function chooseBackend(): Promise<ZstdBackend> {
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
  await init();
  return wasmBackend;
}

/** Loads zstd in this thread (once): the native addon, or the WebAssembly build where it does not load. */
export function loadZstd(): Promise<void> {
  ready ??= chooseBackend().then((b) => {
    backend = b;
  });
  return ready;
}

/** The build in use in this thread (after `loadZstd`). */
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

/** One block decompressed in this thread (after `loadZstd`); `expected` bytes, else RangeError. */
export function zstdDecompressSync(bytes: Uint8Array, expected: number): Uint8Array {
  const out = loaded().decompress(bytes, expected);
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
