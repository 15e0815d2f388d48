/**
 * GeoParquet 1.1 files of polygons with plain columns: the chip index, and later model embeddings. The
 * only file that imports `parquet-wasm` (Parquet encode/decode, Rust's arrow-rs compiled to WebAssembly)
 * and `apache-arrow` (the Arrow IPC stream we hand it).
 *
 * Geometry is one WKB Polygon per row (`core/wkb.ts`), described by the `geo` key of the Parquet file's
 * key-value metadata. No `crs` is written: GeoParquet then means OGC:CRS84, i.e. lon/lat degrees on WGS 84
 * with longitude first, which is what callers must pass.
 *
 * Both libraries load lazily, on the first read or write, never when the package entry is imported:
 * parquet-wasm's Node build is a CommonJS file that reads and compiles its 5 MB .wasm synchronously as it
 * loads (there is no `init()` to await in Node, unlike its ESM build), and apache-arrow takes ~60 ms to load.
 * Because loading is synchronous, reads and writes are synchronous too.
 */
import { createRequire } from 'node:module';
import type * as ArrowLib from 'apache-arrow';
import type * as ParquetLib from 'parquet-wasm';
import { ClayError, errorMessage, isClayError } from './errors.ts';
import { decodePolygonWkb, encodePolygonWkb, type Ring, type RingInput } from './wkb.ts';

/** A column of a GeoTable: a name, a type and its values, one per row (`fixed<float32>`: `size` per row). */
export type Column =
  | { name: string; type: 'utf8'; values: readonly (string | null)[] }
  | { name: string; type: 'int32'; values: readonly number[] }
  | { name: string; type: 'float64'; values: readonly (number | null)[] }
  | { name: string; type: 'bool'; values: readonly boolean[] }
  | { name: string; type: 'list<utf8>'; values: readonly (readonly string[])[] }
  /** A calendar date `YYYY-MM-DD`, stored as Parquet DATE (Arrow date32: days since 1970-01-01). */
  | { name: string; type: 'date'; values: readonly string[] }
  /** A fixed-size vector per row (an embedding), row-major: row i is values[i*size .. (i+1)*size). */
  | { name: string; type: 'fixed<float32>'; size: number; values: Float32Array };

/** One of the column types. */
export type ColumnType = Column['type'];

/** Rows of plain columns plus one polygon geometry per row (rings of [lon, lat], outer ring first). */
export interface GeoTable {
  columns: Column[];
  geometry: { name: string; polygons: readonly (readonly RingInput[])[] };
}

/** The GeoParquet description of one geometry column. */
export interface GeoColumnMetadata {
  encoding: 'WKB';
  geometry_types: string[];
  /** [minx, miny, maxx, maxy] of every row's coordinates; absent when there are no coordinates. */
  bbox?: [number, number, number, number];
  /** PROJJSON, or null for an unknown CRS; absent means OGC:CRS84. We never write it. */
  crs?: Record<string, unknown> | null;
}

/** The `geo` file metadata of GeoParquet. */
export interface GeoMetadata {
  version: string;
  primary_column: string;
  columns: Record<string, GeoColumnMetadata>;
}

/** A GeoParquet file as read back: the table, its `geo` metadata and the other key-value metadata. */
export interface GeoParquetFile {
  columns: Column[];
  geometry: { name: string; polygons: Ring[][] };
  geo: GeoMetadata;
  /** The file's key-value metadata except `geo` and arrow-rs' `ARROW:schema`. */
  metadata: Record<string, string>;
}

/** Parquet page compression. zstd is smaller; snappy is readable by the most readers (hyparquet without plugins). */
export type ParquetCompression = 'zstd' | 'snappy' | 'uncompressed';

/** Options of writeGeoParquet. */
export interface WriteGeoParquetOptions {
  /** Default 'zstd'. */
  compression?: ParquetCompression;
  /** Extra key-value file metadata; `geo` and `ARROW:schema` are reserved. */
  metadata?: Record<string, string>;
}

