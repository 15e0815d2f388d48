/**
 * DuckDB, an independent Parquet reader and writer, against core/geoparquet.ts: it reads every kind of
 * file we write (chip index, embeddings, shard index), and we read what it writes (several row groups,
 * dictionary pages, ZSTD and SNAPPY). DuckDB 1.5 recognises the `geo` metadata and reads the geometry as
 * its own GEOMETRY('OGC:CRS84') without the spatial extension; ST_AsWKB gives back the bytes we wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { isClayError } from '../../core/errors.ts';
import { readGeoParquet, writeGeoParquet } from '../../core/geoparquet.ts';
import { encodePolygonWkb } from '../../core/wkb.ts';
import { readChipIndex, writeChipIndex } from '../../pipeline/index/chip-index.ts';
import { readShardIndex, writeShardIndex } from '../../model/data/shard-set.ts';
import { chipRows } from '../pipeline/index/chip-rows.ts';

const dir = await mkdtemp(join(tmpdir(), 'clay-duckdb-'));
const db: DuckDBConnection = await (await DuckDBInstance.create(':memory:')).connect();
test.after(() => rm(dir, { recursive: true, force: true }));

async function query(sql: string): Promise<Record<string, unknown>[]> {
  return (await db.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}

/** DuckDB's column types of a Parquet file, by name. */
async function types(path: string): Promise<Record<string, string>> {
  const rows = await query(`DESCRIBE SELECT * FROM read_parquet('${path}')`);
  return Object.fromEntries(rows.map((r) => [String(r['column_name']), String(r['column_type'])]));
}

const rows = chipRows(40);
/** The `geo` metadata for DuckDB's COPY (which writes its own for GEOMETRY columns, without a covering: bbox is left out). */
const GEO = JSON.stringify({ version: '1.1.0', primary_column: 'geometry', columns: { geometry: { encoding: 'WKB', geometry_types: ['Polygon'] } } });

test('DuckDB reads the chip index: rows, types, values, the WKB bytes and the bbox covering', async () => {
  const path = join(dir, 'chips.parquet');
  await writeFile(path, writeChipIndex(rows));
  const t = await types(path);
  assert.equal(t['path'], 'VARCHAR');
  assert.equal(t['chip'], 'INTEGER');
  assert.equal(t['kept'], 'BOOLEAN');
  assert.equal(t['reasons'], 'VARCHAR[]');
  assert.equal(t['minx'], 'DOUBLE');
  assert.equal(t['bbox'], 'STRUCT(xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE)');
  assert.equal(t['geometry'], "GEOMETRY('OGC:CRS84')", 'DuckDB takes the geo metadata: a geometry in lon/lat');
  const back = await query(`SELECT chip, path, kept, reasons, bbox.xmin AS xmin, bbox.ymax AS ymax FROM read_parquet('${path}') ORDER BY chip`);
  assert.equal(back.length, 40);
  for (const [i, r] of back.entries()) {
    const want = rows[i]!;
    assert.equal(r['chip'], want.chip);
    assert.equal(r['path'], want.path);
    assert.equal(r['kept'], want.kept);
    assert.deepEqual(r['reasons'], want.reasons);
    assert.equal(r['xmin'], Math.min(...want.footprint.map((p) => p[0])));
    assert.equal(r['ymax'], Math.max(...want.footprint.map((p) => p[1])));
  }
  const wkb = await query(`SELECT ST_AsWKB(geometry) AS wkb, ST_AsText(geometry) AS wkt FROM read_parquet('${path}') ORDER BY chip`);
  wkb.forEach((r, i) => assert.deepEqual(Uint8Array.from(r['wkb'] as Uint8Array), encodePolygonWkb([rows[i]!.footprint]), `row ${i}`));
  assert.equal(wkb[0]!['wkt'], `POLYGON ((${rows[0]!.footprint.map(([x, y]) => `${x} ${y}`).join(', ')}))`);
});

