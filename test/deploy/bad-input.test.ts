/**
 * Bad input, as an array job meets it: each case is one clear `error CODE: message` line naming the input,
 * a non-zero exit, and no damage to what the output already holds (a complete row 0, compared by sha256
 * of every file). Cases run.test.ts already has (a missing local sample file, `--index` out of range, an
 * unknown output scheme) are not repeated; here: corrupt sample files, a missing `s3://` sample, an array
 * index out of range, a source COG that is not a TIFF or is truncated, items without `proj:transform` (a
 * Sentinel-2 candidate is skipped with a coded warning, a DEM item fails the row),
 * an unreachable STAC API, and read-only folders in the output. Faults are planted in a copy of the bundled
 * universe served by a second loopback Planetary Computer; the failing row is row 2 (31TGK), whose second
 * date uses the planted item, so its first date completes before the failure.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadUniverse, type Universe } from '../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { openStore } from '../../core/store/open-store.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { withBlob, withItem } from '../helpers/broken-universe.ts';
import { digest } from '../helpers/run-output.ts';
import { startS3 } from '../helpers/s3.ts';

const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));
const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
/** Row 2's second date (31TGK, 2020-06-09), the item the faults are planted in. */
const ITEM = 'S2A_MSIL2A_20200609T103021_R108_T31TGK_20200610T010732';
/** Fast retries: the faults here are permanent. */
const FAST = { CLAY_HTTP_MAX_ATTEMPTS: '2', CLAY_HTTP_BASE_DELAY_MS: '10' };

let universe: Universe;
let good: MiniPc;
let dir: string;
let out: string;
let baseline: Map<string, string>;

before(async () => {
  universe = await loadUniverse(BUNDLED_DIR);
  good = await startMiniPc({ universe });
  dir = await mkdtemp(join(tmpdir(), 'clay-bad-input-'));
  await chmod(dir, 0o755); // the read-only case runs the CLI as another user
  out = join(dir, 'out');
  const r = await runCli(['--stac-api', good.stacApi, '--sas-api', good.sasApi, 'run', '--sample', sample, '--index', '0', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  baseline = await digest(await openStore(out));
});

after(async () => {
  await good.close();
  await rm(dir, { recursive: true, force: true });
});

/** The output's files other than row 2's (its units, index and records) are exactly the complete row 0's. */
async function rowZeroIntact(): Promise<void> {
  const now = await digest(await openStore(out));
  const others = new Map([...now].filter(([k]) => !k.startsWith('02/31TGK/') && !/^02\/(status|index)\/row-2[.]/.test(k)));
  assert.deepEqual(others, baseline);
}

/** One coded line naming `input`, the given exit code, no SAS token. */
function assertCoded(r: CliResult, code: string, exit: number, input: string | RegExp): void {
  assert.equal(r.code, exit, r.stderr);
  const line = r.stderr.trim().split('\n').filter((l) => l.startsWith('error ')).join('\n');
  assert.match(line, new RegExp(`^error ${code}: `), r.stderr);
  assert.equal(line.split('\n').length, 1);
  if (typeof input === 'string') assert.ok(line.includes(input), `${line} names ${input}`);
  else assert.match(line, input);
  assert.doesNotMatch(r.stderr, /[?&]sig=/, 'no SAS token in the output');
}

/** The failure record row 2 left, as `clay status` reads it. */
async function recordedCode(): Promise<string | undefined> {
  const bytes = await (await openStore(out)).get('02/status/row-2.failed.json');
  return bytes ? (JSON.parse(new TextDecoder().decode(bytes)) as { code: string }).code : undefined;
}

test('a corrupt sample file (not FlatGeobuf, truncated, not a FeatureCollection, no name column): BAD_SAMPLE_FILE naming it, exit 2, nothing written', async () => {
  const real = await readFile(sample);
  const cases: [string, Uint8Array | string][] = [
    ['garbage.fgb', new TextEncoder().encode('this is not a flatgeobuf file\n'.repeat(20))],
    ['truncated.fgb', real.subarray(0, Math.floor(real.byteLength / 2))],
    ['list.geojson', JSON.stringify([{ name: '31TGL' }])],
    ['noname.geojson', JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { tile: '31TGL' }, geometry: { type: 'Polygon', coordinates: [[[5, 45], [6, 45], [6, 46], [5, 45]]] } }] })],
  ];
  for (const [name, bytes] of cases) {
    const path = join(dir, name);
    await writeFile(path, bytes);
    assertCoded(await runCli(['--stac-api', good.stacApi, 'run', '--sample', path, '--index', '0', '--out', out]), 'BAD_SAMPLE_FILE', 2, path);
    assertCoded(await runCli(['status', '--sample', path, '--out', out]), 'BAD_SAMPLE_FILE', 2, path);
  }
  assert.deepEqual(await digest(await openStore(out)), baseline);
});

test('a missing s3:// sample object: BAD_SAMPLE_FILE naming it; an array index past the sample: BAD_INDEX; nothing written', async () => {
  const s3 = await startS3();
  try {
    const url = `s3://${s3.bucket}/clay/missing.fgb`;
    assertCoded(await runCli(['--stac-api', good.stacApi, 'run', '--sample', url, '--index', '0', '--out', out], s3.env), 'BAD_SAMPLE_FILE', 2, url);
  } finally {
    await s3.close();
  }
  for (const env of [{ JOB_COMPLETION_INDEX: '3' }, { AWS_BATCH_JOB_ARRAY_INDEX: '1203' }] as Record<string, string>[]) {
    const r = await runCli(['--stac-api', good.stacApi, 'run', '--sample', sample, '--out', out], env);
    assertCoded(r, 'BAD_INDEX', 2, sample);
    assert.match(r.stderr, /index (3|1203) is out of range .*\(3 rows: 0\.\.2\)/);
  }
  assert.deepEqual(await digest(await openStore(out)), baseline);
});

