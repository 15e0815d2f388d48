/**
 * Clean exits: `clay train`, `clay embed` and `clay run` each run several times in a row and every run
 * exits 0 with its summary written, nothing left pending. `clay train` used to exit 13 now and then after its
 * last checkpoint: a decode worker's reply that arrived after close() had terminated it unref()ed the
 * worker, the event loop drained, and Node ended the process with its code for an unsettled top-level await
 * (the deterministic case is in test/model/data/stream.test.ts). Prefetch and several decode workers keep
 * replies in flight when the last step ends, which is where the race was.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { runCli } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { bundledChips } from '../helpers/chips.ts';

const RUNS = 4;
let chips: string;
let base: string;
let pc: MiniPc;

before(async () => {
  chips = await bundledChips();
  base = await mkdtemp(join(tmpdir(), 'clay-clean-exit-'));
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
});

after(async () => {
  await pc.close();
  await rm(base, { recursive: true, force: true });
});

/** The last stdout line as JSON: the command's summary. */
const summaryOf = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null') as Record<string, unknown>;

test(`clay train, embed and run, ${RUNS} times each: every exit code is 0 and every summary is written`, async () => {
  const codes: Record<string, (number | null)[]> = { train: [], embed: [], run: [] };
  for (let i = 0; i < RUNS; i++) {
    const out = join(base, `train-${i}`);
    const t = await runCli(['train', '--data', chips, '--out', out, '--model', 'tiny', '--batch', '1', '--steps', '2', '--prefetch', '3', '--workers', '3', '--backend', 'wasm', '--seed', String(i)]);
    codes.train!.push(t.code);
    assert.equal(t.code, 0, `train run ${i}: exit ${t.code}\n${t.stderr.slice(-1500)}`);
    assert.equal(summaryOf(t.stdout)['event'], 'Train:Done');
    const e = await runCli(['embed', '--checkpoint', join(out, 'checkpoints', 'step-00000002'), '--data', chips, '--out', join(base, `emb-${i}.parquet`), '--limit', '4', '--batch', '2', '--backend', 'wasm']);
    codes.embed!.push(e.code);
    assert.equal(e.code, 0, `embed run ${i}: exit ${e.code}\n${e.stderr.slice(-1500)}`);
    assert.equal(summaryOf(e.stdout)['status'], 'done');
    const r = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', join(BUNDLED_DIR, 'mgrs_sample.fgb'), '--index', '2', '--out', join(base, `run-${i}`)]);
    codes.run!.push(r.code);
    assert.equal(r.code, 0, `run ${i}: exit ${r.code}\n${r.stderr.slice(-1500)}`);
  }
  assert.deepEqual(codes, { train: Array(RUNS).fill(0), embed: Array(RUNS).fill(0), run: Array(RUNS).fill(0) });
});
