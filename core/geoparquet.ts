/**
 * GeoParquet 1.1 files of polygons with plain columns: the chip index and model embeddings, through our
 * own Parquet writer and reader (`core/parquet/`), which map these column types onto Parquet's.
 *
 * Geometry is one WKB Polygon per row (`core/wkb.ts`), described by the `geo` key of the Parquet file's
 * key-value metadata. No `crs` is written: GeoParquet then means OGC:CRS84, i.e. lon/lat degrees on WGS 84
 * with longitude first, which is what callers must pass.
 *
 * Column types on disk: utf8 is an optional BYTE_ARRAY (STRING), int32 INT32, float64 an optional DOUBLE,
 * bool BOOLEAN, date INT32 (DATE), list<utf8> and fixed<float32> standard three-level LISTs of STRING
 * and FLOAT elements, the geometry a BYTE_ARRAY of WKB. (parquet-wasm did this until it showed up as ~80 MB
 * of a chip run's peak memory: its WebAssembly module's compiled code and compiler arenas.)
 */
import { ClayError, errorMessage, isClayError } from './errors.ts';
import { arrowSchemaMetadata } from './parquet/arrow-schema.ts';
import { ParquetError, readParquet, schemaLeaves, writeParquet, type Leaf, type LeafData, type ParquetFile, type SchemaNode } from './parquet/parquet.ts';
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

/** Parquet page compression: snappy is what every reader reads (hyparquet without plugins); gzip is smaller. */
export type ParquetCompression = 'snappy' | 'gzip' | 'uncompressed';

