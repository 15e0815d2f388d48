/**
 * `clay status` against real runs of the bundled sample (the CLI in child processes, the loopback Planetary
 * Computer): every row complete (exit 0), then a row killed mid-unit (incomplete), a row that fails on a
 * corrupt Sentinel-2 file (failed, with the error's code), a row never run (not started), exit 4 and the
 * `--indices` to resubmit; the same on a loopback S3 server. Status itself gets no STAC flags: it would
 * reach for the real Planetary Computer (no internet here) if it needed the network.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadUniverse, type Universe } from '../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { StatusReport } from '../../cli/commands/status.ts';
import { runCli } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { withBlob } from '../helpers/broken-universe.ts';
import { runAndKill } from '../helpers/run-output.ts';
import { startS3 } from '../helpers/s3.ts';

const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
/** Row 2's second date (31TGK, 2020-06-09): its B02 file is replaced by bytes that are not a TIFF. */
const BROKEN_ITEM = 'S2A_MSIL2A_20200609T103021_R108_T31TGK_20200610T010732';
let good: MiniPc;
let broken: MiniPc;
let dir: string;

const run = (pc: MiniPc, index: number, out: string, ...more: string[]): string[] =>
  ['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--index', String(index), '--out', out, ...more];

async function status(out: string, env: Record<string, string> = {}, ...more: string[]): Promise<{ code: number | null; report: StatusReport; stderr: string }> {
  const r = await runCli(['status', '--sample', sample, '--out', out, ...more], env);
  return { code: r.code, report: JSON.parse(r.stdout) as StatusReport, stderr: r.stderr };
}

before(async () => {
  const universe: Universe = await loadUniverse(BUNDLED_DIR);
  good = await startMiniPc({ universe });
  broken = await startMiniPc({ universe: await withBlob(universe, BROKEN_ITEM, 'B02', () => new TextEncoder().encode('<html>not a tiff</html>')) });
  dir = await mkdtemp(join(tmpdir(), 'clay-status-'));
});

after(async () => {
  await good.close();
  await broken.close();
  await rm(dir, { recursive: true, force: true });
});

test('clay status: every row complete (a no-data row too) → exit 0, nothing to resubmit; old outputs count through their row index', async () => {
  const out = join(dir, 'complete');
  for (const i of [0, 2]) assert.equal((await runCli(run(good, i, out))).code, 0);
  const none = await runCli(run(good, 1, out, '--allow-no-data'));
  assert.equal(none.code, 0, none.stderr);
  const s = await status(out);
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(s.report.rows.map((r) => [r.index, r.mgrs, r.state, r.unitsComplete, r.unitsPlanned]), [[0, '31TGL', 'complete', 3, 3], [1, '01KAB', 'complete', 0, 0], [2, '31TGK', 'complete', 2, 2]]);
  assert.equal(s.report.rows[1]!.planStatus, 'no-data');
  assert.deepEqual([s.report.resubmit, s.report.indices, s.report.counts.complete], [[], '', 3]);
  // Outputs of runs that predate row records: the merged row index of `clay run --index N` says the row finished.
  const store = await openStore(out);
  await store.removePrefix('02/status/');
  const old = await status(out);
  assert.equal(old.code, 4);
  assert.deepEqual(old.report.rows.map((r) => r.state), ['complete', 'not-started', 'complete']);
  assert.match(old.report.rows[0]!.detail, /row index/);
  // ... and when those indexes were written by the Parquet codec of before hyparquet (test/fixtures/parquet-v1/run-row-0:
  // row 0 of this sample, run by that code): the same answer.
  for (const key of ['02/index/row-0.parquet', '02/31TGL/2017-08-10/chips.parquet', '02/31TGL/2021-06-15/chips.parquet', '02/31TGL/2022-07-05/chips.parquet']) {
    const bytes = await readFile(new URL(`../fixtures/parquet-v1/run-row-0/${key}`, import.meta.url));
    assert.ok(!Buffer.from((await store.get(key))!).equals(bytes), `${key}: the fixture is in the old layout, not today's`);
    await store.put(key, bytes);
  }
  const older = await status(out);
  assert.equal(older.code, 4, older.stderr);
  assert.deepEqual(older.report.rows.map((r) => r.state), ['complete', 'not-started', 'complete']);
  assert.equal(older.report.rows[0]!.unitsComplete, 3);
  assert.match(older.report.rows[0]!.detail, /row index/);
  // A unit deleted behind the row's back: no longer complete.
  await store.remove('02/31TGL/2017-08-10/manifest.json');
  const gone = await status(out, {}, '--indices', '0');
  assert.equal(gone.code, 4);
  assert.deepEqual(gone.report.rows.map((r) => [r.index, r.state, r.unitsComplete]), [[0, 'incomplete', 2]]);
});

test('clay status: killed mid-unit → incomplete, a corrupt source → failed (code recorded), never run → not started; exit 4 and the indices', async () => {
  const out = join(dir, 'mixed');
  const store = await openStore(out);
  const seen = await runAndKill(run(good, 0, out), store);
  assert.ok(seen.killed, 'row 0 was killed mid-unit');
  const failed = await runCli(run(broken, 2, out));
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /error COG_CORRUPT/);
  const s = await status(out);
  assert.equal(s.code, 4, s.stderr);
  assert.deepEqual(s.report.rows.map((r) => [r.index, r.state]), [[0, 'incomplete'], [1, 'not-started'], [2, 'failed']]);
  assert.equal(s.report.rows[0]!.unitsComplete, 1);
  assert.equal(s.report.rows[2]!.failure?.code, 'COG_CORRUPT');
  assert.equal(s.report.rows[2]!.unitsComplete, 1, 'the first date of row 2 was finished before the failure');
  assert.deepEqual([s.report.resubmit, s.report.indices], [[0, 1, 2], '0-2']);
  assert.deepEqual(s.report.counts, { complete: 0, failed: 1, incomplete: 1, 'not-started': 1 });
  // Resubmitting the failed row once the source is good: complete, and the failure record is gone.
  const again = await runCli(run(good, 2, out));
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await store.exists('02/status/row-2.failed.json'), false);
  const after = await status(out);
  assert.deepEqual(after.report.rows.map((r) => r.state), ['incomplete', 'not-started', 'complete']);
  assert.equal(after.report.indices, '0,1');
});

test('clay status on s3://: a failure record, then completion, through the store; the other rows not started', async () => {
  const s3 = await startS3();
  try {
    const url = `s3://${s3.bucket}/chips`;
    const store = await openStore(url, { env: s3.env });
    const failed = await runCli(run(broken, 2, url), s3.env);
    assert.equal(failed.code, 1);
    const f = await status(url, s3.env);
    assert.equal(f.code, 4);
    assert.deepEqual(f.report.rows.map((r) => r.state), ['not-started', 'not-started', 'failed']);
    assert.equal(f.report.out, url);
    const ok = await runCli(run(good, 2, url), s3.env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await store.exists('02/status/row-2.failed.json'), false);
    assert.equal(await store.exists('02/status/row-2.json'), true);
    const s = await status(url, s3.env);
    assert.equal(s.code, 4);
    assert.deepEqual(s.report.rows.map((r) => [r.state, r.unitsComplete]), [['not-started', 0], ['not-started', 0], ['complete', 2]]);
    assert.equal(s.report.indices, '0,1');
  } finally {
    await s3.close();
  }
});
