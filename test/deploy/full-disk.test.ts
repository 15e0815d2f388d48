/**
 * A full output volume (ENOSPC). Row 2 (31TGK, two dates of one chip each) runs into a tmpfs sized to hold
 * its first unit and half of the second's chip: the job stops with one coded line (`error IO:` naming the
 * file it could not write), exit 1; the first unit is untouched (the same bytes as a run on a roomy disk),
 * the second has no manifest and no file under a final name, no temporary file is left, and `clay status`
 * reports the row failed with IO. Given room (the tmpfs remounted larger), the rerun skips the complete
 * unit, redoes the other, and the output is the roomy run's. Needs `mount -t tmpfs` (root with
 * CAP_SYS_ADMIN); elsewhere the test is skipped and says why.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { RunSummary } from '../../cli/commands/run.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { openStore } from '../../core/store/open-store.ts';
import { filesUnder, looksWhole, partialsUnder } from '../helpers/array-job.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { runCli } from '../helpers/cli.ts';
import { compareDigests, digest } from '../helpers/run-output.ts';

const exec = promisify(execFile);
const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
const FIRST = '02/31TGK/2019-06-15/';
const SECOND = '02/31TGK/2020-06-09/';
const PAGE = 4096;

let pc: MiniPc;
let dir: string;
let mnt: string;
let mounted = false;

const args = (out: string): string[] => ['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--index', '2', '--out', out];
const pages = (bytes: number): number => Math.ceil(bytes / PAGE) * PAGE;

before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  dir = await mkdtemp(join(tmpdir(), 'clay-enospc-'));
  mnt = join(dir, 'full');
  await mkdir(mnt);
});

after(async () => {
  if (mounted) await exec('umount', [mnt]).catch(() => exec('umount', ['-l', mnt]));
  await pc.close();
  await rm(dir, { recursive: true, force: true });
});

test('a full output folder: IO naming the file, exit 1, the complete unit untouched, nothing finished-looking half written; with room, the rerun completes', async (t) => {
  const roomy = join(dir, 'roomy');
  const ok = await runCli(args(roomy));
  assert.equal(ok.code, 0, ok.stderr);
  const reference = await digest(await openStore(roomy));
  const size = async (key: string): Promise<number> => (await stat(join(roomy, key))).size;
  // Room for the first unit's files and half of the second unit's chip.
  const firstUnit = [...reference.keys()].filter((k) => k.startsWith(FIRST));
  const secondChip = [...reference.keys()].find((k) => k.startsWith(SECOND) && k.endsWith('.tif'))!;
  let bytes = 16 * 1024;
  for (const k of firstUnit) bytes += pages(await size(k));
  bytes += pages((await size(secondChip)) / 2);
  try {
    await exec('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', mnt]);
    mounted = true;
  } catch (err) {
    t.skip(`cannot mount a tmpfs here: ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  const out = join(mnt, 'chips');
  const full = await runCli(args(out));
  assert.equal(full.code, 1, full.stderr);
  const line = full.stderr.split('\n').filter((l) => l.startsWith('error '));
  assert.equal(line.length, 1, full.stderr);
  assert.match(line[0]!, /^error IO: /);
  assert.ok(line[0]!.includes(join(out, SECOND)), `${line[0]} names the file in ${SECOND}`);
  assert.match(line[0]!, /ENOSPC/);
  // The first unit as on the roomy disk; of the second, nothing under a final name but whole files, no manifest.
  const now = await digest(await openStore(out));
  assert.deepEqual(firstUnit.map((k) => now.get(k)), firstUnit.map((k) => reference.get(k)));
  assert.ok(!now.has(`${SECOND}manifest.json`));
  const files = await filesUnder(out);
  for (const f of files) assert.ok(looksWhole(basename(f), await readFile(f)), `${relative(out, f)} is whole`);
  assert.deepEqual(await partialsUnder(out), [], 'no temporary file left');
  const status = await runCli(['status', '--sample', sample, '--out', out, '--indices', '2']);
  assert.equal(status.code, 4, status.stderr);
  const row = (JSON.parse(status.stdout) as { rows: { state: string; failure?: { code: string } }[] }).rows[0]!;
  assert.deepEqual([row.state, row.failure?.code], ['failed', 'IO']);
  // Room again: the complete unit is skipped, the other redone; the output is the roomy run's.
  await exec('mount', ['-o', `remount,size=${16 * 1024 * 1024}`, mnt]);
  const rerun = await runCli(args(out));
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual((JSON.parse(rerun.stdout) as RunSummary).units, { done: 1, skipped: 1, locked: 0 });
  const { compared, mismatches } = compareDigests(await digest(await openStore(out)), reference);
  console.log(JSON.stringify({
    test: 'full-disk', rows: [2], runs: 3, tmpfsBytes: bytes, error: line[0]!.replace(out, '<out>').slice(0, 160),
    filesAfterFailure: files.length, halfWritten: 0, leftoverPartials: 0, outputsCompared: compared, mismatches: mismatches.length,
  }));
  assert.deepEqual(mismatches, []);
});
