/**
 * The status stage on hand-made outputs (no run): the `--indices` form, and what each record or its
 * absence means, malformed and foreign records included.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../../core/store/local-store.ts';
import { ClayError } from '../../../core/errors.ts';
import { recordRowDone, recordRowFailure, rowDoneKey, rowFailedKey } from '../../../pipeline/run/row-record.ts';
import { formatIndices, sampleStatus } from '../../../pipeline/run/sample-status.ts';
import type { SampleRow } from '../../../pipeline/sample-file.ts';

const row = (index: number, name: string): SampleRow => ({ index, name, geometry: { type: 'Polygon', coordinates: [] }, properties: { name } });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
let dir: string;

before(async () => (dir = await mkdtemp(join(tmpdir(), 'clay-sample-status-'))));
after(async () => rm(dir, { recursive: true, force: true }));

test('formatIndices: ascending, runs of three or more as ranges, duplicates dropped', () => {
  assert.equal(formatIndices([15, 3, 12, 7, 13, 14, 14]), '3,7,12-15');
  assert.equal(formatIndices([4, 5]), '4,5');
  assert.equal(formatIndices([0, 1, 2, 9]), '0-2,9');
  assert.equal(formatIndices([]), '');
});

test('sampleStatus: each record and its absence, read from the store alone', async () => {
  const store = new LocalStore(join(dir, 'out'));
  const rows = [row(0, '31TGL'), row(1, '01KAB'), row(2, '31TGK'), row(3, '31TCK'), row(4, '30UXC'), row(5, '33UUP')];
  // 0: complete with one unit; 1: no data; 2: failed after one unit; 3: a unit started; 4: nothing;
  // 5: a record written for another tile (another sample wrote here), and a malformed failure record.
  await store.put('02/31TGL/2021-06-15/manifest.json', [bytes('{}')]);
  await recordRowDone(store, { index: 0, mgrs: '31TGL', planStatus: 'ok', units: [{ date: '2021-06-15', manifest: '02/31TGL/2021-06-15/manifest.json' }] });
  await recordRowDone(store, { index: 1, mgrs: '01KAB', planStatus: 'no-data', units: [] });
  await store.put('02/31TGK/2019-06-15/manifest.json', [bytes('{}')]);
  await recordRowFailure(store, { index: 2, mgrs: '31TGK' }, new ClayError('COG_CORRUPT', 'bad tiff\nsecond line', { input: 'http://x/b02.tif' }), { now: () => new Date(0) });
  await store.put('02/31TCK/2020-01-01/claytile_31TCK_20200101_v02_0001.tif', [bytes('II*\0')]);
  await recordRowDone(store, { index: 5, mgrs: '31TGL', planStatus: 'ok', units: [] });
  await store.put(rowFailedKey(5), [bytes('not json')]);
  const s = await sampleStatus(rows, { store });
  assert.deepEqual(s.rows.map((r) => [r.index, r.state, r.unitsComplete]), [[0, 'complete', 1], [1, 'complete', 0], [2, 'failed', 1], [3, 'incomplete', 0], [4, 'not-started', 0], [5, 'not-started', 0]]);
  assert.deepEqual(s.rows[2]!.failure, { code: 'COG_CORRUPT', message: 'bad tiff', at: '1970-01-01T00:00:00.000Z', input: 'http://x/b02.tif' });
  assert.match(s.rows[5]!.detail, /is for 31TGL, not 33UUP/);
  assert.match(s.rows[5]!.detail, /not JSON/);
  assert.deepEqual([s.resubmit, s.counts], [[2, 3, 4, 5], { complete: 2, failed: 1, incomplete: 1, 'not-started': 2 }]);
  // A later success clears the failure record; a completion record whose manifest is gone is not complete.
  await recordRowDone(store, { index: 2, mgrs: '31TGK', planStatus: 'ok', units: [{ date: '2019-06-15', manifest: '02/31TGK/2019-06-15/manifest.json' }, { date: '2020-06-09', manifest: '02/31TGK/2020-06-09/manifest.json' }] });
  assert.equal(await store.exists(rowFailedKey(2)), false);
  assert.ok(await store.exists(rowDoneKey(2)));
  const again = await sampleStatus([rows[2]!], { store });
  assert.deepEqual(again.rows.map((r) => [r.state, r.unitsComplete, r.unitsPlanned]), [['incomplete', 1, 2]]);
  assert.match(again.rows[0]!.detail, /1 of 2 manifests missing/);
});
