import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coalesceRanges } from '../../../pipeline/read/ranges.ts';
import { TileCache } from '../../../pipeline/read/tile-cache.ts';

test('coalesceRanges merges ranges closer than the gap, in file order, never past the group limit', () => {
  const ranges = [
    { key: 'c', offset: 3000, length: 1000 },
    { key: 'a', offset: 0, length: 1000 },
    { key: 'b', offset: 1100, length: 900 }, // 100-byte hole after a
    { key: 'd', offset: 10_000, length: 500 }, // 6000-byte hole after c
    { key: 'z', offset: 20_000, length: 0 }, // empty (sparse tile): dropped
  ];
  const groups = coalesceRanges(ranges, { maxGapBytes: 1000 });
  assert.deepEqual(groups.map((g) => [g.offset, g.length, g.members.map((m) => m.key).join('')]), [[0, 4000, 'abc'], [10_000, 500, 'd']]);
  const small = coalesceRanges(ranges, { maxGapBytes: 1000, maxGroupBytes: 2500 });
  assert.deepEqual(small.map((g) => [g.offset, g.length, g.members.map((m) => m.key).join('')]), [[0, 2000, 'ab'], [3000, 1000, 'c'], [10_000, 500, 'd']]);
  const none = coalesceRanges(ranges, { maxGapBytes: 0 });
  assert.equal(none.length, 4);
  // Overlapping or identical ranges share one request.
  assert.deepEqual(coalesceRanges([{ key: 1, offset: 10, length: 10 }, { key: 2, offset: 12, length: 3 }]).map((g) => [g.offset, g.length]), [[10, 10]]);
});

test('TileCache: bounded in bytes (LRU), loads in flight shared', async () => {
  const cache = new TileCache<{ byteLength: number; id: string }>(250);
  let loads = 0;
  const load = (id: string) => async () => {
    loads++;
    await new Promise((r) => setTimeout(r, 5));
    return { byteLength: 100, id };
  };
  const [a1, a2] = await Promise.all([cache.getOrLoad('a', load('a')), cache.getOrLoad('a', load('a'))]);
  assert.equal(a1, a2);
  assert.equal(loads, 1);
  await cache.getOrLoad('b', load('b'));
  cache.get('a'); // a is now the most recently used
  await cache.getOrLoad('c', load('c')); // 300 bytes > 250: b goes
  assert.equal(cache.size, 2);
  assert.ok(cache.has('a') && cache.has('c') && !cache.has('b'));
  assert.ok(cache.stats.peakBytes <= 250);
  assert.equal(cache.stats.evictions, 1);
  cache.set('huge', { byteLength: 1000, id: 'huge' }); // larger than the bound: not kept
  assert.ok(!cache.has('huge'));
  await assert.rejects(cache.getOrLoad('x', () => Promise.reject(new Error('boom'))), /boom/);
  assert.ok(!cache.has('x'), 'a failed load is not cached');
});

test('TileCache: tiles marked done leave before any tile still to be used, oldest done first; a later use unmarks one', () => {
  const cache = new TileCache<{ byteLength: number }>(300);
  for (const k of ['a', 'b', 'c']) cache.set(k, { byteLength: 100 });
  cache.done('b');
  cache.done('c');
  cache.done('nowhere'); // not cached: ignored
  cache.set('d', { byteLength: 100 }); // a is the least recently used, but b is done: b goes
  assert.ok(cache.has('a') && !cache.has('b') && cache.has('c') && cache.has('d'));
  cache.get('c'); // used again after all: no longer done
  cache.set('e', { byteLength: 100 }); // nothing done left: plain LRU, a goes
  assert.ok(!cache.has('a') && cache.has('c') && cache.has('d') && cache.has('e'));
  cache.done('e');
  cache.set('f', { byteLength: 100 });
  assert.ok(!cache.has('e') && cache.has('c') && cache.has('d') && cache.has('f'));
  assert.equal(cache.stats.bytes, 300);
  assert.equal(cache.stats.evictions, 3);
});

test("TileCache: a caller sharing a load that another caller aborted loads again instead of failing", async () => {
  const { ClayError } = await import('../../../core/errors.ts');
  const cache = new TileCache<{ byteLength: number; id: string }>(1000);
  const aborted = async (): Promise<{ byteLength: number; id: string }> => {
    await new Promise((r) => setTimeout(r, 5));
    throw new ClayError('HTTP_ABORTED', 'aborted by the first chip');
  };
  let ownLoads = 0;
  const own = async () => { ownLoads++; return { byteLength: 10, id: 'mine' }; };
  const first = cache.getOrLoad('t', aborted);
  const second = cache.getOrLoad('t', own);
  await assert.rejects(first, { code: 'HTTP_ABORTED' });
  assert.deepEqual(await second, { byteLength: 10, id: 'mine' });
  assert.equal(ownLoads, 1);
  // Other failures are still shared, not retried.
  const boom = cache.getOrLoad('u', async () => { await new Promise((r) => setTimeout(r, 5)); throw new Error('boom'); });
  const joined = cache.getOrLoad('u', own);
  await assert.rejects(boom, /boom/);
  await assert.rejects(joined, /boom/);
  assert.equal(ownLoads, 1);
});
