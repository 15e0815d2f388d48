/**
 * An array job killed at random: the sample's three rows run as parallel processes with
 * `JOB_COMPLETION_INDEX` set (row 0: 3 dates, 60 candidate chips; row 1: no data; row 2: 2 chips), each
 * SIGKILLed at a seeded point (10 % to 95 % of the chips it has to make), located from its own JSON-line events
 * so that the kill lands mid-unit however loaded the machine is, in two rounds
 * (the second kills the reruns, which skip complete units and redo the rest); then the rows not yet
 * complete run to the end, as the engine's retries would. The output, a local folder, is then exactly a
 * clean run's (sha256 of every file; manifests without their `run` timings), `clay status` calls every row
 * complete, and a watcher polling the folder throughout never saw a half-written file under a final
 * name. The figures are printed as one JSON line. test/deploy/parallel-kills-s3.test.ts does the same on
 * a loopback S3 server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { mulberry32 } from '../../core/random.ts';
import { openStore } from '../../core/store/open-store.ts';
import { killedArrayJob, partialsUnder, watchFolder } from '../helpers/array-job.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { compareDigests, digest } from '../helpers/run-output.ts';

const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
const SEED = 2024;

let pc: MiniPc;
let dir: string;

before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  dir = await mkdtemp(join(tmpdir(), 'clay-kills-'));
});

after(async () => {
  await pc.close();
  await rm(dir, { recursive: true, force: true });
});

test('3 rows as parallel processes, SIGKILLed mid-unit at seeded points twice, then rerun: the files of a clean run; never a half-written file under a final name', async () => {
  const out = join(dir, 'killed');
  const job = await killedArrayJob({
    pc, sample, clean: join(dir, 'clean'), out, random: mulberry32(SEED),
    store: await openStore(out), watch: () => watchFolder(out),
  });
  const { compared, mismatches } = compareDigests(await digest(await openStore(out)), await digest(await openStore(join(dir, 'clean'))));
  const leftovers = await partialsUnder(out);
  console.log(JSON.stringify({ test: 'parallel-kills-local', seed: SEED, ...job.figures, watch: { ...job.watch, halfWritten: job.watch.halfWritten.length }, leftoverPartials: leftovers.length, outputsCompared: compared, mismatches: mismatches.length }));
  assert.ok(job.figures.kills > 0, 'some task was killed');
  assert.ok(job.figures.rounds.some((r) => r.unfinishedUnits > 0), 'some kill left a unit unfinished (mid-unit)');
  assert.deepEqual(job.watch.halfWritten, []);
  assert.ok(job.watch.filesChecked > 0);
  assert.deepEqual(mismatches, [], 'every file as in the clean run');
  // A kill can leave a temporary file only beside the row records (units are cleared before a redo).
  for (const p of leftovers) assert.match(p, /^02\/(index|status)\//);
});
