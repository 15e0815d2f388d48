/**
 * GeoParquet 1.1 files of polygons with plain columns: the chip index, the shard index and model embeddings.
 * The one file that speaks Parquet: it writes through `hyparquet-writer` and reads through `hyparquet`
 * (both maintained, pure JavaScript: no WebAssembly module in memory, which is why parquet-wasm was
 * dropped). Nothing else imports either library.
 *
 * Geometry is one WKB Polygon per row (`core/wkb.ts`), described by the `geo` key of the Parquet file's
 * key-value metadata. No `crs` is written: GeoParquet then means OGC:CRS84, i.e. lon/lat degrees on WGS 84
 * with longitude first, which is what callers must pass. Every file also has GeoParquet 1.1's bbox covering
 * column: `bbox` struct<xmin, ymin, xmax, ymax: double> per row, named in the geometry column's `covering`,
 * so that readers (DuckDB, GDAL, GeoPandas) can skip row groups by their statistics.
 *
 * Column types on disk: utf8 is an optional BYTE_ARRAY (STRING), int32 INT32, float64 an optional DOUBLE,
 * bool BOOLEAN, date INT32 (DATE), list<utf8> and fixed<float32> standard three-level LISTs of STRING
 * and FLOAT elements (Parquet has no fixed-size list: Arrow's FixedSizeList is stored the same way), the
 * geometry a BYTE_ARRAY of WKB. Data pages v2, dictionary encoding where hyparquet-writer finds it pays,
 * min/max statistics per column chunk.
 */
import { gunzipSync, gzipSync, brotliDecompressSync } from 'node:zlib';
import { parquetMetadata, parquetReadObjects, parquetSchema, type CompressionCodec, type Compressors, type FileMetaData, type SchemaElement, type SchemaTree } from 'hyparquet';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { arrowSchemaMetadata } from './arrow-schema.ts';
import { ClayError, errorMessage, isClayError } from './errors.ts';
import { decodePolygonWkb, encodePolygonWkb, type Ring, type RingInput } from './wkb.ts';
import { loadZstd, zstdDecompressSync } from './zstd.ts';

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
  /** GeoParquet 1.1 coverings: `bbox` names the struct fields that hold each row's box (what we write). */
  covering?: { bbox: BboxCovering };
}

/** Where each row's bounding box is: the path of each of its four values (`['bbox', 'xmin']`, ...). */
export interface BboxCovering {
  xmin: [string, string];
  ymin: [string, string];
  xmax: [string, string];
  ymax: [string, string];
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
  /** Rows per row group (default 10,000): smaller groups let readers skip more by the bbox statistics. */
  rowGroupRows?: number;
}

/** Options of readGeoParquet. */
export interface ReadGeoParquetOptions {
  /** What the bytes are (a path or key), named by errors. */
  name?: string;
}

/** The GeoParquet version we write. */
export const GEOPARQUET_VERSION = '1.1.0';

const RESERVED_KEYS = new Set(['geo', 'ARROW:schema']);
/** The name of the bbox covering column (GeoParquet 1.1's own example name); a table column may not use it. */
export const BBOX_COLUMN = 'bbox';
const DEFAULT_ROW_GROUP_ROWS = 10_000;

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
  column.covering = { bbox: { xmin: [BBOX_COLUMN, 'xmin'], ymin: [BBOX_COLUMN, 'ymin'], xmax: [BBOX_COLUMN, 'xmax'], ymax: [BBOX_COLUMN, 'ymax'] } };
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

type Element = SchemaElement;

const required = (name: string, type: Element['type'], more: Partial<Element> = {}): Element => ({ name, type, repetition_type: 'REQUIRED', ...more });
const STRING: Partial<Element> = { converted_type: 'UTF8', logical_type: { type: 'STRING' } };

