/**
 * A child process for test/core/vector-file-fuzz.test.ts: runs `cases` seeded mutations of each input kind
 * through its reader and prints one JSON line per case: `{"start": ...}` before it (so a hang names its
 * case), then the outcome: `ok` with what was read, or the error's code (`CRASH` for anything that is not
 * a ClayError). Usage: fuzz-readers.ts DIR CASES.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClayError } from '../../core/errors.ts';
import { readSampleFile } from '../../pipeline/sample-file.ts';
import { readGridFile } from '../../landcover/grid-file.ts';
import { readStatsFile } from '../../landcover/stats-file.ts';
import { INPUT_KINDS, mutate, writeInputFiles, type InputKind } from './input-files.ts';

/** One case's outcome line. */
export interface FuzzOutcome {
  kind: InputKind;
  seed: number;
  mutation: string;
  detail: string;
  result: string;
  /** With `ok`: the names read. */
  names?: string[];
  /** With `ok`: every coordinate read is finite (and, for a sample, a lon/lat). */
  lonLat?: boolean;
  ms: number;
}

const READERS: Record<InputKind, (path: string) => Promise<{ name: string; coords: number[] }[]>> = {
  'sample.fgb': async (p) => (await readSampleFile(p)).map((r) => ({ name: r.name, coords: r.geometry.coordinates.flat(3) as number[] })),
  'sample.geojson': async (p) => (await readSampleFile(p)).map((r) => ({ name: r.name, coords: r.geometry.coordinates.flat(3) as number[] })),
  'stats.fgb': async (p) => (await readStatsFile(p)).map((r) => ({ name: r.name, coords: r.footprint.coordinates.flat(3) as number[] })),
  'stats.geojson': async (p) => (await readStatsFile(p)).map((r) => ({ name: r.name, coords: r.footprint.coordinates.flat(3) as number[] })),
  'grid.fgb': async (p) => (await readGridFile(p)).tiles.map((t) => ({ name: t.name, coords: t.footprint.coordinates.flat(3) as number[] })),
  'grid.kml': async (p) => (await readGridFile(p)).tiles.map((t) => ({ name: t.name, coords: t.footprint.coordinates.flat(3) as number[] })),
};

const [dir, count] = [process.argv[2]!, Number(process.argv[3])];
const originals = await writeInputFiles(dir);
for (const kind of INPUT_KINDS) {
  const original = await readFile(originals[kind]);
  const path = join(dir, `fuzz-${kind}`);
  for (let seed = 0; seed < count; seed++) {
    const m = mutate(original, seed);
    await writeFile(path, m.bytes);
    process.stdout.write(`${JSON.stringify({ start: { kind, seed, mutation: m.kind, detail: m.detail } })}\n`);
    const started = performance.now();
    let out: Omit<FuzzOutcome, 'ms'>;
    try {
      const rows = await READERS[kind](path);
      out = { kind, seed, mutation: m.kind, detail: m.detail, result: 'ok', names: rows.map((r) => r.name), lonLat: rows.every((r) => r.coords.every((v, i) => Number.isFinite(v) && (!kind.startsWith('sample') || Math.abs(v) <= (i % 2 === 0 ? 180 : 90)))) };
    } catch (err) {
      out = { kind, seed, mutation: m.kind, detail: m.detail, result: err instanceof ClayError ? err.code : `CRASH ${String(err)}` };
    }
    process.stdout.write(`${JSON.stringify({ ...out, ms: Math.round(performance.now() - started) })}\n`);
  }
}
