/**
 * What a sample row costs, for sizing array jobs (docs/deploy.md): every row of the bundled sample run as
 * the built CLI in its own process (`node dist/cli/run.js run --index N`, what the container runs), under
 * `/usr/bin/time` when present, against the miniature Planetary Computer on 127.0.0.1, into a local
 * folder. Per row: units, candidate and kept chips, bytes read from blobs, bytes written, CPU seconds,
 * wall time, peak RSS; then per candidate chip and per kept chip, and those figures extrapolated to Clay
 * v0's sample (1203 tiles x 3 dates, 441 candidate chips per real 10980 px tile). The bundled rasters are
 * synthetic and compress differently from real scenes: the bytes are a floor, not a forecast (docs/deploy.md
 * says how to measure the real bytes to fetch with `clay plan --rows all --probe`).
 *
 *   npm run build && node --import tsx bench/deploy-cost.ts [--rows 3] [--tiles 1203] [--dates 3] [--json]
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadUniverse } from '../core/mini-pc/universe.ts';
import { startMiniPc } from '../core/mini-pc/server.ts';
import { readSampleFile } from '../pipeline/sample-file.ts';
import type { RunSummary } from '../cli/commands/run.ts';
import { BUNDLED_DIR } from '../test/helpers/bundled.ts';

const run = promisify(execFile);
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1] ?? dflt) : dflt;
};
const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
const rowCount = Math.min(arg('rows', Infinity), (await readSampleFile(sample)).length);
const tiles = arg('tiles', 1203);
const datesPerTile = arg('dates', 3);
/** Candidate chips of a real Sentinel-2 tile: 10980 px / 512 = 21 full chips per side. */
const CHIPS_PER_REAL_UNIT = 21 * 21;
const CLI = fileURLToPath(new URL('../dist/cli/run.js', import.meta.url));
const TIME = '/usr/bin/time';

/** One row's measured figures. */
interface RowCost {
  index: number;
  mgrs: string;
  status: string;
  units: number;
  candidates: number;
  kept: number;
  bytesRead: number;
  bytesWritten: number;
  cpuSeconds: number;
  wallSeconds: number;
  peakRssMb: number;
}

if (!existsSync(CLI)) throw new Error(`no ${CLI}: run 'npm run build' first (the job runs as the built CLI)`);
const out = await mkdtemp(join(tmpdir(), 'bench-deploy-cost-'));
const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
const rows: RowCost[] = [];
try {
  for (let index = 0; index < rowCount; index++) {
    const cliArgs = [CLI, 'run', '--stac-api', pc.stacApi, '--sas-api', pc.sasApi, '--sample', sample, '--index', String(index), '--out', out, '--allow-no-data'];
    const timed = existsSync(TIME);
    const t0 = performance.now();
    const job = timed
      ? await run(TIME, ['-f', 'TIME %e %U %S %M', process.execPath, ...cliArgs], { maxBuffer: 1 << 26 })
      : await run(process.execPath, cliArgs, { maxBuffer: 1 << 26 });
    const wall = (performance.now() - t0) / 1000;
    const s = JSON.parse(job.stdout.trim().split('\n').pop()!) as RunSummary;
    // /usr/bin/time counts the whole process (start-up and exit included); the summary is the fallback.
    const tm = timed ? /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(job.stderr) : null;
    const r = s.rows[0]!;
    rows.push({
      index, mgrs: r.mgrs, status: r.status, units: r.units.length,
      candidates: r.units.reduce((n, u) => n + u.candidates, 0), kept: r.units.reduce((n, u) => n + u.kept, 0),
      bytesRead: s.bytesRead, bytesWritten: s.bytesWritten,
      cpuSeconds: tm ? Number(tm[2]) + Number(tm[3]) : s.cpuSeconds,
      wallSeconds: tm ? Number(tm[1]) : wall,
      peakRssMb: tm ? Math.round(Number(tm[4]) / 1024) : s.peakRssMb,
    });
  }
} finally {
  await pc.close();
  await rm(out, { recursive: true, force: true });
}

