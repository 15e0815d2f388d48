/**
 * TIFF PackBits decompression (Compression 32773): a signed header byte n, then n + 1 literal bytes (n >= 0)
 * or one byte repeated 1 - n times (n in -127..-1); -128 is skipped.
 */

/** The bytes `input` decompresses to, at most `expected` of them. */
export function packBitsDecode(input: Uint8Array, expected: number): Uint8Array {
  const out = new Uint8Array(expected);
  let pos = 0;
  let at = 0;
  const n = input.length;
  while (at < n && pos < expected) {
    const h = (input[at++]! << 24) >> 24;
    if (h >= 0) {
      const run = Math.min(h + 1, n - at, expected - pos);
      out.set(input.subarray(at, at + run), pos);
      at += h + 1;
      pos += run;
    } else if (h !== -128) {
      if (at >= n) break;
      const run = Math.min(1 - h, expected - pos);
      out.fill(input[at++]!, pos, pos + run);
      pos += run;
    }
  }
  return out.subarray(0, pos);
}
