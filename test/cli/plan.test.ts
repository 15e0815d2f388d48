import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import type { ScenePlan } from '../../pipeline/plan/plan-types.ts';
import { defaultIndex, parseRows, type RowSizing } from '../../cli/commands/plan.ts';
import { runCli } from '../helpers/cli.ts';
import { BUNDLED_DIR, bundledCases } from '../helpers/bundled.ts';

const sample = `${BUNDLED_DIR}mgrs_sample.fgb`;

test('clay plan: JSON off a TTY, --out written atomically, exit 0; a row with no data exits 3 with a result', async () => {
  const cases = await bundledCases();
  const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  const dir = await mkdtemp(join(tmpdir(), 'clay-plan-'));
  try {
    const out = join(dir, 'plans', 'row0.json');
    const r = await runCli(['--stac-api', pc.stacApi, 'plan', '--sample', sample, '--index', '0', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout) as ScenePlan;
    assert.deepEqual(p.dates.map((d) => d.s2.id), cases.rows[0]!.expected!.default.map((d) => d.s2));
    assert.deepEqual(JSON.parse(await readFile(out, 'utf8')), p);
    assert.match(r.stderr, /"event":"Plan:Done".*"stacRequests":11/);
    const compat = await runCli(['--stac-api', pc.stacApi, 'plan', '--sample', sample, '--mgrs', '31TGL', '--compat', 'clay-v0']);
    assert.equal(compat.code, 0, compat.stderr);
    assert.deepEqual((JSON.parse(compat.stdout) as ScenePlan).dates[0]!.s1.scenes.map((s) => s.id), cases.rows[0]!.expected!.compat[0]!.s1);
    const none = await runCli(['--stac-api', pc.stacApi, 'plan', '--sample', sample, '--index', '1']);
    assert.equal(none.code, 3, none.stderr);
    assert.equal((JSON.parse(none.stdout) as ScenePlan).status, 'no-data');
    assert.doesNotMatch(none.stderr, /^error/m);
  } finally {
    await pc.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('clay plan: bad sample file, index out of range and a bad --compat are coded errors with exit 2', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-plan-'));
  try {
    const bad = join(dir, 'bad.fgb');
    await writeFile(bad, 'not a flatgeobuf');
    const a = await runCli(['plan', '--sample', bad]);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /^error BAD_SAMPLE_FILE: .*bad\.fgb/m);
    const b = await runCli(['plan', '--sample', sample, '--index', '3']);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /^error BAD_INDEX: .*mgrs_sample\.fgb.*3 rows/m);
    const c = await runCli(['plan', '--sample', sample, '--compat', 'clay-v1']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /^error BAD_ARGUMENT: --compat/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the row index defaults to the array-job index (AWS Batch, then Kubernetes), else 0', () => {
  assert.equal(defaultIndex({}), 0);
  assert.equal(defaultIndex({ JOB_COMPLETION_INDEX: '7' }), 7);
  assert.equal(defaultIndex({ AWS_BATCH_JOB_ARRAY_INDEX: '4', JOB_COMPLETION_INDEX: '7' }), 4);
  assert.throws(() => defaultIndex({ AWS_BATCH_JOB_ARRAY_INDEX: 'x' }), { code: 'BAD_ARGUMENT' });
});

test('--rows parses all, ranges and lists, and names the file when out of range', () => {
  assert.deepEqual(parseRows('all', 3, 'f.fgb'), [0, 1, 2]);
  assert.deepEqual(parseRows('4-6,1, 5', 10, 'f.fgb'), [1, 4, 5, 6]);
  assert.throws(() => parseRows('2-1', 10, 'f.fgb'), { code: 'BAD_ARGUMENT' });
  assert.throws(() => parseRows('x', 10, 'f.fgb'), { code: 'BAD_ARGUMENT' });
  assert.throws(() => parseRows('8-10', 10, 'f.fgb'), (e: Error & { code?: string }) => e.code === 'BAD_INDEX' && /f\.fgb/.test(e.message));
});

test('clay plan --rows sizes a whole sample: one record per row, totals, and a plan file per row', async () => {
  const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  const dir = await mkdtemp(join(tmpdir(), 'clay-plan-'));
  try {
    const r = await runCli(['--stac-api', pc.stacApi, 'plan', '--sample', sample, '--rows', 'all', '--out', dir, '--concurrency', '2']);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { rows: RowSizing[]; totals: { rows: number; withData: number; chips: number; stacRequests: number; estimatedBytes: number } };
    assert.deepEqual(got.rows.map((x) => [x.index, x.mgrs, x.status, x.dates.length]), [[0, '31TGL', 'ok', 3], [1, '01KAB', 'no-data', 0], [2, '31TGK', 'ok', 2]]);
    // Requests are counted per row even when rows are planned concurrently on one client.
    assert.deepEqual(got.rows.map((x) => x.stacRequests), [11, 7, 29]);
    assert.equal(got.totals.stacRequests, pc.requests.filter((q) => q.service === 'stac').length);
    for (const x of got.rows) {
      const p = JSON.parse(await readFile(join(dir, `plan-${x.index}.json`), 'utf8')) as ScenePlan;
      assert.equal(p.totals.chips, x.chips);
      assert.equal(p.totals.estimatedBytes, x.estimatedBytes);
    }
    assert.equal(got.totals.chips, 62);
  } finally {
    await pc.close();
    await rm(dir, { recursive: true, force: true });
  }
});
