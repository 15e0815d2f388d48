/**
 * `clay landcover`: the landcover stages. `grid` computes the Sentinel-2 MGRS tiles of an area; `stats` counts
 * WorldCover classes per tile (resumable); `sample` draws Clay v0's stratified sample and can draw its map.
 * JSON summaries off a TTY (or with --json), readable lines on one. Exit 0 done, 1 some tiles failed (rerun to
 * retry them), 2 bad arguments or input files, 3 no tile kept (nothing written).
 */
import type { Command } from 'commander';
import { writeFileAtomic } from '../../core/atomic-file.ts';
import { ClayError } from '../../core/errors.ts';
import { checkOutput } from '../../core/store/output-check.ts';
import type { GeoJsonGeometry } from '../../core/geometry.ts';
import { createProgress } from '../../core/progress.ts';
import { readVectorFile } from '../../core/vector-file.ts';
import { writeFeatures } from '../../landcover/vector-out.ts';
import { asFootprint, footprintBbox, footprintPolygons, toMultiPolygon, type GridTile } from '../../landcover/footprint.ts';
import { readGridFile } from '../../landcover/grid-file.ts';
import { computeGrid } from '../../landcover/mgrs-grid.ts';
import { drawSample, parseStratum, withOverrides, type Stratum } from '../../landcover/sample.ts';
import { writeSampleFile } from '../../landcover/sample-file.ts';
import { sampleMapSvg } from '../../landcover/sample-map.ts';
import { computeStats, DEFAULT_OVERVIEW, type StatsSummary } from '../../landcover/stats.ts';
import { readStatsFile } from '../../landcover/stats-file.ts';
import type { FootprintMode } from '../../landcover/tile-stats.ts';
import { DEFAULT_WORLDCOVER_YEAR } from '../../landcover/worldcover.ts';
import { createContext, type GlobalOptions } from '../context.ts';
import { parseInteger, parseNumber } from '../parse.ts';

/** Where the tiles come from: a grid file, a bbox, or an area-of-interest file. */
export interface TileSourceOptions {
  grid?: string;
  nameField?: string;
  bbox?: string;
  aoi?: string;
}

/** Parses `--bbox W,S,E,N` (degrees; W > E crosses the antimeridian). */
export function parseBbox(value: string): [number, number, number, number] {
  const parts = value.split(',').map((v) => v.trim());
  if (parts.length !== 4) throw new ClayError('BAD_ARGUMENT', `--bbox must be WEST,SOUTH,EAST,NORTH in degrees, got '${value}'`, { input: '--bbox' });
  const [w, s, e, n] = parts.map((p, i) => parseNumber(p, '--bbox', i % 2 === 0 ? -180 : -90, i % 2 === 0 ? 180 : 90)) as [number, number, number, number];
  if (s >= n || w === e) throw new ClayError('BAD_ARGUMENT', `--bbox needs SOUTH < NORTH and WEST != EAST, got '${value}'`, { input: '--bbox' });
  return [w, s, e, n];
}

/** `--overview N|none`: GDAL's -ovr number, or 'none' for full resolution (commander turns a null into ''). */
export function parseOverview(value: string): number | 'none' {
  if (value === 'none' || value === 'full') return 'none';
  return parseInteger(value, '--overview', 0, 30);
}

/** The tiles of `--grid`, `--bbox` or `--aoi` (exactly one). */
export async function resolveTiles(options: TileSourceOptions, warn: (msg: string) => void = () => undefined): Promise<GridTile[]> {
  const given = [options.grid, options.bbox, options.aoi].filter((v) => v !== undefined).length;
  if (given !== 1) throw new ClayError('BAD_ARGUMENT', 'give exactly one of --grid FILE, --bbox W,S,E,N or --aoi FILE', { input: '--grid' });
  if (options.grid !== undefined) {
    const file = await readGridFile(options.grid, options.nameField !== undefined ? { nameField: options.nameField } : {});
    if (file.duplicates.length > 0) warn(`${options.grid}: ${file.duplicates.length} duplicate tile name(s) ignored (first kept): ${file.duplicates.slice(0, 5).join(', ')}`);
    return file.tiles;
  }
  if (options.bbox !== undefined) return computeGrid(parseBbox(options.bbox));
  const features = await readVectorFile(options.aoi!, 'BAD_ARGUMENT');
  const polys = features.map((f) => asFootprint(f.geometry)).filter((f) => f !== undefined).flatMap(footprintPolygons);
  if (polys.length === 0) throw new ClayError('BAD_ARGUMENT', `${options.aoi} has no Polygon or MultiPolygon`, { input: options.aoi });
  const within: GeoJsonGeometry = { type: 'MultiPolygon', coordinates: polys };
  return computeGrid(footprintBbox({ type: 'MultiPolygon', coordinates: polys }), { within });
}

