/**
 * Byte-range coalescing for COG reads. Tiles a window needs often sit next to each other in the file
 * (GDAL writes them row by row); one request per run of nearby tiles saves round trips. Azure answers a
 * multi-range request with the whole blob, so each group becomes one single-range request.
 */

/** A byte range [offset, offset + length) wanted by one consumer (a tile). */
export interface ByteRange<K> {
  key: K;
  offset: number;
  length: number;
}

/** One request covering several wanted ranges; each member's bytes are at `offset - group.offset`. */
export interface RangeGroup<K> {
  offset: number;
  length: number;
  members: ByteRange<K>[];
}

/** How ranges are merged. */
export interface CoalesceOptions {
  /** Merge two ranges when the hole between them is at most this many bytes (default 16 KiB). */
  maxGapBytes?: number;
  /** Never grow a group beyond this many bytes, unless one range alone is larger (default 4 MiB). */
  maxGroupBytes?: number;
}

/** Groups `ranges` (any order, overlaps allowed) into single-range requests, in file order. */
export function coalesceRanges<K>(ranges: readonly ByteRange<K>[], options: CoalesceOptions = {}): RangeGroup<K>[] {
  const maxGap = options.maxGapBytes ?? 16 * 1024;
  const maxGroup = options.maxGroupBytes ?? 4 * 1024 * 1024;
  const sorted = [...ranges].filter((r) => r.length > 0).sort((a, b) => a.offset - b.offset || a.length - b.length);
  const groups: RangeGroup<K>[] = [];
  let current: RangeGroup<K> | undefined;
  for (const r of sorted) {
    const end = r.offset + r.length;
    if (current) {
      const currentEnd = current.offset + current.length;
      const newEnd = Math.max(currentEnd, end);
      if (r.offset <= currentEnd + maxGap && newEnd - current.offset <= maxGroup) {
        current.length = newEnd - current.offset;
        current.members.push(r);
        continue;
      }
    }
    current = { offset: r.offset, length: r.length, members: [r] };
    groups.push(current);
  }
  return groups;
}
