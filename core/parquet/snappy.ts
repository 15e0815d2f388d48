/**
 * Snappy, raw format (what Parquet's SNAPPY codec holds: no framing): the uncompressed length as a varint,
 * then literals and back-references. The compressor is the usual greedy one: a hash of the next 4 bytes
 * finds an earlier occurrence within the current 64 KiB block; matches of 4+ bytes become copies.
 */

const BLOCK = 1 << 16;
const HASH_BITS = 14;

/** Thrown on malformed input. */
export class SnappyError extends Error {}

function hash4(src: Uint8Array, i: number): number {
  const v = (src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16) | (src[i + 3]! << 24)) >>> 0;
  return Math.imul(v, 0x1e35a7bd) >>> (32 - HASH_BITS);
}

/** Compresses `src` (always valid Snappy; at worst a little larger than the input). */
export function snappyCompress(src: Uint8Array): Uint8Array {
  // Worst case: every byte a literal, plus tag bytes per 64 KiB literal run and the length varint.
  const out = new Uint8Array(32 + src.length + Math.ceil(src.length / 6));
  let o = 0;
  for (let n = src.length; ; ) {
    if (n < 0x80) {
      out[o++] = n;
      break;
    }
    out[o++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 0x80);
  }
  const table = new Int32Array(1 << HASH_BITS);
  const literal = (from: number, to: number): void => {
    const len = to - from;
    if (len === 0) return;
    const n = len - 1;
    if (n < 60) out[o++] = n << 2;
    else if (n < 0x100) { out[o++] = 60 << 2; out[o++] = n; }
    else if (n < 0x10000) { out[o++] = 61 << 2; out[o++] = n & 0xff; out[o++] = n >> 8; }
    else if (n < 0x1000000) { out[o++] = 62 << 2; out[o++] = n & 0xff; out[o++] = (n >> 8) & 0xff; out[o++] = n >> 16; }
    else { out[o++] = 63 << 2; out[o++] = n & 0xff; out[o++] = (n >> 8) & 0xff; out[o++] = (n >> 16) & 0xff; out[o++] = n >>> 24; }
    out.set(src.subarray(from, to), o);
    o += len;
  };
  const copy = (offset: number, length: number): void => {
    let len = length;
    while (len > 0) {
      // Copies of 4..11 bytes with offsets below 2048 fit in 2 bytes; the rest take 3 (up to 64 bytes each).
      const piece = len > 64 ? (len - 64 < 4 ? 60 : 64) : len;
      if (piece >= 4 && piece <= 11 && offset < 2048) {
        out[o++] = 1 | ((piece - 4) << 2) | ((offset >> 8) << 5);
        out[o++] = offset & 0xff;
      } else {
        out[o++] = 2 | ((piece - 1) << 2);
        out[o++] = offset & 0xff;
        out[o++] = offset >> 8;
      }
      len -= piece;
    }
  };
  for (let start = 0; start < src.length; start += BLOCK) {
    const end = Math.min(src.length, start + BLOCK);
    table.fill(-1);
    let pending = start;
    let i = start;
    while (i + 4 <= end) {
      const h = hash4(src, i);
      const candidate = table[h]!;
      table[h] = i;
      if (candidate >= start && src[candidate] === src[i] && src[candidate + 1] === src[i + 1] && src[candidate + 2] === src[i + 2] && src[candidate + 3] === src[i + 3]) {
        let len = 4;
        while (i + len < end && src[candidate + len] === src[i + len]) len++;
        literal(pending, i);
        copy(i - candidate, len);
        i += len;
        pending = i;
      } else {
        i++;
      }
    }
    literal(pending, end);
  }
  return out.slice(0, o);
}

/** Decompresses raw Snappy; SnappyError when the input is malformed or its length differs from `expected`. */
export function snappyUncompress(src: Uint8Array, expected?: number): Uint8Array {
  let i = 0;
  let n = 0;
  for (let shift = 1; ; shift *= 0x80) {
    if (i >= src.length || shift > 2 ** 35) throw new SnappyError('bad length header');
    const b = src[i++]!;
    n += (b & 0x7f) * shift;
    if ((b & 0x80) === 0) break;
  }
  if (expected !== undefined && n !== expected) throw new SnappyError(`declares ${n} bytes, the page header ${expected}`);
  const out = new Uint8Array(n);
  let o = 0;
  while (i < src.length) {
    const tag = src[i++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >> 2;
      if (len >= 60) {
        const bytes = len - 59;
        if (i + bytes > src.length) throw new SnappyError('truncated literal length');
        len = 0;
        for (let k = 0; k < bytes; k++) len += src[i + k]! * 2 ** (8 * k);
        i += bytes;
      }
      len += 1;
      if (i + len > src.length || o + len > n) throw new SnappyError('literal runs past the end');
      out.set(src.subarray(i, i + len), o);
      i += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (i >= src.length) throw new SnappyError('truncated copy');
      len = ((tag >> 2) & 7) + 4;
      offset = ((tag >> 5) << 8) | src[i++]!;
    } else if (kind === 2) {
      if (i + 2 > src.length) throw new SnappyError('truncated copy');
      len = (tag >> 2) + 1;
      offset = src[i]! | (src[i + 1]! << 8);
      i += 2;
    } else {
      if (i + 4 > src.length) throw new SnappyError('truncated copy');
      len = (tag >> 2) + 1;
      offset = (src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16) | (src[i + 3]! << 24)) >>> 0;
      i += 4;
    }
    if (offset === 0 || offset > o || o + len > n) throw new SnappyError(`bad copy (offset ${offset}, length ${len}) at output byte ${o}`);
    for (let k = 0; k < len; k++, o++) out[o] = out[o - offset]!;
  }
  if (o !== n) throw new SnappyError(`decoded ${o} of ${n} bytes`);
  return out;
}
