import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { isClayError } from '../../core/errors.ts';
import { mulberry32 } from '../../core/random.ts';
import { WORLDCOVER_CLASSES } from '../../landcover/classes.ts';
import { NumpyRandomState, sampleIndices } from '../../landcover/numpy-random.ts';
import { CLAY_V0_STRATA, drawSample, parseStratum, withOverrides, type Stratum } from '../../landcover/sample.ts';
import { writeSampleFile } from '../../landcover/sample-file.ts';
import { sampleMapSvg, stratumColor } from '../../landcover/sample-map.ts';
import { readStatsFile, writeStatsFile, zeroCounts, type StatsRow } from '../../landcover/stats-file.ts';
import { ogrinfo, run } from './gdal.ts';

/** `python3 -c script` with numpy, JSON out. */
function numpy<T>(script: string): T {
  return JSON.parse(execFileSync('python3', ['-c', `import json, numpy as np\n${script}`], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as T;
}

/** `side` x `side` non-overlapping 0.5-degree tiles with seeded class counts: ties in `count`, zeros in rare classes. */
function syntheticStats(side: number, seed = 7): StatsRow[] {
  const rnd = mulberry32(seed);
  const rows: StatsRow[] = [];
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      const pixels = zeroCounts();
      for (const c of WORLDCOVER_CLASSES) {
        const rare = c.value === 95 || c.value === 100 || c.value === 70;
        pixels[c.key] = rnd() < (rare ? 0.85 : 0.2) ? 0 : Math.floor(rnd() * 5000);
      }
      if (Object.values(pixels).every((v) => v === 0)) pixels.trees = 1;
      const w = 10 + i * 0.5, s = 40 + j * 0.5;
      rows.push({
        name: `T${String(j).padStart(2, '0')}${String(i).padStart(2, '0')}`,
        footprint: { type: 'Polygon', coordinates: [[[w, s], [w + 0.5, s], [w + 0.5, s + 0.5], [w, s + 0.5], [w, s]]] },
        count: WORLDCOVER_CLASSES.filter((c) => pixels[c.key] > 0).length,
        pixels,
      });
    }
  }
  return rows;
}

test("numpy's RandomState: permutation and choice without replacement, as this machine's numpy draws them", () => {
  const cases = [[42, 10], [42, 3000], [0, 1], [1, 500], [123456789, 1000], [2 ** 32 - 1, 77]] as const;
  const expected = numpy<{ perm: number[]; choice: number[] }[]>(`
out = []
for seed, n in ${JSON.stringify(cases)}:
    out.append({"perm": np.random.RandomState(seed).permutation(n).tolist(), "choice": np.random.RandomState(seed).choice(n, min(n, 37), replace=False).tolist()})
print(json.dumps(out))`);
  cases.forEach(([seed, n], k) => {
    assert.deepEqual(new NumpyRandomState(seed).permutation(n), expected[k]!.perm, `permutation seed ${seed} n ${n}`);
    assert.deepEqual(sampleIndices(n, Math.min(n, 37), seed), expected[k]!.choice, `choice seed ${seed} n ${n}`);
  });
});

