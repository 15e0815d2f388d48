/**
 * `clay run`: the main job. For each sample row (`--index`, the array-job index, or `--indices`), plan the
 * dates and make the chips of every (mgrs, date) unit not yet complete, into a local folder or an
 * `s3://` prefix. Reruns skip complete units and say so; `--force` redoes them. One writer per unit: a
 * unit another run holds is skipped (`Run:Locked`) or waited for (`--wait-locked`); SIGINT/SIGTERM stop
 * the run and give its locks back. A progress bar on a TTY, JSON lines otherwise; one summary line at the end.
 */
import type { Command } from 'commander';
import { ClayError } from '../../core/errors.ts';
import { httpCounts, type HttpCounts } from '../../core/http.ts';
import { createProgress, type Progress } from '../../core/progress.ts';
import { openStore } from '../../core/store/open-store.ts';
import { checkOutput } from '../../core/store/output-check.ts';
import { CLAY_V0_ENCODING, DEFAULT_ENCODING, type ChipEncoding } from '../../pipeline/chip/chip-file.ts';
import type { RejectReason } from '../../pipeline/chip/quality.ts';
import { newRunState, runIndex, runIndexKey, writeRunIndex, type IndexResult, type RunOptions } from '../../pipeline/run/run-index.ts';
import { DEFAULT_LOCK_STALE_S, DEFAULT_LOCK_WAIT_S, describeHolder, UnitLocks } from '../../pipeline/run/unit-lock.ts';
import { readSampleFile } from '../../pipeline/sample-file.ts';
import { BAND_INDEX } from '../../pipeline/chip/bands.ts';
import { sha256 } from '../../pipeline/chip/chip-unit.ts';
import { chipCollection } from '../../pipeline/index/chip-stac.ts';
import { readChipIndex } from '../../pipeline/index/chip-index.ts';
import { previewPng } from '../../pipeline/write/preview.ts';
import type { Grid } from '../../core/grid.ts';
import type { Resampling } from '../../pipeline/warp/warp.ts';
import { createContext, type Context, type GlobalOptions } from '../context.ts';
import { parseInteger, parseNumber } from '../parse.ts';
import { defaultIndex, parseCompat, parseRows } from './plan.ts';

/** Options of `clay run`. */
export interface RunCommandOptions {
  sample: string;
  out: string;
  index?: number;
  indices?: string;
  subset?: string;
  compat?: string;
  dates?: number;
  force?: boolean;
  level?: number;
  predictor?: string;
  compress?: string;
  rowsPerStrip?: number;
  resampling?: string;
  harmonize?: boolean;
  inflight?: number;
  cacheMb?: number;
  sourceCacheMb?: number;
  previews?: boolean;
  stac?: boolean;
  allowNoData?: boolean;
  /** `--wait-locked [seconds]`: seconds, or `true` for the default bound. */
  waitLocked?: number | true;
  /** `--lock-stale <seconds>`. */
  lockStale?: number;
}

/** What the process around `runRun` gives it. */
export interface RunRuntime {
  /** Aborts the run (SIGINT/SIGTERM): the unit in progress is abandoned, its lock released. */
  signal?: AbortSignal;
}

