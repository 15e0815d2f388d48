import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isClayError } from '../../../core/errors.ts';
import { chipCollection } from '../../../pipeline/index/chip-stac.ts';
import { chipRows } from './chip-rows.ts';

const rows = [...chipRows(12), ...chipRows(4, { mgrs: '10SEG', date: '2019-01-02' })];
const kept = rows.filter((r) => r.kept);

test('one item per kept chip, none for rejected ones; JSON-serialisable', () => {
  assert.ok(kept.length > 0 && kept.length < rows.length, 'the fixture has both');
  const { collection, items } = chipCollection(rows);
  assert.deepEqual(items.map((i) => i.json.id), kept.map((r) => r.path.replace(/^.*\/(.*)\.tif$/, '$1')));
  assert.deepEqual(items.map((i) => i.key), kept.map((r) => r.path.replace(/\.tif$/, '.json')));
  assert.deepEqual(JSON.parse(JSON.stringify(collection.json)), collection.json);
  for (const item of items) assert.deepEqual(JSON.parse(JSON.stringify(item.json)), item.json);
  assert.equal(collection.key, 'collection.json');
});

test('item fields: geometry, bbox, datetime, projection, asset with 13 bands, provenance, relative links', () => {
  const { items } = chipCollection(rows, { id: 'clay-test' });
  const row = kept.find((r) => r.chip === 2 && r.mgrs === '31TCJ')!;
  const item = items.find((i) => i.json.id === 'claytile_31TCJ_20210614_v02_0002')!.json;
  assert.equal(item.type, 'Feature');
  assert.equal(item.stac_version, '1.0.0');
  assert.equal(item.collection, 'clay-test');
  assert.deepEqual(item.geometry, { type: 'Polygon', coordinates: [row.footprint] });
  const xs = row.footprint.map((p) => p[0]);
  const ys = row.footprint.map((p) => p[1]);
  assert.deepEqual(item.bbox, [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]);
  // Chip 2 is the second 512 px window of the first row: x from 305120, y down from 4900020.
  assert.deepEqual(item.properties, {
    datetime: '2021-06-14T00:00:00Z',
    'proj:epsg': 32631,
    'proj:transform': [10, 0, 305120, 0, -10, 4900020],
    'proj:shape': [512, 512],
    'proj:bbox': [305120, 4894900, 310240, 4900020],
    'clay:mgrs': '31TCJ',
    'clay:chip': 2,
    'clay:cloud_share': row.cloudShare,
    'clay:sources': { s2: row.s2Item, s1: row.s1Items, dem: row.demItems },
  });
  const asset = item.assets.data;
  assert.equal(asset.href, './claytile_31TCJ_20210614_v02_0002.tif');
  assert.equal(asset.type, 'image/tiff; application=geotiff');
  assert.deepEqual(asset.roles, ['data']);
  assert.deepEqual(asset['eo:bands'].map((b) => b.name), ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12', 'vh', 'vv', 'dem']);
  assert.deepEqual(asset['eo:bands'].slice(0, 3).map((b) => b.common_name), ['blue', 'green', 'red']);
  assert.equal(asset['raster:bands'].length, 13);
  assert.ok(asset['raster:bands'].every((b) => b.data_type === 'float32' && b.spatial_resolution === 10));
  assert.ok(item.stac_extensions.some((e) => e.includes('/projection/')) && item.stac_extensions.some((e) => e.includes('/eo/')) && item.stac_extensions.some((e) => e.includes('/raster/')));
  // The item sits three folders below the root: v02/31TCJ/2021-06-14/.
  assert.deepEqual(item.links.map((l) => [l.rel, l.href]), [
    ['collection', '../../../collection.json'], ['parent', '../../../collection.json'], ['root', '../../../collection.json'],
  ]);
});

test('collection: extent of the kept chips, links to every item; absolute links with hrefBase; derived_from with stacApi', () => {
  const { collection, items } = chipCollection(rows, { id: 'c', description: 'd' });
  const c = collection.json;
  assert.equal(c.type, 'Collection');
  assert.equal(c.stac_version, '1.0.0');
  assert.equal(c.description, 'd');
  const lons = kept.flatMap((r) => r.footprint.map((p) => p[0]));
  const lats = kept.flatMap((r) => r.footprint.map((p) => p[1]));
  assert.deepEqual(c.extent.spatial.bbox, [[Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)]]);
  assert.deepEqual(c.extent.temporal.interval, [['2019-01-02T00:00:00Z', '2021-06-14T00:00:00Z']]);
  assert.deepEqual(c.summaries, { 'proj:epsg': [32631], 'clay:mgrs': ['10SEG', '31TCJ'] });
  assert.deepEqual(c.links.filter((l) => l.rel === 'item').map((l) => l.href), items.map((i) => `./${i.key}`));
  // The extent covers only kept chips: a rejected chip far away does not widen it.
  const far = { ...rows.find((r) => !r.kept)!, footprint: [[100, 60], [101, 60], [101, 61], [100, 61], [100, 60]] as [number, number][] };
  assert.deepEqual(chipCollection([...rows, far]).collection.json.extent, c.extent);

  const abs = chipCollection(rows, { hrefBase: 'https://example.org/chips', stacApi: 'https://pc.example/api/stac/v1/' });
  assert.ok(abs.collection.json.links.some((l) => l.rel === 'self' && l.href === 'https://example.org/chips/collection.json'));
  assert.equal(abs.collection.json.links.find((l) => l.rel === 'item')!.href, `https://example.org/chips/${abs.items[0]!.key}`);
  const item = abs.items[0]!.json;
  const row = kept[0]!;
  assert.equal(item.links.find((l) => l.rel === 'self')!.href, `https://example.org/chips/${abs.items[0]!.key}`);
  assert.equal(item.links.find((l) => l.rel === 'collection')!.href, 'https://example.org/chips/collection.json');
  assert.equal(item.assets.data.href, `./${item.id}.tif`, 'asset stays relative');
  assert.deepEqual(item.links.filter((l) => l.rel === 'derived_from').map((l) => l.href), [
    `https://pc.example/api/stac/v1/collections/sentinel-2-l2a/items/${row.s2Item}`,
    ...row.s1Items.map((id) => `https://pc.example/api/stac/v1/collections/sentinel-1-rtc/items/${id}`),
    ...row.demItems.map((id) => `https://pc.example/api/stac/v1/collections/cop-dem-glo-30/items/${id}`),
  ]);
});

test('no kept chips: an empty collection with an open extent; a chip path without .tif is BAD_ARGUMENT', () => {
  const { collection, items } = chipCollection(rows.filter((r) => !r.kept));
  assert.deepEqual(items, []);
  assert.deepEqual(collection.json.extent.temporal.interval, [[null, null]]);
  assert.deepEqual(collection.json.links.filter((l) => l.rel === 'item'), []);
  assert.throws(() => chipCollection([{ ...kept[0]!, path: 'v02/x/chip.png' }]), (e) => isClayError(e, 'BAD_ARGUMENT'));
});
