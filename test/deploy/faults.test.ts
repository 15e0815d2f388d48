/**
 * A flaky Planetary Computer: the loopback server injects 5 % seeded faults (500, 503, 429 with
 * Retry-After, connection resets, bodies cut short of their Content-Length) into STAC searches, SAS token
 * requests and blob ranges, plus one scripted fault on the first STAC and the first SAS request so every
 * service is hit. Rows 0 and 2, each run as an array-job task would run it (the CLI in its own process,
 * the index from `JOB_COMPLETION_INDEX`), give exactly the files of a clean run (sha256 of every file;
 * manifests without their `run` timings), to a local folder and to `s3://` on a loopback S3 server; and the
 * summaries' retries by cause are exactly the faults the server injected by kind. Each test prints its
 * figures as one JSON line (docs/deploy.md, "Crash and fault suite").
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunSummary } from '../../cli/commands/run.ts';
import { RETRY_CAUSES, type RetryCause } from '../../core/http.ts';
import type { FaultCounts } from '../../core/mini-pc/faults.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { openStore } from '../../core/store/open-store.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { runCli } from '../helpers/cli.ts';
import { compareDigests, digest } from '../helpers/run-output.ts';
import { startS3 } from '../helpers/s3.ts';

const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
const ROWS = [0, 2];
const RATE = 0.05;
/** Its first ~750 draws fault 38 requests (5 %), every kind 7 to 9 times. */
const SEED = 10;

let pc: MiniPc;
let dir: string;
let clean: Map<string, string>;

/** Runs each of ROWS as its own process against the server into `out`; resolves with the summaries. */
async function runRows(out: string, env: Record<string, string> = {}): Promise<RunSummary[]> {
  const summaries: RunSummary[] = [];
  for (const row of ROWS) {
    const r = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--out', out, '--allow-no-data'], { ...env, JOB_COMPLETION_INDEX: String(row) });
    assert.equal(r.code, 0, r.stderr);
    summaries.push(JSON.parse(r.stdout) as RunSummary);
  }
  return summaries;
}

// One server for the clean and the faulty runs: the manifests record the item hrefs, which name its origin.
before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  dir = await mkdtemp(join(tmpdir(), 'clay-faults-'));
  const summaries = await runRows(join(dir, 'clean'));
  assert.equal(summaries.reduce((n, s) => n + s.http.retries, 0), 0, 'a clean server needs no retries');
  clean = await digest(await openStore(join(dir, 'clean')));
});

after(async () => {
  await pc.close();
  await rm(dir, { recursive: true, force: true });
});

/** Which retry cause each fault kind shows up as in the client. */
const CAUSE_OF: Record<keyof FaultCounts['byKind'], RetryCause> = { '500': '500', '503': '503', '429': '429', reset: 'reset', truncate: 'truncated' };

/** Runs ROWS against a faulty server into `url`; checks outputs and accounting; prints and returns the figures. */
async function faultyRun(name: string, url: string, env: Record<string, string> = {}): Promise<void> {
  pc.faults.reset({
    rate: RATE, seed: SEED, retryAfterSeconds: 1,
    script: [{ service: 'stac', kind: 'reset', count: 1 }, { service: 'sas', kind: '429', count: 1 }],
  });
  let summaries: RunSummary[];
  let faults: FaultCounts;
  try {
    summaries = await runRows(url, env);
    faults = pc.faults.counts();
  } finally {
    pc.faults.reset({});
  }
  const { compared, mismatches } = compareDigests(await digest(await openStore(url, { env })), clean);
  const retries = Object.fromEntries(RETRY_CAUSES.map((c) => [c, summaries.reduce((n, s) => n + s.http.retriesByCause[c], 0)])) as Record<RetryCause, number>;
  const figures = {
    test: name, rows: ROWS, runs: summaries.length, faultRate: RATE, seed: SEED,
    requests: summaries.reduce((n, s) => n + s.http.requests, 0), attempts: summaries.reduce((n, s) => n + s.http.attempts, 0),
    faultsInjected: faults.total, faultsByKind: faults.byKind, faultsByService: faults.byService,
    retries: summaries.reduce((n, s) => n + s.http.retries, 0), retriesByCause: retries,
    outputsCompared: compared, mismatches: mismatches.length,
  };
  console.log(JSON.stringify(figures));
  assert.deepEqual(mismatches, [], 'every file as in the clean run');
  assert.ok(faults.byService.stac.reset >= 1 && faults.byService.sas['429'] >= 1 && Object.values(faults.byService.blob).some((n) => n > 0), 'every service was faulted');
  // Every injected fault cost exactly one attempt, retried, and is counted under its cause.
  assert.ok(figures.retries > 0);
  assert.equal(figures.retries, faults.total);
  for (const [kind, n] of Object.entries(faults.byKind) as [keyof FaultCounts['byKind'], number][]) assert.equal(retries[CAUSE_OF[kind]], n, `retries for ${kind}`);
  assert.equal(figures.attempts, figures.requests + figures.retries);
  for (const s of summaries) assert.equal(s.rows.reduce((n, r) => n + r.retries, 0), s.http.retries, 'per-row retries add up');
}

test('5 % faults on STAC, SAS and blobs, output to a folder: the files of a clean run; retries by cause = faults by kind', async () => {
  await faultyRun('faults-local', join(dir, 'faulty'));
});

test('5 % faults, output to s3:// on a loopback S3 server: the same objects as the clean run', async () => {
  const s3 = await startS3();
  try {
    await faultyRun('faults-s3', `s3://${s3.bucket}/faulty`, s3.env);
  } finally {
    await s3.close();
  }
});
