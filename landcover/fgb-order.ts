/**
 * The row order GDAL's FlatGeobuf writer gives a layer (its default SPATIAL_INDEX=YES): features sorted by
 * the Hilbert value of their bounding-box centre on a 65536 x 65536 grid over the layer's extent, largest
 * first (the packed Hilbert R-tree's order). Clay v0 wrote `mgrs_stats.fgb` through GDAL, so its sampler
 * read the tiles in this order; `--compat clay-v0` writes them so (test: against `ogr2ogr`). Written from
 * that description. Features with equal Hilbert values (the MGRS squares cut by a band line exist under
 * both band letters, with one footprint) come out as GDAL's `std::sort` leaves them: that sort is not stable,
 * so it is reproduced here step for step (libstdc++'s introsort: median-of-three pivots, unguarded
 * partitions, a final insertion sort over runs of 16), from the same input order.
 */

/** Hilbert index of cell (x, y) on a 2^16 x 2^16 grid (the classic rotate-and-flip walk, top bit first). */
export function hilbertIndex(x: number, y: number): number {
  const n = 65536;
  let d = 0;
  for (let s = n / 2; s > 0; s = Math.floor(s / 2)) {
    const rx = (x & s) > 0 ? 1 : 0;
    const ry = (y & s) > 0 ? 1 : 0;
    d += s * s * ((3 * rx) ^ ry);
    if (ry === 0) {
      if (rx === 1) {
        x = n - 1 - x;
        y = n - 1 - y;
      }
      [x, y] = [y, x];
    }
  }
  return d;
}

/** The indices of `boxes` ([minX, minY, maxX, maxY] each) in GDAL's FlatGeobuf order. */
export function flatgeobufOrder(boxes: readonly (readonly [number, number, number, number])[]): number[] {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const [a, b, c, d] of boxes) {
    minX = Math.min(minX, a); minY = Math.min(minY, b); maxX = Math.max(maxX, c); maxY = Math.max(maxY, d);
  }
  const width = maxX - minX;
  const height = maxY - minY;
  const max = 65535;
  const keys = boxes.map(([a, b, c, d]) => {
    const x = width === 0 ? 0 : Math.floor((max * ((a + c) / 2 - minX)) / width);
    const y = height === 0 ? 0 : Math.floor((max * ((b + d) / 2 - minY)) / height);
    return hilbertIndex(x, y);
  });
  const order = boxes.map((_, i) => i);
  introsort(order, (i, j) => keys[i]! > keys[j]!);
  return order;
}

/** `less(a, b)`: a goes before b. */
type Less = (a: number, b: number) => boolean;

const THRESHOLD = 16;

/** libstdc++'s std::sort of `a` in place (the same comparisons and moves, so the same order of equals). */
export function introsort(a: number[], less: Less): void {
  if (a.length < 2) return;
  introsortLoop(a, 0, a.length, 2 * Math.floor(Math.log2(a.length)), less);
  if (a.length > THRESHOLD) {
    insertionSort(a, 0, THRESHOLD, less);
    for (let i = THRESHOLD; i < a.length; i++) linearInsert(a, i, less);
  } else {
    insertionSort(a, 0, a.length, less);
  }
}

function swap(a: number[], i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

function introsortLoop(a: number[], first: number, last: number, depth: number, less: Less): void {
  while (last - first > THRESHOLD) {
    if (depth === 0) {
      heapSort(a, first, last, less);
      return;
    }
    depth--;
    const mid = first + Math.floor((last - first) / 2);
    medianToFirst(a, first, first + 1, mid, last - 1, less);
    const cut = unguardedPartition(a, first + 1, last, first, less);
    introsortLoop(a, cut, last, depth, less);
    last = cut;
  }
}

function medianToFirst(a: number[], result: number, x: number, y: number, z: number, less: Less): void {
  const [vx, vy, vz] = [a[x]!, a[y]!, a[z]!];
  if (less(vx, vy)) {
    if (less(vy, vz)) swap(a, result, y);
    else if (less(vx, vz)) swap(a, result, z);
    else swap(a, result, x);
  } else if (less(vx, vz)) swap(a, result, x);
  else if (less(vy, vz)) swap(a, result, z);
  else swap(a, result, y);
}

function unguardedPartition(a: number[], first: number, last: number, pivot: number, less: Less): number {
  for (;;) {
    while (less(a[first]!, a[pivot]!)) first++;
    last--;
    while (less(a[pivot]!, a[last]!)) last--;
    if (!(first < last)) return first;
    swap(a, first, last);
    first++;
  }
}

function insertionSort(a: number[], first: number, last: number, less: Less): void {
  for (let i = first + 1; i < last; i++) {
    const v = a[i]!;
    if (less(v, a[first]!)) {
      for (let k = i; k > first; k--) a[k] = a[k - 1]!;
      a[first] = v;
    } else {
      linearInsert(a, i, less);
    }
  }
}

function linearInsert(a: number[], last: number, less: Less): void {
  const v = a[last]!;
  let next = last - 1;
  while (less(v, a[next]!)) {
    a[last] = a[next]!;
    last = next;
    next--;
  }
  a[last] = v;
}

/** std::make_heap then std::sort_heap over [first, last) (the depth-limit fallback). */
function heapSort(a: number[], first: number, last: number, less: Less): void {
  const len = last - first;
  for (let parent = Math.floor((len - 2) / 2); parent >= 0; parent--) adjustHeap(a, first, parent, len, a[first + parent]!, less);
  for (let end = last - 1; end > first; end--) {
    const v = a[end]!;
    a[end] = a[first]!;
    adjustHeap(a, first, 0, end - first, v, less);
  }
}

function adjustHeap(a: number[], first: number, hole: number, len: number, value: number, less: Less): void {
  const top = hole;
  let child = hole;
  while (child < Math.floor((len - 1) / 2)) {
    child = 2 * (child + 1);
    if (less(a[first + child]!, a[first + child - 1]!)) child--;
    a[first + hole] = a[first + child]!;
    hole = child;
  }
  if ((len & 1) === 0 && child === Math.floor((len - 2) / 2)) {
    child = 2 * (child + 1);
    a[first + hole] = a[first + child - 1]!;
    hole = child - 1;
  }
  let parent = Math.floor((hole - 1) / 2);
  while (hole > top && less(a[first + parent]!, value)) {
    a[first + hole] = a[first + parent]!;
    hole = parent;
    parent = Math.floor((hole - 1) / 2);
  }
  a[first + hole] = value;
}
