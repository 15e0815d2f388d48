/**
 * TIFF LZW decompression (Compression 5), as libtiff decodes it: codes of 9 to 12 bits, most significant bit
 * first, ClearCode 256, EndOfInformation 257, and the "early change" (the code width grows one code before the
 * table would need it). The table is flat typed arrays (prefix code, last byte, first byte, length), and each
 * string is written straight into the output from its end backwards: no per-code arrays, no copies.
 * Old-style (pre-TIFF 6, bit-reversed) LZW is not read.
 */

const CLEAR = 256;
const EOI = 257;
const FIRST_FREE = 258;
const MAX_CODES = 4096;

/**
 * The bytes `input` decompresses to, at most `expected` of them (the tile's size: TIFF strips and tiles may
 * end without an EndOfInformation code, and a stream that decodes to more is cut there). A code that is not
 * yet in the table is a RangeError.
 */
export function lzwDecode(input: Uint8Array, expected: number): Uint8Array {
  const out = new Uint8Array(expected);
  const prefix = new Uint16Array(MAX_CODES);
  const last = new Uint8Array(MAX_CODES);
  const first = new Uint8Array(MAX_CODES);
  const length = new Uint16Array(MAX_CODES);
  for (let i = 0; i < 256; i++) {
    last[i] = i;
    first[i] = i;
    length[i] = 1;
  }
  let next = FIRST_FREE;
  let width = 9;
  let prev = -1;
  let pos = 0;
  let bits = 0;
  let count = 0;
  let at = 0;
  const n = input.length;
  while (pos < expected) {
    while (count < width) {
      if (at >= n) return out.subarray(0, pos);
      bits = ((bits << 8) | input[at++]!) >>> 0;
      count += 8;
    }
    count -= width;
    const code = (bits >>> count) & ((1 << width) - 1);
    bits &= (1 << count) - 1;
    if (code === EOI) break;
    if (code === CLEAR) {
      next = FIRST_FREE;
      width = 9;
      prev = -1;
      continue;
    }
    if (prev === -1) {
      if (code > 255) throw new RangeError(`LZW code ${code} right after a ClearCode`);
      out[pos++] = code;
      prev = code;
      continue;
    }
    if (code > next || code === CLEAR + 1) throw new RangeError(`LZW code ${code} is not in the table (next free code ${next})`);
    if (next < MAX_CODES) {
      // The new entry: the previous string plus the first byte of this one (of the previous one when this
      // code is the entry being made: the KwKwK case).
      prefix[next] = prev;
      last[next] = code === next ? first[prev]! : first[code]!;
      first[next] = first[prev]!;
      length[next] = length[prev]! + 1;
      next++;
    }
    const len = length[code]!;
    let k = code;
    const end = pos + len;
    if (end <= expected) {
      for (let i = end - 1; i >= pos; i--) {
        out[i] = last[k]!;
        k = prefix[k]!;
      }
    } else {
      for (let i = end - 1; i >= pos; i--) {
        if (i < expected) out[i] = last[k]!;
        k = prefix[k]!;
      }
    }
    pos = Math.min(end, expected);
    prev = code;
    if (next >= (1 << width) - 1 && width < 12) width++;
  }
  return out.subarray(0, pos);
}
