/**
 * The chip stream: one epoch of chips as model batches, read through the store on the main thread (async
 * I/O) and decoded in worker threads (`decode-pool.ts`), in an order that is a pure function of (refs,
 * seed, epoch) (`order.ts`), with backpressure.
 *
 * Positions: the epoch's order has one position per ref. `skip` positions are passed over without being
 * read, so a run that recorded `batch.resumeAt` (or `stats.position`) resumes exactly after that batch;
 * with no corrupt chip that is the number of samples consumed. Batches take chips in position order.
 *
 * Memory: at most `prefetch` complete batches wait for the consumer, and reads start only for the batches
 * needed: while the consumer waits, the one it asked for, plus `prefetch` ahead. Decoded samples not yet
 * handed over never exceed `stats.bound = (prefetch + 1) * batchSize` (`stats.buffered` counts them), and
 * at most `inFlight` reads and decodes run at once. A shard record's pixel buffer, once stacked into a
 * batch, is kept for a later decode (`DecodePool.recycle`): at most one batch of them besides the bound. A consumer that stops pulling stops the reading once
 * the prefetch is full. `return()` (a `break` out of `for await`) or `close()` aborts reads and terminates
 * the workers.
 *
 * A chip that does not decode (CHIP_CORRUPT) or has vanished since the listing is skipped with a
 * `Stream:Skip` warning naming it, and counted in `stats`; any other failure (the store unreachable after
 * retries, a worker crash) ends the stream with that error.
 */