/** The run's summary (printed as JSON off a TTY). */
export interface RunSummary {
  event: 'Run:Done';
  out: string;
  /** The run's merged chip index (every candidate chip of the rows run), when there were units. */
  index?: string;
  /** This run's id, as its unit locks name it. */
  runId: string;
  /** Per row; a unit another run held is `locked`, with its `holder`. */
  rows: { index: number; mgrs: string; status: IndexResult['status']; units: { date: string; status: 'done' | 'skipped' | 'locked'; kept: number; candidates: number; holder?: string }[]; retries: number }[];
  /** `locked`: units another run held to the end of this one (not made here, not complete yet). */
  units: { done: number; skipped: number; locked: number };
  chips: { kept: number; rejected: number; byReason: Record<RejectReason, number> };
  bytesRead: number;
  bytesWritten: number;
  /**
   * The run's traffic with the Planetary Computer (STAC searches, SAS tokens, blob ranges): requests,
   * attempts, retries by cause, and SAS token requests per scope. The S3 output is not counted (its SDK
   * retries on its own, `AWS_MAX_ATTEMPTS`). `rereads`: blob range requests that asked again for bytes
   * this run had already received (`rereadBytes` of them): 0 unless the tile cache was too small.
   */
  http: HttpCounts & { rereads: number; rereadBytes: number; tokens: { requests: number; byScope: Record<string, number>; refreshesOn403: number } };
  ms: number;
  /** CPU time of the process (user + system), seconds. */
  cpuSeconds: number;
  peakRssMb: number;
}

function oneOf<T extends string>(value: string | undefined, values: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  const found = values.find((v) => v === value);
  if (!found) throw new ClayError('BAD_ARGUMENT', `${flag} must be one of ${values.join(', ')}, got '${value}'`, { input: flag });
  return found;
}

