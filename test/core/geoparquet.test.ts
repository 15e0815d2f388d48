import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { isClayError } from '../../core/errors.ts';
import { decodePolygonWkb } from '../../core/wkb.ts';
import { readGeoParquet, writeGeoParquet, type Column, type GeoTable, type ParquetCompression } from '../../core/geoparquet.ts';
import { readWithArrowRs, writeWithArrowRs } from '../helpers/arrow-parquet.ts';

const ring = (x: number, y: number, d = 1): [number, number][] => [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]];

/** Three rows of every column type, nulls where a type allows them, a hole in row 2. */
function sample(): GeoTable {
  return {
    columns: [
      { name: 'name', type: 'utf8', values: ['a', null, 'ünïcode ✓'] },
      { name: 'n', type: 'int32', values: [0, -2147483648, 2147483647] },
      { name: 'x', type: 'float64', values: [0.1 + 0.2, null, -1e-310] },
      { name: 'ok', type: 'bool', values: [true, false, true] },
      { name: 'tags', type: 'list<utf8>', values: [['p'], [], ['q', 'r']] },
      { name: 'emb', type: 'fixed<float32>', size: 4, values: Float32Array.from({ length: 12 }, (_, i) => i / 7 - 0.5) },
      { name: 'day', type: 'date', values: ['2021-06-15', '1969-12-31', '2024-02-29'] },
    ],
    geometry: { name: 'geometry', polygons: [[ring(-120.5, 35)], [ring(2, 44, 0.5)], [ring(10, -5, 4), [[11, -4], [11, -3], [12, -3], [11, -4]]]] },
  };
}

test('round trip of every column type, each compression; geo metadata and extra key-value metadata', async () => {
  const table = sample();
  for (const compression of ['snappy', 'gzip', 'uncompressed'] as ParquetCompression[]) {
    const bytes = writeGeoParquet(table, { compression, metadata: { 'clay:model': 'v0-small' } });
    const back = await readGeoParquet(bytes);
    assert.deepEqual(back.columns, table.columns, compression);
    assert.deepEqual(back.geometry, table.geometry, compression);
    assert.deepEqual(back.metadata, { 'clay:model': 'v0-small' });
    assert.deepEqual(back.geo, { version: '1.1.0', primary_column: 'geometry', columns: { geometry: { encoding: 'WKB', geometry_types: ['Polygon'], bbox: [-120.5, -5, 14, 44.5], covering: { bbox: { xmin: ['bbox', 'xmin'], ymin: ['bbox', 'ymin'], xmax: ['bbox', 'xmax'], ymax: ['bbox', 'ymax'] } } } } });
    const codecs = parquetMetadata(bytes).row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec));
    assert.ok(codecs.length === 12 && codecs.every((c) => c === compression.toUpperCase()), `${compression}: ${codecs.join(' ')}`);
  }
});

test('hyparquet reads every column type as written (snappy)', async () => {
  const table = sample();
  const bytes = writeGeoParquet(table, { compression: 'snappy' });
  const rows = await parquetReadObjects({ file: bytes.slice().buffer, geoparquet: false });
  const emb = table.columns[5]!.values as Float32Array;
  assert.deepEqual(rows.map((r) => ({ ...r, geometry: undefined, bbox: undefined })), [
    { name: 'a', n: 0, x: 0.1 + 0.2, ok: true, tags: ['p'], emb: Array.from(emb.subarray(0, 4)), day: new Date('2021-06-15T00:00:00Z'), geometry: undefined, bbox: undefined },
    { name: null, n: -2147483648, x: null, ok: false, tags: [], emb: Array.from(emb.subarray(4, 8)), day: new Date('1969-12-31T00:00:00Z'), geometry: undefined, bbox: undefined },
    { name: 'ünïcode ✓', n: 2147483647, x: -1e-310, ok: true, tags: ['q', 'r'], emb: Array.from(emb.subarray(8, 12)), day: new Date('2024-02-29T00:00:00Z'), geometry: undefined, bbox: undefined },
  ]);
});

test('embeddings: a fixed<float32> column of many rows comes back exactly', async () => {
  const rows = 2500;
  const size = 16;
  const values = Float32Array.from({ length: rows * size }, (_, i) => Math.sin(i) * 1e3);
  const polygons = Array.from({ length: rows }, (_, i) => [ring((i % 360) - 180, (i % 170) - 85, 0.25)]);
  const back = await readGeoParquet(writeGeoParquet({ columns: [{ name: 'embedding', type: 'fixed<float32>', size, values }], geometry: { name: 'geometry', polygons } }));
  const column = back.columns[0]!;
  assert.equal(column.type, 'fixed<float32>');
  assert.ok(column.type === 'fixed<float32>' && column.size === size);
  assert.deepEqual(column.values, values);
  assert.equal(back.geometry.polygons.length, rows);
  assert.deepEqual(back.geometry.polygons[2499], polygons[2499]);
});

