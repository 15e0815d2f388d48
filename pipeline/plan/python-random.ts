/**
 * CPython's `random` module, the parts Clay v0 used: `random.seed(n)` for a non-negative int (MT19937
 * `init_by_array` over the 32-bit words of n) and `random.shuffle(list)` (Fisher-Yates from the end with
 * `_randbelow` by rejection over `getrandbits(k)`). Reproduced exactly, so `--index N` picks the same years
 * as Clay v0 did.
 */
import { MT19937 } from '../../core/mt19937.ts';

/** A CPython-compatible Mersenne Twister. */
export class PythonRandom {
  private readonly mt = new MT19937();

  /** `random.seed(seed)` for a non-negative integer seed (CPython hashes negatives by abs()). */
  constructor(seed: number | bigint) {
    let n = BigInt(seed);
    if (n < 0n) n = -n;
    const key: number[] = [];
    do {
      key.push(Number(n & 0xffffffffn));
      n >>= 32n;
    } while (n > 0n);
    this.mt.initByArray(key);
  }

  /** The next 32-bit output (genrand_uint32). */
  nextUint32(): number {
    return this.mt.nextUint32();
  }

  /** `random.getrandbits(k)` for 1 <= k <= 32. */
  getrandbits(k: number): number {
    if (k < 1 || k > 32) throw new RangeError(`getrandbits(${k}) supports 1..32 bits`);
    return this.nextUint32() >>> (32 - k);
  }

  /** `random._randbelow(n)`: uniform in [0, n) by rejection. */
  randbelow(n: number): number {
    const k = Math.floor(Math.log2(n)) + 1; // n.bit_length()
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `random.random()`: a 53-bit float in [0, 1). */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `random.shuffle(list)`, in place, returning the list. */
  shuffle<T>(list: T[]): T[] {
    for (let i = list.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const t = list[i]!;
      list[i] = list[j]!;
      list[j] = t;
    }
    return list;
  }
}

/** The years Clay v0 tries for sample row `index`, in its order: 2017..2023 shuffled with seed `index`. */
export function clayYears(index: number): number[] {
  return new PythonRandom(index).shuffle([2017, 2018, 2019, 2020, 2021, 2022, 2023]);
}
