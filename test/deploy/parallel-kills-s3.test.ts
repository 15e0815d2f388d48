/**
 * parallel-kills.test.ts with the output on `s3://` (a loopback S3 server): the three rows as parallel
 * `JOB_COMPLETION_INDEX` processes, SIGKILLed mid-unit at seeded points (located from
 * their own events) in two rounds, then rerun. The objects
 * are then exactly a clean run's (which goes to a local folder: keys and bytes are the same), `clay
 * status` reads every row complete from the bucket, and a watcher listing the bucket throughout never
 * got a half-written object. The figures are printed as one JSON line.
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
import { killedArrayJob, watchStore } from '../helpers/array-job.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { compareDigests, digest } from '../helpers/run-output.ts';
import { startS3, type S3Server } from '../helpers/s3.ts';

const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
const SEED = 7;

let pc: MiniPc;
let s3: S3Server;
let dir: string;

before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  s3 = await startS3();
  dir = await mkdtemp(join(tmpdir(), 'clay-kills-s3-'));
});

after(async () => {
  await pc.close();
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

test('s3://: 3 rows as parallel processes, SIGKILLed mid-unit at seeded points twice, then rerun: the objects of a clean run; never a half-written object', async () => {
  const url = `s3://${s3.bucket}/killed`;
  const store = await openStore(url, { env: s3.env });
  const job = await killedArrayJob({
    pc, sample, clean: join(dir, 'clean'), out: url, env: s3.env, random: mulberry32(SEED),
    store, watch: () => watchStore(store),
  });
  const { compared, mismatches } = compareDigests(await digest(store), await digest(await openStore(join(dir, 'clean'))));
  console.log(JSON.stringify({ test: 'parallel-kills-s3', seed: SEED, ...job.figures, watch: { ...job.watch, halfWritten: job.watch.halfWritten.length }, outputsCompared: compared, mismatches: mismatches.length }));
  assert.ok(job.figures.kills > 0, 'some task was killed');
  assert.ok(job.figures.rounds.some((r) => r.unfinishedUnits > 0), 'some kill left a unit unfinished (mid-unit)');
  assert.deepEqual(job.watch.halfWritten, []);
  assert.ok(job.watch.filesChecked > 0);
  assert.deepEqual(mismatches, [], 'every object as in the clean run');
});
