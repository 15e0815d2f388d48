/**
 * The order in which an epoch visits chips: a pure function of (count, shuffle settings, seed, epoch), so
 * that a run resumed at epoch e, position k sees exactly what the uninterrupted run saw.
 *
 * - no shuffle: the listing's order (sorted by key).
 * - shuffle, no buffer (default): a uniform permutation (Fisher-Yates) drawn from MT19937 seeded with the
 *   words [seed, epoch] (`init_by_array`), so every epoch differs and every seed gives its own sequence.
 * - shuffle with `shuffleBuffer` k < count: tf.data's buffered shuffle over the sorted list (each step
 *   draws one of the next k chips at random), for sources where reading neighbours together is cheaper;
 *   it mixes less than a full shuffle.
 */
import { MT19937 } from '../../core/mt19937.ts';

/** How an epoch is ordered. */
export interface OrderOptions {
  shuffle?: boolean;
  /** Shuffle-buffer size; absent (or >= the count) for a full permutation. */
  shuffleBuffer?: number;
  /** 32-bit seed (default 0). */
  seed?: number;
  /** Epoch number, 0-based (default 0). */
  epoch?: number;
}

/** Indices 0..count-1 in the order epoch `epoch` visits them. */
export function epochOrder(count: number, options: OrderOptions = {}): Uint32Array {
  if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`count ${count} is not a non-negative integer`);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (!options.shuffle || count < 2) return order;
  const below = uniformBelow([(options.seed ?? 0) >>> 0, (options.epoch ?? 0) >>> 0]);
  const k = options.shuffleBuffer;
  if (k === undefined || k >= count) return permute(order, below);
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`shuffleBuffer ${k} is not a positive integer`);
  const buffer = Array.from({ length: k }, (_, i) => i);
  let next = k;
  for (let out = 0; out < count; out++) {
    const j = below(buffer.length);
    order[out] = buffer[j]!;
    if (next < count) buffer[j] = next++;
    else {
      buffer[j] = buffer[buffer.length - 1]!;
      buffer.pop();
    }
  }
  return order;
}

/** Uniform integers in [0, n) from MT19937 seeded with `words` (`init_by_array`), by rejection (no modulo bias). */
function uniformBelow(words: number[]): (n: number) => number {
  const mt = new MT19937();
  mt.initByArray(words);
  return (n) => {
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const r = mt.nextUint32();
      if (r < limit) return r % n;
    }
  };
}

/** Fisher-Yates over `order`, in place. */
function permute(order: Uint32Array, below: (n: number) => number): Uint32Array {
  for (let i = order.length - 1; i > 0; i--) {
    const j = below(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/**
 * The order in which an epoch visits the chips of a shard set (`clay pack`): the shards in a permutation
 * drawn from MT19937 seeded with [seed, epoch], and each shard's chips, one shard after the other, in a
 * permutation seeded with [seed, epoch, shard number]. `shards[i]` is the shard number of chip i (chips of
 * one shard need not be adjacent). Every chip is visited once per epoch. Unlike a global permutation, the
 * chips of one shard come together (so reads stay within one file at a time), and two chips of a shard
 * meet within a shard's length of each other in every epoch; `clay pack` fills shards from a seeded
 * permutation of the whole listing, so a shard is itself a random draw of tiles and dates.
 */
export function shardEpochOrder(shards: ArrayLike<number>, seed = 0, epoch = 0): Uint32Array {
  const members = new Map<number, number[]>();
  for (let i = 0; i < shards.length; i++) {
    const s = shards[i]!;
    if (!(Number.isInteger(s) && s >= 0 && s < 2 ** 32)) throw new RangeError(`shard number ${s} of chip ${i} is not a 32-bit index`);
    let m = members.get(s);
    if (m === undefined) members.set(s, (m = []));
    m.push(i);
  }
  const numbers = [...members.keys()].sort((a, b) => a - b);
  const visit = permute(Uint32Array.from(numbers.keys()), uniformBelow([seed >>> 0, epoch >>> 0]));
  const order = new Uint32Array(shards.length);
  let at = 0;
  for (const g of visit) {
    const s = numbers[g]!;
    const chips = members.get(s)!;
    const within = permute(Uint32Array.from(chips.keys()), uniformBelow([seed >>> 0, epoch >>> 0, s]));
    for (const j of within) order[at++] = chips[j]!;
  }
  return order;
}

/** Where `clay pack` puts chip i of a listing of `count`: a permutation seeded with [seed, 'pack']. */
export function packOrder(count: number, seed = 0): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  return permute(order, uniformBelow([seed >>> 0, 0x7061636b]));
}