import { availableParallelism } from 'node:os';
import { ClayError, isClayError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { NUM_BANDS } from '../config.ts';
import { DecodePool } from './decode-pool.ts';
import { listChips, type ListMode } from './list-chips.ts';
import { epochOrder } from './order.ts';
import type { ChipBatch, ChipPlace, ChipRef, ChipSample } from './types.ts';

/** Options of `chipStream`. Either `refs` or `source`. */
export interface ChipStreamOptions {
  /** The chips (as `listChips` returns them: sorted, so positions are stable). */
  refs?: readonly ChipRef[];
  /** Or a location to list (`listChips`): a folder, `s3://bucket/prefix` or a unit's manifest.json. */
  source?: string;
  listMode?: ListMode;
  batchSize: number;
  /** Drop the last batch when it is short (default false). */
  dropLast?: boolean;
  shuffle?: boolean;
  /** Shuffle-buffer size (default: a full permutation); see order.ts. */
  shuffleBuffer?: number;
  /**
   * The epoch's order, given: indices into `refs`, each once (shard sets: `shardEpochOrder`). Replaces
   * `shuffle`, `shuffleBuffer`, `seed` and `epoch`.
   */
  order?: Uint32Array;
  seed?: number;
  epoch?: number;
  /** Positions of this epoch already consumed: passed over without being read (default 0). */
  skip?: number;
  /** Complete batches read ahead while the consumer works (default 2). */
  prefetch?: number;
  /** Decode worker threads; 0 decodes on the main thread (default: cores - 1, at least 1, at most 4). */
  workers?: number;
  /**
   * A decode pool to use instead of starting one (`workers` and `size` are then the pool's): keeps the
   * workers warm across epochs. The stream does not close a pool it was given.
   */
  pool?: DecodePool;
  /** Reads + decodes at once (default 2 per worker, at least 2). */
  inFlight?: number;
  /** Chip width and height in pixels; other sizes are skipped as corrupt (default 512). */
  size?: number;
  /** The store the refs' keys are relative to; default: opened from each ref's url. */
  store?: ObjectStore;
  /** Environment with the S3 settings (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  logger?: Logger;
}

/** Live figures of a stream. */
export interface ChipStreamStats {
  /** Positions in this epoch after `skip` (known once listed). */
  total: number;
  /** Chips read and decoded. */
  chips: number;
  /** Samples handed to the consumer. */
  delivered: number;
  /** Chips skipped as corrupt or missing, and their urls. */
  corrupt: number;
  corruptUrls: string[];
  bytesRead: number;
  /** Milliseconds summed over chips: reading bytes (main thread, overlapping), decoding (workers). */
  readMs: number;
  decodeMs: number;
  /** Milliseconds the consumer spent waiting in `next()` for a batch. */
  waitMs: number;
  /** Decoded samples not yet handed to the consumer, now and at most so far; never above `bound`. */
  buffered: number;
  peakBuffered: number;
  bound: number;
  /** Reads and decodes running now. */
  inFlight: number;
  /** Epoch position after the last batch handed over (pass as `skip` to resume after it). */
  position: number;
  /** Workers of the decode pool running (0 once the stream closed its own pool). */
  workers: number;
  /** Decodes of this stream handed a recycled pixel buffer (shard records; see `DecodePool.recycle`). */
  recycled: number;
}

/** One epoch of batches; iterate once. */
export interface ChipStream extends AsyncIterableIterator<ChipBatch> {
  readonly stats: ChipStreamStats;
  /** Stops reading, terminates the workers; iteration then ends. Same as `return()`. */
  close(): Promise<void>;
}

type Settled = { ok: true; sample: ChipSample } | { ok: false; error: unknown };

interface Task {
  pos: number;
  ref: ChipRef;
  settled: Settled | undefined;
}

/** The default number of decode workers: the cores left to the trainer, 1 to 4. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/** Opens one epoch of the chip stream; see the file comment. */
export function chipStream(options: ChipStreamOptions): ChipStream {
  return new Stream(options);
}

class Stream implements ChipStream {
  readonly stats: ChipStreamStats;
  private readonly batchSize: number;
  private readonly prefetch: number;
  private readonly inFlightMax: number;
  private readonly logger: Logger;
  private readonly pool: DecodePool;
  private readonly ownPool: boolean;
  private readonly abort = new AbortController();
  private readonly stores = new Map<string, Promise<ObjectStore>>();
  private refs: readonly ChipRef[] | undefined;
  private order: Uint32Array | undefined;
  private start: Promise<void> | undefined;
  private nextPos = 0;
  private readonly pending: Task[] = [];
  private assembling: { sample: ChipSample; pos: number }[] = [];
  private readonly ready: ChipBatch[] = [];
  private waiter: { resolve: () => void } | undefined;
  private finished = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private error: unknown;
  private iterated = false;

  constructor(private readonly options: ChipStreamOptions) {
    const { batchSize } = options;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new ClayError('BAD_ARGUMENT', `batchSize ${batchSize} is not a positive integer`);
    if ((options.refs === undefined) === (options.source === undefined)) throw new ClayError('BAD_ARGUMENT', 'chipStream needs exactly one of refs and source');
    this.batchSize = batchSize;
    this.prefetch = Math.max(0, Math.floor(options.prefetch ?? 2));
    const workers = options.pool?.size ?? Math.max(0, Math.floor(options.workers ?? defaultWorkers()));
    this.inFlightMax = Math.max(1, Math.floor(options.inFlight ?? Math.max(2, 2 * workers)));
    this.logger = options.logger ?? silentLogger;
    this.ownPool = options.pool === undefined;
    this.pool = options.pool ?? new DecodePool(workers, { size: options.size ?? 512 });
    this.stats = {
      total: 0, chips: 0, delivered: 0, corrupt: 0, corruptUrls: [], bytesRead: 0, readMs: 0, decodeMs: 0, waitMs: 0,
      buffered: 0, peakBuffered: 0, bound: (this.prefetch + 1) * batchSize, inFlight: 0, position: options.skip ?? 0, workers: 0, recycled: 0,
    };
    const signal = options.signal;
    const onAbort = (): void => {
      this.error ??= new ClayError('HTTP_ABORTED', 'chip stream aborted', { cause: signal?.reason });
      void this.close();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  }

  [Symbol.asyncIterator](): ChipStream {
    if (this.iterated) throw new ClayError('BAD_ARGUMENT', 'a chip stream is one epoch: iterate it once, open another for the next epoch');
    this.iterated = true;
    return this;
  }

  async next(): Promise<IteratorResult<ChipBatch>> {
    this.start ??= this.begin();
    await this.start;
    const t0 = performance.now();
    let waited = false;
    while (this.ready.length === 0 && !this.finished && !this.closed && this.error === undefined) {
      waited = true;
      await new Promise<void>((resolve) => {
        this.waiter = { resolve };
        this.pump();
      });
    }
    if (waited) this.stats.waitMs += performance.now() - t0;
    if (this.error !== undefined) {
      const err = this.error;
      await this.close();
      throw err;
    }
    const batch = this.ready.shift();
    if (batch === undefined) {
      await this.close();
      return { done: true, value: undefined };
    }
    this.stats.buffered -= batch.batch;
    this.stats.delivered += batch.batch;
    this.stats.position = batch.resumeAt ?? this.stats.position;
    this.pump();
    return { done: false, value: batch };
  }

  async return(): Promise<IteratorResult<ChipBatch>> {
    await this.close();
    return { done: true, value: undefined };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.abort.abort(new ClayError('HTTP_ABORTED', 'chip stream closed'));
    this.ready.length = 0;
    this.assembling = [];
    this.pending.length = 0;
    this.stats.buffered = 0;
    this.waiter?.resolve();
    if (this.ownPool) await this.pool.close();
    this.stats.workers = this.pool.alive;
  }

  /** Lists (when given a source) and computes the epoch's order. */
  private async begin(): Promise<void> {
    const o = this.options;
    try {
      this.refs = o.refs ?? (await listChips(o.source!, {
        ...(o.listMode ? { mode: o.listMode } : {}), ...(o.env ? { env: o.env } : {}), signal: this.abort.signal, logger: this.logger,
      }));
    } catch (err) {
      this.error = err;
      return;
    }
    const skip = Math.max(0, Math.floor(o.skip ?? 0));
    if (o.order !== undefined && o.order.length !== this.refs.length) {
      this.error = new ClayError('INTERNAL', `an order of ${o.order.length} positions for ${this.refs.length} chips`);
      return;
    }
    this.order = o.order ?? epochOrder(this.refs.length, {
      ...(o.shuffle ? { shuffle: true } : {}), ...(o.shuffleBuffer === undefined ? {} : { shuffleBuffer: o.shuffleBuffer }),
      seed: o.seed ?? 0, epoch: o.epoch ?? 0,
    });
    this.nextPos = Math.min(skip, this.refs.length);
    this.stats.total = this.refs.length - this.nextPos;
    this.stats.position = this.nextPos;
  }

  /** Moves settled chips into batches, starts the reads that are needed, wakes the consumer. */
  private pump(): void {
    if (this.closed || this.order === undefined || this.refs === undefined) return;
    while (this.pending[0]?.settled !== undefined) this.assemble(this.pending.shift()!);
    const end = this.order.length;
    if (this.nextPos >= end && this.pending.length === 0 && !this.finished) {
      if (this.assembling.length > 0 && !this.options.dropLast) this.emit(end);
      this.stats.buffered -= this.assembling.length;
      this.assembling = [];
      this.finished = true;
    }
    const wanted = (this.prefetch + (this.waiter ? 1 : 0)) * this.batchSize;
    const held = this.ready.length * this.batchSize + this.assembling.length + this.pending.length;
    let room = wanted - held;
    while (room > 0 && this.pending.length < this.inFlightMax && this.nextPos < end && this.error === undefined) {
      const pos = this.nextPos++;
      const ref = this.refs[this.order[pos]!]!;
      const task: Task = { pos, ref, settled: undefined };
      this.pending.push(task);
      this.run(task);
      room--;
    }
    this.stats.inFlight = this.pending.filter((t) => t.settled === undefined).length;
    this.stats.workers = this.pool.alive;
    if (this.waiter && (this.ready.length > 0 || this.finished || this.error !== undefined)) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve();
    }
  }

  private assemble(task: Task): void {
    const s = task.settled!;
    if (s.ok) {
      this.assembling.push({ sample: s.sample, pos: task.pos });
      if (this.assembling.length === this.batchSize) this.emit(task.pos + 1);
      return;
    }
    const err = s.error;
    if (isClayError(err, 'CHIP_CORRUPT')) {
      this.stats.corrupt++;
      this.stats.corruptUrls.push(task.ref.url);
      this.logger.warn('Stream:Skip', { chip: task.ref.url, code: err.code, reason: err.message });
      return;
    }
    this.error ??= err;
  }

  /** Turns the assembled samples into a batch; `resumeAt` is the position after the batch. */
  private emit(resumeAt: number): void {
    const assembled = this.assembling;
    const samples = assembled.map((a) => a.sample);
    this.assembling = [];
    this.ready.push(toBatch(samples, resumeAt));
    // Copied into the batch: a shard record's pixel buffer goes back to the pool for the next decodes.
    for (const a of assembled) if (this.refs?.[this.order![a.pos]!]?.span !== undefined) this.pool.recycle(a.sample.pixels, this.batchSize);
  }

  private run(task: Task): void {
    const settle = (s: Settled): void => {
      if (this.closed) return;
      task.settled = s;
      if (s.ok) {
        this.stats.chips++;
        this.stats.buffered++;
        this.stats.peakBuffered = Math.max(this.stats.peakBuffered, this.stats.buffered);
      }
      this.pump();
    };
    this.read(task.ref).then((bytes) => {
      // Closed while reading: a shared pool must not spend a decode on it.
      if (this.closed) throw new ClayError('HTTP_ABORTED', 'chip stream closed');
      return this.pool.decode(bytes, task.ref);
    }).then(
      (d) => {
        this.stats.decodeMs += d.ms;
        if (d.recycled) this.stats.recycled++;
        settle({ ok: true, sample: d.sample });
      },
      (error: unknown) => settle({ ok: false, error }),
    );
  }

  private async read(ref: ChipRef): Promise<Uint8Array> {
    const t0 = performance.now();
    const store = await this.storeOf(ref);
    const call = { signal: this.abort.signal };
    const bytes = ref.span ? await store.getRange(ref.span.shard, ref.span.offset, ref.span.length, call) : await store.get(ref.key, call);
    this.stats.readMs += performance.now() - t0;
    if (bytes === undefined) throw new ClayError('CHIP_CORRUPT', `chip ${ref.url}: no such object (removed since it was listed)`, { input: ref.url });
    this.stats.bytesRead += bytes.length;
    return bytes;
  }

  /** The given store, or the one at the ref's root (its url without its key or shard), opened once per root. */
  private storeOf(ref: ChipRef): Promise<ObjectStore> {
    if (this.options.store) return Promise.resolve(this.options.store);
    const url = ref.span ? ref.url.slice(0, ref.url.lastIndexOf('#')) : ref.url;
    const suffix = `/${ref.span ? ref.span.shard : ref.key}`;
    if (!url.endsWith(suffix)) return Promise.reject(new ClayError('BAD_ARGUMENT', `chip url ${ref.url} does not end with its ${ref.span ? 'shard' : 'key'} ${suffix.slice(1)}`, { input: ref.url }));
    const root = url.slice(0, url.length - suffix.length) || '/';
    let store = this.stores.get(root);
    if (store === undefined) {
      store = openStore(root, this.options.env ? { env: this.options.env } : {});
      this.stores.set(root, store);
    }
    return store;
  }
}

/** Stacks samples (all of one size) into a batch; `chips` keep only the places (no pixels). */
function toBatch(samples: readonly ChipSample[], resumeAt: number): ChipBatch {
  const n = samples.length;
  const per = samples[0]!.pixels.length;
  const pixels = new Float32Array(n * per);
  const latlon = new Float32Array(n * 2);
  const timestep = new Float32Array(n * 3);
  const chips: ChipPlace[] = [];
  samples.forEach((s, i) => {
    if (s.pixels.length !== per || per !== NUM_BANDS * s.width * s.height) throw new ClayError('INTERNAL', `chip ${s.url} has ${s.pixels.length} values, the batch ${per}`);
    pixels.set(s.pixels, i * per);
    latlon.set(s.latlon, i * 2);
    timestep.set(s.timestep, i * 3);
    const { pixels: _p, latlon: _l, timestep: _t, ...place } = s;
    chips.push(place);
  });
  return { batch: n, pixels, latlon, timestep, chips, resumeAt };
}