/** Options of readGeoParquet. */
export interface ReadGeoParquetOptions {
  /** What the bytes are (a path or key), named by errors. */
  name?: string;
}

/** The GeoParquet version we write. */
export const GEOPARQUET_VERSION = '1.1.0';

const RESERVED_KEYS = new Set(['geo', 'ARROW:schema']);

interface Libs {
  arrow: typeof ArrowLib;
  parquet: typeof ParquetLib;
}

let libs: Libs | undefined;

/** Loads both libraries once (see the file comment for why not at import time). */
function load(): Libs {
  if (libs === undefined) {
    const require = createRequire(import.meta.url);
    const arrow: typeof ArrowLib = require('apache-arrow');
    const parquet: typeof ParquetLib = require('parquet-wasm');
    libs = { arrow, parquet };
  }
  return libs;
}

// ---------------------------------------------------------------------------------------------- write

function badArgument(message: string): ClayError {
  return new ClayError('BAD_ARGUMENT', message);
}

/** Checks names, lengths and values; returns the row count (the number of polygons). */
function checkTable(table: GeoTable, metadata: Record<string, string>): number {
  const rows = table.geometry.polygons.length;
  const names = new Set<string>([table.geometry.name]);
  if (table.geometry.name === '') throw badArgument('the geometry column needs a name');
  for (const column of table.columns) {
    if (column.name === '' || names.has(column.name)) throw badArgument(`column name '${column.name}' is empty or used twice`);
    names.add(column.name);
    const length = column.type === 'fixed<float32>' ? column.values.length / column.size : column.values.length;
    if (column.type === 'fixed<float32>' && !(Number.isInteger(column.size) && column.size > 0)) {
      throw badArgument(`column '${column.name}': fixed size ${column.size} is not a positive integer`);
    }
    if (length !== rows) throw badArgument(`column '${column.name}' has ${length} rows, the geometry has ${rows}`);
    if (column.type === 'date') {
      const bad = column.values.find((v) => dayNumber(v) === undefined);
      if (bad !== undefined) throw badArgument(`column '${column.name}': '${bad}' is not a YYYY-MM-DD date`);
    }
    if (column.type === 'int32') {
      const bad = column.values.find((v) => !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31);
      if (bad !== undefined) throw badArgument(`column '${column.name}': ${bad} is not a 32-bit integer`);
    }
  }
  for (const key of Object.keys(metadata)) if (RESERVED_KEYS.has(key)) throw badArgument(`metadata key '${key}' is reserved`);
  return rows;
}

const DAY_MS = 86_400_000;

/** Days since 1970-01-01 of a `YYYY-MM-DD` date, or undefined when it is not one (2021-02-30 included). */
function dayNumber(date: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return undefined;
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== date) return undefined;
  return ms / DAY_MS;
}

