import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { writeVectorFile } from '../../core/vector-file.ts';
import { WORLDCOVER_CLASSES } from '../../landcover/classes.ts';
import type { StatsSummary } from '../../landcover/stats.ts';
import { readStatsFile } from '../../landcover/stats-file.ts';
import { runCli } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { ogrinfo, run } from '../landcover/gdal.ts';

const AREA = '5.8,45.45,6.15,45.75';
const pcArgs = (pc: MiniPc): string[] => ['--stac-api', pc.stacApi, '--sas-api', pc.sasApi];
const serve = async (faults?: Parameters<typeof startMiniPc>[0]['faults']): Promise<MiniPc> => startMiniPc({ universe: await loadUniverse(BUNDLED_DIR), ...(faults ? { faults } : {}) });

test('clay landcover grid -> stats -> sample: JSON summaries, files ogrinfo reads, a computed area equal to its grid file, reruns skip', async () => {
  const pc = await serve();
  const dir = await mkdtemp(join(tmpdir(), 'clay-landcover-'));
  try {
    const grid = join(dir, 'grid.fgb');
    const g = await runCli(['landcover', 'grid', '--bbox', AREA, '--out', grid]);
    assert.equal(g.code, 0, g.stderr);
    const tiles = (JSON.parse(g.stdout) as { tiles: number }).tiles;
    assert.equal((await ogrinfo(grid)).featureCount, tiles);
    // --aoi: only the tiles meeting the polygons (a small triangle in the area's south-west).
    const aoi = join(dir, 'aoi.geojson');
    await writeVectorFile(aoi, [{ geometry: { type: 'Polygon', coordinates: [[[5.81, 45.46], [5.83, 45.46], [5.81, 45.48], [5.81, 45.46]]] }, properties: {} }]);
    const byAoi = await runCli(['landcover', 'grid', '--aoi', aoi, '--out', join(dir, 'aoi.fgb')]);
    assert.equal(byAoi.code, 0, byAoi.stderr);
    const aoiTiles = (await ogrinfo(join(dir, 'aoi.fgb'))).features.map((f) => String(f.properties.name));
    assert.equal((await runCli(['landcover', 'grid', '--bbox', '4,44,8,47', '--out', join(dir, 'wide.fgb')])).code, 0);
    const allTiles = (await ogrinfo(join(dir, 'wide.fgb'))).features.map((f) => String(f.properties.name));
    assert.ok(aoiTiles.length > 0 && aoiTiles.length < allTiles.length && aoiTiles.every((n) => allTiles.includes(n)), `${aoiTiles.join(' ')} of ${allTiles.join(' ')}`);

    const stats = join(dir, 'mgrs_stats.fgb');
    const a = await runCli([...pcArgs(pc), 'landcover', 'stats', '--grid', grid, '--out', stats]);
    assert.equal(a.code, 0, a.stderr);
    const sa = JSON.parse(a.stdout) as StatsSummary;
    assert.equal(sa.tiles, tiles);
    assert.equal(sa.done, tiles);
    assert.equal(sa.settings.overview, 3);
    assert.match(a.stderr, /"event":"Landcover:Stats:Done"/);
    assert.doesNotMatch(a.stderr, /sig=/, 'no SAS token in the logs');
    const layer = await ogrinfo(stats);
    assert.equal(layer.featureCount, sa.kept);
    assert.deepEqual(layer.fields.map((f) => f.name), ['name', 'count', ...WORLDCOVER_CLASSES.map((c) => c.column)]);

    const again = await runCli([...pcArgs(pc), 'landcover', 'stats', '--grid', grid, '--out', stats]);
    assert.equal(again.code, 0, again.stderr);
    const sb = JSON.parse(again.stdout) as StatsSummary;
    assert.deepEqual([sb.skipped, sb.done, sb.bytes], [tiles, 0, 0]);

    const computed = join(dir, 'computed.fgb');
    const c = await runCli([...pcArgs(pc), 'landcover', 'stats', '--bbox', AREA, '--out', computed]);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(await readStatsFile(computed), await readStatsFile(stats));

    const sample = join(dir, 'new', 'folder', 'mgrs_sample.fgb');
    const map = join(dir, 'sample.svg');
    const s1 = await runCli(['landcover', 'sample', '--stats', stats, '--out', sample, '--seed', '42', '--map', map, '--stratum', 'diversity=2/3']);
    assert.equal(s1.code, 0, s1.stderr);
    const r1 = JSON.parse(s1.stdout) as { tiles: number; strata: { key: string; short: boolean; size: number; pool: number }[] };
    assert.deepEqual(r1.strata.find((s) => s.key === 'diversity'), { ...r1.strata.find((s) => s.key === 'diversity'), size: 2, pool: 3 });
    assert.ok(r1.strata.filter((s) => s.key !== 'diversity').every((s) => s.short), 'v0 sizes exceed this small stats file: documented, not a crash');
    assert.match(s1.stderr, /"event":"Landcover:Sample:Short"/);
    const sl = await ogrinfo(sample);
    assert.equal(sl.featureCount, r1.tiles);
    assert.ok(sl.fields.some((f) => f.name === 'stratum'));
    assert.equal([...(await readFile(map, 'utf8')).matchAll(/<path data-name=/g)].length, r1.tiles);
    const copy = join(dir, 'again.fgb');
    assert.equal((await runCli(['landcover', 'sample', '--stats', stats, '--out', copy, '--seed', '42', '--stratum', 'diversity=2/3'])).code, 0);
    assert.ok((await readFile(copy)).equals(await readFile(sample)), 'same seed, same file');
  } finally {
    await pc.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad inputs are coded errors with exit 2; no tile kept exits 3; failed tiles exit 1', async () => {
  const pc = await serve();
  const dir = await mkdtemp(join(tmpdir(), 'clay-landcover-'));
  try {
    const noName = join(dir, 'noname.geojson');
    await writeVectorFile(noName, [{ geometry: { type: 'Polygon', coordinates: [[[5.9, 45.5], [6, 45.5], [6, 45.6], [5.9, 45.5]]] }, properties: { id: 1 } }]);
    const empty = join(dir, 'empty.geojson');
    await writeFile(empty, JSON.stringify({ type: 'FeatureCollection', features: [] }));
    const cases: [string[], number, string][] = [
      [['landcover', 'stats', '--grid', join(dir, 'missing.fgb'), '--out', join(dir, 'o.fgb')], 2, 'BAD_SAMPLE_FILE'],
      [['landcover', 'stats', '--grid', noName, '--out', join(dir, 'o.fgb')], 2, 'BAD_SAMPLE_FILE'],
      [['landcover', 'stats', '--grid', empty, '--out', join(dir, 'o.fgb')], 2, 'BAD_SAMPLE_FILE'],
      [['landcover', 'stats', '--bbox', AREA, '--grid', noName, '--out', join(dir, 'o.fgb')], 2, 'BAD_ARGUMENT'],
      [['landcover', 'stats', '--bbox', '6,45,5,44,1', '--out', join(dir, 'o.fgb')], 2, 'BAD_ARGUMENT'],
      [['landcover', 'stats', '--bbox', AREA, '--overview', 'x', '--out', join(dir, 'o.fgb')], 2, 'BAD_ARGUMENT'],
      [['landcover', 'sample', '--stats', empty, '--out', join(dir, 's.fgb')], 2, 'BAD_SAMPLE_FILE'],
      [['landcover', 'sample', '--stats', join(dir, 'missing.fgb'), '--out', join(dir, 's.fgb')], 2, 'BAD_SAMPLE_FILE'],
      [['landcover', 'sample', '--stats', noName, '--out', join(dir, 's.fgb')], 2, 'BAD_SAMPLE_FILE'],
    ];
    for (const [args, code, error] of cases) {
      const r = await runCli([...pcArgs(pc), ...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^error ${error}: `, 'm'), args.join(' '));
    }
    // Open Pacific: tiles, but no WorldCover under them: nothing kept, nothing written, exit 3.
    const ocean = await runCli([...pcArgs(pc), 'landcover', 'stats', '--bbox', '-150,-20,-149.5,-19.5', '--out', join(dir, 'ocean.fgb')]);
    assert.equal(ocean.code, 3, ocean.stderr);
    const so = JSON.parse(ocean.stdout) as StatsSummary;
    assert.equal(so.written, false);
    assert.ok(so.dropped.noData > 0);
    // Overview 9 does not exist in the bundled COGs: those tiles fail (exit 1), the rest is done.
    const bad = await runCli([...pcArgs(pc), 'landcover', 'stats', '--bbox', AREA, '--overview', '9', '--out', join(dir, 'bad.fgb')]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.ok((JSON.parse(bad.stdout) as StatsSummary).failed.every((f) => f.code === 'BAD_ARGUMENT'));
    assert.match(bad.stderr, /"event":"Landcover:Stats:Failed"/);
  } finally {
    await pc.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a stats run killed part way (SIGKILL) continues where it stopped and ends with the same file as an uninterrupted run', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-landcover-'));
  // 40 small tiles: the first 20 west of 6 E (WorldCover N45E003), the last 20 east (N45E006).
  const tiles = Array.from({ length: 40 }, (_, i) => {
    const w = i < 20 ? 5.8 + (i % 10) * 0.019 : 6.0 + (i % 10) * 0.019;
    const s = 45.45 + Math.floor((i % 20) / 10) * 0.1;
    return { geometry: { type: 'Polygon' as const, coordinates: [[[w, s], [w + 0.017, s], [w + 0.017, s + 0.08], [w, s + 0.08], [w, s]]] }, properties: { name: `K${String(i).padStart(2, '0')}` } };
  });
  const grid = join(dir, 'grid.fgb');
  await writeVectorFile(grid, tiles);
  // The first server answers 503 to every read of N45E006 with long retry delays: the run stalls there.
  const slow = await serve({ script: [{ service: 'blob', kind: '503', count: Infinity, pathIncludes: 'N45E006' }] });
  const out = join(dir, 'stats.fgb');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../cli/run.ts', import.meta.url)), ...pcArgs(slow), 'landcover', 'stats', '--grid', grid, '--out', out, '--overview', 'none', '--concurrency', '1'], {
      env: { ...process.env, CLAY_HTTP_BASE_DELAY_MS: '5000', CLAY_HTTP_MAX_ATTEMPTS: '20' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/"event":"Progress:Update".*"done":(1[0-9]|20)\b/.test(stderr)) resolve();
      });
      child.on('exit', () => reject(new Error(`the run ended before it was killed: ${stderr}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
  } finally {
    await slow.close();
  }
  const pc = await serve();
  try {
    const resumed = await runCli([...pcArgs(pc), 'landcover', 'stats', '--grid', grid, '--out', out, '--overview', 'none']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const summary = JSON.parse(resumed.stdout) as StatsSummary;
    assert.ok(summary.skipped >= 10 && summary.skipped <= 20, `skipped ${summary.skipped}`);
    assert.equal(summary.skipped + summary.done, 40);
    const clean = join(dir, 'clean.fgb');
    assert.equal((await runCli([...pcArgs(pc), 'landcover', 'stats', '--grid', grid, '--out', clean, '--overview', 'none'])).code, 0);
    assert.deepEqual(await readStatsFile(out), await readStatsFile(clean));
    const { stdout } = await run('ogrinfo', ['-ro', '-so', '-al', out]);
    assert.match(stdout, /^Feature Count: 40$/m);
  } finally {
    await pc.close();
    await rm(dir, { recursive: true, force: true });
  }
});