/** Options of `clay landcover grid`. */
export interface GridCommandOptions extends TileSourceOptions {
  out: string;
}

/** Options of `clay landcover stats`. */
export interface StatsCommandOptions extends TileSourceOptions {
  out: string;
  overview: number | 'none';
  year: number;
  footprint?: string;
  compat?: string;
  concurrency: number;
  cacheMb: number;
  force?: boolean;
}

/** Options of `clay landcover sample`. */
export interface SampleCommandOptions {
  stats: string;
  out: string;
  seed: number;
  stratum: string[];
  ties?: string;
  map?: string;
}

function parseFootprint(value: string): FootprintMode {
  if (value === 'polygon' || value === 'bbox') return value;
  throw new ClayError('BAD_ARGUMENT', `--footprint must be 'polygon' or 'bbox', got '${value}'`, { input: '--footprint' });
}

/** Runs `clay landcover stats`; resolves with the summary. */
export async function runStats(globals: GlobalOptions, options: StatsCommandOptions): Promise<StatsSummary> {
  if (options.compat !== undefined && options.compat !== 'clay-v0') throw new ClayError('BAD_ARGUMENT', `--compat must be 'clay-v0', got '${options.compat}'`, { input: '--compat' });
  const v0 = options.compat === 'clay-v0';
  const footprint = parseFootprint(options.footprint ?? (v0 ? 'bbox' : 'polygon'));
  if (v0 && footprint !== 'bbox') throw new ClayError('BAD_ARGUMENT', "--compat clay-v0 counts each part's bounding box, as v0: drop --footprint polygon", { input: '--footprint' });
  const ctx = createContext(globals);
  const tiles = await resolveTiles(options, (msg) => ctx.logger.warn('Landcover:Grid:Duplicates', { message: msg }));
  if (tiles.length === 0) throw new ClayError('BAD_ARGUMENT', 'no MGRS tile in the area given', { input: options.bbox ?? options.aoi ?? options.grid });
  await checkOutput(options.out, 'file');
  const summary = await computeStats(tiles, {
    stac: ctx.stac, http: ctx.http, signer: ctx.signer, out: options.out, overview: options.overview === 'none' ? null : options.overview, year: options.year, footprint,
    rowOrder: v0 ? 'gdal-flatgeobuf' : 'grid', concurrency: options.concurrency, cacheBytes: options.cacheMb * 1024 * 1024, force: options.force === true, logger: ctx.logger,
    progress: (total) => createProgress('landcover stats', total, ctx.logger),
  });
  if (ctx.json) ctx.out(JSON.stringify(summary));
  else {
    ctx.out(`${summary.tiles} tiles: ${summary.done} done, ${summary.skipped} skipped (journal), ${summary.failed.length} failed; ${summary.kept} kept, dropped ${summary.dropped.noData} without data and ${summary.dropped.allWater} all water`);
    ctx.out(`${(summary.bytes / 1e6).toFixed(1)} MB in ${summary.requests} range requests, ${summary.seconds.toFixed(1)} s; ${summary.written ? `wrote ${summary.out}` : 'nothing written (no tile kept)'}`);
    for (const f of summary.failed.slice(0, 10)) ctx.out(`  failed ${f.name}: ${f.code} ${f.message}`);
  }
  return summary;
}

/** Runs `clay landcover sample`. */
export async function runSample(globals: GlobalOptions, options: SampleCommandOptions): Promise<ReturnType<typeof drawSample>> {
  const ctx = createContext(globals);
  const strata: Stratum[] = withOverrides(options.stratum.map(parseStratum));
  const rows = await readStatsFile(options.stats);
  const ties = options.ties ?? 'stable';
  if (ties !== 'stable' && ties !== 'numpy-quicksort') throw new ClayError('BAD_ARGUMENT', `--ties must be 'stable' or 'numpy-quicksort', got '${ties}'`, { input: '--ties' });
  const result = drawSample(rows, { seed: options.seed, strata, ties });
  await checkOutput(options.out, 'file');
  if (options.map) await checkOutput(options.map, 'file', '--map');
  await writeSampleFile(options.out, result.tiles);
  for (const s of result.strata.filter((x) => x.short)) {
    ctx.logger.warn('Landcover:Sample:Short', { stratum: s.key, size: s.size, pool: s.pool, available: s.available, drawn: s.drawn });
  }
  if (options.map) await writeFileAtomic(options.map, sampleMapSvg(result.tiles, { background: rows.map((r) => r.footprint), title: `MGRS sample of ${options.stats} (seed ${options.seed})` }));
  ctx.logger.info('Landcover:Sample:Done', { tiles: result.tiles.length, seed: result.seed, out: options.out });
  if (ctx.json) ctx.out(JSON.stringify({ out: options.out, map: options.map ?? null, seed: result.seed, statsTiles: rows.length, tiles: result.tiles.length, strata: result.strata }));
  else {
    for (const s of result.strata) ctx.out(`${s.key.padEnd(10)} ${String(s.drawn).padStart(4)} of top ${String(s.available).padStart(4)} by '${s.column}' (+${s.added} new)${s.short ? `  [asked ${s.size}: the pool holds ${s.available}]` : ''}`);
    ctx.out(`${result.tiles.length} tiles from ${rows.length} (seed ${result.seed}) -> ${options.out}${options.map ? `, map ${options.map}` : ''}`);
  }
  return result;
}