/** The GeoParquet `geo` metadata for polygons with these WKB rows' coordinates. */
function geoMetadata(name: string, polygons: readonly (readonly RingInput[])[]): GeoMetadata {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const rings of polygons) {
    for (const ring of rings) {
      for (const [x, y] of ring) {
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  const column: GeoColumnMetadata = { encoding: 'WKB', geometry_types: ['Polygon'] };
  if (minX <= maxX) column.bbox = [minX, minY, maxX, maxY];
  return { version: GEOPARQUET_VERSION, primary_column: name, columns: { [name]: column } };
}

/** A single-chunk Arrow Data of a column. */
function columnData(arrow: typeof ArrowLib, column: Column): ArrowLib.Data {
  const one = <T extends ArrowLib.DataType>(v: ArrowLib.Vector<T>): ArrowLib.Data<T> => {
    if (v.data.length !== 1) throw new ClayError('INTERNAL', `apache-arrow built ${v.data.length} chunks for column '${column.name}'`);
    return v.data[0]!;
  };
  switch (column.type) {
    case 'utf8':
      return one(arrow.vectorFromArray(column.values, new arrow.Utf8()));
    case 'int32':
      return arrow.makeData({ type: new arrow.Int32(), length: column.values.length, nullCount: 0, data: Int32Array.from(column.values) });
    case 'float64':
      return one(arrow.vectorFromArray(column.values, new arrow.Float64()));
    case 'bool':
      return one(arrow.vectorFromArray(column.values, new arrow.Bool()));
    case 'date': {
      const data = Int32Array.from(column.values, (v) => dayNumber(v) ?? 0);
      return arrow.makeData({ type: new arrow.DateDay(), length: data.length, nullCount: 0, data });
    }
    case 'list<utf8>':
      return one(arrow.vectorFromArray(column.values, new arrow.List(new arrow.Field('item', new arrow.Utf8(), false))));
    case 'fixed<float32>': {
      const length = column.values.length / column.size;
      const child = arrow.makeData({ type: new arrow.Float32(), length: column.values.length, nullCount: 0, data: column.values });
      return arrow.makeData({ type: new arrow.FixedSizeList(column.size, new arrow.Field('item', new arrow.Float32(), false)), length, nullCount: 0, child });
    }
  }
}

/** The WKB column: one Binary Data built from offsets, without a builder. */
function wkbData(arrow: typeof ArrowLib, polygons: readonly (readonly RingInput[])[]): ArrowLib.Data<ArrowLib.Binary> {
  const parts = polygons.map((rings, row) => {
    try {
      return encodePolygonWkb(rings);
    } catch (err) {
      if (isClayError(err)) throw badArgument(`geometry of row ${row}: ${err.message}`);
      throw err;
    }
  });
  const valueOffsets = new Int32Array(parts.length + 1);
  parts.forEach((p, i) => (valueOffsets[i + 1] = valueOffsets[i]! + p.byteLength));
  const data = new Uint8Array(valueOffsets[parts.length]!);
  parts.forEach((p, i) => data.set(p, valueOffsets[i]!));
  return arrow.makeData({ type: new arrow.Binary(), length: parts.length, nullCount: 0, valueOffsets, data });
}

/** Utf8 and float64 may hold nulls; the other types may not. */
function nullable(type: ColumnType): boolean {
  return type === 'utf8' || type === 'float64';
}

/**
 * Writes a GeoParquet 1.1 file (one row group, WKB Polygon geometry, `geo` metadata with the bbox of all
 * rows). BAD_ARGUMENT when a column's row count differs from the geometry's, a name repeats, an int32
 * value is not a 32-bit integer, a ring is open or non-finite, or a metadata key is reserved.
 */
export function writeGeoParquet(table: GeoTable, options: WriteGeoParquetOptions = {}): Uint8Array {
  const metadata = options.metadata ?? {};
  const rows = checkTable(table, metadata);
  const { arrow, parquet } = load();
  const children = table.columns.map((c) => columnData(arrow, c));
  const fields = table.columns.map((c, i) => new arrow.Field(c.name, children[i]!.type, nullable(c.type)));
  fields.push(new arrow.Field(table.geometry.name, new arrow.Binary(), false));
  children.push(wkbData(arrow, table.geometry.polygons));
  // User metadata rides in the Arrow schema (serialised in order inside ARROW:schema); only `geo` goes
  // through parquet-wasm's key-value map, whose iteration order is random per process: with two keys
  // there, identical tables would give files whose bytes differ from run to run.
  const schema = new arrow.Schema(fields, new Map(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  const batch = new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(fields), length: rows, nullCount: 0, children }));
  const ipc = arrow.tableToIPC(new arrow.Table(schema, [batch]), 'stream');
  const geo = geoMetadata(table.geometry.name, table.geometry.polygons);
  const keyValue = new Map([['geo', JSON.stringify(geo)]]);
  const codec = { zstd: parquet.Compression.ZSTD, snappy: parquet.Compression.SNAPPY, uncompressed: parquet.Compression.UNCOMPRESSED }[options.compression ?? 'zstd'];
  try {
    // Both calls take ownership of (and free) the wasm-side table and properties.
    const wasmTable = parquet.Table.fromIPCStream(ipc);
    const properties = new parquet.WriterPropertiesBuilder().setCompression(codec).setKeyValueMetadata(keyValue).build();
    return parquet.writeParquet(wasmTable, properties);
  } catch (err) {
    throw new ClayError('INTERNAL', `parquet-wasm could not write the table: ${errorMessage(err)}`, { cause: err });
  }
}

// ----------------------------------------------------------------------------------------------- read

type ReadError = (message: string, cause?: unknown) => ClayError;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Narrows the `geo` JSON to what we can read: a WKB primary column. */
function parseGeo(text: string, fail: ReadError): GeoMetadata {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw fail('its geo metadata is not JSON', err);
  }
  if (!isRecord(json) || typeof json.version !== 'string' || typeof json.primary_column !== 'string' || !isRecord(json.columns)) {
    throw fail('its geo metadata lacks version, primary_column or columns');
  }
  const columns: Record<string, GeoColumnMetadata> = {};
  for (const [name, c] of Object.entries(json.columns)) {
    if (!isRecord(c) || c.encoding !== 'WKB') throw fail(`geometry column '${name}' is not WKB-encoded`);
    const types = c.geometry_types;
    if (!Array.isArray(types) || !types.every((t): t is string => typeof t === 'string')) throw fail(`geometry column '${name}' has no geometry_types`);
    const column: GeoColumnMetadata = { encoding: 'WKB', geometry_types: types };
    const bbox = c.bbox;
    if (Array.isArray(bbox) && bbox.length === 4 && bbox.every((v): v is number => typeof v === 'number')) column.bbox = [bbox[0]!, bbox[1]!, bbox[2]!, bbox[3]!];
    else if (bbox !== undefined) throw fail(`geometry column '${name}' has a malformed bbox`);
    if (c.crs === null || isRecord(c.crs)) column.crs = c.crs;
    columns[name] = column;
  }
  if (columns[json.primary_column] === undefined) throw fail(`its primary geometry column '${json.primary_column}' is not described`);
  return { version: json.version, primary_column: json.primary_column, columns };
}

