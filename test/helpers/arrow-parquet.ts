/**
 * The independent Parquet implementation of the tests: arrow-rs (Apache Arrow's Rust Parquet crate,
 * compiled to WebAssembly as `parquet-wasm`), driven through `apache-arrow` IPC streams. Both are dev
 * dependencies: the toolkit writes and reads Parquet through hyparquet-writer and hyparquet (`core/geoparquet.ts`), and these check it both ways.
 */
import { createRequire } from 'node:module';
import type * as ArrowLib from 'apache-arrow';
import type * as ParquetLib from 'parquet-wasm';
import type { Column, GeoTable } from '../../core/geoparquet.ts';
import { encodePolygonWkb } from '../../core/wkb.ts';

const require = createRequire(import.meta.url);
const arrow: typeof ArrowLib = require('apache-arrow');
const parquet: typeof ParquetLib = require('parquet-wasm');

const DAY_MS = 86_400_000;

function one<T extends ArrowLib.DataType>(v: ArrowLib.Vector<T>): ArrowLib.Data<T> {
  if (v.data.length !== 1) throw new Error(`apache-arrow built ${v.data.length} chunks`);
  return v.data[0]!;
}

function columnData(column: Column): ArrowLib.Data {
  switch (column.type) {
    case 'utf8': return one(arrow.vectorFromArray(column.values, new arrow.Utf8()));
    case 'int32': return arrow.makeData({ type: new arrow.Int32(), length: column.values.length, nullCount: 0, data: Int32Array.from(column.values) });
    case 'float64': return one(arrow.vectorFromArray(column.values, new arrow.Float64()));
    case 'bool': return one(arrow.vectorFromArray(column.values, new arrow.Bool()));
    case 'date': {
      const data = Int32Array.from(column.values, (v) => Date.parse(`${v}T00:00:00Z`) / DAY_MS);
      return arrow.makeData({ type: new arrow.DateDay(), length: data.length, nullCount: 0, data });
    }
    case 'list<utf8>': return one(arrow.vectorFromArray(column.values, new arrow.List(new arrow.Field('item', new arrow.Utf8(), false))));
    case 'fixed<float32>': {
      const child = arrow.makeData({ type: new arrow.Float32(), length: column.values.length, nullCount: 0, data: column.values });
      return arrow.makeData({ type: new arrow.FixedSizeList(column.size, new arrow.Field('item', new arrow.Float32(), false)), length: column.values.length / column.size, nullCount: 0, child });
    }
  }
}

/** Options of arrow-rs' writer that change the file's layout. */
export interface ArrowWriteOptions {
  compression?: 'uncompressed' | 'snappy' | 'gzip' | 'zstd';
  dictionary?: boolean;
  /** 1 or 2 (data page v2). */
  writerVersion?: 1 | 2;
  /** Bytes per data page (small values give many pages). */
  pageBytes?: number;
  /** Rows per row group. */
  rowGroupRows?: number;
  metadata?: Record<string, string>;
  /** Metadata of the Arrow schema (arrow-rs embeds it as `ARROW:schema`: where earlier versions of the toolkit put their keys). */
  schemaMetadata?: Record<string, string>;
}

/** The table written by arrow-rs as GeoParquet (a `geo` key with the given JSON). */
export function writeWithArrowRs(table: GeoTable, geo: unknown, options: ArrowWriteOptions = {}): Uint8Array {
  const children = table.columns.map(columnData);
  const nullable = (c: Column): boolean => c.type === 'utf8' || c.type === 'float64';
  const fields = table.columns.map((c, i) => new arrow.Field(c.name, children[i]!.type, nullable(c)));
  const wkb = table.geometry.polygons.map((p) => encodePolygonWkb(p));
  const offsets = new Int32Array(wkb.length + 1);
  wkb.forEach((b, i) => (offsets[i + 1] = offsets[i]! + b.length));
  const bytes = new Uint8Array(offsets[wkb.length]!);
  wkb.forEach((b, i) => bytes.set(b, offsets[i]!));
  fields.push(new arrow.Field(table.geometry.name, new arrow.Binary(), false));
  children.push(arrow.makeData({ type: new arrow.Binary(), length: wkb.length, nullCount: 0, valueOffsets: offsets, data: bytes }));
  const schema = new arrow.Schema(fields, new Map(Object.entries(options.schemaMetadata ?? {})));
  const batch = new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(fields), length: wkb.length, nullCount: 0, children }));
  const ipc = arrow.tableToIPC(new arrow.Table(schema, [batch]), 'stream');
  const codec = { uncompressed: parquet.Compression.UNCOMPRESSED, snappy: parquet.Compression.SNAPPY, gzip: parquet.Compression.GZIP, zstd: parquet.Compression.ZSTD }[options.compression ?? 'snappy'];
  let props = new parquet.WriterPropertiesBuilder()
    .setCompression(codec)
    .setDictionaryEnabled(options.dictionary ?? true)
    .setWriterVersion(options.writerVersion === 2 ? parquet.WriterVersion.V2 : parquet.WriterVersion.V1)
    .setKeyValueMetadata(new Map([['geo', JSON.stringify(geo)], ...Object.entries(options.metadata ?? {})]));
  if (options.pageBytes !== undefined) props = props.setDataPageSizeLimit(options.pageBytes);
  if (options.rowGroupRows !== undefined) props = props.setMaxRowGroupSize(options.rowGroupRows);
  return parquet.writeParquet(parquet.Table.fromIPCStream(ipc), props.build());
}

/** What arrow-rs reads from Parquet bytes, as plain rows (column name to JS value; bytes for binary). */
export function readWithArrowRs(bytes: Uint8Array): { rows: Record<string, unknown>[]; metadata: Map<string, string> } {
  const table = arrow.tableFromIPC(parquet.readParquet(bytes).intoIPCStream());
  const rows: Record<string, unknown>[] = [];
  for (let r = 0; r < table.numRows; r++) {
    const row: Record<string, unknown> = {};
    for (const field of table.schema.fields) {
      const v: unknown = table.getChild(field.name)!.get(r);
      row[field.name] = v !== null && typeof v === 'object' && 'toArray' in v ? Array.from((v as { toArray(): ArrayLike<unknown> }).toArray()) : v;
    }
    rows.push(row);
  }
  return { rows, metadata: table.schema.metadata };
}
