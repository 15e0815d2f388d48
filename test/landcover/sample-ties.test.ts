/**
 * The sampler's tie order: `ties: 'numpy-quicksort'` reproduces numpy's argsort(kind="quicksort") and pandas'
 * sort_values(ascending=False) exactly (Debian's numpy 1.24 / pandas 1.5, which sort without SIMD), and a
 * whole draw equals Clay v0's `sample()` run by pandas on the same stats; the default `stable` order does
 * not, on data with ties, which is why the option exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { WORLDCOVER_CLASSES } from '../../landcover/classes.ts';
import { numpyQuicksortArgsort, pandasDescendingOrder } from '../../landcover/numpy-sort.ts';
import { drawSample } from '../../landcover/sample.ts';
import { zeroCounts, type StatsRow } from '../../landcover/stats-file.ts';
import { mulberry32 } from '../../core/random.ts';

const PYTHON = '/usr/bin/python3'; // Debian's: python3-numpy 1.24, python3-pandas 1.5

function py<T>(script: string, input: unknown): T {
  return JSON.parse(execFileSync(PYTHON, ['-c', `import json, sys, numpy as np, pandas as pd\nd = json.load(sys.stdin)\n${script}`], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 27 })) as T;
}

test('numpyQuicksortArgsort and pandasDescendingOrder equal numpy 1.24 and pandas 1.5, heavy ties, small and large', () => {
  const rnd = mulberry32(3);
  for (const [n, k] of [[1, 1], [7, 2], [16, 3], [17, 3], [100, 4], [2500, 6], [20000, 3], [4000, 4000]] as const) {
    const v = Array.from({ length: n }, () => Math.floor(rnd() * k) / k);
    const o = py<{ a: number[]; p: number[] }>(
      "v = np.array(d, dtype=float)\ndf = pd.DataFrame({'v': v}); df.sort_values('v', ascending=False, inplace=True)\nprint(json.dumps({'a': np.argsort(v, kind='quicksort').tolist(), 'p': df.index.tolist()}))", v);
    assert.deepEqual(numpyQuicksortArgsort(v), o.a, `argsort n=${n}`);
    assert.deepEqual(pandasDescendingOrder(v), o.p, `sort_values n=${n}`);
  }
});

/** Stats rows with many ties: few classes per tile, counts from a small set. */
function tiedStats(n: number): StatsRow[] {
  const rnd = mulberry32(11);
  return Array.from({ length: n }, (_, i) => {
    const pixels = zeroCounts();
    for (const c of WORLDCOVER_CLASSES) if (rnd() < 0.35) pixels[c.key] = [100, 200, 400][Math.floor(rnd() * 3)]!;
    if (Object.values(pixels).every((x) => x === 0)) pixels.trees = 100;
    const w = (i % 100) * 0.5, s = Math.floor(i / 100) * 0.5;
    return { name: `T${String(i).padStart(5, '0')}`, footprint: { type: 'Polygon', coordinates: [[[w, s], [w + 0.5, s], [w + 0.5, s + 0.5], [w, s + 0.5], [w, s]]] }, count: WORLDCOVER_CLASSES.filter((c) => pixels[c.key] > 0).length, pixels };
  });
}

test("a whole draw with ties: 'numpy-quicksort' equals v0's sample() in pandas; 'stable' differs", () => {
  const rows = tiedStats(6000);
  const table = rows.map((r) => ({ name: r.name, count: r.count, ...Object.fromEntries(WORLDCOVER_CLASSES.map((c) => [c.column, r.pixels[c.key]])) }));
  // v0's sample() on a DataFrame of the stats file's columns (geometry left out: it is not sorted on).
  const v0 = py<string[]>(`
data = pd.DataFrame(d)
num = data.loc[:, data.columns != "count"].select_dtypes(include="number")
data[num.columns] = num.div(num.sum(axis=1), axis=0)
def split_highest(data, column, size, pool=1000, seed=42):
    data.sort_values(column, ascending=False, inplace=True)
    return data[:pool].sample(size, random_state=seed)
parts = [split_highest(data, "count", 500, 3000), split_highest(data, "Built-up", 400)]
for col, size, pool in [("Herbaceous wetland", 50, 500), ("Mangroves", 50, 500), ("Moss and lichen", 50, 500), ("Cropland", 100, 500), ("Tree cover", 100, 500), ("Shrubland", 50, 500), ("Grassland", 50, 500), ("Bare / sparse vegetation", 50, 500), ("Snow and Ice", 50, 500), ("Permanent water bodies", 100, 1000)]:
    parts.append(split_highest(data, col, size, pool))
print(json.dumps(pd.concat(parts).drop_duplicates(subset=["name"])["name"].tolist()))`, table);
  const quick = drawSample(rows, { ties: 'numpy-quicksort' }).tiles.map((t) => t.name);
  assert.equal(quick.length, v0.length);
  assert.deepEqual(quick, v0);
  const stable = drawSample(rows).tiles.map((t) => t.name);
  assert.notDeepEqual(stable, v0, 'with these ties the stable order draws other tiles');
});
