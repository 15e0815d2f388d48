import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import { itemJson, square, universeOf } from '../helpers/items.ts';
import { runCli } from '../helpers/cli.ts';

async function sampleFile(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'clay-cli-'));
  const path = join(dir, 'sample.geojson');
  await writeFile(path, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { name: '31TGL' }, geometry: square(6, 45.6, 0.05) }] }));
  return path;
}

test('a missing sample file: one coded line naming it, exit 2', async () => {
  const r = await runCli(['search', '--sample', '/nonexistent/mgrs_sample.fgb', '--index', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^error BAD_SAMPLE_FILE: .*\/nonexistent\/mgrs_sample\.fgb/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('an index out of range: BAD_INDEX naming the file and the row count; --verbose adds the stack', async () => {
  const path = await sampleFile();
  const r = await runCli(['search', '--sample', path, '--index', '5']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error BAD_INDEX: index 5 is out of range for .*sample\.geojson \(1 rows/);
  const v = await runCli(['--verbose', 'search', '--sample', path, '--index', '5']);
  assert.match(v.stderr, /\n\s+at /);
});

test('a malformed flag value is a BAD_ARGUMENT naming the flag', async () => {
  const r = await runCli(['search', '--sample', 'x.fgb', '--year', 'twenty']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--year must be an integer/);
});

test('clay search prints the items of a tile and year as JSON off a TTY', async () => {
  const path = await sampleFile();
  const universe = universeOf([
    itemJson('S2_2021_a', 'sentinel-2-l2a', { datetime: '2021-06-15T10:30:21Z', 'eo:cloud_cover': 12, 's2:nodata_pixel_percentage': 0, 'proj:epsg': 32631 }),
    itemJson('S2_2021_dec31', 'sentinel-2-l2a', { datetime: '2021-12-31T10:40:11Z', 'eo:cloud_cover': 1, 's2:nodata_pixel_percentage': 0, 'proj:code': 'EPSG:32631' }),
    itemJson('S2_2020', 'sentinel-2-l2a', { datetime: '2020-06-15T10:30:21Z', 'eo:cloud_cover': 3, 's2:nodata_pixel_percentage': 0 }),
    itemJson('S2_far', 'sentinel-2-l2a', { datetime: '2021-06-15T10:30:21Z', 'eo:cloud_cover': 3, 's2:nodata_pixel_percentage': 0 }, { lon: 20 }),
  ]);
  const pc = await startMiniPc({ universe });
  try {
    const r = await runCli(['--stac-api', pc.stacApi, 'search', '--sample', path, '--index', '0', '--year', '2021']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { mgrs: string; count: number; items: { id: string; epsg?: number; cloudCover?: number }[] };
    assert.equal(out.mgrs, '31TGL');
    assert.deepEqual(out.items.map((i) => i.id), ['S2_2021_a']);
    assert.equal(out.items[0]!.epsg, 32631);
    assert.equal(out.items[0]!.cloudCover, 12);
  } finally {
    await pc.close();
  }
});

test('an unreachable STAC endpoint fails with STAC_HTTP naming the URL after the retries', async () => {
  const path = await sampleFile();
  const r = await runCli(['--stac-api', 'http://127.0.0.1:9/api/stac/v1', 'search', '--sample', path], { CLAY_HTTP_MAX_ATTEMPTS: '3', CLAY_HTTP_BASE_DELAY_MS: '5' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error STAC_HTTP: POST http:\/\/127\.0\.0\.1:9\/api\/stac\/v1\/search failed after 3 attempts/);
  assert.equal(r.stderr.split('\n').filter((l) => l.includes('"event":"Http:Retry"')).length, 2);
});

test('the pipeline commands never load TensorFlow.js (~50 MB): only train, embed and reconstruct do', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  // tfjs-core registers its engine on the global object when it loads.
  const probe = (argv: string[]): Promise<string> =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      `const { main } = await import(${JSON.stringify(new URL('../../cli/main.ts', import.meta.url).href)}); await main(${JSON.stringify(argv)}); process.stdout.write('\\nTFJS=' + typeof globalThis._tfengine);`,
    ], { cwd: new URL('../..', import.meta.url) }).then((r) => /TFJS=(\w+)/.exec(r.stdout)?.[1] ?? r.stdout);
  assert.equal(await probe(['--help']), 'undefined');
  assert.equal(await probe(['run', '--sample', '/nonexistent.fgb', '--index', '0', '--out', '/tmp/never']), 'undefined');
  // The probe itself can see tfjs: a model command that loads it is seen.
  assert.equal(await probe(['reconstruct', '--checkpoint', '/nonexistent', '--chip', '/nonexistent/claytile_31TGL_20210615_v02_0001.tif', '--out', '/tmp/never-clay.png', '--force']), 'object');
});
