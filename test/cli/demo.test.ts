import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { bundledCases } from '../helpers/bundled.ts';

test('clay demo runs the whole system on the bundled universe: searches, a signed read, the plan, the chips of rows 0-2, training, embeddings and a reconstruction', async () => {
  const cases = await bundledCases();
  const dir = await mkdtemp(join(tmpdir(), 'clay-demo-'));
  try {
    const r = await runCli(['demo', '--out', dir, '--train-steps', '2']);
    assert.equal(r.code, 0, r.stderr);
    const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { event: string; plan: { dates: string[]; chips: number }; signedBytesRead: number; tokenRequests: number; chips: { out: string; kept: number; rejected: number }; model: { train: { steps: number; chips: { train: number; val: number }; checkpoint: string }; embed: { out: string; chips: number; dim: number }; reconstruct: { out: string } } };
    assert.equal(done.event, 'Demo:Done');
    const dates = cases.rows[0]!.expected!.default.map((d) => d.datetime.slice(0, 10));
    assert.deepEqual(done.plan.dates, dates);
    assert.equal(done.plan.chips, 60);
    assert.equal(done.signedBytesRead, 16384);
    // One SAS token per collection read (S2, S1, DEM), cached for every later read.
    assert.equal(done.tokenRequests, 3);
    // Rows 0-2: 31TGL keeps 47 of 60, 01KAB has no data, 31TGK keeps its 2.
    assert.deepEqual([done.chips.kept, done.chips.rejected], [49, 13]);
    assert.deepEqual((await readdir(join(dir, 'chips', '02', '31TGL'))).sort(), [...dates].sort());
    // A tiny model trained on the 47 chips of 31TGL (31TGK held out), then every chip embedded and one reconstructed.
    assert.equal(done.model.train.steps, 2);
    assert.deepEqual(done.model.train.chips, { train: 47, val: 2, corrupt: 0 });
    assert.equal(done.model.train.checkpoint, join(dir, 'train', 'checkpoints', 'step-00000002'));
    assert.deepEqual([done.model.embed.chips, done.model.embed.dim], [49, 256]);
    const png = await readFile(done.model.reconstruct.out);
    assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
