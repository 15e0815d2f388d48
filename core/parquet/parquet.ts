/**
 * A small Parquet writer and reader: the format of the chip index and the embeddings, written without
 * Arrow or WebAssembly (parquet-wasm's compiled module held ~80 MB of a run's memory).
 *
 * Write: one row group, one PLAIN-encoded v1 data page per column, definition and repetition levels as
 * RLE runs, pages uncompressed, SNAPPY or GZIP. Read: what this writer writes, and the common variants
 * other writers produce for the same types (several row groups and pages, dictionary encoding, v2 data
 * pages, bit-packed levels); anything else is refused with a ParquetError saying what.
 *
 * Columns are leaves of a schema tree; nesting (lists) is carried by the levels, as the format defines.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { bin, ByteWriter, encodeStruct, i32, i64, list, struct, ThriftError, ThriftReader, type RStruct, type RValue, type TStruct } from './thrift.ts';
import { snappyCompress, snappyUncompress, SnappyError } from './snappy.ts';

/** Physical types this module handles. */
export type Physical = 'BOOLEAN' | 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'BYTE_ARRAY';

const PHYSICAL_CODE: Record<Physical, number> = { BOOLEAN: 0, INT32: 1, INT64: 2, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6 };
const PHYSICAL_OF = new Map(Object.entries(PHYSICAL_CODE).map(([k, v]) => [v, k as Physical]));

/** Page compression this module writes and reads. */
export type ParquetCodec = 'uncompressed' | 'snappy' | 'gzip';
const CODEC_CODE: Record<ParquetCodec, number> = { uncompressed: 0, snappy: 1, gzip: 2 };
const CODEC_NAMES = ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'LZO', 'BROTLI', 'LZ4', 'ZSTD', 'LZ4_RAW'];

/** Logical annotations this module writes (and recognises). */
export type Logical = 'STRING' | 'LIST' | 'DATE';
const CONVERTED_CODE: Record<Logical, number> = { STRING: 0, LIST: 3, DATE: 6 };
const LOGICAL_FIELD: Record<Logical, number> = { STRING: 1, LIST: 3, DATE: 6 };

export type Repetition = 'required' | 'optional' | 'repeated';
const REPETITION_CODE: Record<Repetition, number> = { required: 0, optional: 1, repeated: 2 };
const REPETITION_OF: Repetition[] = ['required', 'optional', 'repeated'];

/** A schema node: a leaf (with a physical type) or a group (with children). */
export interface SchemaNode {
  name: string;
  repetition: Repetition;
  physical?: Physical;
  logical?: Logical;
  children?: SchemaNode[];
}

/** The values of a leaf (non-null ones only, in order). */
export type LeafValues =
  | { physical: 'BOOLEAN'; values: boolean[] }
  | { physical: 'INT32'; values: Int32Array }
  | { physical: 'INT64'; values: BigInt64Array }
  | { physical: 'FLOAT'; values: Float32Array }
  | { physical: 'DOUBLE'; values: Float64Array }
  | { physical: 'BYTE_ARRAY'; values: Uint8Array[] };

/** One leaf column's data: levels (one entry per slot, absent when its max level is 0) and values. */
export interface LeafData {
  /** Entries (slots): the number of levels, or of values when there are no levels. */
  slots: number;
  def?: Uint8Array;
  rep?: Uint8Array;
  data: LeafValues;
}

/** A leaf of a schema with its levels' maxima, as the reader returns it. */
export interface Leaf extends LeafData {
  path: string[];
  maxDef: number;
  maxRep: number;
}

/** A file as read: the top-level schema fields, every leaf in schema order, rows and key-value metadata. */
export interface ParquetFile {
  fields: SchemaNode[];
  leaves: Leaf[];
  rows: number;
  keyValue: Map<string, string>;
}

