/**
 * Item geometry checked for plausibility (issue 27, point 2): `proj:shape` / `proj:transform` against the
 * collections' known grids. An S2 item of 10^7 x 10^7 pixels made `clay plan` count 381 million chips; now
 * it is filtered as invalid with a `Plan:InvalidItem` warning, like any malformed candidate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HttpClient } from '../../core/http.ts';
import { isClayError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import { asDemItem, asS1Item, asS2Item } from '../../core/stac/pc-items.ts';
import { StacClient } from '../../core/stac/stac-client.ts';
import { asStacItem } from '../../core/stac/stac-item.ts';
import { plan } from '../../pipeline/plan/plan.ts';
import { readSampleRow } from '../../pipeline/sample-file.ts';
import { BUNDLED_DIR, assertBundled } from '../helpers/bundled.ts';
import { withItem } from '../helpers/broken-universe.ts';
import { demJson, s1Json, s2Json } from '../helpers/pc-json.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5, random: () => 0.5 };
const HUGE = 10_000_000;

type Json = Record<string, unknown>;
const assetsOf = (json: Json): Record<string, Json> => json.assets as Record<string, Json>;
const propsOf = (json: Json): Json => json.properties as Json;

test('real grids pass; a huge shape, a wrong pixel size or a rotated grid is STAC_INVALID naming the item', () => {
  const s2 = (edit?: (j: Json) => void): Json => {
    const j = s2Json('S2_X', '2021-06-15T10:30:21Z');
    edit?.(j);
    return j;
  };
  assert.equal(asS2Item(asStacItem(s2(), 't')).assets.B02.shape[0], 10980);
  assert.equal(asS1Item(asStacItem(s1Json('S1_X', '2021-06-14T05:45:00Z', 'descending'), 't')).shapeAsPublished[0], 10000);
  assert.equal(asDemItem(asStacItem(demJson(6, 45), 't')).data.shape[0], 3600);
  const bad: [string, Json][] = [
    ['S2 shape 10^7', s2((j) => (assetsOf(j).B02!['proj:shape'] = [HUGE, HUGE]))],
    ['S2 20 m band at 10 m', s2((j) => (assetsOf(j).SCL!['proj:transform'] = [10, 0, 699960, 0, -10, 5100000]))],
    ['S2 rotated', s2((j) => (assetsOf(j).B04!['proj:transform'] = [10, 3, 699960, 0, -10, 5100000]))],
    ['S2 south-up', s2((j) => (assetsOf(j).B08!['proj:transform'] = [10, 0, 699960, 0, 10, 5100000]))],
    ['S1 shape 10^7', (() => { const j = s1Json('S1_X', '2021-06-14T05:45:00Z', 'descending'); propsOf(j)['proj:shape'] = [HUGE, HUGE]; return j; })()],
    ['S1 1 km pixels', (() => { const j = s1Json('S1_X', '2021-06-14T05:45:00Z', 'descending'); propsOf(j)['proj:transform'] = [1000, 0, 700000, 0, -1000, 5100000]; return j; })()],
    ['DEM shape 10^7', (() => { const j = demJson(6, 45); propsOf(j)['proj:shape'] = [HUGE, HUGE]; return j; })()],
  ];
  for (const [what, json] of bad) {
    const item = asStacItem(json, 't');
    const narrow = item.collection === 'sentinel-2-l2a' ? asS2Item : item.collection === 'sentinel-1-rtc' ? asS1Item : asDemItem;
    assert.throws(() => narrow(item), (err: unknown) => isClayError(err, 'STAC_INVALID') && err.message.includes(item.id), what);
  }
});

test('clay plan with a 10^7 x 10^7 Sentinel-2 item: filtered with Plan:InvalidItem, the chip counts stay real', async () => {
  assertBundled();
  const universe = await loadUniverse(BUNDLED_DIR);
  const row = await readSampleRow(join(BUNDLED_DIR, 'mgrs_sample.fgb'), 0);
  const planWith = async (u: typeof universe, lines: string[]): Promise<Awaited<ReturnType<typeof plan>>> => {
    const pc = await startMiniPc({ universe: u });
    try {
      const logger = createLogger({ level: 'warn', pretty: false, write: (l) => lines.push(l) });
      return await plan(row, { stac: new StacClient({ url: pc.stacApi, http: new HttpClient(fast) }), logger });
    } finally {
      await pc.close();
    }
  };
  const honest = await planWith(universe, []);
  const chosen = honest.dates[0]?.s2.id;
  assert.ok(chosen, 'row 0 has a date');
  const lines: string[] = [];
  const hostile = await planWith(withItem(universe, chosen, (json) => {
    for (const asset of Object.values(assetsOf(json))) if (Array.isArray(asset['proj:shape'])) asset['proj:shape'] = [HUGE, HUGE];
  }), lines);
  const warnings = lines.map((l) => JSON.parse(l) as { event: string; code?: string; s2?: string }).filter((w) => w.event === 'Plan:InvalidItem');
  assert.deepEqual(warnings.map((w) => [w.code, w.s2]), [['STAC_INVALID', chosen]]);
  assert.ok(!hostile.dates.some((d) => d.s2.id === chosen));
  // At most 21 x 21 = 441 full chips fit a real 10980 px tile.
  assert.ok(hostile.dates.every((d) => d.chips.count <= 441), JSON.stringify(hostile.dates.map((d) => d.chips)));
  assert.ok(hostile.totals.chips <= honest.totals.chips + 441 * 3);
});
