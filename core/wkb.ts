/**
 * Well-Known Binary (OGC Simple Features / ISO 13249) for the one geometry the toolkit stores: a 2D
 * Polygon. Written little-endian (byte order 1), the encoding GeoParquet's `WKB` columns carry; both byte
 * orders are read. Coordinates are whatever the caller uses (lon/lat for GeoParquet), x first.
 *
 * Layout: byte order (1 byte), geometry type 3 (uint32), ring count (uint32), then per ring a point count
 * (uint32) and that many (x, y) float64 pairs.
 */
import { ClayError } from './errors.ts';

/** A position [x, y]; [lon, lat] in degrees for GeoParquet. */
export type Position = [number, number];

/** A closed linear ring: at least 4 positions, the last equal to the first. */
export type Ring = Position[];

/** Read-only view of a ring, as the writer accepts it. */
export type RingInput = readonly (readonly [number, number])[];

const WKB_POLYGON = 3;

function checkRing(ring: RingInput, index: number): void {
  if (ring.length < 4) throw new ClayError('BAD_ARGUMENT', `WKB polygon ring ${index} has ${ring.length} positions; a closed ring needs at least 4`);
  for (const [x, y] of ring) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new ClayError('BAD_ARGUMENT', `WKB polygon ring ${index} has a non-finite coordinate (${x}, ${y})`);
  }
  const first = ring[0]!;
  const last = ring[ring.length - 1]!;
  if (first[0] !== last[0] || first[1] !== last[1]) throw new ClayError('BAD_ARGUMENT', `WKB polygon ring ${index} is not closed (first position differs from last)`);
}

/** Size in bytes of the WKB of a polygon with these rings. */
export function polygonWkbSize(rings: readonly RingInput[]): number {
  return rings.reduce((n, ring) => n + 4 + ring.length * 16, 9);
}

/**
 * The little-endian WKB of a Polygon (outer ring first, then holes). Rings must be closed, with at least 4
 * finite positions (BAD_ARGUMENT otherwise); no rings gives the empty polygon. Orientation is not changed.
 */
export function encodePolygonWkb(rings: readonly RingInput[]): Uint8Array {
  rings.forEach(checkRing);
  const out = new Uint8Array(polygonWkbSize(rings));
  const view = new DataView(out.buffer);
  view.setUint8(0, 1);
  view.setUint32(1, WKB_POLYGON, true);
  view.setUint32(5, rings.length, true);
  let at = 9;
  for (const ring of rings) {
    view.setUint32(at, ring.length, true);
    at += 4;
    for (const [x, y] of ring) {
      view.setFloat64(at, x, true);
      view.setFloat64(at + 8, y, true);
      at += 16;
    }
  }
  return out;
}

/**
 * The rings of a WKB Polygon (either byte order). Anything else (another geometry type, Z/M ordinates,
 * EWKB flags, truncated or trailing bytes) is BAD_ARGUMENT.
 */
export function decodePolygonWkb(bytes: Uint8Array): Ring[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (at: number, n: number): void => {
    if (at + n > bytes.byteLength) throw new ClayError('BAD_ARGUMENT', `WKB is truncated: ${bytes.byteLength} bytes, needs more than ${at + n - 1}`);
  };
  need(0, 9);
  const order = view.getUint8(0);
  if (order !== 0 && order !== 1) throw new ClayError('BAD_ARGUMENT', `WKB byte order ${order} is neither 0 nor 1`);
  const le = order === 1;
  const type = view.getUint32(1, le);
  if (type !== WKB_POLYGON) throw new ClayError('BAD_ARGUMENT', `WKB geometry type ${type} is not a 2D Polygon (3)`);
  const ringCount = view.getUint32(5, le);
  let at = 9;
  const rings: Ring[] = [];
  for (let r = 0; r < ringCount; r++) {
    need(at, 4);
    const points = view.getUint32(at, le);
    at += 4;
    need(at, points * 16);
    const ring: Ring = new Array<Position>(points);
    for (let i = 0; i < points; i++, at += 16) ring[i] = [view.getFloat64(at, le), view.getFloat64(at + 8, le)];
    rings.push(ring);
  }
  if (at !== bytes.byteLength) throw new ClayError('BAD_ARGUMENT', `WKB has ${bytes.byteLength - at} trailing bytes after the polygon`);
  return rings;
}