/** Raised for bytes this module cannot read (or a table it cannot write); callers add the file's name. */
export class ParquetError extends Error {}

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // 'PAR1'
const ENC = { PLAIN: 0, PLAIN_DICTIONARY: 2, RLE: 3, BIT_PACKED: 4, RLE_DICTIONARY: 8 } as const;
const PAGE = { DATA: 0, DICTIONARY: 2, DATA_V2: 3 } as const;

// ---------------------------------------------------------------------------------------------- write

function bitWidth(max: number): number {
  return max === 0 ? 0 : 32 - Math.clz32(max);
}

/** Levels as RLE runs of the hybrid encoding (no bit-packed runs: every reader reads RLE runs). */
function encodeLevels(w: ByteWriter, levels: Uint8Array, width: number): void {
  const bytes = Math.ceil(width / 8);
  for (let i = 0; i < levels.length; ) {
    let j = i + 1;
    while (j < levels.length && levels[j] === levels[i]) j++;
    w.varint((j - i) * 2);
    for (let b = 0; b < bytes; b++) w.byte(b === 0 ? levels[i]! : 0);
    i = j;
  }
}

function le32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function plainValues(w: ByteWriter, d: LeafValues): void {
  switch (d.physical) {
    case 'BOOLEAN': {
      const out = new Uint8Array(Math.ceil(d.values.length / 8));
      d.values.forEach((v, i) => { if (v) out[i >> 3]! |= 1 << (i & 7); });
      w.bytes(out);
      return;
    }
    case 'BYTE_ARRAY':
      for (const v of d.values) {
        w.bytes(le32(v.length));
        w.bytes(v);
      }
      return;
    default: {
      // INT32, INT64, FLOAT, DOUBLE: little-endian, as typed arrays are on every platform Node runs on.
      const v = d.values;
      w.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
  }
}

function compress(codec: ParquetCodec, raw: Uint8Array): Uint8Array {
  if (codec === 'snappy') return snappyCompress(raw);
  if (codec === 'gzip') return gzipSync(raw, { level: 6 });
  return raw;
}

function schemaElements(fields: readonly SchemaNode[]): TStruct[] {
  const out: TStruct[] = [[[4, bin('schema')], [5, i32(fields.length)]]];
  const walk = (n: SchemaNode): void => {
    out.push([
      [1, n.physical !== undefined ? i32(PHYSICAL_CODE[n.physical]) : undefined],
      [3, i32(REPETITION_CODE[n.repetition])],
      [4, bin(n.name)],
      [5, n.children !== undefined ? i32(n.children.length) : undefined],
      [6, n.logical !== undefined ? i32(CONVERTED_CODE[n.logical]) : undefined],
      [10, n.logical !== undefined ? struct([[LOGICAL_FIELD[n.logical], struct([])]]) : undefined],
    ]);
    n.children?.forEach(walk);
  };
  fields.forEach(walk);
  return out;
}

/** The leaves of a schema in order, with their paths and level maxima. */
export function schemaLeaves(fields: readonly SchemaNode[]): { path: string[]; node: SchemaNode; maxDef: number; maxRep: number }[] {
  const out: { path: string[]; node: SchemaNode; maxDef: number; maxRep: number }[] = [];
  const walk = (n: SchemaNode, path: string[], def: number, rep: number): void => {
    const d = def + (n.repetition === 'required' ? 0 : 1);
    const r = rep + (n.repetition === 'repeated' ? 1 : 0);
    const p = [...path, n.name];
    if (n.children === undefined) out.push({ path: p, node: n, maxDef: d, maxRep: r });
    else n.children.forEach((c) => walk(c, p, d, r));
  };
  fields.forEach((f) => walk(f, [], 0, 0));
  return out;
}

/** What writeParquet takes: the schema, one LeafData per leaf (schema order), the row count, metadata. */
export interface ParquetTable {
  fields: SchemaNode[];
  leaves: LeafData[];
  rows: number;
  /** Key-value file metadata, written in this order. */
  keyValue?: readonly (readonly [string, string])[];
  codec?: ParquetCodec;
  createdBy?: string;
}

/** Writes a Parquet file: one row group, one data page per column. Deterministic: same table, same bytes. */
export function writeParquet(table: ParquetTable): Uint8Array {
  const codec = table.codec ?? 'snappy';
  const leaves = schemaLeaves(table.fields);
  if (leaves.length !== table.leaves.length) throw new ParquetError(`the schema has ${leaves.length} leaves, ${table.leaves.length} given`);
  const w = new ByteWriter();
  w.bytes(Uint8Array.from(MAGIC));
  const chunks: TStruct[] = [];
  let totalUncompressed = 0;
  let totalCompressed = 0;
  leaves.forEach((leaf, k) => {
    const data = table.leaves[k]!;
    const physical = leaf.node.physical;
    if (physical !== data.data.physical) throw new ParquetError(`column ${leaf.path.join('.')} is ${physical}, its values ${data.data.physical}`);
    const body = new ByteWriter();
    for (const [levels, max] of [[data.rep, leaf.maxRep], [data.def, leaf.maxDef]] as const) {
      if (max === 0) continue;
      if (levels === undefined || levels.length !== data.slots) throw new ParquetError(`column ${leaf.path.join('.')} needs ${data.slots} levels up to ${max}`);
      const lw = new ByteWriter();
      encodeLevels(lw, levels, bitWidth(max));
      body.bytes(le32(lw.length));
      body.bytes(lw.result());
    }
    plainValues(body, data.data);
    const raw = body.result();
    const page = compress(codec, raw);
    const header = encodeStruct([
      [1, i32(PAGE.DATA)],
      [2, i32(raw.length)],
      [3, i32(page.length)],
      [5, struct([[1, i32(data.slots)], [2, i32(ENC.PLAIN)], [3, i32(ENC.RLE)], [4, i32(ENC.RLE)]])],
    ]);
    const offset = w.length;
    w.bytes(header);
    w.bytes(page);
    const uncompressed = header.length + raw.length;
    const compressed = header.length + page.length;
    totalUncompressed += uncompressed;
    totalCompressed += compressed;
    chunks.push([
      [2, i64(offset)],
      [3, struct([
        [1, i32(PHYSICAL_CODE[physical])],
        [2, list('i32', [ENC.PLAIN, ENC.RLE])],
        [3, list('binary', leaf.path)],
        [4, i32(CODEC_CODE[codec])],
        [5, i64(data.slots)],
        [6, i64(uncompressed)],
        [7, i64(compressed)],
        [9, i64(offset)],
      ])],
    ]);
  });
  const footer = encodeStruct([
    [1, i32(1)],
    [2, list('struct', schemaElements(table.fields))],
    [3, i64(table.rows)],
    [4, list('struct', [[[1, list('struct', chunks)], [2, i64(totalUncompressed)], [3, i64(table.rows)], [5, i64(4)], [6, i64(totalCompressed)]]])],
    [5, table.keyValue && table.keyValue.length > 0 ? list('struct', table.keyValue.map(([k, v]) => [[1, bin(k)], [2, bin(v)]] as TStruct)) : undefined],
    [6, bin(table.createdBy ?? 'clay-pipeline')],
  ]);
  w.bytes(footer);
  w.bytes(le32(footer.length));
  w.bytes(Uint8Array.from(MAGIC));
  return w.result();
}

// ----------------------------------------------------------------------------------------------- read

const decoder = new TextDecoder('utf-8', { fatal: true });

function num(s: RStruct, id: number, what: string): number {
  const v = s.get(id);
  if (typeof v !== 'number') throw new ParquetError(`metadata lacks ${what}`);
  return v;
}

function str(v: RValue | undefined, what: string): string {
  if (!(v instanceof Uint8Array)) throw new ParquetError(`metadata lacks ${what}`);
  return decoder.decode(v);
}

function structs(v: RValue | undefined, what: string): RStruct[] {
  if (!Array.isArray(v) || !v.every((e): e is RStruct => e instanceof Map)) throw new ParquetError(`metadata lacks ${what}`);
  return v;
}

function parseSchema(elements: RStruct[]): SchemaNode[] {
  let i = 1;
  const node = (): SchemaNode => {
    const e = elements[i++];
    if (e === undefined) throw new ParquetError('the schema ends early');
    const name = str(e.get(4), 'a schema element name');
    const repetition = REPETITION_OF[(e.get(3) as number | undefined) ?? 0];
    if (repetition === undefined) throw new ParquetError(`schema element ${name}: bad repetition`);
    const out: SchemaNode = { name, repetition };
    const converted = e.get(6);
    const logical = e.get(10);
    if (converted === CONVERTED_CODE.STRING || (logical instanceof Map && logical.has(LOGICAL_FIELD.STRING))) out.logical = 'STRING';
    else if (converted === CONVERTED_CODE.LIST || (logical instanceof Map && logical.has(LOGICAL_FIELD.LIST))) out.logical = 'LIST';
    else if (converted === CONVERTED_CODE.DATE || (logical instanceof Map && logical.has(LOGICAL_FIELD.DATE))) out.logical = 'DATE';
    const children = e.get(5);
    if (typeof children === 'number' && children > 0) {
      out.children = [];
      for (let k = 0; k < children; k++) out.children.push(node());
    } else {
      const type = e.get(1);
      const physical = typeof type === 'number' ? PHYSICAL_OF.get(type) : undefined;
      if (physical === undefined) throw new ParquetError(`column ${name} has physical type ${String(type)}, which this reader does not read`);
      out.physical = physical;
    }
    return out;
  };
  const root = elements[0];
  if (root === undefined) throw new ParquetError('the schema is empty');
  const count = (root.get(5) as number | undefined) ?? 0;
  const fields: SchemaNode[] = [];
  for (let k = 0; k < count; k++) fields.push(node());
  return fields;
}

function decompress(codec: number, bytes: Uint8Array, size: number, where: string): Uint8Array {
  try {
    if (codec === CODEC_CODE.uncompressed) return bytes;
    if (codec === CODEC_CODE.snappy) return snappyUncompress(bytes, size);
    if (codec === CODEC_CODE.gzip) return new Uint8Array(gunzipSync(bytes));
  } catch (err) {
    throw new ParquetError(`${where}: ${CODEC_NAMES[codec]} data does not decompress (${err instanceof Error ? err.message : String(err)})`);
  }
  throw new ParquetError(`${where}: ${CODEC_NAMES[codec] ?? `codec ${codec}`} pages are not supported (write with SNAPPY, GZIP or none)`);
}

/** Decodes `count` values of the RLE / bit-packing hybrid. */
function decodeHybrid(bytes: Uint8Array, start: number, end: number, width: number, count: number, out: Uint32Array | Uint8Array, where: string): number {
  let pos = start;
  let n = 0;
  const byteWidth = Math.ceil(width / 8);
  while (n < count) {
    if (pos >= end) throw new ParquetError(`${where}: levels or indices end early (${n} of ${count})`);
    let header = 0;
    for (let mul = 1; ; mul *= 0x80) {
      const b = bytes[pos++];
      if (b === undefined) throw new ParquetError(`${where}: truncated run header`);
      header += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) break;
    }
    if (header % 2 === 0) {
      const run = header / 2;
      let v = 0;
      for (let k = 0; k < byteWidth; k++) v |= bytes[pos + k]! << (8 * k);
      pos += byteWidth;
      const to = Math.min(count, n + run);
      out.fill(v, n, to);
      n = to;
    } else {
      const values = ((header - 1) / 2) * 8;
      let bit = pos * 8;
      for (let k = 0; k < values && n < count; k++, n++) {
        let v = 0;
        for (let b = 0; b < width; b++, bit++) v |= ((bytes[bit >> 3]! >> (bit & 7)) & 1) << b;
        out[n] = v;
      }
      pos += (values * width) / 8;
    }
  }
  return pos;
}

