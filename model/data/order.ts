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
  const mt = new MT19937();
  mt.initByArray([(options.seed ?? 0) >>> 0, (options.epoch ?? 0) >>> 0]);
  const below = (n: number): number => {
    // Rejection sampling: uniform in [0, n) without modulo bias.
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const r = mt.nextUint32();
      if (r < limit) return r % n;
    }
  };
  const k = options.shuffleBuffer;
  if (k === undefined || k >= count) {
    for (let i = count - 1; i > 0; i--) {
      const j = below(i + 1);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    return order;
  }
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