/** Options of writeGeoParquet. */
export interface WriteGeoParquetOptions {
  /** Default 'snappy'. */
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

/** The WKB of every row; BAD_ARGUMENT naming the row for a ring that cannot be encoded. */
function wkbRows(polygons: readonly (readonly RingInput[])[]): Uint8Array[] {
  return polygons.map((rings, row) => {
    try {
      return encodePolygonWkb(rings);
    } catch (err) {
      if (isClayError(err)) throw badArgument(`geometry of row ${row}: ${err.message}`);
      throw err;
    }
  });
}

/** A list column's schema: the standard three levels (`name` LIST > repeated `list` > required `element`). */
function listNode(name: string, element: SchemaNode): SchemaNode {
  return { name, repetition: 'required', logical: 'LIST', children: [{ name: 'list', repetition: 'repeated', children: [{ ...element, name: 'element', repetition: 'required' }] }] };
}

/** Levels of lists of the given lengths (required list, required elements): an empty list is one slot at def 0. */
function listLevels(lengths: readonly number[]): { def: Uint8Array; rep: Uint8Array } {
  const slots = lengths.reduce((n, l) => n + Math.max(1, l), 0);
  const def = new Uint8Array(slots);
  const rep = new Uint8Array(slots);
  let at = 0;
  for (const l of lengths) {
    if (l === 0) {
      at++;
      continue;
    }
    def.fill(1, at, at + l);
    rep.fill(1, at + 1, at + l);
    at += l;
  }
  return { def, rep };
}

/** Definition levels of a nullable column: 1 where there is a value. */
function presence(values: readonly unknown[]): Uint8Array {
  return Uint8Array.from(values, (v) => (v === null ? 0 : 1));
}

const utf8 = new TextEncoder();

/** The schema node and leaf data of a column. */
function columnLeaf(column: Column): { node: SchemaNode; leaf: LeafData } {
  const rows = column.type === 'fixed<float32>' ? column.values.length / column.size : column.values.length;
  switch (column.type) {
    case 'utf8':
      return {
        node: { name: column.name, repetition: 'optional', physical: 'BYTE_ARRAY', logical: 'STRING' },
        leaf: { slots: rows, def: presence(column.values), data: { physical: 'BYTE_ARRAY', values: column.values.filter((v): v is string => v !== null).map((v) => utf8.encode(v)) } },
      };
    case 'int32':
      return { node: { name: column.name, repetition: 'required', physical: 'INT32' }, leaf: { slots: rows, data: { physical: 'INT32', values: Int32Array.from(column.values) } } };
    case 'float64':
      return {
        node: { name: column.name, repetition: 'optional', physical: 'DOUBLE' },
        leaf: { slots: rows, def: presence(column.values), data: { physical: 'DOUBLE', values: Float64Array.from(column.values.filter((v): v is number => v !== null)) } },
      };
    case 'bool':
      return { node: { name: column.name, repetition: 'required', physical: 'BOOLEAN' }, leaf: { slots: rows, data: { physical: 'BOOLEAN', values: [...column.values] } } };
    case 'date':
      return { node: { name: column.name, repetition: 'required', physical: 'INT32', logical: 'DATE' }, leaf: { slots: rows, data: { physical: 'INT32', values: Int32Array.from(column.values, (v) => dayNumber(v) ?? 0) } } };
    case 'list<utf8>': {
      const levels = listLevels(column.values.map((l) => l.length));
      return {
        node: listNode(column.name, { name: 'element', repetition: 'required', physical: 'BYTE_ARRAY', logical: 'STRING' }),
        leaf: { slots: levels.def.length, ...levels, data: { physical: 'BYTE_ARRAY', values: column.values.flatMap((l) => l.map((v) => utf8.encode(v))) } },
      };
    }
    case 'fixed<float32>': {
      const levels = listLevels(new Array<number>(rows).fill(column.size));
      return { node: listNode(column.name, { name: 'element', repetition: 'required', physical: 'FLOAT' }), leaf: { slots: levels.def.length, ...levels, data: { physical: 'FLOAT', values: column.values } } };
    }
  }
}

/**
 * Writes a GeoParquet 1.1 file (one row group, WKB Polygon geometry, `geo` metadata with the bbox of all
 * rows, then the extra metadata in key order). BAD_ARGUMENT when a column's row count differs from the
 * geometry's, a name repeats, an int32 value is not a 32-bit integer, a ring is open or non-finite, or a
 * metadata key is reserved. The same table always gives the same bytes.
 */
export function writeGeoParquet(table: GeoTable, options: WriteGeoParquetOptions = {}): Uint8Array {
  const metadata = options.metadata ?? {};
  const rows = checkTable(table, metadata);
  const parts = table.columns.map(columnLeaf);
  const geometry = wkbRows(table.geometry.polygons);
  const fields: SchemaNode[] = [...parts.map((p) => p.node), { name: table.geometry.name, repetition: 'required', physical: 'BYTE_ARRAY' }];
  const leaves: LeafData[] = [...parts.map((p) => p.leaf), { slots: rows, data: { physical: 'BYTE_ARRAY', values: geometry } }];
  const geo = geoMetadata(table.geometry.name, table.geometry.polygons);
  const keyValue: [string, string][] = [['geo', JSON.stringify(geo)], ...Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))];
  try {
    return writeParquet({ fields, leaves, rows, keyValue, codec: options.compression ?? 'snappy', createdBy: 'clay-pipeline' });
  } catch (err) {
    throw new ClayError('INTERNAL', `the table could not be written as Parquet: ${errorMessage(err)}`, { cause: err });
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

/** Row values of a top-level leaf: its values with nulls where the definition level says so. */
function withNulls<T>(leaf: Leaf, values: readonly T[]): (T | null)[] {
  if (leaf.maxDef === 0) return [...values];
  const out: (T | null)[] = [];
  let k = 0;
  for (const d of leaf.def!) out.push(d === leaf.maxDef ? values[k++]! : null);
  return out;
}

const text = new TextDecoder('utf-8', { fatal: true });

/** Rows of a three-level list column (no null lists, no null elements): the element values per row. */
function listRows<T>(node: SchemaNode, leaf: Leaf, values: ArrayLike<T>, fail: ReadError): T[][] {
  const outerDef = node.repetition === 'optional' ? 1 : 0;
  const rows: T[][] = [];
  let k = 0;
  for (let i = 0; i < leaf.slots; i++) {
    const d = leaf.def![i]!;
    if (leaf.rep![i] === 0) {
      if (d < outerDef) throw fail(`column '${node.name}' holds a null list at row ${rows.length}`);
      rows.push([]);
    }
    if (d === leaf.maxDef) rows[rows.length - 1]!.push(values[k++]!);
    else if (d > outerDef) throw fail(`column '${node.name}' holds a null element at row ${rows.length - 1}`);
  }
  return rows;
}

/** One top-level field back into a Column; IO for shapes this module does not write, or nulls where none may be. */
function readColumn(node: SchemaNode, leaf: Leaf, fail: ReadError): Column {
  const { name } = node;
  const noNulls = <V>(values: readonly (V | null)[]): V[] =>
    values.map((v, row) => {
      if (v === null) throw fail(`column '${name}' holds a null at row ${row}`);
      return v;
    });
  const data = leaf.data;
  if (node.children === undefined && leaf.maxRep === 0) {
    if (data.physical === 'BYTE_ARRAY' && node.logical === 'STRING') return { name, type: 'utf8', values: withNulls(leaf, data.values.map((b) => text.decode(b))) };
    if (data.physical === 'INT32' && node.logical === 'DATE') return { name, type: 'date', values: noNulls(withNulls(leaf, Array.from(data.values, (day) => new Date(day * DAY_MS).toISOString().slice(0, 10)))) };
    if (data.physical === 'INT32' && node.logical === undefined) return { name, type: 'int32', values: noNulls(withNulls(leaf, Array.from(data.values))) };
    if (data.physical === 'DOUBLE') return { name, type: 'float64', values: withNulls(leaf, Array.from(data.values)) };
    if (data.physical === 'BOOLEAN') return { name, type: 'bool', values: noNulls(withNulls(leaf, data.values)) };
  }
  const element = node.children?.[0]?.children?.[0];
  if (node.logical === 'LIST' && node.children?.length === 1 && node.children[0]!.repetition === 'repeated' && element?.children === undefined && leaf.maxRep === 1) {
    if (data.physical === 'BYTE_ARRAY' && element?.logical === 'STRING') return { name, type: 'list<utf8>', values: listRows(node, leaf, data.values.map((b) => text.decode(b)), fail) };
    if (data.physical === 'FLOAT') {
      const lengths = listRows(node, leaf, data.values, fail).map((r) => r.length);
      const size = lengths[0] ?? 0;
      if (lengths.some((l) => l !== size)) throw fail(`column '${name}' holds lists of different lengths, not fixed-size vectors`);
      // Required lists of required floats: the values are the rows, back to back.
      return { name, type: 'fixed<float32>', size, values: data.values };
    }
  }
  throw fail(`column '${name}' has a Parquet shape (${leaf.path.join('.')}: ${data.physical}${node.logical ? ` ${node.logical}` : ''}) this reader does not read`);
}

/** Decodes the WKB column; IO for nulls or geometries that are not 2D polygons. */
function readPolygons(node: SchemaNode, leaf: Leaf, fail: ReadError): Ring[][] {
  const data = leaf.data;
  if (node.children !== undefined || data.physical !== 'BYTE_ARRAY' || leaf.maxRep > 0) throw fail(`geometry column '${node.name}' is not binary`);
  return withNulls(leaf, data.values).map((wkb, row) => {
    if (wkb === null) throw fail(`geometry column '${node.name}' is null at row ${row}`);
    try {
      return decodePolygonWkb(wkb);
    } catch (err) {
      throw fail(`geometry at row ${row}: ${errorMessage(err)}`, err);
    }
  });
}

/**
 * Reads a GeoParquet file written by writeGeoParquet (or any file of the same column types and a WKB
 * Polygon primary geometry). IO, naming `options.name`, when the bytes are not Parquet, have no `geo`
 * metadata, or hold a column type, encoding or compression this module does not read.
 */
export function readGeoParquet(bytes: Uint8Array, options: ReadGeoParquetOptions = {}): GeoParquetFile {
  const label = options.name ?? 'GeoParquet bytes';
  const fail: ReadError = (message, cause) => new ClayError('IO', `${label}: ${message}`, { input: options.name, cause });
  let file: ParquetFile;
  try {
    file = readParquet(bytes);
  } catch (err) {
    if (err instanceof ParquetError) throw fail(err.message, err);
    throw err;
  }
  const geoText = file.keyValue.get('geo');
  if (geoText === undefined) throw fail('no geo key in its file metadata: not GeoParquet');
  const geo = parseGeo(geoText, fail);
  const columns: Column[] = [];
  let polygons: Ring[][] | undefined;
  let at = 0;
  for (const node of file.fields) {
    // One leaf per field for every shape this module reads; a field with more is refused by readColumn.
    const leaf = file.leaves[at];
    const count = schemaLeaves([node]).length;
    at += count;
    if (leaf === undefined || count !== 1) throw fail(`column '${node.name}' is a group of ${count} columns, which this reader does not read`);
    if (node.name === geo.primary_column) polygons = readPolygons(node, leaf, fail);
    else columns.push(readColumn(node, leaf, fail));
  }
  if (polygons === undefined) throw fail(`the geometry column '${geo.primary_column}' is missing`);
  const metadata: Record<string, string> = {};
  for (const [key, value] of file.keyValue) if (!RESERVED_KEYS.has(key)) metadata[key] = value;
  // Files of earlier versions (written through arrow-rs) kept our keys in the embedded Arrow schema.
  const arrowSchema = file.keyValue.get('ARROW:schema');
  if (arrowSchema !== undefined) {
    let embedded: Map<string, string>;
    try {
      embedded = arrowSchemaMetadata(arrowSchema);
    } catch (err) {
      throw fail(`its ARROW:schema metadata does not decode: ${errorMessage(err)}`, err);
    }
    for (const [key, value] of embedded) if (!RESERVED_KEYS.has(key) && !(key in metadata)) metadata[key] = value;
  }
  return { columns, geometry: { name: geo.primary_column, polygons }, geo, metadata };
}

function hasType<T extends ColumnType>(c: Column, type: T): c is Extract<Column, { type: T }> {
  return c.type === type;
}

/** Typed access to the columns of a file read back; `fail` makes the error for a missing, mistyped or null column. */
export function columnReader(file: GeoParquetFile, fail: (message: string) => ClayError) {
  const byName = new Map(file.columns.map((c) => [c.name, c]));
  const column = <T extends ColumnType>(name: string, type: T): Extract<Column, { type: T }> => {
    const c = byName.get(name);
    if (c === undefined || !hasType(c, type)) throw fail(`column '${name}' is missing or not ${type}`);
    return c;
  };
  return {
    text: (name: string): string[] =>
      column(name, 'utf8').values.map((v, row) => {
        if (v === null) throw fail(`column '${name}' is null at row ${row}`);
        return v;
      }),
    /** Nulls, which this module never writes, read as NaN. */
    float: (name: string): number[] => column(name, 'float64').values.map((v) => v ?? Number.NaN),
    int: (name: string): readonly number[] => column(name, 'int32').values,
    bool: (name: string): readonly boolean[] => column(name, 'bool').values,
    list: (name: string): readonly (readonly string[])[] => column(name, 'list<utf8>').values,
  };
}
