/**
 * Every MGRS tile file reader (the sample `clay plan|run|status --sample` reads, the stats `landcover
 * sample --stats` reads, the grid `landcover --grid` reads) on seeded mutations of a real file of each
 * format (FlatGeobuf, GeoJSON, KML): empty, truncated, bit-flipped, garbage after the signature. Each case
 * must return: rows (finite coordinates; for a sample, MGRS tile names and lon/lat) or a
 * BAD_SAMPLE_FILE error, which the CLI turns into exit 2. Never a hang (the readers run in a child process
 * that must finish within a bound; a hang names its case) and never another error (a crash). The figures
 * (outcomes per kind, the slowest case) are printed as one JSON line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMgrsTileName } from '../../core/mgrs-name.ts';
import { INPUT_KINDS } from '../helpers/input-files.ts';
import type { FuzzOutcome } from '../helpers/fuzz-readers.ts';

const CHILD = fileURLToPath(new URL('../helpers/fuzz-readers.ts', import.meta.url));
const CASES = 150;
/** Far above what the whole run needs (a few seconds): only a hang reaches it. */
const BOUND_MS = 240_000;

test(`${CASES} seeded mutations of each input file kind: rows or BAD_SAMPLE_FILE, never a hang or a crash`, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-fuzz-'));
  try {
    const { code, lines, timedOut } = await new Promise<{ code: number | null; lines: string[]; timedOut: boolean }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(CASES)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, BOUND_MS);
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, lines: out.trim().split('\n').filter((l) => l !== ''), timedOut });
      });
    });
    const last = lines.at(-1);
    assert.equal(timedOut, false, `a reader hung on ${last}`);
    assert.equal(code, 0, `the fuzz child failed after ${last}`);
    const outcomes = lines.map((l) => JSON.parse(l) as FuzzOutcome | { start: unknown }).filter((o): o is FuzzOutcome => !('start' in o));
    assert.equal(outcomes.length, CASES * INPUT_KINDS.length, 'every case reported');
    const figures: Record<string, Record<string, number>> = {};
    for (const o of outcomes) {
      const label = `${o.kind} ${o.mutation} #${o.seed} (${o.detail})`;
      assert.ok(o.result === 'ok' || o.result === 'BAD_SAMPLE_FILE', `${label}: ${o.result}`);
      if (o.result === 'ok') {
        assert.ok(o.names!.length > 0, `${label}: rows`);
        assert.ok(o.lonLat, `${label}: coordinates are finite (a sample's: lon/lat)`);
        if (o.kind.startsWith('sample')) for (const n of o.names!) assert.ok(isMgrsTileName(n), `${label}: ${JSON.stringify(n)} is an MGRS name`);
      }
      if (o.mutation === 'empty' || o.mutation === 'truncated') assert.equal(o.result, 'BAD_SAMPLE_FILE', `${label}: an empty or truncated file is refused`);
      const k = (figures[o.kind] ??= {});
      k[`${o.mutation}:${o.result}`] = (k[`${o.mutation}:${o.result}`] ?? 0) + 1;
    }
    const slowest = outcomes.reduce((a, b) => (b.ms > a.ms ? b : a));
    console.log(JSON.stringify({ test: 'vector-file-fuzz', cases: outcomes.length, outcomes: figures, slowestMs: slowest.ms, slowest: `${slowest.kind} ${slowest.mutation} #${slowest.seed}` }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