/** The summary line a TTY shows. */
export function formatRunSummary(s: RunSummary): string {
  const reasons = Object.entries(s.chips.byReason).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`).join(', ');
  const causes = Object.entries(s.http.retriesByCause).filter(([, n]) => n > 0).map(([c, n]) => `${c} ${n}`).join(', ');
  const retries = s.http.retries > 0 ? ` · ${s.http.retries} HTTP retries (${causes})` : '';
  const locked = s.units.locked > 0 ? `, ${s.units.locked} locked by another run` : '';
  return `${s.rows.length} row(s) → ${s.out}: units ${s.units.done} done, ${s.units.skipped} skipped${locked} · chips ${s.chips.kept} kept, ${s.chips.rejected} rejected${reasons ? ` (${reasons})` : ''} · read ${(s.bytesRead / 1e6).toFixed(1)} MB${retries} · wrote ${(s.bytesWritten / 1e6).toFixed(1)} MB · ${(s.ms / 1000).toFixed(1)} s (CPU ${s.cpuSeconds.toFixed(1)} s) · peak RSS ${s.peakRssMb} MB`;
}

/** Runs `clay run` with an existing context; resolves with the summary. */
export async function runRun(ctx: Context, options: RunCommandOptions, runtime: RunRuntime = {}): Promise<RunSummary> {
  const started = Date.now();
  const mode = parseCompat(options.compat);
  const predictor = oneOf(options.predictor, ['none', 'float'] as const, '--predictor');
  const compress = oneOf(options.compress, ['deflate', 'zstd'] as const, '--compress');
  const codec = compress ?? (parseCompat(options.compat) === 'clay-v0' ? CLAY_V0_ENCODING : DEFAULT_ENCODING).compress;
  if (options.level !== undefined && codec === 'deflate' && options.level > 9) {
    throw new ClayError('BAD_ARGUMENT', `--level ${options.level} is not a DEFLATE level (1..9; zstd's go to 22 with --compress zstd)`, { input: '--level' });
  }
  const resampling = oneOf<Resampling>(options.resampling, ['nearest', 'bilinear'], '--resampling');
  if (options.indices !== undefined && options.index !== undefined) throw new ClayError('BAD_ARGUMENT', '--indices cannot be combined with --index', { input: '--indices' });
  if (options.indices !== undefined && options.subset !== undefined) throw new ClayError('BAD_ARGUMENT', '--indices cannot be combined with --subset', { input: '--subset' });
  const rows = await readSampleFile(options.sample);
  const indices = options.indices !== undefined ? parseRows(options.indices, rows.length, options.sample, '--indices') : [options.index ?? defaultIndex()];
  if (options.subset !== undefined) {
    // An array job over some rows (those `clay status` lists): array index i runs the i-th of them.
    const subset = parseRows(options.subset, rows.length, options.sample, '--subset');
    const i = indices[0]!;
    if (i >= subset.length) throw new ClayError('BAD_INDEX', `array index ${i} is out of range for --subset ${options.subset} (${subset.length} rows: 0..${subset.length - 1})`, { input: '--subset' });
    indices[0] = subset[i]!;
  }
  for (const i of indices) {
    if (i < 0 || i >= rows.length) throw new ClayError('BAD_INDEX', `index ${i} is out of range for ${options.sample} (${rows.length} rows: 0..${rows.length - 1})`, { input: options.sample });
  }
  const store = await openStore(options.out);
  await checkOutput(options.out, 'folder');
  const encoding: Partial<ChipEncoding> = {
    ...(compress !== undefined ? { compress } : {}),
    ...(options.level !== undefined ? { level: options.level } : {}),
    ...(predictor !== undefined ? { predictor } : {}),
    ...(options.rowsPerStrip !== undefined ? { rowsPerStrip: options.rowsPerStrip } : {}),
  };
  const state = newRunState({
    ...(options.cacheMb !== undefined ? { cacheBytes: options.cacheMb * 1024 * 1024 } : {}),
    ...(options.sourceCacheMb !== undefined ? { sourceCacheBytes: options.sourceCacheMb * 1024 * 1024 } : {}),
  });
  const waitS = options.waitLocked === true ? DEFAULT_LOCK_WAIT_S : options.waitLocked ?? 0;
  const locks = new UnitLocks({ store, logger: ctx.logger, staleMs: (options.lockStale ?? DEFAULT_LOCK_STALE_S) * 1000, waitMs: waitS * 1000 });
  const { signal } = runtime;
  let progress: Progress | undefined;
  const base: Omit<RunOptions, 'onPlan'> = {
    stac: ctx.stac, http: ctx.http, signer: ctx.signer, store, mode, encoding,
    ...(options.dates !== undefined ? { dates: options.dates } : {}),
    ...(resampling ? { resampling } : {}),
    harmonize: options.harmonize === true,
    force: options.force === true,
    ...(options.inflight !== undefined ? { inflight: options.inflight } : {}),
    locks,
    logger: ctx.logger,
    ...(signal ? { signal } : {}),
    onChip: (unit, r) => progress?.tick(1, { unit: `${unit.mgrs} ${unit.date}`, chip: r.chip }),
    ...(options.previews ? { extras: async ({ key, planes, grid, offset }: { key: string; planes: Float32Array; grid: Grid; offset: number }) => {
      const png = await previewPng(planes, grid, [BAND_INDEX.B04!, BAND_INDEX.B03!, BAND_INDEX.B02!], offset);
      const previewKey = key.replace(/\.tif$/, '.png');
      return { key: previewKey, bytes: await store.put(previewKey, [png], { contentType: 'image/png' }), sha256: sha256([png]) };
    } } : {}),
  };
  const results: IndexResult[] = [];
  for (const i of indices) {
    const result = await runIndex(rows[i]!, {
      ...base,
      onPlan: (p, units) => {
        progress?.stop();
        const todo = units.filter((u) => !u.skip).reduce((n, u) => n + u.chips, 0);
        progress = todo > 0 ? createProgress(`row ${i} ${p.mgrs}`, todo, ctx.logger) : undefined;
      },
    }, state);
    progress?.stop();
    progress = undefined;
    if (result.status === 'no-data') ctx.logger.warn('Run:NoData', { index: i, mgrs: result.mgrs, message: result.message });
    results.push(result);
  }
  // A merged index without the units other runs still hold would be wrong, and could replace a whole one.
  const lockedUnits = results.reduce((n, r) => n + r.locked.length, 0);
  const merged = lockedUnits === 0 ? await writeRunIndex(store, results, runIndexKey(indices), signal ? { signal } : {}) : undefined;
  if (lockedUnits > 0) ctx.logger.warn('Run:Index:Skipped', { index: store.url(runIndexKey(indices)), locked: lockedUnits, message: 'not written: units of this run are held by another run' });
  if (options.stac && merged) {
    // Items beside the kept chips, and `collection.json` at the root listing this run's chips.
    const rowsOfRun = await readChipIndex((await store.get(merged.key))!, store.url(merged.key));
    const catalog = chipCollection(rowsOfRun, { stacApi: ctx.stac.url });
    for (const f of [...catalog.items, catalog.collection]) await store.put(f.key, [new TextEncoder().encode(JSON.stringify(f.json, null, 1) + '\n')], { contentType: 'application/json' });
    ctx.logger.info('Run:Stac', { collection: store.url(catalog.collection.key), items: catalog.items.length });
  }
  const byReason: Record<RejectReason, number> = { cloud: 0, b02_nodata: 0, s1_nodata: 0, dem_nodata: 0 };
  let kept = 0, rejected = 0, written = 0, done = 0, skipped = 0;
  for (const r of results) {
    for (const u of r.units) {
      if (u.status === 'skipped') { skipped++; continue; }
      done++;
      kept += u.kept;
      rejected += u.candidates - u.kept;
      written += u.bytesWritten;
      for (const [k, n] of Object.entries(u.rejected) as [RejectReason, number][]) byReason[k] += n;
    }
  }
  const cpu = process.cpuUsage();
  const summary: RunSummary = {
    event: 'Run:Done',
    out: store.root,
    ...(merged ? { index: store.url(merged.key) } : {}),
    runId: locks.identity.runId,
    rows: results.map((r) => ({
      index: r.index, mgrs: r.mgrs, status: r.status,
      units: [
        ...r.units.map((u) => ({ date: u.date, status: u.status, kept: u.kept, candidates: u.candidates })),
        ...r.locked.map((l) => ({ date: l.date, status: 'locked' as const, kept: 0, candidates: 0, holder: describeHolder(l.holder) })),
      ].sort((a, b) => a.date.localeCompare(b.date)),
      retries: r.http.retries,
    })),
    units: { done, skipped, locked: lockedUnits },
    chips: { kept, rejected, byReason },
    bytesRead: state.stats.bytesRead,
    bytesWritten: written,
    http: {
      ...httpCounts(ctx.http.stats),
      rereads: state.stats.rereads,
      rereadBytes: state.stats.rereadBytes,
      tokens: { requests: ctx.signer.stats.tokenRequests, byScope: { ...ctx.signer.stats.tokenRequestsByScope }, refreshesOn403: ctx.signer.stats.refreshesOn403 },
    },
    ms: Date.now() - started,
    cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  ctx.out(ctx.json ? JSON.stringify(summary) : formatRunSummary(summary));
  return summary;
}

/** Exit codes of a run stopped by a signal (128 + the signal's number, as shells report it). */
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Registers `clay run`; `setExit` receives 3 when no row had matching data (unless `--allow-no-data`), and
 * 130/143 when SIGINT/SIGTERM stopped it (the unit in progress abandoned, its lock given back; a second
 * signal, or 15 s, exits at once).
 */
export function registerRun(program: Command, globals: () => GlobalOptions, setExit: (code: number) => void): void {
  program
    .command('run')
    .description('make the chips of sample rows: plan, read, warp, stack, filter and write GeoTIFF chips with a manifest per (mgrs, date); reruns skip complete units')
    .requiredOption('--sample <file>', 'MGRS sample file (FlatGeobuf or GeoJSON with a name column)')
    .requiredOption('--out <dir|s3://bucket/prefix>', 'output folder or S3 prefix (S3: AWS_* environment variables)')
    .option('--index <n>', 'sample row, 0-based (default: AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX, else 0)', (v) => parseInteger(v, '--index', 0))
    .option('--indices <spec>', "several rows on this machine, one after the other: 'all', 'A-B' or 'A,B,...'")
    .option('--subset <spec>', "an array job over these rows ('all', 'A-B' or 'A,B,...', e.g. what clay status says to resubmit): the array index i runs the i-th of them")
    .option('--compat <mode>', "'clay-v0': Clay v0's selection, half-pixel georeferencing and 1-row strips")
    .option('--dates <n>', 'dates per location', (v) => parseInteger(v, '--dates', 1, 7))
    .option('--force', 'redo complete units too')
    .option('--compress <codec>', "'zstd' (default; GDAL >= 2.3 and rasterio read it) or 'deflate' (Clay v0's, every TIFF reader's; default of --compat clay-v0)")
    .option('--level <n>', "the codec's level: zstd 1..22 (default 1), DEFLATE 1..9 (default 6)", (v) => parseInteger(v, '--level', 1, 22))
    .option('--predictor <p>', "'none' (Clay v0's) or 'float' (floating-point predictor: smaller files)")
    .option('--rows-per-strip <n>', 'rows per TIFF strip (default 16; Clay v0 wrote 1)', (v) => parseInteger(v, '--rows-per-strip', 1, 512))
    .option('--resampling <method>', "'nearest' (Clay v0's) or 'bilinear' (SCL stays nearest)")
    .option('--harmonize', 'remove the +1000 reflectance offset of processing baseline >= 04.00')
    .option('--inflight <n>', 'chips in flight per unit', (v) => parseInteger(v, '--inflight', 1, 16))
    .option('--cache-mb <n>', 'decoded-tile cache in MiB (default 32)', (v) => parseInteger(v, '--cache-mb', 0))
    .option('--source-cache-mb <n>', 'cache of compressed source bytes (tiles, headers) in MiB, so no range is read twice (default 64)', (v) => parseInteger(v, '--source-cache-mb', 0))
    .option('--previews', 'an RGB PNG quicklook beside each kept chip (B04 B03 B02, reflectance 0..3000)')
    .option('--stac', 'a STAC item beside each kept chip and collection.json at the root (the chips of this run)')
    .option('--allow-no-data', 'exit 0 when no row had matching data (array jobs: such a row is a result, not a failure to retry)')
    .option('--wait-locked [seconds]', `wait for a unit another run holds (looking every 2 s, or every quarter of a shorter --lock-stale) up to this long (default ${DEFAULT_LOCK_WAIT_S}), then make it unless it is complete; without it such a unit is skipped (Run:Locked)`, (v) => parseNumber(v, '--wait-locked', 0, 7 * 86_400))
    .option('--lock-stale <seconds>', `a unit lock not refreshed for this long is stale and broken (holders refresh theirs every tenth of it, at most every 60 s; a holder that was a process on this host and is gone is broken at once) (default ${DEFAULT_LOCK_STALE_S})`, (v) => parseNumber(v, '--lock-stale', 1, 7 * 86_400))
    .action(async (opts: RunCommandOptions) => {
      const ctx = createContext(globals());
      const controller = new AbortController();
      let caught: keyof typeof SIGNAL_EXIT | undefined;
      const onSignal = (sig: keyof typeof SIGNAL_EXIT): void => {
        if (caught) process.exit(SIGNAL_EXIT[sig]);
        caught = sig;
        ctx.logger.warn('Run:Interrupted', { signal: sig, message: 'stopping: the unit in progress is abandoned (a rerun redoes it) and its lock given back' });
        controller.abort(new ClayError('HTTP_ABORTED', `interrupted by ${sig}`));
        setTimeout(() => process.exit(SIGNAL_EXIT[sig]), 15_000).unref();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const summary = await runRun(ctx, opts, { signal: controller.signal });
        if (summary.rows.every((r) => r.status === 'no-data') && opts.allowNoData !== true) setExit(3);
      } catch (err) {
        if (!caught) throw err;
        setExit(SIGNAL_EXIT[caught]);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