test('DuckDB reads embeddings (a list of FLOAT per row) and the shard index', async () => {
  const dim = 16;
  const values = Float32Array.from({ length: rows.length * dim }, (_, i) => Math.sin(i));
  const emb = join(dir, 'embeddings.parquet');
  await writeFile(emb, writeGeoParquet({
    columns: [{ name: 'path', type: 'utf8', values: rows.map((r) => r.path) }, { name: 'date', type: 'date', values: rows.map((r) => r.date) }, { name: 'embedding', type: 'fixed<float32>', size: dim, values }],
    geometry: { name: 'geometry', polygons: rows.map((r) => [r.footprint]) },
  }));
  const t = await types(emb);
  assert.equal(t['embedding'], 'FLOAT[]');
  assert.equal(t['date'], 'DATE');
  const e = await query(`SELECT len(embedding)::INTEGER AS n, embedding[1] AS first, embedding[${dim}] AS last FROM read_parquet('${emb}')`);
  assert.equal(e.length, rows.length);
  e.forEach((r, i) => {
    assert.equal(r['n'], dim);
    assert.equal(r['first'], values[i * dim]);
    assert.equal(r['last'], values[i * dim + dim - 1]);
  });
  const shard = join(dir, 'shard-index.parquet');
  await writeFile(shard, writeShardIndex(rows.map((r, i) => ({ shard: 'shards/shard-00000.tar', shardNumber: 0, offset: i * 4096, length: 4000 + i, id: r.path, mgrs: r.mgrs, date: r.date, footprint: r.footprint }))));
  const s = await query(`SELECT count(*)::INTEGER AS n, sum("length")::INTEGER AS total, max("offset") AS last FROM read_parquet('${shard}')`);
  assert.deepEqual(s[0], { n: 40, total: 40 * 4000 + 780, last: 39 * 4096 });
});

test('we read what DuckDB writes: several row groups, dictionary pages, ZSTD and SNAPPY', async () => {
  // DuckDB cuts row groups at multiples of its 2,048-row vectors: 12 tile-dates of 441 chips make three.
  const many = Array.from({ length: 12 }, (_, m) => chipRows(441, { date: `2021-${String(m + 1).padStart(2, '0')}-14` })).flat();
  const src = join(dir, 'src.parquet');
  await writeFile(src, writeChipIndex(many));
  for (const codec of ['zstd', 'snappy']) {
    const out = join(dir, `duck-${codec}.parquet`);
    await db.run(`COPY (SELECT * EXCLUDE (bbox) FROM read_parquet('${src}') ORDER BY date, chip) TO '${out}' (FORMAT parquet, ROW_GROUP_SIZE 2048, COMPRESSION ${codec}, KV_METADATA {geo: '${GEO}', 'clay:chip_index_version': '1'})`);
    const meta = await query(`SELECT count(DISTINCT row_group_id)::INTEGER AS groups, bool_or(encodings LIKE '%DICTIONARY%') AS dict, min(compression) AS codec FROM parquet_metadata('${out}')`);
    assert.ok(Number(meta[0]!['groups']) > 1, `${codec}: ${JSON.stringify(meta[0])}`);
    assert.equal(meta[0]!['dict'], true, `${codec}: dictionary pages`);
    assert.equal(String(meta[0]!['codec']).toLowerCase(), codec);
    assert.deepEqual(await readChipIndex(await readFile(out), out), many, codec);
  }
});

test('IO naming the file for a Parquet we cannot read: truncated, wrong magic, a codec we do not decode', async () => {
  const good = writeChipIndex(rows);
  const io = (bytes: Uint8Array, name: string): Promise<void> => assert.rejects(readGeoParquet(bytes, { name }), (e) => isClayError(e, 'IO') && e.input === name && e.message.startsWith(name));
  await io(good.subarray(0, good.length - 100), 'truncated.parquet');
  await io(good.subarray(0, 100), 'head.parquet');
  const magic = Uint8Array.from(good);
  magic.set(Buffer.from('PAR2'), magic.length - 4);
  await io(magic, 'magic.parquet');
  const lz4 = join(dir, 'lz4.parquet');
  await db.run(`COPY (SELECT * EXCLUDE (bbox) FROM read_parquet('${join(dir, 'src.parquet')}')) TO '${lz4}' (FORMAT parquet, COMPRESSION lz4_raw, KV_METADATA {geo: '${GEO}'})`);
  await assert.rejects(readGeoParquet(await readFile(lz4), { name: 'lz4.parquet' }), (e) => isClayError(e, 'IO') && /LZ4_RAW-compressed/.test(e.message));
});

test('files the in-house codec wrote (test/fixtures/parquet-v1) read as before', async () => {
  const fixture = (name: string): Promise<Buffer> => readFile(new URL(`../fixtures/parquet-v1/${name}`, import.meta.url));
  assert.deepEqual(await readChipIndex(await fixture('chips.parquet'), 'chips.parquet'), chipRows(5));
  const shards = await readShardIndex(await fixture('shard-index.parquet'), 'shard-index.parquet');
  assert.deepEqual(shards.map((s) => [s.offset, s.length, s.id]), chipRows(5).map((r, i) => [i * 1024, 1000 + i, r.path]));
  const emb = await readGeoParquet(await fixture('embeddings.parquet'), { name: 'embeddings.parquet' });
  const column = emb.columns.find((c) => c.name === 'embedding');
  assert.ok(column?.type === 'fixed<float32>' && column.size === 8);
  assert.deepEqual(column.values, Float32Array.from({ length: 40 }, (_, i) => Math.sin(i) / 3));
  assert.equal(emb.geo.columns['geometry']?.covering, undefined, 'old files have no covering');
});
