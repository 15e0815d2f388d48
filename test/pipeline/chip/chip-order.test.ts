import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockOrder } from '../../../pipeline/chip/chip-unit.ts';

const chips = (rows: number, columns: number): { chip: number }[] => Array.from({ length: rows * columns }, (_, i) => ({ chip: i + 1 }));

test('blockOrder: blocks of b x b chips, row-major over the blocks and inside each; partial blocks at the edges', () => {
  // 3 rows x 5 columns, blocks of 2: chip numbers row-major 1..15.
  assert.deepEqual(blockOrder(chips(3, 5), 5, 2).map((c) => c.chip), [1, 2, 6, 7, 3, 4, 8, 9, 5, 10, 11, 12, 13, 14, 15]);
  // Block 1 is row-major itself; every chip appears once in every case.
  assert.deepEqual(blockOrder(chips(3, 5), 5, 1).map((c) => c.chip), chips(3, 5).map((c) => c.chip));
  for (const [r, c, b] of [[4, 5, 2], [21, 21, 4], [1, 7, 3], [6, 1, 8]] as const) {
    const order = blockOrder(chips(r, c), c, b).map((x) => x.chip);
    assert.deepEqual([...order].sort((x, y) => x - y), chips(r, c).map((x) => x.chip), `${r}x${c} blocks of ${b}`);
    // The first block is the top-left b x b chips (or as many as the tile has).
    const first = order.slice(0, Math.min(b, r) * Math.min(b, c));
    assert.ok(first.every((n) => Math.floor((n - 1) / c) < b && (n - 1) % c < b), `${r}x${c} blocks of ${b}: ${first}`);
  }
});
