/**
 * A structural check of a FlatGeobuf file before the `flatgeobuf` library reads it. The library trusts the
 * bytes: an empty file or a header with no features and an index loops for ever (its tree-size loop never
 * reaches 1), and a length field bit-flipped to 2^32 walks billions of bytes that are not there. Here every
 * offset, vector and string of the header and of each feature is checked to lie inside the file (a
 * FlatBuffers verifier for the FlatGeobuf 3.x schema), so what the library then reads is bounded by the
 * file's size. Pure: bytes in, a reason out.
 */

const MAGIC = [0x66, 0x67, 0x62, 0x03, 0x66, 0x67, 0x62];
/** The reference implementation's cap on the header (10 MiB): a bigger one is a corrupt length. */
const MAX_HEADER_BYTES = 10 * 1024 * 1024;
/** Deeper nesting of geometry parts than any real file has (MultiPolygon: 2); also stops offset cycles. */
const MAX_DEPTH = 8;
/** Bytes of one packed R-tree node (a bbox of 4 doubles and an offset). */
const NODE_BYTES = 40;

/** A field of a table: its slot and what it holds. */
type Field =
  | { slot: number; kind: 'scalar'; size: 1 | 2 | 4 | 8 }
  | { slot: number; kind: 'string' }
  | { slot: number; kind: 'vector'; elem: 1 | 4 | 8 }
  | { slot: number; kind: 'table'; table: TableSchema }
  | { slot: number; kind: 'tables'; table: TableSchema };

interface TableSchema {
  name: string;
  fields: Field[];
}

const s = (slot: number, size: 1 | 2 | 4 | 8): Field => ({ slot, kind: 'scalar', size });
const str = (slot: number): Field => ({ slot, kind: 'string' });
const vec = (slot: number, elem: 1 | 4 | 8): Field => ({ slot, kind: 'vector', elem });

// The slots of FlatGeobuf 3.x's header.fbs and feature.fbs.
const COLUMN: TableSchema = { name: 'Column', fields: [str(0), s(1, 1), str(2), str(3), s(4, 4), s(5, 4), s(6, 4), s(7, 1), s(8, 1), s(9, 1), str(10)] };
const CRS: TableSchema = { name: 'Crs', fields: [str(0), s(1, 4), str(2), str(3), str(4), str(5)] };
const HEADER: TableSchema = {
  name: 'Header',
  fields: [str(0), vec(1, 8), s(2, 1), s(3, 1), s(4, 1), s(5, 1), s(6, 1), { slot: 7, kind: 'tables', table: COLUMN }, s(8, 8), s(9, 2), { slot: 10, kind: 'table', table: CRS }, str(11), str(12), str(13)],
};
const GEOMETRY: TableSchema = { name: 'Geometry', fields: [vec(0, 4), vec(1, 8), vec(2, 8), vec(3, 8), vec(4, 8), vec(5, 8), s(6, 1)] };
GEOMETRY.fields.push({ slot: 7, kind: 'tables', table: GEOMETRY });
const FEATURE: TableSchema = { name: 'Feature', fields: [{ slot: 0, kind: 'table', table: GEOMETRY }, vec(1, 1), { slot: 2, kind: 'tables', table: COLUMN }] };

/** What the check found in a well-formed file. */
export interface FlatGeobufLayout {
  /** Features found after the header and index (0: the library must not be asked, it may not return). */
  features: number;
}

/** Thrown for a malformed file; the message says where. */
export class FlatGeobufFormatError extends Error {}

/** Checks `bytes` as a FlatGeobuf file; throws `FlatGeobufFormatError` saying what is wrong. */
export function checkFlatGeobuf(bytes: Uint8Array): FlatGeobufLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string): never => {
    throw new FlatGeobufFormatError(why);
  };
  if (bytes.byteLength === 0) fail('the file is empty');
  if (bytes.byteLength < 12 || MAGIC.some((b, i) => bytes[i] !== b)) fail('no FlatGeobuf 3 signature');
  const headerLength = view.getUint32(8, true);
  if (headerLength < 8 || headerLength > MAX_HEADER_BYTES || 12 + headerLength > bytes.byteLength) fail(`header length ${headerLength} does not fit the file (${bytes.byteLength} bytes)`);
  const header = new Verifier(view, 12, 12 + headerLength);
  const root = header.root(HEADER);
  const featuresCount = header.u64(root, 8) ?? 0n;
  const indexNodeSize = header.u16(root, 9) ?? 16;
  let offset = 12 + headerLength;
  // An index over no features: the reference reader's tree-size loop never ends, so nothing may follow.
  if (indexNodeSize > 0 && featuresCount === 0n && offset < bytes.byteLength) fail('features follow a header that counts none but has an index');
  if (indexNodeSize > 0 && featuresCount > 0n) {
    if (indexNodeSize < 2) fail(`index node size ${indexNodeSize}`);
    // Every feature takes at least a 4-byte length and a root offset: more than that many cannot be here.
    if (featuresCount > BigInt(bytes.byteLength)) fail(`features count ${featuresCount} exceeds the file's size`);
    offset += treeBytes(Number(featuresCount), indexNodeSize);
    if (offset > bytes.byteLength) fail(`the index of ${featuresCount} features does not fit the file`);
  }
  let features = 0;
  while (offset < bytes.byteLength) {
    if (offset + 4 > bytes.byteLength) fail(`feature ${features}: truncated length`);
    const length = view.getUint32(offset, true);
    const end = offset + 4 + length;
    if (length < 8 || end > bytes.byteLength) fail(`feature ${features}: length ${length} does not fit the file (truncated?)`);
    new Verifier(view, offset + 4, end).root(FEATURE, `feature ${features}`);
    features++;
    offset = end;
  }
  // A count of 0 means unknown; any other is what a whole file holds (a cut at a feature boundary is caught here).
  if (featuresCount > 0n && BigInt(features) !== featuresCount) fail(`the header says ${featuresCount} features, the file holds ${features} (truncated?)`);
  return { features };
}

