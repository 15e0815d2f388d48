import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { isClayError } from '../../../core/errors.ts';
import { writeGeoParquet } from '../../../core/geoparquet.ts';
import {
  CHIP_INDEX_COLUMNS, CHIP_INDEX_VERSION_KEY, mergeChipIndexes, readChipIndex, writeChipIndex, type ChipIndexRow,
} from '../../../pipeline/index/chip-index.ts';
import { chipRows } from './chip-rows.ts';

/** The rings of a little-endian WKB Polygon, decoded here independently of core/wkb.ts. */
function wkbRings(bytes: Uint8Array): number[][][] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(v.getUint8(0), 1, 'little-endian');
  assert.equal(v.getUint32(1, true), 3, 'Polygon');
  const rings: number[][][] = [];
  let at = 9;
  for (let r = 0, n = v.getUint32(5, true); r < n; r++) {
    const points = v.getUint32(at, true);
    at += 4;
    const ring: number[][] = [];
    for (let i = 0; i < points; i++, at += 16) ring.push([v.getFloat64(at, true), v.getFloat64(at + 8, true)]);
    rings.push(ring);
  }
  assert.equal(at, bytes.byteLength, 'no trailing bytes');
  return rings;
}

const rows = chipRows(30);
const bytes = writeChipIndex(rows);
const file: ArrayBuffer = bytes.slice().buffer; // hyparquet reads an ArrayBuffer

test('hyparquet reads the chip index: row count, metadata, column names and Parquet types', () => {
  const md = parquetMetadata(bytes, { geoparquet: false });
  assert.equal(md.num_rows, 30n);
  const kv = new Map((md.key_value_metadata ?? []).map((e) => [e.key, e.value]));
  // `geo` first, then the index version: plain key-value metadata every Parquet reader sees.
  assert.deepEqual([...kv.keys()], ['geo', CHIP_INDEX_VERSION_KEY]);
  assert.equal(kv.get(CHIP_INDEX_VERSION_KEY), '1');
  const geo: unknown = JSON.parse(kv.get('geo') ?? 'null');
  const xs = rows.flatMap((r) => r.footprint.map((p) => p[0]));
  const ys = rows.flatMap((r) => r.footprint.map((p) => p[1]));
  assert.deepEqual(geo, {
    version: '1.1.0',
    primary_column: 'geometry',
    columns: { geometry: { encoding: 'WKB', geometry_types: ['Polygon'], bbox: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)], covering: { bbox: { xmin: ['bbox', 'xmin'], ymin: ['bbox', 'ymin'], xmax: ['bbox', 'xmax'], ymax: ['bbox', 'ymax'] } } } },
  });
  const top = parquetSchema(md).children.map((c) => c.element);
  assert.deepEqual(top.map((e) => e.name), [...CHIP_INDEX_COLUMNS, 'bbox'], 'the columns, then the GeoParquet bbox covering');
  const kind = (name: string): string => {
    const node = parquetSchema(md).children.find((c) => c.element.name === name)!;
    const e = node.element;
    if (e.logical_type?.type === 'LIST') return `list<${node.children[0]!.children[0]!.element.logical_type?.type}>`;
    return e.logical_type?.type === 'STRING' ? 'STRING' : `${e.type}`;
  };
  const expected: Record<string, string> = {
    path: 'STRING', mgrs: 'STRING', date: 'STRING', chip: 'INT32', kept: 'BOOLEAN', reasons: 'list<STRING>', epsg: 'INT32',
    window_col: 'INT32', window_row: 'INT32', window_width: 'INT32', window_height: 'INT32',
    minx: 'DOUBLE', miny: 'DOUBLE', maxx: 'DOUBLE', maxy: 'DOUBLE', s2_item: 'STRING', s1_items: 'list<STRING>', dem_items: 'list<STRING>',
    cloud_share: 'DOUBLE', nodata_b02: 'DOUBLE', nodata_vh: 'DOUBLE', nodata_vv: 'DOUBLE', nodata_dem: 'DOUBLE', geometry: 'BYTE_ARRAY',
  };
  for (let c = 0; c < 12; c++) expected[`scl_${c}`] = 'DOUBLE';
  assert.deepEqual(Object.fromEntries(CHIP_INDEX_COLUMNS.map((n) => [n, kind(n)])), expected);
  assert.ok(md.row_groups.every((g) => g.columns.every((c) => c.meta_data?.codec === 'SNAPPY')));
});

