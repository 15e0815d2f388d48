/**
 * Chip decoding off the main thread: a fixed pool of `node:worker_threads` workers running `decodeChip`,
 * one chip each at a time, the rest queued. Bytes go to a worker and pixels come back as transferred
 * ArrayBuffers (moved, not copied). A worker keeps the process alive only while it has work, so a stream
 * that is dropped without being closed cannot hang the process; `close()` terminates them all. With
 * `workers: 0` chips are decoded on the calling thread (same results, no parallelism).
 */
import { Worker } from 'node:worker_threads';
import { loadZstd } from '../../core/zstd.ts';
import { ClayError, type ErrorCode } from '../../core/errors.ts';
import { decodeChip, type DecodeChipOptions } from './read-chip.ts';
import { decodeShardRecord } from './shard-format.ts';
import type { ChipRef, ChipSample } from './types.ts';

/** A message to a worker. */
export interface DecodeRequest {
  id: number;
  bytes: Uint8Array;
  ref: ChipRef;
  options: DecodeChipOptions;
  /** A spare pixel buffer to decode into (recycled, see `DecodePool.recycle`), transferred with the bytes. */
  spare?: ArrayBuffer;
}

/** A worker's answer. */
export type DecodeReply =
  | { id: number; ok: true; sample: ChipSample; ms: number }
  | { id: number; ok: false; code: ErrorCode; message: string; ms: number };

/** A decoded chip and the milliseconds the decode took (in its thread). */
export interface Decoded {
  sample: ChipSample;
  ms: number;
  /** The decode was handed a recycled pixel buffer. */
  recycled: boolean;
}

interface Job {
  id: number;
  bytes: Uint8Array<ArrayBuffer>;
  recycled?: boolean;
  ref: ChipRef;
  resolve: (d: Decoded) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

/** A chip GeoTIFF's bytes, or a shard record's when the ref has a span: the sample either way. */
export function decodeAny(bytes: Uint8Array, ref: ChipRef, options: DecodeChipOptions, spare?: ArrayBuffer): ChipSample {
  if (ref.span === undefined) return decodeChip(bytes, ref, options);
  const sample = decodeShardRecord(bytes, ref, spare);
  if (options.size !== undefined && (sample.width !== options.size || sample.height !== options.size)) {
    throw new ClayError('CHIP_CORRUPT', `chip ${ref.url}: size ${sample.width}x${sample.height}, expected ${options.size}x${options.size}`, { input: ref.url });
  }
  return sample;
}

/** Starts the worker from source (tsx) or from the built .js, as model/parallel-trainer.ts does. */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./decode-worker.js', import.meta.url));
  // Node 20 does not apply the parent's `--import tsx` to workers: register tsx inside the worker first.
  const target = JSON.stringify(new URL('./decode-worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((api) => { api.register(); return import(${target}); });`, { eval: true });
}

/** Bytes that own their whole ArrayBuffer, so it can be transferred (a copy otherwise). */
function transferable(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const buf = bytes.buffer;
  if (buf instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buf.byteLength) return new Uint8Array(buf);
  return bytes.slice();
}

/** A pool of decode workers; see the file comment. */
export class DecodePool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly spares: ArrayBuffer[] = [];
  private nextId = 0;
  private closed = false;
  private failure: ClayError | undefined;

  constructor(
    /** Worker threads (0: decode on the calling thread). */
    readonly size: number,
    private readonly options: DecodeChipOptions = {},
  ) {}

  /** Workers currently running. */
  get alive(): number {
    return this.slots.length;
  }

  /** Decodes `bytes` (given up: transferred to a worker). CHIP_CORRUPT for a bad chip. */
  decode(bytes: Uint8Array, ref: ChipRef): Promise<Decoded> {
    if (this.closed) return Promise.reject(new ClayError('INTERNAL', 'decode pool is closed'));
    if (this.failure) return Promise.reject(this.failure);
    if (this.size <= 0) {
      // ZSTD chips need the codec in this thread (instantiated once).
      return loadZstd().then(() => {
        const t0 = performance.now();
        const spare = ref.span === undefined ? undefined : this.spares.pop();
        const sample = decodeAny(bytes, ref, this.options, spare);
        return { sample, ms: performance.now() - t0, recycled: spare !== undefined };
      });
    }
    return new Promise<Decoded>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, bytes: transferable(bytes), ref, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Gives a decoded chip's pixels back once they are copied elsewhere (the stream does so after stacking a
   * batch): the next decodes write into them instead of into fresh memory, which a 13.6 MB chip pays for
   * in page faults and collections. Shard records use them (GeoTIFF chips decode through buffers of their
   * own); up to `keep` are held (at least two per worker), more are dropped. The caller must not touch
   * them again.
   */
  recycle(pixels: Float32Array, keep = 0): void {
    const buf = pixels.buffer;
    if (this.closed || !(buf instanceof ArrayBuffer) || pixels.byteOffset !== 0 || pixels.byteLength !== buf.byteLength) return;
    if (this.spares.length < Math.max(keep, 2 * Math.max(1, this.size))) this.spares.push(buf);
  }

  /** Terminates every worker; queued and running decodes reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.spares.length = 0;
    const stopped = new ClayError('INTERNAL', 'decode pool closed');
    for (const job of this.queue.splice(0)) job.reject(stopped);
    const slots = this.slots.splice(0);
    for (const s of slots) {
      s.job?.reject(stopped);
      s.job = undefined;
      // Held until each worker's 'exit': a worker left unref()ed would let the event loop drain while
      // `close()` still waits on it (the process then exits 13, with this promise unsettled).
      s.worker.ref();
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === undefined);
      if (slot === undefined && this.slots.length < this.size) slot = this.spawn();
      if (slot === undefined) return;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.ref();
      const spare = job.ref.span === undefined ? undefined : this.spares.pop();
      job.recycled = spare !== undefined;
      const req: DecodeRequest = { id: job.id, bytes: job.bytes, ref: job.ref, options: this.options, ...(spare === undefined ? {} : { spare }) };
      slot.worker.postMessage(req, spare === undefined ? [job.bytes.buffer] : [job.bytes.buffer, spare]);
    }
  }

  private spawn(): Slot {
    const slot: Slot = { worker: startWorker(), job: undefined };
    slot.worker.on('message', (reply: DecodeReply) => {
      // A reply already queued when close() terminated the worker: its job was rejected, and the worker
      // must stay ref()ed until it has exited.
      if (this.closed) return;
      const job = slot.job;
      if (job === undefined || job.id !== reply.id) return;
      slot.job = undefined;
      slot.worker.unref();
      if (reply.ok) job.resolve({ sample: reply.sample, ms: reply.ms, recycled: job.recycled === true });
      else job.reject(new ClayError(reply.code, reply.message, { input: job.ref.url }));
      this.dispatch();
    });
    slot.worker.on('error', (err) => this.fail(slot, err));
    slot.worker.on('exit', (code) => {
      if (!this.closed) this.fail(slot, new Error(`decode worker exited with code ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }

  /** A worker died: its job and every later one fail (the stream stops with this error). */
  private fail(slot: Slot, cause: unknown): void {
    if (this.closed) return;
    this.failure ??= new ClayError('INTERNAL', `decode worker failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    slot.job?.reject(this.failure);
    slot.job = undefined;
    for (const job of this.queue.splice(0)) job.reject(this.failure);
  }
}