test('BAD_ARGUMENT: row count mismatch in any column type, repeated names, reserved keys and the bbox column name, non-int32 values, bad dates, open rings', () => {
  const bad = (f: () => unknown): void => assert.throws(f, (e) => isClayError(e, 'BAD_ARGUMENT'));
  const base = sample();
  const shorter = (c: Column): Column => (c.type === 'fixed<float32>' ? { ...c, values: c.values.subarray(4) } : { ...c, values: c.values.slice(1) } as Column);
  for (let i = 0; i < base.columns.length; i++) {
    bad(() => writeGeoParquet({ ...base, columns: base.columns.map((c, k) => (k === i ? shorter(c) : c)) }));
  }
  bad(() => writeGeoParquet({ ...base, geometry: { ...base.geometry, polygons: base.geometry.polygons.slice(1) } }));
  bad(() => writeGeoParquet({ ...base, columns: [{ name: 'emb', type: 'fixed<float32>', size: 5, values: new Float32Array(12) }] }));
  bad(() => writeGeoParquet({ ...base, columns: [base.columns[0]!, { ...base.columns[1]!, name: 'name' } as Column] }));
  bad(() => writeGeoParquet({ ...base, columns: [{ name: 'geometry', type: 'bool', values: [true, true, true] }] }));
  bad(() => writeGeoParquet(base, { metadata: { geo: '{}' } }));
  bad(() => writeGeoParquet({ ...base, columns: [{ name: 'n', type: 'int32', values: [1, 2.5, 3] }] }));
  bad(() => writeGeoParquet({ ...base, columns: [{ name: 'n', type: 'int32', values: [1, 2 ** 31, 3] }] }));
  for (const day of ['2021-6-15', '2021-02-30', '', '2021-06-15T00:00']) {
    bad(() => writeGeoParquet({ ...base, columns: [{ name: 'day', type: 'date', values: ['2021-06-15', day, '2021-06-15'] }] }));
  }
  bad(() => writeGeoParquet({ columns: [], geometry: { name: 'geometry', polygons: [[ring(0, 0).slice(0, 4)]] } }));
  // `bbox` is the GeoParquet 1.1 covering column's name, as a column or as the geometry.
  assert.throws(() => writeGeoParquet({ ...base, columns: [...base.columns, { name: 'bbox', type: 'int32', values: [1, 2, 3] }] }), (e) => isClayError(e, 'BAD_ARGUMENT') && /'bbox'/.test((e as Error).message));
  bad(() => writeGeoParquet({ ...base, geometry: { ...base.geometry, name: 'bbox' } }));
});

/** The bytes with the first occurrence of `from` replaced by `to` (same length). */
function patch(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const hay = Buffer.from(bytes);
  const at = hay.indexOf(Buffer.from(from, 'latin1'));
  assert.ok(at >= 0, `${JSON.stringify(from)} not found`);
  const out = Uint8Array.from(bytes);
  out.set(Buffer.from(to, 'latin1'), at);
  return out;
}

test('IO, naming the file: not Parquet, a damaged footer, no geo metadata, a geometry encoding we do not read', async () => {
  const io = (bytes: Uint8Array): Promise<void> => assert.rejects(readGeoParquet(bytes, { name: 'x.parquet' }), (e) => isClayError(e, 'IO') && e.input === 'x.parquet');
  const good = writeGeoParquet(sample(), { compression: 'snappy' });
  await io(new TextEncoder().encode('{"type":"FeatureCollection","features":[]}'));
  await io(new Uint8Array(0));
  // PAR1 at both ends, garbage in between: the Parquet reader's error becomes IO.
  await io(Uint8Array.from([...Buffer.from('PAR1'), ...new Uint8Array(64).fill(7), ...Buffer.from('PAR1')]));
  // Renaming the key-value entry (thrift string 3 'geo') leaves valid Parquet that is not GeoParquet.
  const noGeo = patch(good, '\x03geo', '\x03gex');
  assert.equal(parquetMetadata(noGeo).num_rows, 3n, 'still readable Parquet');
  await io(noGeo);
  await io(patch(good, '"encoding":"WKB"', '"encoding":"WKT"'));
  assert.ok((await readGeoParquet(good, { name: 'x.parquet' })).geometry.polygons.length === 3, 'the unpatched file reads');
});

/** The sample's rows as arrow-rs gives them back (dates as epoch ms, WKB bytes decoded separately). */
function expectedRows(table: GeoTable): Record<string, unknown>[] {
  return table.geometry.polygons.map((_, r) => {
    const row: Record<string, unknown> = {};
    for (const c of table.columns) {
      if (c.type === 'fixed<float32>') row[c.name] = Array.from(c.values.subarray(r * c.size, (r + 1) * c.size));
      else if (c.type === 'date') row[c.name] = Date.parse(`${c.values[r]}T00:00:00Z`);
      else if (c.type === 'list<utf8>') row[c.name] = [...c.values[r]!];
      else row[c.name] = c.values[r];
    }
    return row;
  });
}