test('hyparquet reads the values, and the WKB geometry decodes to the footprints', async () => {
  const objects = await parquetReadObjects({ file, geoparquet: false, utf8: false });
  assert.equal(objects.length, rows.length);
  objects.forEach((o, i) => {
    const r = rows[i]!;
    const flat = {
      path: r.path, mgrs: r.mgrs, date: r.date, chip: r.chip, kept: r.kept, reasons: r.reasons, epsg: r.epsg,
      window_col: r.window.col, window_row: r.window.row, window_width: r.window.width, window_height: r.window.height,
      minx: r.bounds[0], miny: r.bounds[1], maxx: r.bounds[2], maxy: r.bounds[3],
      s2_item: r.s2Item, s1_items: r.s1Items, dem_items: r.demItems, cloud_share: r.cloudShare,
      ...Object.fromEntries(r.sclShares.map((s, c) => [`scl_${c}`, s])),
      nodata_b02: r.nodataShares.b02, nodata_vh: r.nodataShares.vh, nodata_vv: r.nodataShares.vv, nodata_dem: r.nodataShares.dem,
    };
    const { geometry, bbox, ...rest } = o;
    assert.deepEqual(rest, flat, `row ${i}`);
    const [xs, ys] = [r.footprint.map((p) => p[0]), r.footprint.map((p) => p[1])];
    assert.deepEqual(bbox, { xmin: Math.min(...xs), ymin: Math.min(...ys), xmax: Math.max(...xs), ymax: Math.max(...ys) }, `row ${i}: the bbox covering`);
    assert.ok(geometry instanceof Uint8Array);
    assert.deepEqual(wkbRings(geometry), [r.footprint]);
  });
  // With its GeoParquet support on, hyparquet turns the same bytes into GeoJSON.
  const geo = await parquetReadObjects({ file, columns: ['geometry'] });
  assert.deepEqual(geo.map((o) => o.geometry), rows.map((r) => ({ type: 'Polygon', coordinates: [r.footprint] })));
});

test('readChipIndex gives back exactly the rows written', async () => {
  assert.deepEqual(await readChipIndex(bytes), rows);
  assert.deepEqual(await readChipIndex(writeChipIndex([])), []);
  const odd: ChipIndexRow = { ...rows[0]!, cloudShare: Number.NaN, bounds: [-0, 1e-300, 1.7976931348623157e308, 5e-324] };
  assert.deepEqual(await readChipIndex(writeChipIndex([odd])), [odd]);
});

test('mergeChipIndexes: the rows of every part, sorted by mgrs, date, chip', async () => {
  const a = [...chipRows(3, { mgrs: '31TCJ', date: '2021-06-14', first: 4 }), ...chipRows(2, { mgrs: '10SEG', date: '2019-01-02' })];
  const b = [...chipRows(3, { mgrs: '31TCJ', date: '2021-06-14', first: 1 }), ...chipRows(2, { mgrs: '31TCJ', date: '2020-03-01' })];
  const merged = await readChipIndex(await mergeChipIndexes([writeChipIndex(a), writeChipIndex(b)]));
  assert.deepEqual(merged.map((r) => `${r.mgrs} ${r.date} ${r.chip}`), [
    '10SEG 2019-01-02 1', '10SEG 2019-01-02 2', '31TCJ 2020-03-01 1', '31TCJ 2020-03-01 2',
    '31TCJ 2021-06-14 1', '31TCJ 2021-06-14 2', '31TCJ 2021-06-14 3', '31TCJ 2021-06-14 4', '31TCJ 2021-06-14 5', '31TCJ 2021-06-14 6',
  ]);
  assert.deepEqual(merged.find((r) => r.mgrs === '31TCJ' && r.date === '2021-06-14' && r.chip === 5), a[1]);
  await assert.rejects(mergeChipIndexes([writeChipIndex(a), writeChipIndex(a.slice(0, 1))]), (e) => isClayError(e, 'BAD_ARGUMENT'));
  await assert.rejects(mergeChipIndexes([writeChipIndex(a), new Uint8Array([1, 2, 3])]), (e) => isClayError(e, 'IO') && e.input === 'part 1');
});

test('errors: malformed rows are BAD_ARGUMENT; a non-index file is IO', async () => {
  const r = rows[0]!;
  const bad = (row: ChipIndexRow): void => assert.throws(() => writeChipIndex([row]), (e) => isClayError(e, 'BAD_ARGUMENT'));
  bad({ ...r, sclShares: r.sclShares.slice(1) });
  bad({ ...r, date: '20210614' });
  bad({ ...r, chip: 0 });
  bad({ ...r, footprint: r.footprint.slice(0, 4) });
  bad({ ...r, kept: false, reasons: [] });
  await assert.rejects(readChipIndex(new TextEncoder().encode('mgrs,date\n31TCJ,2021-06-14\n'), 'index.csv'), (e) => isClayError(e, 'IO') && e.input === 'index.csv');
  // A GeoParquet file that is not a chip index (no version key).
  const other = writeGeoParquet({ columns: [], geometry: { name: 'geometry', polygons: [[r.footprint]] } });
  await assert.rejects(readChipIndex(other), (e) => isClayError(e, 'IO'));
});
