/**
 * A cache of decoded tiles bounded in bytes (least recently used out first), shared by every COG of a job
 * so that the memory held by decoded pixels is one number, whatever the number of sources. Loads in flight
 * are shared too: two chips asking for the same tile at once cause one read. A caller that knows a tile's
 * last use is past says so (`done`): such tiles leave first, before any tile still to be used, so the
 * bound is spent on the tiles that will be asked for again.
 */

import { isClayError } from '../../core/errors.ts';

/** Something with a size in bytes. */
export interface Sized {
  byteLength: number;
}

/** Counters of a cache. */
export interface TileCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Bytes held now, and the most ever held. */
  bytes: number;
  peakBytes: number;
}

/** An LRU map of decoded tiles, bounded by the sum of their `byteLength`. */
export class TileCache<V extends Sized> {
  readonly maxBytes: number;
  readonly stats: TileCacheStats = { hits: 0, misses: 0, evictions: 0, bytes: 0, peakBytes: 0 };
  private readonly entries = new Map<string, V>();
  private readonly inFlight = new Map<string, Promise<V>>();
  /** Cached keys whose last planned use is past, oldest first: evicted before the others. */
  private readonly finished = new Set<string>();

  /** `maxBytes`: the bound (default 64 MiB); 0 disables caching (in-flight sharing stays). */
  constructor(maxBytes = 64 * 1024 * 1024) {
    this.maxBytes = maxBytes;
  }

  /** The cached value of `key` (marked most recently used), if any. */
  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, v);
      // Used again after all: an ordinary entry once more.
      this.finished.delete(key);
    }
    return v;
  }

  /**
   * Marks `key`'s last planned use as past: it leaves before every entry not so marked (a later `get`
   * unmarks it). Keys not cached are ignored.
   */
  done(key: string): void {
    if (this.entries.has(key)) this.finished.add(key);
  }

  /** True when `key` is cached or loading (does not count as a use). */
  has(key: string): boolean {
    return this.entries.has(key) || this.inFlight.has(key);
  }

  /** Stores `value`, evicting the least recently used entries beyond the bound. */
  set(key: string, value: V): void {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.stats.bytes -= old.byteLength;
    }
    this.finished.delete(key);
    if (value.byteLength > this.maxBytes) return;
    this.entries.set(key, value);
    this.stats.bytes += value.byteLength;
    for (const k of this.finished) {
      if (this.stats.bytes <= this.maxBytes) break;
      this.evict(k);
    }
    for (const k of this.entries.keys()) {
      if (this.stats.bytes <= this.maxBytes) break;
      this.evict(k);
    }
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.bytes);
  }

  private evict(key: string): void {
    const v = this.entries.get(key);
    this.finished.delete(key);
    if (v === undefined) return;
    this.entries.delete(key);
    this.stats.bytes -= v.byteLength;
    this.stats.evictions++;
  }

  /** The value of `key`: cached, already loading, or loaded now by `load` (then cached). */
  async getOrLoad(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) {
      this.stats.hits++;
      return hit;
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      this.stats.hits++;
      // Another caller's abort is not ours: when the shared load was aborted, load again with our own `load`.
      return pending.catch((err: unknown) => {
        if (isAbort(err)) return this.getOrLoad(key, load);
        throw err;
      });
    }
    this.stats.misses++;
    const p = load().then(
      (v) => {
        this.inFlight.delete(key);
        this.set(key, v);
        return v;
      },
      (err: unknown) => {
        this.inFlight.delete(key);
        throw err;
      },
    );
    this.inFlight.set(key, p);
    return p;
  }

  /** The cached keys, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Number of cached entries. */
  get size(): number {
    return this.entries.size;
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
    this.finished.clear();
    this.stats.bytes = 0;
  }
}

function isAbort(err: unknown): boolean {
  return isClayError(err, 'HTTP_ABORTED') || (err instanceof Error && err.name === 'AbortError');
}
