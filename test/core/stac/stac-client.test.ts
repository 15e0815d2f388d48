import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpClient } from '../../../core/http.ts';
import { StacClient } from '../../../core/stac/stac-client.ts';
import { isClayError } from '../../../core/errors.ts';
import { startMiniPc } from '../../../core/mini-pc/server.ts';
import { itemJson, universeOf } from '../../helpers/items.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5, random: () => 0.5 };

function s2(id: string, datetime: string, cloud: number): Record<string, unknown> {
  return itemJson(id, 'sentinel-2-l2a', { datetime, 'eo:cloud_cover': cloud, 's2:nodata_pixel_percentage': 0 });
}

const items = Array.from({ length: 7 }, (_, i) => s2(`S2_${i}`, `2021-0${i + 1}-15T10:30:00Z`, 10 * i));

test('paging with page size 2 returns every item exactly once (POST next links)', async () => {
  const pc = await startMiniPc({ universe: universeOf(items) });
  try {
    const stac = new StacClient({ url: pc.stacApi, http: new HttpClient(fast) });
    const got = await stac.searchAll({ collections: ['sentinel-2-l2a'], limit: 2 });
    assert.equal(got.length, 7);
    assert.deepEqual(new Set(got.map((i) => i.id)).size, 7);
    // PC's default order: datetime descending.
    assert.deepEqual(got.map((i) => i.id), ['S2_6', 'S2_5', 'S2_4', 'S2_3', 'S2_2', 'S2_1', 'S2_0']);
    assert.equal(stac.stats.pages, 4);
    const searches = pc.requests.filter((r) => r.path.endsWith('/search'));
    assert.equal(searches.length, 4);
    assert.ok(searches.every((r) => r.method === 'POST'));
  } finally {
    await pc.close();
  }
});

test('paging follows GET next hrefs too', async () => {
  const pc = await startMiniPc({ universe: universeOf(items) });
  try {
    const http = new HttpClient(fast);
    const first = (await http.json(`${pc.stacApi}/search?collections=sentinel-2-l2a&limit=3`)) as { features: { id: string }[]; links: { rel: string; href: string; method: string }[] };
    const ids = first.features.map((f) => f.id);
    let next = first.links.find((l) => l.rel === 'next');
    while (next) {
      assert.equal(next.method, 'GET');
      const page = (await http.json(next.href)) as typeof first;
      ids.push(...page.features.map((f) => f.id));
      next = page.links.find((l) => l.rel === 'next');
    }
    assert.deepEqual([...ids].sort(), items.map((i) => String(i.id)).sort());
  } finally {
    await pc.close();
  }
});

test('sortby and CQL2 filters: cloud cover ascending under a threshold', async () => {
  const pc = await startMiniPc({ universe: universeOf(items) });
  try {
    const stac = new StacClient({ url: pc.stacApi, http: new HttpClient(fast) });
    const got = await stac.searchAll({
      'filter-lang': 'cql2-json',
      filter: { op: 'and', args: [{ op: '=', args: [{ property: 'collection' }, 'sentinel-2-l2a'] }, { op: '<=', args: [{ property: 'eo:cloud_cover' }, 30] }] },
      sortby: [{ field: 'eo:cloud_cover', direction: 'asc' }],
    });
    assert.deepEqual(got.map((i) => i.properties['eo:cloud_cover']), [0, 10, 20, 30]);
  } finally {
    await pc.close();
  }
});

test('datetime intervals follow pgstac: an item on Dec 31 after midnight is outside "YYYY-01-01/YYYY-12-31"', async () => {
  const universe = universeOf([
    s2('dec31-morning', '2021-12-31T10:40:11Z', 1),
    s2('dec31-midnight', '2021-12-31T00:00:00Z', 1),
    s2('jan01-midnight', '2021-01-01T00:00:00Z', 1),
    s2('dec30', '2021-12-30T23:59:59Z', 1),
  ]);
  const pc = await startMiniPc({ universe });
  try {
    const stac = new StacClient({ url: pc.stacApi, http: new HttpClient(fast) });
    const got = await stac.searchAll({
      filter: { op: 'anyinteracts', args: [{ property: 'datetime' }, '2021-01-01/2021-12-31'] },
      'filter-lang': 'cql2-json',
    });
    assert.deepEqual(got.map((i) => i.id).sort(), ['dec30', 'dec31-midnight', 'jan01-midnight']);
  } finally {
    await pc.close();
  }
});