test("the sample equals a numpy re-implementation of Clay v0's sample(): fractions, in-place descending sorts, pools, seeded draws, first of duplicates", () => {
  const rows = syntheticStats(20);
  const strata: Stratum[] = CLAY_V0_STRATA.map((s) => ({ key: s.key, size: Math.ceil(s.size / 10), pool: Math.ceil(s.pool / 10) }));
  strata[3] = { key: 'mangroves', size: 30, pool: 25 }; // asks more than its pool: v0 raised, we take the pool
  for (const seed of [42, 7]) {
    const ours = drawSample(rows, { seed, strata });
    const columns = WORLDCOVER_CLASSES.map((c) => c.key);
    const expected = numpy<string[]>(`
rows = json.loads(${JSON.stringify(JSON.stringify(rows.map((r) => ({ name: r.name, count: r.count, pixels: r.pixels }))))})
strata = ${JSON.stringify(strata.map((s) => [s.key, s.size, s.pool]))}
cols = ${JSON.stringify(columns)}
names = [r["name"] for r in rows]
px = np.array([[r["pixels"][c] for c in cols] for r in rows], dtype=float)
tot = px.sum(axis=1, keepdims=True)
frac = np.where(tot > 0, px / np.where(tot > 0, tot, 1), 0)
count = np.array([r["count"] for r in rows], dtype=float)
order = np.arange(len(rows))
picked = []
for key, size, pool in strata:
    v = count if key == "diversity" else frac[:, cols.index(key)]
    order = order[np.argsort(-v[order], kind="stable")]
    top = order[:pool]
    idx = np.random.RandomState(${seed}).choice(len(top), min(size, len(top)), replace=False)
    picked += [names[i] for i in top[idx]]
seen, out = set(), []
for n in picked:
    if n not in seen:
        seen.add(n); out.append(n)
print(json.dumps(out))`);
    assert.deepEqual(ours.tiles.map((t) => t.name), expected, `seed ${seed}`);
    const mangroves = ours.strata.find((s) => s.key === 'mangroves')!;
    assert.equal(mangroves.short, true);
    assert.equal(mangroves.drawn, 25);
  }
});

