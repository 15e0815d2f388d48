import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isClayError } from '../../../core/errors.ts';
import { asStacItem } from '../../../core/stac/stac-item.ts';
import { asDemItem, asS1Item, asS2Item, S2_ASSETS } from '../../../core/stac/pc-items.ts';
import { itemJson } from '../../helpers/items.ts';

function s2Json(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const assets: Record<string, unknown> = {};
  for (const b of S2_ASSETS) {
    const ten = ['B02', 'B03', 'B04', 'B08'].includes(b);
    assets[b] = {
      href: `https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/x/${b}.tif`,
      gsd: ten ? 10 : 20,
      'proj:shape': ten ? [2100, 2580] : [1050, 1290],
      'proj:transform': ten ? [10, 0, 720000, 0, -10, 5071000] : [20, 0, 720000, 0, -20, 5071000, 0, 0, 1],
    };
  }
  return itemJson('S2B_TEST', 'sentinel-2-l2a', { datetime: '2021-06-15T10:30:21Z', 'proj:epsg': 32631, 'eo:cloud_cover': 12.5, 's2:nodata_pixel_percentage': 0, 's2:processing_baseline': '03.00', ...extra }, { assets });
}

const invalidNaming = (id: string, field: string) => (err: unknown): boolean =>
  isClayError(err, 'STAC_INVALID') && err.message.includes(id) && err.message.includes(field);

test('S2 items: grid per asset, EPSG from proj:epsg or proj:code', () => {
  const s2 = asS2Item(asStacItem(s2Json(), 'test'));
  assert.equal(s2.epsg, 32631);
  assert.deepEqual(s2.assets.B02.shape, [2100, 2580]);
  assert.deepEqual(s2.assets.B05.transform, [20, 0, 720000, 0, -20, 5071000]);
  assert.equal(s2.cloudCover, 12.5);
  const json = s2Json();
  const props = json.properties as Record<string, unknown>;
  delete props['proj:epsg'];
  props['proj:code'] = 'EPSG:32632';
  assert.equal(asS2Item(asStacItem(json, 'test')).epsg, 32632);
});

test('S2 items: missing proj:epsg/proj:code and per-asset proj:transform are named', () => {
  const noEpsg = s2Json();
  delete (noEpsg.properties as Record<string, unknown>)['proj:epsg'];
  assert.throws(() => asS2Item(asStacItem(noEpsg, 'test')), invalidNaming('S2B_TEST', 'proj:epsg'));
  const noTransform = s2Json();
  delete ((noTransform.assets as Record<string, Record<string, unknown>>).B11!)['proj:transform'];
  assert.throws(() => asS2Item(asStacItem(noTransform, 'test')), invalidNaming('S2B_TEST', "asset 'B11'"));
  const noScl = s2Json();
  delete (noScl.assets as Record<string, unknown>).SCL;
  assert.throws(() => asS2Item(asStacItem(noScl, 'test')), invalidNaming('S2B_TEST', 'SCL'));
});

test('S1 items: orbit state, polarisations, nodata, start/end datetimes', () => {
  const json = itemJson('S1A_TEST', 'sentinel-1-rtc', {
    datetime: '2021-06-12T05:50:12Z', start_datetime: '2021-06-12T05:50:00Z', end_datetime: '2021-06-12T05:50:25Z',
    'sat:orbit_state': 'descending', 'sat:relative_orbit': 139, 'proj:epsg': 32631, 'proj:shape': [1200, 900],
    'proj:transform': [10, 0, 715003.7, 0, -10, 5072006.2, 0, 0, 1],
  }, { assets: {
    vv: { href: 'https://sentinel1euwestrtc.blob.core.windows.net/sentinel1-grd-rtc/x/vv.tif', 'raster:bands': [{ nodata: -32768, data_type: 'float32' }] },
    vh: { href: 'https://sentinel1euwestrtc.blob.core.windows.net/sentinel1-grd-rtc/x/vh.tif' },
  } });
  const s1 = asS1Item(asStacItem(json, 'test'));
  assert.equal(s1.orbitState, 'descending');
  assert.equal(s1.nodata, -32768);
  assert.equal(s1.co.key, 'vv');
  assert.equal(s1.start.toISOString(), '2021-06-12T05:50:00.000Z');
  assert.deepEqual(s1.transform, [10, 0, 715003.7, 0, -10, 5072006.2]);
  const broken = structuredClone(json);
  delete (broken.properties as Record<string, unknown>)['proj:transform'];
  assert.throws(() => asS1Item(asStacItem(broken, 'test')), invalidNaming('S1A_TEST', 'proj:transform'));
});

test('DEM items: the grid may be at item level; EPSG defaults to 4326', () => {
  const json = itemJson('Copernicus_DSM_COG_10_N45_00_E005_00_DEM', 'cop-dem-glo-30', {
    datetime: '2021-04-22T00:00:00Z', 'proj:shape': [3600, 3600], 'proj:transform': [1 / 3600, 0, 5 - 1 / 7200, 0, -1 / 3600, 46 + 1 / 7200],
  }, { assets: { data: { href: 'https://elevationeuwest.blob.core.windows.net/copernicus-dem/x.tif' } } });
  const dem = asDemItem(asStacItem(json, 'test'));
  assert.equal(dem.epsg, 4326);
  assert.deepEqual(dem.data.shape, [3600, 3600]);
});

test('generic items: a feature without geometry or id is rejected with its name', () => {
  const json = itemJson('broken-item', 'sentinel-2-l2a', { datetime: '2021-01-01T00:00:00Z' });
  delete json.geometry;
  assert.throws(() => asStacItem(json, 'test'), invalidNaming('broken-item', 'geometry'));
  assert.throws(() => asStacItem({ type: 'Feature' }, 'test'), invalidNaming('unnamed', 'id'));
});
