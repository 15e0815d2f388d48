/**
 * numpy's legacy `RandomState(seed)`, the part pandas' `DataFrame.sample(n, random_state=seed)` uses:
 * MT19937 seeded with `init_genrand(seed)` (numpy's legacy seeding of an integer, unlike CPython's
 * `init_by_array`), and `permutation(n)` = a Fisher-Yates shuffle of 0..n-1 from the end, each index drawn by
 * `random_interval` (mask-and-reject over 32-bit outputs). pandas' `sample(n)` is `choice(len, n,
 * replace=False)` = `permutation(len)[:n]`, so `sampleIndices` reproduces it exactly.
 */
import { MT19937 } from '../core/mt19937.ts';

/** numpy.random.RandomState for an integer seed in [0, 2^32). */
export class NumpyRandomState {
  private readonly mt = new MT19937();

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
    this.mt.initGenrand(seed);
  }

  /** The next 32-bit output (genrand_int32). */
  nextUint32(): number {
    return this.mt.nextUint32();
  }

  /** numpy's `random_interval(max)`: uniform in [0, max] by masking and rejection (max < 2^32). */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    do value = (this.nextUint32() & mask) >>> 0;
    while (value > max);
    return value;
  }

  /** `permutation(n)`: 0..n-1 shuffled as numpy's legacy shuffle does. */
  permutation(n: number): number[] {
    const out = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.interval(i);
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    return out;
  }
}

/** pandas' `df.sample(size, random_state=seed)` on a frame of `n` rows: the row positions drawn, in pandas' order. */
export function sampleIndices(n: number, size: number, seed: number): number[] {
  if (size > n) throw new RangeError(`cannot draw ${size} of ${n} without replacement`);
  return new NumpyRandomState(seed).permutation(n).slice(0, size);
}
