/**
 * numpy's `argsort(kind="quicksort")` as numpy <= 1.24 runs it everywhere (and later numpy on CPUs without
 * AVX-512, where its SIMD sort is not dispatched): an introsort (median-of-three quicksort, partitions of 16
 * or fewer finished by insertion sort, heapsort past 2 * floor(log2 n) levels), not stable. And pandas'
 * `sort_values(ascending=False)` built on it (`nargsort`: reverse, argsort, reverse). Clay v0's sampler sorted
 * with it, so this is the only way to reproduce which of several tied tiles its pools kept. Written from
 * numpy's description of the algorithm; tested against numpy 1.24 and pandas 1.5 (Debian's).
 */

const SMALL = 15;

/** numpy's argsort(kind="quicksort") of `v` (no NaNs): the permutation as numpy produces it, ties included. */
export function numpyQuicksortArgsort(v: ArrayLike<number>): number[] {
  const n = v.length;
  const a = Array.from({ length: n }, (_, i) => i);
  if (n < 2) return a;
  const lt = (i: number, j: number): boolean => v[i]! < v[j]!;
  const swap = (i: number, j: number): void => {
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  };
  const stack: [number, number, number][] = [];
  let pl = 0;
  let pr = n - 1;
  let depth = 2 * Math.floor(Math.log2(n));
  for (;;) {
    if (depth < 0) {
      heapsort(a, pl, pr - pl + 1, v);
    } else {
      while (pr - pl > SMALL) {
        const pm = pl + ((pr - pl) >> 1);
        if (lt(a[pm]!, a[pl]!)) swap(pm, pl);
        if (lt(a[pr]!, a[pm]!)) swap(pr, pm);
        if (lt(a[pm]!, a[pl]!)) swap(pm, pl);
        const vp = a[pm]!;
        let pi = pl;
        let pj = pr - 1;
        swap(pm, pj);
        for (;;) {
          do pi++; while (lt(a[pi]!, vp));
          do pj--; while (lt(vp, a[pj]!));
          if (pi >= pj) break;
          swap(pi, pj);
        }
        swap(pi, pr - 1);
        // The larger side waits on the stack; the smaller one is sorted next.
        if (pi - pl < pr - pi) {
          stack.push([pi + 1, pr, --depth]);
          pr = pi - 1;
        } else {
          stack.push([pl, pi - 1, --depth]);
          pl = pi + 1;
        }
      }
      for (let pi = pl + 1; pi <= pr; pi++) {
        const vi = a[pi]!;
        let pj = pi;
        while (pj > pl && lt(vi, a[pj - 1]!)) {
          a[pj] = a[pj - 1]!;
          pj--;
        }
        a[pj] = vi;
      }
    }
    const next = stack.pop();
    if (next === undefined) break;
    [pl, pr, depth] = next;
  }
  return a;
}

/** numpy's aheapsort over a[start .. start + n) (1-based heap, as numpy writes it). */
function heapsort(a: number[], start: number, n: number, v: ArrayLike<number>): void {
  const at = (k: number): number => a[start + k - 1]!;
  const set = (k: number, x: number): void => {
    a[start + k - 1] = x;
  };
  const lt = (i: number, j: number): boolean => v[i]! < v[j]!;
  const sift = (tmp: number, from: number, size: number): void => {
    let i = from;
    let j = from << 1;
    while (j <= size) {
      if (j < size && lt(at(j), at(j + 1))) j++;
      if (lt(tmp, at(j))) {
        set(i, at(j));
        i = j;
        j += j;
      } else break;
    }
    set(i, tmp);
  };
  for (let l = n >> 1; l > 0; l--) sift(at(l), l, n);
  for (let size = n; size > 1;) {
    const tmp = at(size);
    set(size, at(1));
    size--;
    sift(tmp, 1, size);
  }
}

/** The row order pandas' `sort_values(column, ascending=False)` gives (kind quicksort, no NaNs). */
export function pandasDescendingOrder(v: ArrayLike<number>): number[] {
  const n = v.length;
  const reversed = Array.from({ length: n }, (_, i) => v[n - 1 - i]!);
  const idx = numpyQuicksortArgsort(reversed).map((k) => n - 1 - k);
  return idx.reverse();
}
