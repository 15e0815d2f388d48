/**
 * Low-level classic-TIFF (little-endian, 32-bit offsets) directory encoding: tag entries, their
 * out-of-line values and the byte layout of one IFD. Knows nothing about images or GeoTIFF semantics;
 * `tiff-writer.ts` decides which tags go in.
 */

/** TIFF field types this writer emits. */
export type TagType = 'ascii' | 'short' | 'long' | 'double';

/** One tag of an IFD. `ascii` values are written NUL-terminated. */
export type TagValue =
  | { tag: number; type: 'ascii'; value: string }
  | { tag: number; type: 'short' | 'long'; value: readonly number[] }
  | { tag: number; type: 'double'; value: readonly number[] };

const TYPE_CODE: Record<TagType, number> = { ascii: 2, short: 3, long: 4, double: 12 };
const TYPE_SIZE: Record<TagType, number> = { ascii: 1, short: 2, long: 4, double: 8 };

/** TIFF tag numbers used by the writer. */
export const Tag = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  PlanarConfiguration: 284,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  ExtraSamples: 338,
  SampleFormat: 339,
  ModelPixelScale: 33550,
  ModelTiepoint: 33922,
  ModelTransformation: 34264,
  GeoKeyDirectory: 34735,
  GdalMetadata: 42112,
  GdalNodata: 42113,
} as const;

function count(t: TagValue): number {
  return t.type === 'ascii' ? Buffer.byteLength(t.value, 'latin1') + 1 : t.value.length;
}

function payloadSize(t: TagValue): number {
  return count(t) * TYPE_SIZE[t.type];
}

/** Rounds up to an even offset: TIFF wants word-aligned value offsets. */
function even(n: number): number {
  return n + (n & 1);
}

/** Bytes an IFD with these tags occupies, out-of-line values included (even-padded). */
export function ifdByteLength(tags: readonly TagValue[]): number {
  let size = 2 + tags.length * 12 + 4;
  for (const t of tags) {
    const p = payloadSize(t);
    if (p > 4) size = even(size + p);
  }
  return even(size);
}

function writeValues(view: DataView, bytes: Uint8Array, at: number, t: TagValue): void {
  if (t.type === 'ascii') {
    bytes.set(Buffer.from(t.value, 'latin1'), at);
    bytes[at + t.value.length] = 0;
    return;
  }
  t.value.forEach((v, i) => {
    if (t.type === 'short') view.setUint16(at + i * 2, v, true);
    else if (t.type === 'long') view.setUint32(at + i * 4, v, true);
    else view.setFloat64(at + i * 8, v, true);
  });
}

/**
 * Encodes one IFD at file offset `offset` into `out` (which starts at file offset `base`).
 * `next` is the offset of the following IFD, 0 for the last. Tags must already be sorted ascending.
 */
export function encodeIfd(out: Uint8Array, base: number, offset: number, tags: readonly TagValue[], next: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const at = offset - base;
  view.setUint16(at, tags.length, true);
  let extra = offset + 2 + tags.length * 12 + 4;
  tags.forEach((t, i) => {
    const e = at + 2 + i * 12;
    view.setUint16(e, t.tag, true);
    view.setUint16(e + 2, TYPE_CODE[t.type], true);
    view.setUint32(e + 4, count(t), true);
    if (payloadSize(t) <= 4) {
      writeValues(view, out, e + 8, t);
    } else {
      view.setUint32(e + 8, extra, true);
      writeValues(view, out, extra - base, t);
      extra = even(extra + payloadSize(t));
    }
  });
  view.setUint32(at + 2 + tags.length * 12, next, true);
}