function plainDecode(physical: Physical, bytes: Uint8Array, start: number, count: number, where: string): LeafValues {
  const need = (n: number): void => {
    if (start + n > bytes.length) throw new ParquetError(`${where}: values end early`);
  };
  switch (physical) {
    case 'BOOLEAN': {
      need(Math.ceil(count / 8));
      const values: boolean[] = [];
      for (let i = 0; i < count; i++) values.push(((bytes[start + (i >> 3)]! >> (i & 7)) & 1) === 1);
      return { physical, values };
    }
    case 'BYTE_ARRAY': {
      const values: Uint8Array[] = [];
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let pos = start;
      for (let i = 0; i < count; i++) {
        need(pos - start + 4);
        const len = view.getUint32(pos, true);
        pos += 4;
        need(pos - start + len);
        values.push(bytes.slice(pos, pos + len));
        pos += len;
      }
      return { physical, values };
    }
    case 'INT32': case 'FLOAT': {
      need(count * 4);
      const copy = bytes.slice(start, start + count * 4);
      return physical === 'INT32' ? { physical, values: new Int32Array(copy.buffer) } : { physical, values: new Float32Array(copy.buffer) };
    }
    case 'INT64': case 'DOUBLE': {
      need(count * 8);
      const copy = bytes.slice(start, start + count * 8);
      return physical === 'INT64' ? { physical, values: new BigInt64Array(copy.buffer) } : { physical, values: new Float64Array(copy.buffer) };
    }
  }
}