/** One Arrow column back into a Column; IO for types this module does not write, or nulls where none may be. */
function readColumn(arrow: typeof ArrowLib, field: ArrowLib.Field, vector: ArrowLib.Vector, fail: ReadError): Column {
  const { name, type } = field;
  const noNulls = <T>(values: readonly (T | null)[]): T[] =>
    values.map((v, row) => {
      if (v === null) throw fail(`column '${name}' holds a null at row ${row}`);
      return v;
    });
  const DT = arrow.DataType;
  if (DT.isUtf8(type)) return { name, type: 'utf8', values: [...(vector as ArrowLib.Vector<ArrowLib.Utf8>)] };
  if (DT.isInt(type) && type.bitWidth === 32 && type.isSigned) return { name, type: 'int32', values: noNulls([...(vector as ArrowLib.Vector<ArrowLib.Int32>)]) };
  if (DT.isFloat(type) && type.precision === arrow.Precision.DOUBLE) return { name, type: 'float64', values: [...(vector as ArrowLib.Vector<ArrowLib.Float64>)] };
  if (DT.isBool(type)) return { name, type: 'bool', values: noNulls([...(vector as ArrowLib.Vector<ArrowLib.Bool>)]) };
  if (DT.isDate(type) && type.unit === arrow.DateUnit.DAY) {
    if (vector.nullCount > 0) throw fail(`column '${name}' holds nulls`);
    const values: string[] = [];
    for (const chunk of vector.data) {
      for (const day of (chunk as ArrowLib.Data<ArrowLib.DateDay>).values.subarray(0, chunk.length)) values.push(new Date(day * DAY_MS).toISOString().slice(0, 10));
    }
    return { name, type: 'date', values };
  }
  if (DT.isList(type) && DT.isUtf8(type.children[0]?.type)) {
    const lists = noNulls([...(vector as ArrowLib.Vector<ArrowLib.List<ArrowLib.Utf8>>)]);
    return { name, type: 'list<utf8>', values: lists.map((l) => noNulls([...l])) };
  }
  if (DT.isFixedSizeList(type) && DT.isFloat(type.children[0]?.type) && type.children[0].type.precision === arrow.Precision.SINGLE) {
    if (vector.nullCount > 0) throw fail(`column '${name}' holds nulls`);
    const size = type.listSize;
    const values = new Float32Array(vector.length * size);
    let at = 0;
    for (const chunk of vector.data) {
      // A sliced child's `values` already starts at its first element (apache-arrow slices the buffer).
      const child = chunk.children[0] as ArrowLib.Data<ArrowLib.Float32>;
      values.set(child.values.subarray(0, chunk.length * size), at);
      at += chunk.length * size;
    }
    return { name, type: 'fixed<float32>', size, values };
  }
  throw fail(`column '${name}' has Arrow type ${String(type)}, which this reader does not support`);
}

