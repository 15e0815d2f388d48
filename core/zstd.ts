/**
 * ZSTD for GeoTIFF blocks (TIFF Compression 50000, as GDAL and libtiff write and read it), through
 * `@bokuweb/zstd-wasm`: zstd's C library built to WebAssembly, no install step. `loadZstd()` instantiates
 * it once per thread; after that compression and decompression are synchronous. `zstdCompress` spreads
 * blocks over a pool of worker threads (`zstd-worker.ts`), so encoding uses every core and leaves this
 * thread to stack the next chip.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compress, decompress, init } from '@bokuweb/zstd-wasm';
import { ClayError } from './errors.ts';

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

interface Job {
  id: number;
  resolve: (out: Uint8Array) => void;
  reject: (err: unknown) => void;
}

/** A pool of zstd worker threads; idle workers do not keep the process alive. */
class ZstdPool {
  private readonly workers: { worker: Worker; pending: Map<number, Job> }[] = [];
  private next = 0;
  private ids = 0;

  constructor(private readonly size: number) {}

  private start(): { worker: Worker; pending: Map<number, Job> } {
    const worker = import.meta.url.endsWith('.ts')
      // Node 20 does not apply the parent's `--import tsx` to workers: register tsx inside the worker first.
      ? new Worker(`import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(new URL('./zstd-worker.ts', import.meta.url).href)}); });`, { eval: true })
      : new Worker(new URL('./zstd-worker.js', import.meta.url));
    const slot = { worker, pending: new Map<number, Job>() };
    worker.unref();
    worker.on('message', (m: { id: number; out?: Uint8Array; error?: string }) => {
      const job = slot.pending.get(m.id);
      if (job === undefined) return;
      slot.pending.delete(m.id);
      if (slot.pending.size === 0) worker.unref();
      if (m.out !== undefined) job.resolve(m.out);
      else job.reject(new ClayError('INTERNAL', `zstd worker: ${m.error ?? 'failed'}`));
    });
    const fail = (err: unknown): void => {
      for (const job of slot.pending.values()) job.reject(new ClayError('INTERNAL', `zstd worker stopped: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      slot.pending.clear();
      this.workers.splice(this.workers.indexOf(slot), 1);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    return slot;
  }

  /** `raw` on a SharedArrayBuffer must not change until the promise settles; any other may change at once. */
  compress(raw: Uint8Array, level: number): Promise<Uint8Array> {
    if (this.workers.length < this.size) this.workers.push(this.start());
    const slot = this.workers[this.next++ % this.workers.length]!;
    const id = this.ids++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { id, resolve, reject });
      slot.worker.ref();
      // A block in shared memory is read there by the worker (the caller keeps it until this resolves);
      // any other goes as a copy of the block alone (transferred: cloning a view copies its whole buffer).
      if (raw.buffer instanceof SharedArrayBuffer) {
        slot.worker.postMessage({ id, raw, level });
      } else {
        const copy = raw.slice();
        slot.worker.postMessage({ id, raw: copy, level }, [copy.buffer]);
      }
    });
  }
}

let pool: ZstdPool | undefined;

/** One block compressed on the worker pool (one thread per core, at most 4). */
export function zstdCompress(raw: Uint8Array, level: number): Promise<Uint8Array> {
  pool ??= new ZstdPool(Math.max(1, Math.min(4, availableParallelism())));
  return pool.compress(raw, level);
}