/** Concatenates value chunks of one leaf. */
function concatValues(physical: Physical, parts: LeafValues[]): LeafValues {
  if (physical === 'BOOLEAN') return { physical, values: parts.flatMap((p) => p.values as boolean[]) };
  if (physical === 'BYTE_ARRAY') return { physical, values: parts.flatMap((p) => p.values as Uint8Array[]) };
  const total = parts.reduce((n, p) => n + p.values.length, 0);
  const make = { INT32: Int32Array, INT64: BigInt64Array, FLOAT: Float32Array, DOUBLE: Float64Array }[physical];
  const out = new make(total);
  let at = 0;
  for (const p of parts) {
    (out as { set(a: ArrayLike<number | bigint>, o: number): void }).set(p.values as ArrayLike<number | bigint>, at);
    at += p.values.length;
  }
  return { physical, values: out } as LeafValues;
}

/** Picks `indices` out of a dictionary. */
function fromDictionary(dict: LeafValues, indices: Uint32Array, where: string): LeafValues {
  for (const i of indices) if (i >= dict.values.length) throw new ParquetError(`${where}: dictionary index ${i} out of range`);
  switch (dict.physical) {
    case 'BOOLEAN': return { physical: dict.physical, values: Array.from(indices, (i) => dict.values[i]!) };
    case 'BYTE_ARRAY': return { physical: dict.physical, values: Array.from(indices, (i) => dict.values[i]!) };
    case 'INT32': return { physical: dict.physical, values: Int32Array.from(indices, (i) => dict.values[i]!) };
    case 'INT64': return { physical: dict.physical, values: BigInt64Array.from(indices, (i) => dict.values[i]!) };
    case 'FLOAT': return { physical: dict.physical, values: Float32Array.from(indices, (i) => dict.values[i]!) };
    case 'DOUBLE': return { physical: dict.physical, values: Float64Array.from(indices, (i) => dict.values[i]!) };
  }
}