/** A three-level LIST of required elements (`name` > repeated `list` > `element`). */
function listElements(name: string, element: Element['type'], more: Partial<Element> = {}): Element[] {
  return [
    { name, repetition_type: 'REQUIRED', converted_type: 'LIST', logical_type: { type: 'LIST' }, num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    required('element', element, more),
  ];
}

/** The schema elements and the row values of a column. */
function columnSource(column: Column): { schema: Element[]; data: unknown[] } {
  switch (column.type) {
    case 'utf8': return { schema: [{ name: column.name, type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', ...STRING }], data: [...column.values] };
    case 'int32': return { schema: [required(column.name, 'INT32')], data: [...column.values] };
    case 'float64': return { schema: [{ name: column.name, type: 'DOUBLE', repetition_type: 'OPTIONAL' }], data: [...column.values] };
    case 'bool': return { schema: [required(column.name, 'BOOLEAN')], data: [...column.values] };
    case 'date': return { schema: [required(column.name, 'INT32', { converted_type: 'DATE', logical_type: { type: 'DATE' } })], data: column.values.map((v) => dayNumber(v) ?? 0) };
    case 'list<utf8>': return { schema: listElements(column.name, 'BYTE_ARRAY', STRING), data: column.values.map((l) => [...l]) };
    case 'fixed<float32>': {
      const rows = column.values.length / column.size;
      return { schema: listElements(column.name, 'FLOAT'), data: Array.from({ length: rows }, (_, r) => Array.from(column.values.subarray(r * column.size, (r + 1) * column.size))) };
    }
  }
}

/** Each row's [xmin, ymin, xmax, ymax] as the covering struct's values. */
function bboxRows(polygons: readonly (readonly RingInput[])[]): { xmin: number; ymin: number; xmax: number; ymax: number }[] {
  return polygons.map((rings) => {
    const box = { xmin: Infinity, ymin: Infinity, xmax: -Infinity, ymax: -Infinity };
    for (const ring of rings) {
      for (const [x, y] of ring) {
        if (x < box.xmin) box.xmin = x;
        if (x > box.xmax) box.xmax = x;
        if (y < box.ymin) box.ymin = y;
        if (y > box.ymax) box.ymax = y;
      }
    }
    return box;
  });
}

const COMPRESSION: Record<ParquetCompression, CompressionCodec> = { snappy: 'SNAPPY', gzip: 'GZIP', uncompressed: 'UNCOMPRESSED' };

/**
 * Writes a GeoParquet 1.1 file (WKB Polygon geometry, the `bbox` covering column after it, `geo` metadata
 * with the bbox of all rows, then the extra metadata in key order). BAD_ARGUMENT when a column's row
 * count differs from the geometry's, a name repeats or is `bbox`, an int32 value is not a 32-bit integer,
 * a ring is open or non-finite, or a metadata key is reserved. The same table always gives the same bytes.
 */
export function writeGeoParquet(table: GeoTable, options: WriteGeoParquetOptions = {}): Uint8Array {
  const metadata = options.metadata ?? {};
  checkTable(table, metadata);
  if (table.geometry.name === BBOX_COLUMN || table.columns.some((c) => c.name === BBOX_COLUMN)) throw badArgument(`column name '${BBOX_COLUMN}' is the bbox covering column's`);
  const rowGroupRows = options.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS;
  if (!(Number.isInteger(rowGroupRows) && rowGroupRows > 0)) throw badArgument(`rowGroupRows ${rowGroupRows} is not a positive integer`);
  const parts = table.columns.map(columnSource);
  const geometry = wkbRows(table.geometry.polygons);
  const schema: Element[] = [
    { name: 'schema', num_children: parts.length + 2 },
    ...parts.flatMap((p) => p.schema),
    required(table.geometry.name, 'BYTE_ARRAY'),
    { name: BBOX_COLUMN, repetition_type: 'REQUIRED', num_children: 4 },
    ...(['xmin', 'ymin', 'xmax', 'ymax'] as const).map((n) => required(n, 'DOUBLE')),
  ];
  const columnData: ColumnSource[] = [
    ...table.columns.map((c, k) => ({ name: c.name, data: parts[k]!.data })),
    { name: table.geometry.name, data: geometry },
    { name: BBOX_COLUMN, data: bboxRows(table.geometry.polygons) },
  ];
  const geo = geoMetadata(table.geometry.name, table.geometry.polygons);
  const keyValue = [{ key: 'geo', value: JSON.stringify(geo) }, ...Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }))];
  try {
    const buffer = parquetWriteBuffer({
      columnData, schema, codec: COMPRESSION[options.compression ?? 'snappy'], compressors: { GZIP: (raw) => gzipSync(raw, { level: 6 }) },
      rowGroupSize: rowGroupRows, kvMetadata: keyValue, createdBy: 'clay-pipeline',
    });
    return new Uint8Array(buffer);
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
    const cover = isRecord(c.covering) && isRecord(c.covering.bbox) ? c.covering.bbox : undefined;
    const path = (k: string): [string, string] | undefined => {
      const v = cover?.[k];
      return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' ? [v[0], v[1]] : undefined;
    };
    const [xmin, ymin, xmax, ymax] = ['xmin', 'ymin', 'xmax', 'ymax'].map(path);
    if (xmin && ymin && xmax && ymax) column.covering = { bbox: { xmin, ymin, xmax, ymax } };
    else if (c.covering !== undefined) throw fail(`geometry column '${name}' has a malformed covering`);
    columns[name] = column;
  }
  if (columns[json.primary_column] === undefined) throw fail(`its primary geometry column '${json.primary_column}' is not described`);
  return { version: json.version, primary_column: json.primary_column, columns };
}

/** Codecs hyparquet decodes itself or through node:zlib / core/zstd.ts; others are refused by name. */
const READ_CODECS = new Set<CompressionCodec>(['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'ZSTD']);

/** Decompressors for the codecs of `md`; IO naming the column whose codec we do not read. */
async function decompressors(md: FileMetaData, fail: ReadError): Promise<Compressors> {
  const codecs = new Set<CompressionCodec>();
  for (const group of md.row_groups) {
    for (const chunk of group.columns) {
      const codec = chunk.meta_data?.codec;
      if (codec === undefined) throw fail('a column chunk has no metadata (external column files are not read)');
      if (!READ_CODECS.has(codec)) throw fail(`column '${chunk.meta_data?.path_in_schema.join('.')}' is ${codec}-compressed, which this reader does not read (SNAPPY, GZIP, BROTLI, ZSTD or none)`);
      codecs.add(codec);
    }
  }
  const out: Compressors = { GZIP: (input) => new Uint8Array(gunzipSync(input)), BROTLI: (input) => new Uint8Array(brotliDecompressSync(input)) };
  if (codecs.has('ZSTD')) {
    await loadZstd();
    out.ZSTD = (input, length) => zstdDecompressSync(input, length);
  }
  return out;
}

/** The Column type a top-level field holds, or undefined for a shape this module does not read. */
function fieldType(field: SchemaTree): ColumnType | undefined {
  const e = field.element;
  const isString = (x: SchemaElement): boolean => x.converted_type === 'UTF8' || x.logical_type?.type === 'STRING';
  if (field.children.length === 0) {
    if (e.repetition_type === 'REPEATED') return undefined;
    if (e.type === 'BYTE_ARRAY' && isString(e)) return 'utf8';
    if (e.type === 'INT32' && (e.converted_type === 'DATE' || e.logical_type?.type === 'DATE')) return 'date';
    // DuckDB and Arrow writers annotate plain int32 as INT_32 / INTEGER(32, signed).
    const int32 = (e.converted_type === undefined || e.converted_type === 'INT_32') && (e.logical_type === undefined || (e.logical_type.type === 'INTEGER' && e.logical_type.bitWidth === 32 && e.logical_type.isSigned));
    if (e.type === 'INT32' && int32) return 'int32';
    if (e.type === 'DOUBLE') return 'float64';
    if (e.type === 'BOOLEAN') return 'bool';
    return undefined;
  }
  const repeated = field.children[0];
  const leaf = repeated?.children[0];
  const isList = e.converted_type === 'LIST' || e.logical_type?.type === 'LIST';
  if (!isList || field.children.length !== 1 || repeated?.element.repetition_type !== 'REPEATED' || repeated.children.length !== 1 || leaf === undefined || leaf.children.length > 0) return undefined;
  if (leaf.element.type === 'BYTE_ARRAY' && isString(leaf.element)) return 'list<utf8>';
  if (leaf.element.type === 'FLOAT') return 'fixed<float32>';
  return undefined;
}

/** One field's row values back into a Column; IO for nulls where none may be. */
function toColumn(name: string, type: ColumnType, values: unknown[], fail: ReadError): Column {
  const noNulls = <V>(vs: readonly (V | null | undefined)[]): V[] =>
    vs.map((v, row) => {
      if (v === null || v === undefined) throw fail(`column '${name}' holds a null at row ${row}`);
      return v;
    });
  const lists = <V>(): V[][] =>
    noNulls(values as (V[] | null)[]).map((l, row) => {
      if (l.some((v) => v === null || v === undefined)) throw fail(`column '${name}' holds a null element at row ${row}`);
      return l;
    });
  switch (type) {
    case 'utf8': return { name, type, values: values.map((v) => (v === undefined ? null : (v as string | null))) };
    case 'int32': return { name, type, values: noNulls(values as (number | null)[]) };
    case 'float64': return { name, type, values: values.map((v) => (v === undefined ? null : (v as number | null))) };
    case 'bool': return { name, type, values: noNulls(values as (boolean | null)[]) };
    case 'date': return { name, type, values: noNulls(values as (Date | null)[]).map((d) => d.toISOString().slice(0, 10)) };
    case 'list<utf8>': return { name, type, values: lists<string>() };
    case 'fixed<float32>': {
      const rows = lists<number>();
      const size = rows[0]?.length ?? 0;
      if (rows.some((r) => r.length !== size)) throw fail(`column '${name}' holds lists of different lengths, not fixed-size vectors`);
      const out = new Float32Array(rows.length * size);
      rows.forEach((r, i) => out.set(r, i * size));
      return { name, type, size, values: out };
    }
  }
}

/** The WKB column's polygons; IO for nulls or geometries that are not 2D polygons. */
function toPolygons(name: string, values: unknown[], fail: ReadError): Ring[][] {
  return values.map((wkb, row) => {
    if (!(wkb instanceof Uint8Array)) throw fail(`geometry column '${name}' is ${wkb === null || wkb === undefined ? 'null' : 'not binary'} at row ${row}`);
    try {
      return decodePolygonWkb(wkb);
    } catch (err) {
      throw fail(`geometry at row ${row}: ${errorMessage(err)}`, err);
    }
  });
}

/**
 * Reads a GeoParquet file written by writeGeoParquet (or by another writer with the same column types
 * and a WKB Polygon primary geometry: several row groups, dictionary pages, data pages v1 or v2, SNAPPY,
 * GZIP, BROTLI, ZSTD or no compression). IO, naming `options.name`, when the bytes are not Parquet (wrong
 * magic, truncated, damaged), have no `geo` metadata, or hold a column type or codec this module does
 * not read. The covering column named in `geo` is not returned as a column.
 */
export async function readGeoParquet(bytes: Uint8Array, options: ReadGeoParquetOptions = {}): Promise<GeoParquetFile> {
  const label = options.name ?? 'GeoParquet bytes';
  const fail: ReadError = (message, cause) => new ClayError('IO', `${label}: ${message}`, { input: options.name, cause });
  const file = bytes.buffer.byteLength === bytes.byteLength && bytes.byteOffset === 0 && bytes.buffer instanceof ArrayBuffer ? bytes.buffer : bytes.slice().buffer;
  let md: FileMetaData;
  try {
    md = parquetMetadata(file, { geoparquet: false });
  } catch (err) {
    throw fail(`not a readable Parquet file (${errorMessage(err)})`, err);
  }
  const keyValue = new Map((md.key_value_metadata ?? []).map((e) => [e.key, e.value ?? '']));
  const geoText = keyValue.get('geo');
  if (geoText === undefined) throw fail('no geo key in its file metadata: not GeoParquet');
  const geo = parseGeo(geoText, fail);
  const compressors = await decompressors(md, fail);
  const covering = geo.columns[geo.primary_column]?.covering?.bbox.xmin[0];
  const fields = parquetSchema(md).children;
  const types = new Map<string, ColumnType>();
  for (const field of fields) {
    const name = field.element.name;
    if (name === geo.primary_column) {
      if (field.children.length > 0 || field.element.type !== 'BYTE_ARRAY' || field.element.repetition_type === 'REPEATED') throw fail(`geometry column '${name}' is not binary`);
      continue;
    }
    if (name === covering) continue;
    const type = fieldType(field);
    if (type === undefined) throw fail(`column '${name}' has a Parquet shape (${field.element.type ?? 'group'}${field.element.converted_type ? ` ${field.element.converted_type}` : ''}) this reader does not read`);
    types.set(name, type);
  }
  if (!fields.some((f) => f.element.name === geo.primary_column)) throw fail(`the geometry column '${geo.primary_column}' is missing`);
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file, metadata: md, columns: [...types.keys(), geo.primary_column], compressors, utf8: false, geoparquet: false });
  } catch (err) {
    throw fail(`a page does not decode (${errorMessage(err)})`, err);
  }
  const columns = [...types].map(([name, type]) => toColumn(name, type, rows.map((r) => r[name]), fail));
  const polygons = toPolygons(geo.primary_column, rows.map((r) => r[geo.primary_column]), fail);
  const metadata: Record<string, string> = {};
  for (const [key, value] of keyValue) if (!RESERVED_KEYS.has(key)) metadata[key] = value;
  // Files of earlier versions (written through arrow-rs) kept our keys in the embedded Arrow schema.
  const arrowSchema = keyValue.get('ARROW:schema');
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
