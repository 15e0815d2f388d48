/**
 * numpy's legacy `RandomState(seed)`, the part pandas' `DataFrame.sample(n, random_state=seed)` uses:
 * MT19937 seeded with `init_genrand(seed)` (numpy's legacy seeding of an integer, unlike CPython's
 * `init_by_array`), and `permutation(n)` = a Fisher-Yates shuffle of 0..n-1 from the end, each index drawn by
 * `random_interval` (mask-and-reject over 32-bit outputs). pandas' `sample(n)` is `choice(len, n,
 * replace=False)` = `permutation(len)[:n]`, so `sampleIndices` reproduces it exactly.
 */

const N = 624;
const M = 397;

/** numpy.random.RandomState for an integer seed in [0, 2^32). */
export class NumpyRandomState {
  private readonly mt = new Uint32Array(N);
  private mti = N;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** The next 32-bit output (genrand_int32). */
  nextUint32(): number {
    const mt = this.mt;
    if (this.mti >= N) {
      const mag = (y: number): number => (y & 1 ? 0x9908b0df : 0);
      let kk = 0;
      for (; kk < N - M; kk++) {
        const y = (mt[kk]! & 0x80000000) | (mt[kk + 1]! & 0x7fffffff);
        mt[kk] = (mt[kk + M]! ^ (y >>> 1) ^ mag(y)) >>> 0;
      }
      for (; kk < N - 1; kk++) {
        const y = (mt[kk]! & 0x80000000) | (mt[kk + 1]! & 0x7fffffff);
        mt[kk] = (mt[kk + (M - N)]! ^ (y >>> 1) ^ mag(y)) >>> 0;
      }
      const y = (mt[N - 1]! & 0x80000000) | (mt[0]! & 0x7fffffff);
      mt[N - 1] = (mt[M - 1]! ^ (y >>> 1) ^ mag(y)) >>> 0;
      this.mti = 0;
    }
    let y = mt[this.mti++]!;
    y ^= y >>> 11;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    y ^= y >>> 18;
    return y >>> 0;
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