interface ChunkOut {
  def: Uint8Array[];
  rep: Uint8Array[];
  values: LeafValues[];
  slots: number;
}

/** Reads the pages of one column chunk into `out`. */
function readChunk(bytes: Uint8Array, meta: RStruct, leaf: { path: string[]; maxDef: number; maxRep: number; physical: Physical }, out: ChunkOut): void {
  const where = `column ${leaf.path.join('.')}`;
  const codec = num(meta, 4, `${where}: codec`);
  const total = num(meta, 5, `${where}: num_values`);
  const dictOffset = meta.get(11);
  let pos = typeof dictOffset === 'number' && dictOffset > 0 ? dictOffset : num(meta, 9, `${where}: data_page_offset`);
  const end = pos + num(meta, 7, `${where}: total_compressed_size`);
  if (end > bytes.length - 8) throw new ParquetError(`${where}: the chunk runs past the data`);
  let dictionary: LeafValues | undefined;
  let seen = 0;
  while (seen < total && pos < end) {
    const reader = new ThriftReader(bytes, pos, end);
    const header = reader.struct();
    pos = reader.pos;
    const type = num(header, 1, `${where}: page type`);
    const rawSize = num(header, 2, `${where}: uncompressed_page_size`);
    const size = num(header, 3, `${where}: compressed_page_size`);
    if (pos + size > end) throw new ParquetError(`${where}: a page runs past its chunk`);
    const page = bytes.subarray(pos, pos + size);
    pos += size;
    if (type === PAGE.DICTIONARY) {
      const h = header.get(7);
      if (!(h instanceof Map)) throw new ParquetError(`${where}: dictionary page without its header`);
      dictionary = plainDecode(leaf.physical, decompress(codec, page, rawSize, where), 0, num(h, 1, `${where}: dictionary size`), where);
      continue;
    }
    if (type !== PAGE.DATA && type !== PAGE.DATA_V2) continue; // index pages: nothing to read
    const v2 = type === PAGE.DATA_V2;
    const h = header.get(v2 ? 8 : 5);
    if (!(h instanceof Map)) throw new ParquetError(`${where}: data page without its header`);
    const slots = num(h, 1, `${where}: page num_values`);
    const encoding = num(h, v2 ? 4 : 2, `${where}: page encoding`);
    let body: Uint8Array;
    let at = 0;
    const rep = new Uint8Array(slots);
    const def = new Uint8Array(slots);
    if (v2) {
      const repLen = num(h, 6, `${where}: repetition_levels_byte_length`);
      const defLen = num(h, 5, `${where}: definition_levels_byte_length`);
      if (leaf.maxRep > 0) decodeHybrid(page, 0, repLen, bitWidth(leaf.maxRep), slots, rep, where);
      if (leaf.maxDef > 0) decodeHybrid(page, repLen, repLen + defLen, bitWidth(leaf.maxDef), slots, def, where);
      const compressed = h.get(7) !== false;
      const values = page.subarray(repLen + defLen);
      body = compressed ? decompress(codec, values, rawSize - repLen - defLen, where) : values;
    } else {
      body = decompress(codec, page, rawSize, where);
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
      for (const [max, levels] of [[leaf.maxRep, rep], [leaf.maxDef, def]] as const) {
        if (max === 0) continue;
        const enc = num(h, levels === rep ? 4 : 3, `${where}: level encoding`);
        if (enc !== ENC.RLE) throw new ParquetError(`${where}: levels in encoding ${enc} are not supported`);
        if (at + 4 > body.length) throw new ParquetError(`${where}: levels end early`);
        const len = view.getUint32(at, true);
        decodeHybrid(body, at + 4, at + 4 + len, bitWidth(max), slots, levels, where);
        at += 4 + len;
      }
    }
    let present = slots;
    if (leaf.maxDef > 0) {
      present = 0;
      for (const d of def) if (d === leaf.maxDef) present++;
    }
    if (encoding === ENC.PLAIN) {
      out.values.push(plainDecode(leaf.physical, body, at, present, where));
    } else if (encoding === ENC.RLE_DICTIONARY || encoding === ENC.PLAIN_DICTIONARY) {
      if (dictionary === undefined) throw new ParquetError(`${where}: dictionary-encoded page without a dictionary`);
      const indices = new Uint32Array(present);
      if (present > 0) decodeHybrid(body, at + 1, body.length, body[at]!, present, indices, where);
      out.values.push(fromDictionary(dictionary, indices, where));
    } else if (encoding === ENC.RLE && leaf.physical === 'BOOLEAN') {
      // Booleans in data pages v2: the hybrid encoding at bit width 1, after a 4-byte length.
      if (at + 4 > body.length) throw new ParquetError(`${where}: values end early`);
      const bits = new Uint8Array(present);
      const len = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(at, true);
      if (present > 0) decodeHybrid(body, at + 4, at + 4 + len, 1, present, bits, where);
      out.values.push({ physical: 'BOOLEAN', values: Array.from(bits, (b) => b === 1) });
    } else {
      throw new ParquetError(`${where}: value encoding ${encoding} is not supported (PLAIN, dictionary and RLE booleans are)`);
    }
    if (leaf.maxRep > 0) out.rep.push(rep);
    if (leaf.maxDef > 0) out.def.push(def);
    out.slots += slots;
    seen += slots;
  }
  if (seen !== total) throw new ParquetError(`${where}: ${seen} of ${total} values found in its pages`);
}

