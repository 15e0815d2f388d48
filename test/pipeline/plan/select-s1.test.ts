import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asS1Item } from '../../../core/stac/pc-items.ts';
import { asStacItem } from '../../../core/stac/stac-item.ts';
import { selectS1, rankScenes } from '../../../pipeline/plan/select-s1.ts';
import { s1Json } from '../../helpers/pc-json.ts';

const bbox: [number, number, number, number] = [5, 45, 7, 46];
/** A scene covering the bbox's columns [x0, x1] (in lon) and all its rows. */
const strip = (id: string, x0: number, x1: number, orbit: 'ascending' | 'descending', start = '2021-06-12T05:50:00Z') =>
  asS1Item(asStacItem(s1Json(id, start, orbit, { type: 'Polygon', coordinates: [[[x0, 44.9], [x1, 44.9], [x1, 46.1], [x0, 46.1], [x0, 44.9]]] }), 'test'));

test('ranks by overlap with the bbox; the best scene sets the orbit state; other orbits are skipped', () => {
  const a = strip('A', 5, 6.2, 'descending'); // 60 %
  const b = strip('B', 6, 7, 'ascending'); // 50 %
  const c = strip('C', 6.1, 7, 'descending'); // 45 %
  assert.deepEqual(rankScenes([c, b, a], bbox).map((r) => [r.scene.id, Number(r.overlap.toFixed(6))]), [['A', 0.6], ['B', 0.5], ['C', 0.45]]);
  const s = selectS1([c, b, a], bbox, 'union')!;
  assert.equal(s.orbitState, 'descending');
  assert.deepEqual(s.chosen.map((r) => r.scene.id), ['A', 'C']);
  assert.deepEqual(s.skipped.map((r) => [r.scene.scene.id, r.reason]), [['B', 'other orbit state']]);
  assert.equal(s.coverage, 1);
});

test("union rule stops once the union covers; Clay v0's loop takes every scene unless one alone covers", () => {
  const d1 = strip('D1', 5, 6.3, 'descending'); // 65 %
  const d2 = strip('D2', 5.9, 7, 'descending'); // 55 %
  const d3 = strip('D3', 6.2, 7, 'descending'); // 40 %
  const union = selectS1([d3, d2, d1], bbox, 'union')!;
  assert.deepEqual(union.chosen.map((r) => r.scene.id), ['D1', 'D2']);
  assert.deepEqual(union.skipped.map((r) => [r.scene.scene.id, r.reason]), [['D3', 'bbox already covered']]);
  const v0 = selectS1([d3, d2, d1], bbox, 'clay-v0')!;
  assert.deepEqual(v0.chosen.map((r) => r.scene.id), ['D1', 'D2', 'D3']);
  // A scene that alone covers the bbox ranks first: both rules take only it.
  const full = strip('F', 4.9, 7.1, 'descending');
  for (const rule of ['union', 'clay-v0'] as const) assert.deepEqual(selectS1([d1, full, d2], bbox, rule)!.chosen.map((r) => r.scene.id), ['F'], rule);
});

test('overlap ties: datetime descending, then id descending (the API default order v0 inherited)', () => {
  const early = strip('S1A_early', 4.9, 7.1, 'descending', '2021-06-12T05:50:00Z');
  const late = strip('S1A_late', 4.9, 7.1, 'descending', '2021-06-13T05:50:00Z');
  const lateB = strip('S1B_late', 4.9, 7.1, 'descending', '2021-06-13T05:50:00Z');
  assert.deepEqual(rankScenes([early, late, lateB], bbox).map((r) => r.scene.id), ['S1B_late', 'S1A_late', 'S1A_early']);
  assert.deepEqual(selectS1([early, late, lateB], bbox, 'union')!.chosen.map((r) => r.scene.id), ['S1B_late']);
});

test('no scenes: no selection', () => {
  assert.equal(selectS1([], bbox, 'union'), undefined);
});