/** Registers `clay landcover grid|stats|sample`; `setExit` receives 1 (failed tiles) or 3 (nothing kept). */
export function registerLandcover(program: Command, globals: () => GlobalOptions, setExit: (code: number) => void): void {
  const landcover = program.command('landcover').description('WorldCover class statistics over MGRS tiles, and the stratified sample (Clay v0)');
  const tileOptions = (c: Command): Command => c
    .option('--grid <file>', "MGRS grid file: FlatGeobuf, GeoJSON or ESA's KML, a name and a polygon per tile")
    .option('--name-field <field>', "the tile-name column of --grid (default: 'name', else 'Name')")
    .option('--bbox <w,s,e,n>', 'compute the Sentinel-2 tiles of this lon/lat box instead of reading a grid file')
    .option('--aoi <file>', 'compute the Sentinel-2 tiles of the polygons in this FlatGeobuf/GeoJSON file');
  tileOptions(landcover.command('grid').description('write the Sentinel-2 MGRS tiles of an area (computed) or of a grid file'))
    .requiredOption('--out <file>', 'output grid (.fgb or .geojson)')
    .action(async (opts: GridCommandOptions) => {
      const ctx = createContext(globals());
      const tiles = await resolveTiles(opts, (msg) => ctx.logger.warn('Landcover:Grid:Duplicates', { message: msg }));
      if (tiles.length === 0) throw new ClayError('BAD_ARGUMENT', 'no MGRS tile in the area given', { input: opts.bbox ?? opts.aoi ?? opts.grid });
      await checkOutput(opts.out, 'file');
      await writeFeatures(opts.out, tiles.map((t) => ({ geometry: toMultiPolygon(t.footprint), properties: { name: t.name } })));
      ctx.out(ctx.json ? JSON.stringify({ out: opts.out, tiles: tiles.length }) : `${tiles.length} tiles -> ${opts.out}`);
    });
  tileOptions(landcover.command('stats').description('count WorldCover classes per MGRS tile from the COG overviews (resumable: rerun to continue)'))
    .requiredOption('--out <file>', 'output stats (.fgb or .geojson); the journal is {out}.journal.jsonl')
    .option('--overview <n|none>', "WorldCover overview, GDAL's -ovr number (0 = first overview; Clay v0 ran -ovr 3); 'none' = full resolution", parseOverview, DEFAULT_OVERVIEW)
    .option('--year <yyyy>', 'WorldCover product year', (v) => parseInteger(v, '--year', 2000, 2100), DEFAULT_WORLDCOVER_YEAR)
    .option('--footprint <mode>', "'polygon' (pixel centres inside the footprint, default) or 'bbox' (each part's bounding box read as v0's rasterio window read)")
    .option('--compat <mode>', "'clay-v0': v0's stats file: --footprint bbox and rows in the order GDAL's FlatGeobuf writer gave v0's file (the sampler's tie order depends on it)")
    .option('--concurrency <n>', 'tiles in flight', (v) => parseInteger(v, '--concurrency', 1, 256), 4)
    .option('--cache-mb <n>', 'decoded COG tile cache, MiB', (v) => parseInteger(v, '--cache-mb', 0, 65536), 64)
    .option('--force', 'start over (remove the journal)')
    .action(async (opts: StatsCommandOptions) => {
      const summary = await runStats(globals(), opts);
      if (summary.failed.length > 0) setExit(1);
      else if (!summary.written) setExit(3);
    });
  landcover.command('sample')
    .description("draw Clay v0's landcover-stratified sample of MGRS tiles from a stats file")
    .requiredOption('--stats <file>', 'stats file from clay landcover stats (or Clay v0)')
    .requiredOption('--out <file>', 'output sample (.fgb or .geojson)')
    .option('--seed <n>', "random seed (pandas' random_state; Clay v0: 42)", (v) => parseInteger(v, '--seed', 0, 0xffffffff), 42)
    .option('--ties <order>', "order of tied values in each stratum's sort: 'stable' (default) or 'numpy-quicksort' (pandas on numpy's introsort, as v0 ran it without AVX-512)")
    .option('--stratum <key=size[/pool]>', 'override a stratum, repeatable (e.g. water=100/1000; size 0 drops it)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--map <file.svg>', 'also draw the sample as an SVG map')
    .action(async (opts: SampleCommandOptions) => {
      await runSample(globals(), opts);
    });
}