function concatLevels(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** True when the bytes start and end with Parquet's magic number. */
function hasParquetMagic(bytes: Uint8Array): boolean {
  const n = bytes.byteLength;
  return n >= 12 && MAGIC.every((b, i) => bytes[i] === b && bytes[n - 4 + i] === b);
}

/** Reads a Parquet file (see the module comment for what it reads). ParquetError says what is wrong. */
export function readParquet(bytes: Uint8Array): ParquetFile {
  if (!hasParquetMagic(bytes)) throw new ParquetError('not a Parquet file (no PAR1 magic at both ends)');
  const footerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bytes.length - 8, true);
  const footerStart = bytes.length - 8 - footerLength;
  if (footerStart < 4) throw new ParquetError(`the footer length ${footerLength} exceeds the file`);
  let meta: RStruct;
  try {
    meta = new ThriftReader(bytes, footerStart, bytes.length - 8).struct();
  } catch (err) {
    if (err instanceof ThriftError) throw new ParquetError(`the footer does not decode: ${err.message}`);
    throw err;
  }
  const fields = parseSchema(structs(meta.get(2), 'the schema'));
  const leaves = schemaLeaves(fields);
  const rows = num(meta, 3, 'num_rows');
  const outs: ChunkOut[] = leaves.map(() => ({ def: [], rep: [], values: [], slots: 0 }));
  try {
    for (const group of structs(meta.get(4), 'row groups')) {
      const columns = structs(group.get(1), 'column chunks');
      if (columns.length !== leaves.length) throw new ParquetError(`a row group has ${columns.length} columns, the schema ${leaves.length}`);
      columns.forEach((c, k) => {
        const m = c.get(3);
        if (!(m instanceof Map)) throw new ParquetError('a column chunk has no metadata (external files are not supported)');
        const leaf = leaves[k]!;
        readChunk(bytes, m, { path: leaf.path, maxDef: leaf.maxDef, maxRep: leaf.maxRep, physical: leaf.node.physical! }, outs[k]!);
      });
    }
  } catch (err) {
    if (err instanceof ThriftError || err instanceof SnappyError) throw new ParquetError(`a page does not decode: ${err.message}`);
    throw err;
  }
  const keyValue = new Map<string, string>();
  const kv = meta.get(5);
  if (kv !== undefined) for (const e of structs(kv, 'key-value metadata')) keyValue.set(str(e.get(1), 'a metadata key'), e.get(2) instanceof Uint8Array ? decoder.decode(e.get(2) as Uint8Array) : '');
  return {
    fields,
    rows,
    keyValue,
    leaves: leaves.map((l, k) => {
      const o = outs[k]!;
      const leaf: Leaf = { path: l.path, maxDef: l.maxDef, maxRep: l.maxRep, slots: o.slots, data: concatValues(l.node.physical!, o.values) };
      if (l.maxDef > 0) leaf.def = concatLevels(o.def, o.slots);
      if (l.maxRep > 0) leaf.rep = concatLevels(o.rep, o.slots);
      return leaf;
    }),
  };
}