test('arrow-rs (parquet-wasm) reads what we write: every value, the metadata in order; same table, same bytes', () => {
  const table = sample();
  for (const compression of ['snappy', 'gzip', 'uncompressed'] as ParquetCompression[]) {
    const bytes = writeGeoParquet(table, { compression, metadata: { 'z:last': '2', 'a:first': '1' } });
    const { rows, metadata } = readWithArrowRs(bytes);
    assert.deepEqual(rows.map((r) => ({ ...r, geometry: undefined, bbox: undefined })), expectedRows(table).map((r) => ({ ...r, geometry: undefined, bbox: undefined })), compression);
    assert.deepEqual(rows.map((r) => decodePolygonWkb(r['geometry'] as Uint8Array)), table.geometry.polygons, compression);
    assert.deepEqual([...metadata.keys()].filter((k) => k !== 'ARROW:schema').sort(), ['a:first', 'geo', 'z:last']);
    assert.deepEqual(parquetMetadata(bytes).key_value_metadata?.map((e) => e.key), ['geo', 'a:first', 'z:last'], 'geo first, then key order');
    assert.deepEqual(writeGeoParquet(table, { compression, metadata: { 'a:first': '1', 'z:last': '2' } }), bytes, 'deterministic');
  }
});

test('we read what arrow-rs writes: dictionary pages, data pages v1 and v2, many pages and row groups, snappy, gzip, zstd, none', async () => {
  const big: GeoTable = {
    columns: [
      { name: 'name', type: 'utf8', values: Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? null : `chip ${i % 13}`)) },
      { name: 'n', type: 'int32', values: Array.from({ length: 300 }, (_, i) => (i * 7919) % 1000 - 500) },
      { name: 'x', type: 'float64', values: Array.from({ length: 300 }, (_, i) => (i % 5 === 0 ? null : i / 3)) },
      { name: 'ok', type: 'bool', values: Array.from({ length: 300 }, (_, i) => i % 3 === 0) },
      { name: 'tags', type: 'list<utf8>', values: Array.from({ length: 300 }, (_, i) => Array.from({ length: i % 4 }, (_, k) => `t${(i + k) % 5}`)) },
      { name: 'emb', type: 'fixed<float32>', size: 8, values: Float32Array.from({ length: 2400 }, (_, i) => Math.cos(i) * 10) },
      { name: 'day', type: 'date', values: Array.from({ length: 300 }, (_, i) => new Date(Date.UTC(2020, 0, 1 + (i % 40))).toISOString().slice(0, 10)) },
    ],
    geometry: { name: 'geometry', polygons: Array.from({ length: 300 }, (_, i) => [ring(i / 10, -i / 20, 0.5)]) },
  };
  const geo = { version: '1.1.0', primary_column: 'geometry', columns: { geometry: { encoding: 'WKB', geometry_types: ['Polygon'] } } };
  const layouts = [
    { compression: 'snappy' as const },
    { compression: 'gzip' as const, writerVersion: 2 as const },
    { compression: 'uncompressed' as const, dictionary: false, pageBytes: 256, rowGroupRows: 70 },
    { compression: 'snappy' as const, writerVersion: 2 as const, pageBytes: 128, rowGroupRows: 128 },
  ];
  for (const layout of layouts) {
    const bytes = writeWithArrowRs(big, geo, { ...layout, metadata: { 'clay:x': 'y' } });
    const groups = parquetMetadata(bytes).row_groups.length;
    if (layout.rowGroupRows !== undefined) assert.ok(groups > 1, `${JSON.stringify(layout)}: ${groups} row groups`);
    const back = await readGeoParquet(bytes, { name: 'arrow-rs.parquet' });
    assert.deepEqual(back.columns, big.columns, JSON.stringify(layout));
    assert.deepEqual(back.geometry.polygons, big.geometry.polygons, JSON.stringify(layout));
    assert.equal(back.metadata['clay:x'], 'y');
  }
  // Files of earlier versions kept their keys in the embedded Arrow schema (ARROW:schema): still read.
  const old = writeWithArrowRs(big, geo, { schemaMetadata: { 'clay:chip_index_version': '1', 'clay:note': 'ünï' } });
  assert.ok(parquetMetadata(old).key_value_metadata?.some((e) => e.key === 'ARROW:schema'));
  assert.deepEqual((await readGeoParquet(old)).metadata, { 'clay:chip_index_version': '1', 'clay:note': 'ünï' });
  // ZSTD, which DuckDB and arrow-rs users often pick, reads too.
  const zstd = await readGeoParquet(writeWithArrowRs(big, geo, { compression: 'zstd' }), { name: 'z.parquet' });
  assert.deepEqual(zstd.columns, big.columns);
});