/** Decodes the WKB column; IO for nulls or geometries that are not 2D polygons. */
function readPolygons(vector: ArrowLib.Vector, name: string, fail: ReadError): Ring[][] {
  const DT = load().arrow.DataType;
  if (!DT.isBinary(vector.type)) throw fail(`geometry column '${name}' is not binary`);
  return [...(vector as ArrowLib.Vector<ArrowLib.Binary>)].map((wkb, row) => {
    if (wkb === null) throw fail(`geometry column '${name}' is null at row ${row}`);
    try {
      return decodePolygonWkb(wkb);
    } catch (err) {
      throw fail(`geometry at row ${row}: ${errorMessage(err)}`, err);
    }
  });
}

/** Parquet's magic number, at both ends of every file. */
function hasParquetMagic(bytes: Uint8Array): boolean {
  const magic = [0x50, 0x41, 0x52, 0x31]; // 'PAR1'
  const n = bytes.byteLength;
  return n >= 12 && magic.every((b, i) => bytes[i] === b && bytes[n - 4 + i] === b);
}

/**
 * Reads a GeoParquet file written by writeGeoParquet (or any file of the same column types and a WKB
 * Polygon primary geometry). IO, naming `options.name`, when the bytes are not Parquet, have no `geo`
 * metadata, or hold a column type or geometry this module does not write.
 */
export function readGeoParquet(bytes: Uint8Array, options: ReadGeoParquetOptions = {}): GeoParquetFile {
  const label = options.name ?? 'GeoParquet bytes';
  const fail: ReadError = (message, cause) => new ClayError('IO', `${label}: ${message}`, { input: options.name, cause });
  if (!hasParquetMagic(bytes)) throw fail('not a Parquet file (no PAR1 magic at both ends)');
  const { arrow, parquet } = load();
  let table: ArrowLib.Table;
  try {
    table = arrow.tableFromIPC(parquet.readParquet(bytes).intoIPCStream());
  } catch (err) {
    throw fail(`cannot decode the Parquet file: ${errorMessage(err)}`, err);
  }
  // arrow-rs merges the Parquet key-value metadata (`geo`) with the embedded Arrow schema's metadata.
  const keyValue = table.schema.metadata;
  const geoText = keyValue.get('geo');
  if (geoText === undefined) throw fail('no geo key in its file metadata: not GeoParquet');
  const geo = parseGeo(geoText, fail);
  const columns: Column[] = [];
  let polygons: Ring[][] | undefined;
  table.schema.fields.forEach((field, i) => {
    const vector = table.getChildAt(i);
    if (vector === null) throw fail(`column '${field.name}' is missing`);
    if (field.name === geo.primary_column) polygons = readPolygons(vector, field.name, fail);
    else columns.push(readColumn(arrow, field, vector, fail));
  });
  if (polygons === undefined) throw fail(`the geometry column '${geo.primary_column}' is missing`);
  const metadata: Record<string, string> = {};
  for (const [key, value] of keyValue) if (!RESERVED_KEYS.has(key)) metadata[key] = value;
  return { columns, geometry: { name: geo.primary_column, polygons }, geo, metadata };
}
