/** splitByTile: whole tiles per side, deterministic, independent of input order, at least one tile each side. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitByTile } from '../../../model/data/split.ts';
import type { ChipRef } from '../../../model/data/types.ts';

const TILES = ['31TGL', '31TGM', '10SEG', '55HBU', '33UVP', '18TWL', '36MZE', '50RKV', '21LYG', '04QFJ'];
const refs: ChipRef[] = TILES.flatMap((mgrs, t) => Array.from({ length: 1 + ((t * 7) % 5) }, (_, i) => ({ url: `/c/${mgrs}/${i}.tif`, key: `${mgrs}/${i}.tif`, mgrs, date: '2021-06-15' })));

test('splitByTile: no tile on both sides, every chip on one side, deterministic for a seed', () => {
  const s = splitByTile(refs, { seed: 7 });
  assert.equal(s.train.length + s.val.length, refs.length);
  const trainTiles = new Set(s.train.map((r) => r.mgrs));
  const valTiles = new Set(s.val.map((r) => r.mgrs));
  assert.deepEqual([...trainTiles].filter((t) => valTiles.has(t)), []);
  assert.equal(valTiles.size, 2); // round(0.2 * 10 tiles)
  assert.deepEqual([...valTiles].sort(), s.valTiles);
  assert.deepEqual(splitByTile(refs, { seed: 7 }), s);
  // The input order does not matter; each side keeps the input order.
  const reversed = splitByTile([...refs].reverse(), { seed: 7 });
  assert.deepEqual(reversed.valTiles, s.valTiles);
  assert.deepEqual(reversed.train, [...s.train].reverse());
  // Another seed draws other tiles (for these tiles and seeds).
  assert.notDeepEqual(splitByTile(refs, { seed: 8 }).valTiles, s.valTiles);
  assert.equal(splitByTile(refs, { seed: 7, valFraction: 0.5 }).valTiles.length, 5);
});

test('splitByTile: at least one tile each side from two tiles; fractions 0 and 1; one tile', () => {
  const two = refs.filter((r) => r.mgrs === '31TGL' || r.mgrs === '55HBU');
  for (const valFraction of [0.01, 0.2, 0.9]) {
    const s = splitByTile(two, { valFraction });
    assert.equal(s.valTiles.length, 1);
    assert.ok(s.train.length > 0 && s.val.length > 0);
  }
  assert.equal(splitByTile(refs, { valFraction: 0 }).val.length, 0);
  assert.equal(splitByTile(refs, { valFraction: 1 }).train.length, 0);
  const one = refs.filter((r) => r.mgrs === '31TGL');
  assert.deepEqual(splitByTile(one).train, one);
  assert.throws(() => splitByTile(refs, { valFraction: 1.5 }), RangeError);
});
