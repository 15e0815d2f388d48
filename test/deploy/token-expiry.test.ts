/**
 * SAS tokens expiring mid-run. The loopback Planetary Computer issues 2-second tokens (`msft:expiry` says
 * so) and answers a blob request with an expired token 403 AuthenticationFailed, as Azure does. Row 0
 * (about 650 blob ranges over several seconds) then needs many tokens per collection: the signer refreshes
 * them before they expire (halfway through their life), and, when the server's clock runs 3 s ahead of the
 * job's so that tokens die before `msft:expiry` says, re-signs once after each 403. Both runs succeed with
 * exactly the files of a run with hour-long tokens. So that this holds however fast the job is (a fast job
 * can read a whole collection inside one token's life), the server holds the first blob request of each
 * container until its token has expired: every collection's later reads need a new token. Each test prints
 * its figures as one JSON line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunSummary } from '../../cli/commands/run.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { openStore } from '../../core/store/open-store.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { runCli } from '../helpers/cli.ts';
import { compareDigests, digest } from '../helpers/run-output.ts';

const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
const TTL_S = 2;
/** The server's clock offset from the job's (ms). */
let skewMs = 0;
let pc: MiniPc;
let dir: string;
let clean: Map<string, string>;

/** Runs row 0 into `out`; resolves with the summary and the `Sas:Token` log events per scope. */
async function runRow0(out: string): Promise<{ summary: RunSummary; tokenEvents: Record<string, number> }> {
  const r = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--index', '0', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const tokenEvents: Record<string, number> = {};
  for (const line of r.stderr.split('\n').filter((l) => l.includes('"event":"Sas:Token"'))) {
    const { scope } = JSON.parse(line) as { scope: string };
    tokenEvents[scope] = (tokenEvents[scope] ?? 0) + 1;
  }
  return { summary: JSON.parse(r.stdout) as RunSummary, tokenEvents };
}

before(async () => {
  // One server throughout (the manifests name its origin); its token lifetime and clock change per test.
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR), now: () => Date.now() + skewMs });
  dir = await mkdtemp(join(tmpdir(), 'clay-token-'));
  const { summary } = await runRow0(join(dir, 'clean'));
  assert.deepEqual(summary.http.tokens.byScope, { 'sentinel-2-l2a': 1, 'sentinel-1-rtc': 1, 'cop-dem-glo-30': 1 }, 'hour-long tokens: one per collection');
  clean = await digest(await openStore(join(dir, 'clean')));
});

after(async () => {
  await pc.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs row 0 with short tokens and `skew`; checks the output and prints the figures. */
async function expiringRun(name: string, skew: number): Promise<{ summary: RunSummary; forbidden: number }> {
  pc.setTokenTtl(TTL_S);
  pc.holdFirstBlobUntilExpiry(true);
  skewMs = skew;
  const from = pc.requests.length;
  let run: Awaited<ReturnType<typeof runRow0>>;
  try {
    run = await runRow0(join(dir, name));
  } finally {
    pc.setTokenTtl(3600);
    pc.holdFirstBlobUntilExpiry(false);
    skewMs = 0;
  }
  const served = pc.requests.slice(from);
  const forbidden = served.filter((r) => r.service === 'blob' && r.status === 403).length;
  const { compared, mismatches } = compareDigests(await digest(await openStore(join(dir, name))), clean);
  const { summary, tokenEvents } = run;
  console.log(JSON.stringify({
    test: name, rows: [0], runs: 1, tokenTtlS: TTL_S, serverClockAheadMs: skew,
    tokenRequests: summary.http.tokens.byScope, tokenRequestsServed: served.filter((r) => r.service === 'sas').length,
    blob403: forbidden, refreshesOn403: summary.http.tokens.refreshesOn403, retries: summary.http.retries,
    outputsCompared: compared, mismatches: mismatches.length,
  }));
  assert.deepEqual(mismatches, [], 'every file as in the run with hour-long tokens');
  assert.deepEqual(Object.keys(summary.http.tokens.byScope).sort(), ['cop-dem-glo-30', 'sentinel-1-rtc', 'sentinel-2-l2a']);
  for (const [scope, n] of Object.entries(summary.http.tokens.byScope)) {
    assert.ok(n > 1, `more than one token for ${scope}`);
    assert.equal(tokenEvents[scope], n, `a Sas:Token log event per token request of ${scope}`);
  }
  // Every 403 cost one re-signed request, none a failure.
  assert.equal(summary.http.tokens.refreshesOn403, forbidden);
  return { summary, forbidden };
}

test('2-second tokens: refreshed before they expire, several per collection; the files of a clean run', async () => {
  await expiringRun('token-expiry', 0);
});

test('2-second tokens and a server clock 3 s ahead: blob requests answered 403, re-signed once each; the files of a clean run', async () => {
  const { forbidden } = await expiringRun('token-expiry-skew', 3000);
  assert.ok(forbidden > 0, 'some blob requests carried a token the server had expired');
});
