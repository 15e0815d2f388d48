/**
 * `clay plan`: the scene plan of one sample row (which S2, S1 and DEM items make each date, and why), as
 * JSON or, on a TTY, a readable summary. A dry run: it counts chips and estimates bytes without reading
 * pixels. Exit 3 when the row has no matching data anywhere.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { writeFileAtomic } from '../../core/atomic-file.ts';
import { ClayError } from '../../core/errors.ts';
import { checkOutput } from '../../core/store/output-check.ts';
import { createProgress } from '../../core/progress.ts';
import { readSampleFile, type SampleRow } from '../../pipeline/sample-file.ts';
import { plan } from '../../pipeline/plan/plan.ts';
import { probeSizes } from '../../pipeline/plan/probe-sizes.ts';
import type { PlanMode, ScenePlan } from '../../pipeline/plan/plan-types.ts';
import { createContext, type Context, type GlobalOptions } from '../context.ts';
import { formatTable } from '../table.ts';
import { parseInteger } from '../parse.ts';
import { resolveRow } from './search.ts';

/** Options of `clay plan`. */
export interface PlanCommandOptions {
  sample: string;
  index?: number;
  mgrs?: string;
  compat?: string;
  dates?: number;
  out?: string;
  rows?: string;
  concurrency?: number;
  probe?: boolean;
}

/**
 * Row indices of a row spec ('all', 'A-B', 'A,B' or a mix: '0-9,42'), within [0, count). `flag` is the
 * flag the user typed (`--rows`, `--indices`, `--subset`): errors name it, as its `input`; out of range is
 * BAD_INDEX naming the file too.
 */
