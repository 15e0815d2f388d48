/**
 * Broken input files at the command line: every command that reads a sample, stats or grid file (`plan`,
 * `run`, `status` with `--sample`; `landcover sample --stats`; `landcover grid --grid`) on an empty (0-byte)
 * file, a truncated one and seeded bit-flipped ones returns within a bound (it hung on an empty .fgb), with
 * exit 2 and one `error BAD_SAMPLE_FILE` line, or, where the flips left a readable file, the command's own
 * answer (0; `status` on an output holding nothing: 4). And a sample row named `a/b` (no MGRS tile name) is
 * BAD_SAMPLE_FILE for `run` (nothing written) and `status`. test/core/vector-file-fuzz.test.ts runs many
 * more mutations through the readers themselves.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { mutate, writeInputFiles, type InputKind } from '../helpers/input-files.ts';

/** Far above a run here (seconds); only a hang reaches it. */
const BOUND_MS = 90_000;

let pc: MiniPc;
let dir: string;
let files: Record<InputKind, string>;

before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  dir = await mkdtemp(join(tmpdir(), 'clay-input-files-'));
  files = await writeInputFiles(dir);
});

after(async () => {
  await pc.close();
  await rm(dir, { recursive: true, force: true });
});

/** The commands, each given its input file; `ok` is its exit when the file reads. */
const COMMANDS: { name: string; kind: InputKind; ok: number; args: (file: string, out: string) => string[] }[] = [
  { name: 'plan', kind: 'sample.fgb', ok: 0, args: (f) => ['plan', '--sample', f, '--index', '0', '--dates', '1'] },
  // Row 1 has no data (exit 0 with --allow-no-data): the command reads the file, plans, and writes no chips.
  { name: 'run', kind: 'sample.fgb', ok: 0, args: (f, out) => ['run', '--sample', f, '--index', '1', '--out', out, '--allow-no-data'] },
  { name: 'status', kind: 'sample.fgb', ok: 4, args: (f, out) => ['status', '--sample', f, '--out', out] },
  { name: 'landcover sample', kind: 'stats.fgb', ok: 0, args: (f, out) => ['landcover', 'sample', '--stats', f, '--out', join(out, 'sample.fgb')] },
  { name: 'landcover grid', kind: 'grid.fgb', ok: 0, args: (f, out) => ['landcover', 'grid', '--grid', f, '--out', join(out, 'grid.fgb')] },
];

function assertBadSample(r: CliResult, label: string): void {
  assert.equal(r.code, 2, `${label}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('error '));
  assert.equal(lines.length, 1, `${label}: ${r.stderr}`);
  assert.match(lines[0]!, /^error BAD_SAMPLE_FILE: /, label);
}

for (const c of COMMANDS) {
  test(`${c.name}: an empty, a truncated and bit-flipped input files give exit 2 (BAD_SAMPLE_FILE) or the command's answer, within a bound`, async () => {
    const original = await readFile(files[c.kind]);
    const cases = [
      { label: 'empty', bytes: new Uint8Array(0), mustFail: true },
      { label: 'truncated', bytes: original.subarray(0, Math.floor(original.byteLength * 0.7)), mustFail: true },
      ...[3, 17].map((seed) => ({ label: `bit flips #${seed}`, bytes: mutate(original, seed).bytes, mustFail: false })),
    ];
    for (const k of cases) {
      const file = join(dir, `${c.name.replace(' ', '-')}-${k.label.replace(/\W+/g, '-')}.fgb`);
      const out = await mkdtemp(join(dir, 'out-'));
      await writeFile(file, k.bytes);
      const r = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, ...c.args(file, out)], {}, { timeoutMs: BOUND_MS });
      const label = `${c.name} on ${k.label}`;
      assert.notEqual(r.timedOut, true, `${label}: hung`);
      if (k.mustFail || r.code !== c.ok) assertBadSample(r, label);
    }
  });
}

test("a sample row named 'a/b': run and status say BAD_SAMPLE_FILE naming the row and the value; nothing is written", async () => {
  const sample = JSON.parse(await readFile(files['sample.geojson'], 'utf8')) as { features: { properties: Record<string, unknown> }[] };
  sample.features[1]!.properties.name = 'a/b';
  const file = join(dir, 'slash.geojson');
  await writeFile(file, JSON.stringify(sample));
  const out = join(dir, 'slash-out');
  for (const args of [['run', '--sample', file, '--index', '0', '--out', out], ['status', '--sample', file, '--out', out]]) {
    const r = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, ...args], {}, { timeoutMs: BOUND_MS });
    assertBadSample(r, args[0]!);
    assert.match(r.stderr, /row 1\b.*"a\/b"/, 'names the row and the value');
  }
  assert.deepEqual(await readdir(out).catch(() => []), [], 'nothing written');
});