test("Clay's S1 window 'd-3/d+3' as dates is asymmetric: 3 days plus the hours before, 3 days minus them after", async () => {
  // S2 at 2021-06-15T10:30Z -> window "2021-06-12/2021-06-18" = [06-12T00:00Z, 06-18T00:00Z].
  const s1 = (id: string, start: string, end: string): Record<string, unknown> =>
    itemJson(id, 'sentinel-1-rtc', { datetime: start, start_datetime: start, end_datetime: end, 'sat:orbit_state': 'descending' });
  const universe = universeOf([
    s1('before-3d4h', '2021-06-12T05:50:00Z', '2021-06-12T05:50:25Z'), // 76.7 h before: inside
    s1('after-2d19h', '2021-06-18T05:40:00Z', '2021-06-18T05:40:25Z'), // 67 h after: outside
    s1('ends-at-start', '2021-06-11T23:59:40Z', '2021-06-12T00:00:00Z'), // end touches the start: inside
    s1('before-window', '2021-06-11T23:00:00Z', '2021-06-11T23:00:25Z'),
  ]);
  const pc = await startMiniPc({ universe });
  try {
    const stac = new StacClient({ url: pc.stacApi, http: new HttpClient(fast) });
    const got = await stac.searchAll({ collections: ['sentinel-1-rtc'], datetime: '2021-06-12/2021-06-18' });
    assert.deepEqual(got.map((i) => i.id).sort(), ['before-3d4h', 'ends-at-start']);
  } finally {
    await pc.close();
  }
});

test('searches are retried under injected faults; the attempt count is exact', async () => {
  const pc = await startMiniPc({
    universe: universeOf(items),
    faults: { retryAfterSeconds: 0, script: [{ service: 'stac', kind: '503', count: 1 }, { service: 'stac', kind: '429', count: 1 }, { service: 'stac', kind: 'reset', count: 1 }, { service: 'stac', kind: 'truncate', count: 1 }, { service: 'stac', kind: '500', count: 1 }] },
  });
  try {
    const http = new HttpClient({ ...fast, maxAttempts: 6 });
    const stac = new StacClient({ url: pc.stacApi, http });
    const got = await stac.searchAll({ collections: ['sentinel-2-l2a'] });
    assert.equal(got.length, 7);
    assert.equal(http.stats.attempts, 6);
    assert.equal(http.stats.retries, 5);
    assert.deepEqual(http.stats.retryReasons, { '503': 1, '429': 1, reset: 1, truncated: 1, '500': 1 });
    assert.deepEqual(pc.requests.map((r) => r.fault ?? 'ok'), ['503', '429', 'reset', 'truncate', '500', 'ok']);
  } finally {
    await pc.close();
  }
});

test('a search that keeps failing ends with a STAC_HTTP error naming the URL', async () => {
  const pc = await startMiniPc({ universe: universeOf(items), faults: { script: [{ service: 'stac', kind: '503', count: Infinity }] } });
  try {
    const http = new HttpClient({ ...fast, maxAttempts: 4 });
    const stac = new StacClient({ url: pc.stacApi, http });
    await assert.rejects(stac.searchAll({ collections: ['sentinel-2-l2a'] }), (err: unknown) => {
      if (!isClayError(err, 'STAC_HTTP')) return false;
      assert.equal(err.input, `${pc.stacApi}/search`);
      assert.ok(err.message.includes(`${pc.stacApi}/search`));
      return true;
    });
    assert.equal(pc.requests.length, 4);
  } finally {
    await pc.close();
  }
});

test('a 400 is not retried and keeps the server description', async () => {
  const pc = await startMiniPc({ universe: universeOf(items) });
  try {
    const http = new HttpClient(fast);
    const stac = new StacClient({ url: pc.stacApi, http });
    await assert.rejects(stac.searchAll({ collections: ['sentinel-2-l2a'], token: 'next:nope:nope' }), (err: unknown) => {
      if (!isClayError(err, 'STAC_HTTP')) return false;
      assert.match(err.message, /400/);
      return true;
    });
    assert.equal(http.stats.attempts, 1);
  } finally {
    await pc.close();
  }
});