export function parseRows(spec: string, count: number, file: string, flag = '--rows'): number[] {
  if (spec.trim() === 'all') return Array.from({ length: count }, (_, i) => i);
  const out = new Set<number>();
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new ClayError('BAD_ARGUMENT', `${flag} must be 'all', 'A-B' or 'A,B,...', got '${spec}'`, { input: flag });
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new ClayError('BAD_ARGUMENT', `${flag}: range ${part.trim()} is backwards`, { input: flag });
    if (b >= count) throw new ClayError('BAD_INDEX', `${flag} ${part.trim()} is out of range for ${file} (${count} rows: 0..${count - 1})`, { input: flag });
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** `--compat` values. */
export function parseCompat(value: string | undefined): PlanMode {
  if (value === undefined) return 'default';
  if (value === 'clay-v0') return 'clay-v0';
  throw new ClayError('BAD_ARGUMENT', `--compat must be 'clay-v0', got '${value}'`, { input: '--compat' });
}

/**
 * The row index: `--index`, else the array-job index (`AWS_BATCH_JOB_ARRAY_INDEX`, `JOB_COMPLETION_INDEX`),
 * else 0 (Clay v0's default).
 */
export function defaultIndex(env: NodeJS.ProcessEnv = process.env): number {
  for (const name of ['AWS_BATCH_JOB_ARRAY_INDEX', 'JOB_COMPLETION_INDEX']) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') return parseInteger(raw, name, 0);
  }
  return 0;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** A readable summary of a plan (what a TTY shows). */
export function formatPlanSummary(p: ScenePlan): string {
  const lines = [`${p.mgrs} (row ${p.index})${p.mode === 'clay-v0' ? ', --compat clay-v0' : ''}: ${p.message}`];
  lines.push(`years: ${p.yearLog.map((y) => `${y.year} ${y.outcome}${y.outcome === 'chosen' ? ` (attempt ${y.attempts.length - 1})` : ''}`).join(' · ')}`);
  for (const d of p.dates) {
    lines.push(`  ${d.date}  S2 ${d.s2.id} (cloud ${d.s2.cloudCover} %)`);
    lines.push(`              S1 ${d.s1.orbitState} x${d.s1.scenes.length} (${(d.s1.coverage * 100).toFixed(1)} % of the bbox) · DEM x${d.dem.length} · EPSG:${d.grid.epsg} ${d.grid.width}x${d.grid.height} · ${d.chips.count} chips · ~${mb(d.estimate.total)}${d.estimate.compressed === undefined ? '' : ` (~${mb(d.estimate.compressed)} to fetch)`}`);
  }
  for (const y of p.yearLog) {
    for (const a of y.attempts) if (a.outcome === 'filtered' || a.outcome === 'discarded') lines.push(`  ${y.year} attempt ${a.attempt}: ${a.outcome}: ${a.reason ?? ''}`);
    if (y.note) lines.push(`  ${y.year}: ${y.note}`);
  }
  lines.push(`chips before filtering: ${p.totals.chips} · source bytes (uncompressed, upper bound): ~${mb(p.totals.estimatedBytes)}${p.totals.compressedBytes === undefined ? '' : ` · to fetch (probed file sizes): ~${mb(p.totals.compressedBytes)}`}`);
  lines.push(`STAC requests: ${p.totals.stacRequests} (${p.totals.stacSearches} distinct searches, none repeated)`);
  return lines.join('\n');
}

/** Plans one row with the command's options (and probes file sizes with --probe). */
async function planRow(ctx: Context, row: SampleRow, mode: PlanMode, options: PlanCommandOptions): Promise<ScenePlan> {
  const planned = await plan(row, { stac: ctx.stac, mode, logger: ctx.logger, ...(options.dates !== undefined ? { dates: options.dates } : {}) });
  return options.probe ? probeSizes(planned, { http: ctx.http, signer: ctx.signer }) : planned;
}

/** Runs `clay plan`; resolves with the plan. */
export async function runPlan(globals: GlobalOptions, options: PlanCommandOptions): Promise<ScenePlan> {
  const mode = parseCompat(options.compat);
  const ctx = createContext(globals);
  const row = await resolveRow({ sample: options.sample, index: options.index ?? defaultIndex(), ...(options.mgrs !== undefined ? { mgrs: options.mgrs } : {}) });
  if (options.out) await checkOutput(options.out, 'file');
  const result = await planRow(ctx, row, mode, options);
  const json = JSON.stringify(result, null, 2);
  if (options.out) await writeFileAtomic(options.out, `${json}\n`);
  ctx.out(ctx.json ? json : formatPlanSummary(result));
  return result;
}

/** One row of a multi-row plan (`--rows`). */
export interface RowSizing {
  index: number;
  mgrs: string;
  status: ScenePlan['status'];
  dates: string[];
  chips: number;
  estimatedBytes: number;
  /** With --probe. */
  compressedBytes?: number;
  stacRequests: number;
}

/** Plans many rows (bounded concurrency) to size a sample; with `out`, writes `{out}/plan-{index}.json`. */
export async function runPlanRows(globals: GlobalOptions, options: PlanCommandOptions & { rows: string }): Promise<RowSizing[]> {
  const mode = parseCompat(options.compat);
  const ctx = createContext(globals);
  const all = await readSampleFile(options.sample);
  const indices = parseRows(options.rows, all.length, options.sample);
  if (options.out) await checkOutput(options.out, 'folder');
  const progress = createProgress('plan', indices.length, ctx.logger);
  const limit = pLimit(options.concurrency ?? 4);
  const sized = await Promise.all(indices.map((i) => limit(async (): Promise<RowSizing> => {
    const row = all[i]!;
    const p = await planRow(ctx, row, mode, options);
    if (options.out) await writeFileAtomic(join(options.out, `plan-${i}.json`), `${JSON.stringify(p, null, 2)}\n`);
    progress.tick(1, { mgrs: row.name });
    return {
      index: i, mgrs: row.name, status: p.status, dates: p.dates.map((d) => d.date), chips: p.totals.chips, estimatedBytes: p.totals.estimatedBytes,
      ...(p.totals.compressedBytes === undefined ? {} : { compressedBytes: p.totals.compressedBytes }), stacRequests: p.totals.stacRequests,
    };
  })));
  progress.stop();
  const totals = {
    rows: sized.length,
    withData: sized.filter((r) => r.dates.length > 0).length,
    dates: sized.reduce((n, r) => n + r.dates.length, 0),
    chips: sized.reduce((n, r) => n + r.chips, 0),
    estimatedBytes: sized.reduce((n, r) => n + r.estimatedBytes, 0),
    ...(options.probe ? { compressedBytes: sized.reduce((n, r) => n + (r.compressedBytes ?? 0), 0) } : {}),
    stacRequests: sized.reduce((n, r) => n + r.stacRequests, 0),
  };
  if (ctx.json) ctx.out(JSON.stringify({ mode, rows: sized, totals }));
  else {
    ctx.out(formatTable(['row', 'mgrs', 'status', 'dates', 'chips', 'MB', 'STAC requests'], sized.map((r) => [r.index, r.mgrs, r.status, r.dates.join(' '), r.chips, (r.estimatedBytes / 1e6).toFixed(1), r.stacRequests])));
    ctx.out(`${totals.rows} rows, ${totals.withData} with data: ${totals.dates} dates, ${totals.chips} chips before filtering, ~${mb(totals.estimatedBytes)} to read (uncompressed, upper bound)${totals.compressedBytes === undefined ? '' : `, ~${mb(totals.compressedBytes)} to fetch (probed)`}, ${totals.stacRequests} STAC requests`);
  }
  return sized;
}

/** Registers `clay plan`; `setExit` receives 3 when the row has no matching data. */
export function registerPlan(program: Command, globals: () => GlobalOptions, setExit: (code: number) => void): void {
  program
    .command('plan')
    .description('decide the Sentinel-2, Sentinel-1 and DEM items of each date for one sample row (a dry run: chips and bytes, no pixels read)')
    .requiredOption('--sample <file>', 'MGRS sample file (FlatGeobuf or GeoJSON with a name column)')
    .option('--index <n>', 'sample row, 0-based (default: AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX, else 0)', (v) => parseInteger(v, '--index', 0))
    .option('--mgrs <name>', 'MGRS tile name instead of --index')
    .option('--compat <mode>', "'clay-v0': reproduce Clay v0's selection, bugs included")
    .option('--dates <n>', 'dates per location', (v) => parseInteger(v, '--dates', 1, 7), 3)
    .option('--out <path>', 'also write the plan JSON to this file (with --rows: a folder of plan-{index}.json), atomically')
    .option('--rows <spec>', "size many rows instead of one: 'all', 'A-B' or 'A,B,...' (one line per row, then totals)")
    .option('--probe', 'HEAD each source file (signed) to estimate the compressed bytes to fetch')
    .option('--concurrency <n>', 'rows planned at once with --rows', (v) => parseInteger(v, '--concurrency', 1, 64), 4)
    .action(async (opts: PlanCommandOptions) => {
      if (opts.rows !== undefined) {
        if (opts.index !== undefined || opts.mgrs !== undefined) throw new ClayError('BAD_ARGUMENT', '--rows cannot be combined with --index or --mgrs', { input: '--rows' });
        const sized = await runPlanRows(globals(), { ...opts, rows: opts.rows });
        if (sized.every((r) => r.status === 'no-data')) setExit(3);
        return;
      }
      const result = await runPlan(globals(), opts);
      if (result.status === 'no-data') setExit(3);
    });
}
