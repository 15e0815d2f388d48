/**
 * `clay plan`: the scene plan of one sample row (which S2, S1 and DEM items make each date, and why), as
 * JSON or, on a TTY, a readable summary. A dry run: it counts chips and estimates bytes without reading
 * pixels. Exit 3 when the row has no matching data anywhere.
 */
import type { Command } from 'commander';
import { writeFileAtomic } from '../../core/atomic-file.ts';
import { ClayError } from '../../core/errors.ts';
import { plan } from '../../pipeline/plan/plan.ts';
import type { PlanMode, ScenePlan } from '../../pipeline/plan/plan-types.ts';
import { createContext, type GlobalOptions } from '../context.ts';
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
    lines.push(`              S1 ${d.s1.orbitState} x${d.s1.scenes.length} (${(d.s1.coverage * 100).toFixed(1)} % of the bbox) · DEM x${d.dem.length} · EPSG:${d.grid.epsg} ${d.grid.width}x${d.grid.height} · ${d.chips.count} chips · ~${mb(d.estimate.total)}`);
  }
  for (const y of p.yearLog) {
    for (const a of y.attempts) if (a.outcome === 'filtered' || a.outcome === 'discarded') lines.push(`  ${y.year} attempt ${a.attempt}: ${a.outcome}: ${a.reason ?? ''}`);
    if (y.note) lines.push(`  ${y.year}: ${y.note}`);
  }
  lines.push(`chips before filtering: ${p.totals.chips} · source bytes (uncompressed, upper bound): ~${mb(p.totals.estimatedBytes)}`);
  lines.push(`STAC requests: ${p.totals.stacRequests} (${p.totals.stacSearches} distinct searches, none repeated)`);
  return lines.join('\n');
}

/** Runs `clay plan`; resolves with the plan. */
export async function runPlan(globals: GlobalOptions, options: PlanCommandOptions): Promise<ScenePlan> {
  const mode = parseCompat(options.compat);
  const ctx = createContext(globals);
  const row = await resolveRow({ sample: options.sample, index: options.index ?? defaultIndex(), ...(options.mgrs !== undefined ? { mgrs: options.mgrs } : {}) });
  const result = await plan(row, { stac: ctx.stac, mode, logger: ctx.logger, ...(options.dates !== undefined ? { dates: options.dates } : {}) });
  const json = JSON.stringify(result, null, 2);
  if (options.out) await writeFileAtomic(options.out, `${json}\n`);
  ctx.out(ctx.json ? json : formatPlanSummary(result));
  return result;
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
    .option('--out <file>', 'also write the plan JSON to this file (atomically)')
    .action(async (opts: PlanCommandOptions) => {
      const result = await runPlan(globals(), opts);
      if (result.status === 'no-data') setExit(3);
    });
}
