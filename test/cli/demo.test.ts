import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { bundledCases } from '../helpers/bundled.ts';

test('clay demo runs the main job on the bundled universe: searches, a signed read, the plan and the chips of row 0', async () => {
  const cases = await bundledCases();
  const dir = await mkdtemp(join(tmpdir(), 'clay-demo-'));
  try {
    const r = await runCli(['demo', '--out', join(dir, 'chips')]);
    assert.equal(r.code, 0, r.stderr);
    const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { event: string; plan: { dates: string[]; chips: number }; signedBytesRead: number; tokenRequests: number; chips: { out: string; kept: number; rejected: number } };
    assert.equal(done.event, 'Demo:Done');
    const dates = cases.rows[0]!.expected!.default.map((d) => d.datetime.slice(0, 10));
    assert.deepEqual(done.plan.dates, dates);
    assert.equal(done.plan.chips, 60);
    assert.equal(done.signedBytesRead, 16384);
    // One SAS token per collection read (S2, S1, DEM), cached for every later read.
    assert.equal(done.tokenRequests, 3);
    assert.deepEqual([done.chips.kept, done.chips.rejected], [47, 13]);
    assert.deepEqual((await readdir(join(dir, 'chips', '02', '31TGL'))).sort(), [...dates].sort());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