/** Bytes of a packed Hilbert R-tree over `items` with `nodeSize` (the reference's level sizes). */
function treeBytes(items: number, nodeSize: number): number {
  let n = items, nodes = items;
  while (n > 1) {
    n = Math.ceil(n / nodeSize);
    nodes += n;
  }
  // A single item still has a root above it.
  return (items === 1 ? 2 : nodes) * NODE_BYTES;
}

/** Verifies FlatBuffers tables inside [start, end) of a view. */
class Verifier {
  /** Tables left to visit: one per 4 bytes at most, so offsets shared by many parts cannot multiply the work. */
  private budget: number;

  constructor(private readonly view: DataView, private readonly start: number, private readonly end: number) {
    this.budget = Math.ceil((end - start) / 4);
  }

  private fail(why: string): never {
    throw new FlatGeobufFormatError(why);
  }

  private need(at: number, size: number, what: string): void {
    if (!Number.isSafeInteger(at) || at < this.start || at + size > this.end) this.fail(`${what} points outside its buffer`);
  }

  /** The root table (a uoffset at `start`), verified against `schema`; its position. */
  root(schema: TableSchema, what = schema.name): number {
    this.need(this.start, 4, `${what} root`);
    const at = this.start + this.view.getUint32(this.start, true);
    this.table(at, schema, what, 0);
    return at;
  }

  /** Where field `slot` of the table at `table` lies, or undefined when absent. */
  private field(table: number, slot: number): number | undefined {
    const vtable = table - this.view.getInt32(table, true);
    const vsize = this.view.getUint16(vtable, true);
    const voff = 4 + 2 * slot;
    if (voff + 2 > vsize) return undefined;
    const off = this.view.getUint16(vtable + voff, true);
    return off === 0 ? undefined : table + off;
  }

  private table(at: number, schema: TableSchema, what: string, depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`${what}: nested deeper than ${MAX_DEPTH}`);
    if (--this.budget < 0) this.fail(`${what}: more tables than the buffer can hold (offsets shared or cyclic)`);
    this.need(at, 4, what);
    const vtable = at - this.view.getInt32(at, true);
    this.need(vtable, 4, `${what} vtable`);
    const vsize = this.view.getUint16(vtable, true);
    const tsize = this.view.getUint16(vtable + 2, true);
    if (vsize < 4 || vsize % 2 !== 0) this.fail(`${what}: vtable size ${vsize}`);
    this.need(vtable, vsize, `${what} vtable`);
    this.need(at, Math.max(4, tsize), what);
    for (const f of schema.fields) {
      const pos = this.field(at, f.slot);
      if (pos === undefined) continue;
      const name = `${what} field ${f.slot}`;
      if (pos + (f.kind === 'scalar' ? f.size : 4) > at + tsize) this.fail(`${name} lies outside its table`);
      if (f.kind === 'scalar') continue;
      this.need(pos, 4, name);
      const target = pos + this.view.getUint32(pos, true);
      if (f.kind === 'table') {
        this.table(target, f.table, name, depth + 1);
        continue;
      }
      this.need(target, 4, name);
      const n = this.view.getUint32(target, true);
      const elem = f.kind === 'string' ? 1 : f.kind === 'vector' ? f.elem : 4;
      this.need(target + 4, n * elem, `${name} (${n} elements)`);
      if (f.kind === 'tables') {
        for (let i = 0; i < n; i++) {
          const slot = target + 4 + 4 * i;
          this.table(slot + this.view.getUint32(slot, true), f.table, `${name}[${i}]`, depth + 1);
        }
      }
    }
    if (schema === GEOMETRY) this.geometryParts(at, what);
  }

  /** A geometry's `ends` rise and stay within its `xy` pairs, so splitting it into rings is linear. */
  private geometryParts(at: number, what: string): void {
    const xy = this.vectorLength(at, 1);
    const ends = this.field(at, 0);
    if (ends === undefined) return;
    const target = ends + this.view.getUint32(ends, true);
    const n = this.view.getUint32(target, true);
    let last = 0;
    for (let i = 0; i < n; i++) {
      const e = this.view.getUint32(target + 4 + 4 * i, true);
      if (e < last || 2 * e > xy) this.fail(`${what}: ring ends ${last}, ${e} of ${xy / 2} points`);
      last = e;
    }
  }

  private vectorLength(table: number, slot: number): number {
    const pos = this.field(table, slot);
    if (pos === undefined) return 0;
    return this.view.getUint32(pos + this.view.getUint32(pos, true), true);
  }

  u64(table: number, slot: number): bigint | undefined {
    const pos = this.field(table, slot);
    return pos === undefined ? undefined : this.view.getBigUint64(pos, true);
  }

  u16(table: number, slot: number): number | undefined {
    const pos = this.field(table, slot);
    return pos === undefined ? undefined : this.view.getUint16(pos, true);
  }
}