test('the same seed gives an identical sample file, another seed another sample; ogrinfo reads the fields and features', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-sample-'));
  try {
    const stats = join(dir, 'mgrs_stats.fgb');
    await writeStatsFile(stats, syntheticStats(25));
    const rows = await readStatsFile(stats);
    const strata = withOverrides([parseStratum('diversity=60/300'), parseStratum('built-up=40/100'), parseStratum('water=10/100')]);
    const draw = async (seed: number, name: string): Promise<Buffer> => {
      const out = join(dir, name);
      await writeSampleFile(out, drawSample(rows, { seed, strata }).tiles);
      return readFile(out);
    };
    const a = await draw(42, 'a.fgb');
    const b = await draw(42, 'b.fgb');
    const c = await draw(43, 'c.fgb');
    assert.ok(a.equals(b), 'same seed, same bytes');
    const layerA = await ogrinfo(join(dir, 'a.fgb'));
    const layerC = await ogrinfo(join(dir, 'c.fgb'));
    const namesA = layerA.features.map((f) => f.properties.name);
    const namesC = layerC.features.map((f) => f.properties.name);
    assert.notDeepEqual(namesA, namesC, 'another seed, another sample');
    const expected = drawSample(rows, { seed: 42, strata }).tiles;
    assert.equal(layerA.featureCount, expected.length);
    assert.deepEqual(namesA, expected.map((t) => t.name));
    assert.deepEqual(layerA.fields.map((f) => f.name), ['name', 'count', ...WORLDCOVER_CLASSES.map((x) => x.column), 'stratum']);
    assert.equal(layerA.geometryType, 'Multi Polygon');
    for (const f of layerA.features) {
      const sum = WORLDCOVER_CLASSES.reduce((n, x) => n + Number(f.properties[x.column]), 0);
      assert.ok(Math.abs(sum - 1) < 1e-9, `${String(f.properties.name)} fractions sum to ${sum}`);
    }
    assert.ok(c.length > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('small inputs: pools larger than the tiles take them all, sizes larger than the pool take the pool, nothing crashes', async () => {
  const rows = syntheticStats(4); // 16 tiles, fewer than every v0 pool and size
  const r = drawSample(rows);
  for (const s of r.strata) {
    assert.equal(s.available, 16, s.key);
    assert.equal(s.drawn, 16);
    assert.equal(s.short, true);
  }
  assert.deepEqual(r.tiles.map((t) => t.name).sort(), rows.map((x) => x.name).sort(), 'every tile, once');
  assert.ok(r.tiles.every((t) => t.stratum === 'diversity'), 'the first stratum takes them all');
  const none = drawSample(rows, { strata: CLAY_V0_STRATA.map((s) => ({ ...s, size: 0 })) });
  assert.equal(none.tiles.length, 0);
  await assert.rejects(writeSampleFile(join(tmpdir(), `clay-empty-${process.pid}.fgb`), none.tiles), (e) => isClayError(e, 'BAD_ARGUMENT'));
  assert.throws(() => parseStratum('forest=1/2'), (e) => isClayError(e, 'BAD_ARGUMENT'));
  assert.throws(() => parseStratum('water=x'), (e) => isClayError(e, 'BAD_ARGUMENT'));
  assert.deepEqual(parseStratum('water=7'), { key: 'water', size: 7, pool: 1000 });
  assert.throws(() => drawSample([...rows, rows[0]!]), (e) => isClayError(e, 'BAD_SAMPLE_FILE'));
});

test('bad stats files are BAD_SAMPLE_FILE: missing, empty (GeoJSON and a FlatGeobuf from ogr2ogr), without name, without a class column', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-sample-'));
  try {
    const good = join(dir, 'good.geojson');
    await writeStatsFile(good, syntheticStats(2));
    const emptyGeojson = join(dir, 'empty.geojson');
    await writeFile(emptyGeojson, JSON.stringify({ type: 'FeatureCollection', features: [] }));
    const emptyFgb = join(dir, 'empty.fgb');
    await run('ogr2ogr', ['-f', 'FlatGeobuf', '-where', 'count < 0', emptyFgb, good]);
    assert.equal((await ogrinfo(emptyFgb)).featureCount, 0);
    const json = JSON.parse(await readFile(good, 'utf8')) as { features: { properties: Record<string, unknown> }[] };
    const noName = join(dir, 'noname.geojson');
    await writeFile(noName, JSON.stringify({ ...json, features: json.features.map((f) => ({ ...f, properties: { ...f.properties, name: undefined } })) }));
    const noClass = join(dir, 'noclass.geojson');
    await writeFile(noClass, JSON.stringify({ ...json, features: json.features.map((f) => ({ ...f, properties: { ...f.properties, Mangroves: undefined } })) }));
    for (const path of [join(dir, 'missing.fgb'), emptyGeojson, emptyFgb, noName, noClass]) {
      await assert.rejects(readStatsFile(path), (e) => isClayError(e, 'BAD_SAMPLE_FILE'), path);
    }
    assert.equal((await readStatsFile(good)).length, 4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the map: one path per sampled tile in its stratum colour, as a renderer (librsvg via sharp) draws it', async () => {
  const rows = syntheticStats(12);
  const strata = withOverrides([parseStratum('diversity=10/40'), parseStratum('water=8/30'), parseStratum('built-up=8/30'), parseStratum('trees=8/30')]);
  const { tiles } = drawSample(rows, { strata });
  const svg = sampleMapSvg(tiles, { background: rows.map((r) => r.footprint), width: 600 });
  assert.equal([...svg.matchAll(/<path data-name="/g)].length, tiles.length);
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  // Plate carree over the rows' extent plus 3 % padding, as drawn: sample each tile at its centre.
  const w = 10 - 0.18, n = 46 + 0.18, scale = 600 / (6 + 0.36);
  const hex = (i: number): string => `#${[0, 1, 2].map((k) => data[i + k]!.toString(16).padStart(2, '0')).join('')}`;
  for (const t of tiles) {
    const ring = t.footprint.type === 'Polygon' ? t.footprint.coordinates[0]! : t.footprint.coordinates[0]![0]!;
    const cx = (ring[0]![0] + ring[2]![0]) / 2, cy = (ring[0]![1] + ring[2]![1]) / 2;
    const px = Math.round((cx - w) * scale), py = Math.round((n - cy) * scale);
    assert.equal(hex((py * info.width + px) * 3), stratumColor(t.stratum), `${t.name} (${t.stratum})`);
  }
  // An unsampled tile is grey.
  const unsampled = rows.find((r) => !tiles.some((t) => t.name === r.name))!;
  const ring = unsampled.footprint.type === 'Polygon' ? unsampled.footprint.coordinates[0]! : [];
  const px = Math.round(((ring[0]![0] + ring[2]![0]) / 2 - w) * scale), py = Math.round((n - (ring[0]![1] + ring[2]![1]) / 2) * scale);
  assert.equal(hex((py * info.width + px) * 3), '#e5e5e5');
});