const sum = (f: (r: RowCost) => number, of: readonly RowCost[] = rows): number => of.reduce((n, r) => n + f(r), 0);
const withData = rows.filter((r) => r.units > 0);
const noData = rows.filter((r) => r.units === 0);
const candidates = sum((r) => r.candidates, withData);
const kept = sum((r) => r.kept, withData);
// A row's fixed cost (start-up, sample file, plan) from the rows without data; the rest scales with chips.
const fixedCpu = noData.length > 0 ? sum((r) => r.cpuSeconds, noData) / noData.length : 0;
const perChip = {
  cpuSeconds: (sum((r) => r.cpuSeconds, withData) - fixedCpu * withData.length) / candidates,
  bytesRead: sum((r) => r.bytesRead, withData) / candidates,
  bytesWrittenPerKept: sum((r) => r.bytesWritten, withData) / kept,
  keptShare: kept / candidates,
};
const realChipsPerRow = CHIPS_PER_REAL_UNIT * datesPerTile;
const perRealRow = {
  candidates: realChipsPerRow,
  cpuSeconds: fixedCpu + perChip.cpuSeconds * realChipsPerRow,
  bytesRead: perChip.bytesRead * realChipsPerRow,
  bytesWrittenAllKept: perChip.bytesWrittenPerKept * realChipsPerRow,
  bytesWrittenAtKeptShare: perChip.bytesWrittenPerKept * realChipsPerRow * perChip.keptShare,
};
const total = Object.fromEntries(Object.entries(perRealRow).map(([k, v]) => [k, v * tiles]));
const peakRssMb = Math.max(...rows.map((r) => r.peakRssMb));

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ rows, fixedCpu, perChip, perRealRow, tiles, datesPerTile, total, peakRssMb }));
} else {
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  console.log('row  mgrs   status   units  chips (kept/candidates)  read MB  written MB  CPU s  wall s  peak RSS MB');
  for (const r of rows) {
    console.log(`${String(r.index).padEnd(4)} ${r.mgrs.padEnd(6)} ${r.status.padEnd(8)} ${String(r.units).padEnd(6)} ${`${r.kept}/${r.candidates}`.padEnd(24)} ${mb(r.bytesRead).padStart(7)} ${mb(r.bytesWritten).padStart(11)} ${r.cpuSeconds.toFixed(2).padStart(6)} ${r.wallSeconds.toFixed(2).padStart(7)} ${String(r.peakRssMb).padStart(12)}`);
  }
  console.log(`per row, fixed: ${fixedCpu.toFixed(2)} CPU s (start-up, sample, plan; the no-data rows)`);
  console.log(`per candidate chip: ${perChip.cpuSeconds.toFixed(3)} CPU s, ${(perChip.bytesRead / 1e3).toFixed(1)} kB read; per kept chip: ${mb(perChip.bytesWrittenPerKept)} MB written; kept ${(perChip.keptShare * 100).toFixed(0)} %`);
  console.log(`a real row (${datesPerTile} dates x ${CHIPS_PER_REAL_UNIT} chips = ${realChipsPerRow}): ${perRealRow.cpuSeconds.toFixed(0)} CPU s, ${mb(perRealRow.bytesRead)} MB read, ${mb(perRealRow.bytesWrittenAtKeptShare)} MB written at the bundled kept share (${mb(perRealRow.bytesWrittenAllKept)} MB if all kept)`);
  console.log(`${tiles} tiles: ${(Number(total.cpuSeconds) / 3600).toFixed(0)} CPU h, ${(Number(total.bytesRead) / 1e9).toFixed(0)} GB read, ${(Number(total.bytesWrittenAtKeptShare) / 1e12).toFixed(2)} TB written (${(Number(total.bytesWrittenAllKept) / 1e12).toFixed(2)} TB if all kept); peak RSS of a row ${peakRssMb} MB`);
}