/** Runs row 2 into the output against a server for `broken`; resolves with the CLI result. */
async function runBroken(broken: Universe): Promise<CliResult> {
  const pc = await startMiniPc({ universe: broken });
  try {
    return await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--index', '2', '--out', out], FAST);
  } finally {
    await pc.close();
  }
}

test('a source COG that is not a TIFF, or truncated: COG_CORRUPT naming the blob (no token), exit 1, recorded for clay status; row 0 intact', async () => {
  const notTiff = await runBroken(await withBlob(universe, ITEM, 'B02', () => new TextEncoder().encode('<?xml version="1.0"?><Error>not a tiff</Error>')));
  assertCoded(notTiff, 'COG_CORRUPT', 1, /T31TGK_20200609T103021_B02_10m\.tif/);
  assert.equal(await recordedCode(), 'COG_CORRUPT');
  await rowZeroIntact();
  const truncated = await runBroken(await withBlob(universe, ITEM, 'B02', (b) => b.subarray(0, Math.floor(b.byteLength * 0.6))));
  assertCoded(truncated, 'COG_CORRUPT', 1, /T31TGK_20200609T103021_B02_10m\.tif/);
  assert.equal(await recordedCode(), 'COG_CORRUPT');
  await rowZeroIntact();
});

test('an item without proj:transform: a Sentinel-2 candidate is skipped with a coded warning naming it; a DEM item fails the row (STAC_INVALID naming it, exit 1); row 0 intact', async () => {
  // A malformed candidate is filtered like any other (the plan records why) and the log says so, coded.
  const s2 = await runBroken(withItem(universe, ITEM, (json) => {
    delete (json.assets as Record<string, Record<string, unknown>>).B02!['proj:transform'];
  }));
  assert.equal(s2.code, 0, s2.stderr);
  const warning = s2.stderr.split('\n').find((l) => l.includes('"event":"Plan:InvalidItem"'));
  assert.ok(warning, s2.stderr);
  const w = JSON.parse(warning) as { level: string; code: string; s2: string; error: string };
  assert.deepEqual([w.level, w.code, w.s2], ['warn', 'STAC_INVALID', ITEM]);
  assert.match(w.error, /proj:transform/);
  assert.deepEqual((JSON.parse(s2.stdout) as { rows: { units: { date: string }[] }[] }).rows[0]!.units.map((u) => u.date), ['2019-06-15']);
  await rowZeroIntact();
  // The DEM has no alternative: the row stops, coded, naming the item.
  let dem = universe;
  for (const id of ['Copernicus_DSM_COG_10_N45_00_E005_00_DEM', 'Copernicus_DSM_COG_10_N45_00_E006_00_DEM']) {
    dem = withItem(dem, id, (json) => {
      delete (json.properties as Record<string, unknown>)['proj:transform'];
    });
  }
  const r = await runBroken(dem);
  assertCoded(r, 'STAC_INVALID', 1, /item Copernicus_DSM_COG_10_N45_00_E00[56]_00_DEM: .*proj:transform/);
  assert.equal(await recordedCode(), 'STAC_INVALID');
  await rowZeroIntact();
});

test('an unreachable STAC API: STAC_HTTP naming the URL after the retries, exit 1; row 0 intact', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const stacApi = `http://127.0.0.1:${port}/api/stac/v1`;
  const r = await runCli(['--stac-api', stacApi, '--sas-api', good.sasApi, 'run', '--sample', sample, '--index', '2', '--out', out], FAST);
  assertCoded(r, 'STAC_HTTP', 1, stacApi);
  assert.equal(await recordedCode(), 'STAC_HTTP');
  await rowZeroIntact();
});

test('read-only folders in the output (its root writable): IO naming the path, exit 1, nothing changed', async () => {
  await rm(join(out, '02', '31TGK'), { recursive: true, force: true });
  const before = await digest(await openStore(out));
  // The root stays writable: an output that cannot be written at all is BAD_OUTPUT before any work (test/cli/errors.test.ts).
  await setWritable(join(out, '02'), false);
  await chmod(out, 0o777); // writable by the user the CLI runs as
  try {
    // As root, permissions do not stop writes: the CLI runs as `nobody` then.
    const r = await runAs(['--stac-api', good.stacApi, '--sas-api', good.sasApi, 'run', '--sample', sample, '--index', '2', '--out', out]);
    assertCoded(r, 'IO', 1, out);
    assert.match(r.stderr, /"event":"Run:RecordFailed"/, 'the failure record could not be written either, and says so');
  } finally {
    await chmod(out, 0o755);
    await setWritable(join(out, '02'), true);
  }
  assert.deepEqual(await digest(await openStore(out)), before);
});

/** Makes the folders under `root` read-only (files stay readable) or writable again. */
async function setWritable(root: string, writable: boolean): Promise<void> {
  const walk = async (d: string): Promise<void> => {
    await chmod(d, writable ? 0o755 : 0o555);
    for (const e of await readdir(d, { withFileTypes: true })) if (e.isDirectory()) await walk(join(d, e.name));
  };
  await walk(root);
}

/** Runs the CLI, as `nobody` when this process is root. */
function runAs(args: string[]): Promise<CliResult> {
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { ...asNobody, env: { ...process.env, ...FAST }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
