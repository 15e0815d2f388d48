/**
 * The stratified sample of MGRS tiles (Clay v0's `sample`): class counts become fractions of the tile's
 * classified pixels; for each stratum, tiles are sorted by the stratum's column (largest first), the top
 * `pool` are kept and `size` of them drawn at random; the strata are concatenated in order and a tile
 * drawn twice keeps its first place. The result's row order is the `--index` order of `clay run`.
 *
 * "Seeded, reproducible": the draw is exactly pandas' `sample(size, random_state=seed)` (numpy's legacy
 * RandomState, every stratum with the same seed, as v0 did), so the same pool gives the same tiles as v0.
 * The pool's order is v0's too: sorts are applied one after another to one shared order (v0 sorted its frame
 * in place), descending, ties left in the order the previous sort gave them (a stable sort). pandas' sort is
 * numpy's unstable quicksort, so on a large file with ties in a column the pool can differ from v0's; for
 * files of 16 rows or fewer (insertion sort) or without ties it is the same.
 *
 * Beyond v0: a stratum asking for more tiles than its pool holds takes the whole pool (v0 raises
 * ValueError) and says so in its report; a pool larger than the file is the whole file (as pandas' slice).
 */
import { pandasDescendingOrder } from './numpy-sort.ts';
import { ClayError } from '../core/errors.ts';
import { COUNT_COLUMN, WORLDCOVER_CLASSES, type ClassKey } from './classes.ts';
import type { Footprint } from './footprint.ts';
import { NumpyRandomState } from './numpy-random.ts';
import type { StatsRow } from './stats-file.ts';

/** A stratum key: `diversity` (the `count` column) or a class key. */
export type StratumKey = 'diversity' | ClassKey;

/** One stratum: draw `size` tiles from the `pool` with the largest values of the key's column. */
export interface Stratum {
  key: StratumKey;
  size: number;
  pool: number;
}

/** Clay v0's strata, in v0's order (its sample file's row order follows it). */
export const CLAY_V0_STRATA: readonly Stratum[] = [
  { key: 'diversity', size: 500, pool: 3000 },
  { key: 'built-up', size: 400, pool: 1000 },
  { key: 'wetland', size: 50, pool: 500 },
  { key: 'mangroves', size: 50, pool: 500 },
  { key: 'moss', size: 50, pool: 500 },
  { key: 'cropland', size: 100, pool: 500 },
  { key: 'trees', size: 100, pool: 500 },
  { key: 'shrubland', size: 50, pool: 500 },
  { key: 'grassland', size: 50, pool: 500 },
  { key: 'bare', size: 50, pool: 500 },
  { key: 'snow', size: 50, pool: 500 },
  { key: 'water', size: 100, pool: 1000 },
];

/** Clay v0's seed (`RANDOM_SEED = 42`). */
export const CLAY_V0_SEED = 42;

/** Every stratum key. */
export const STRATUM_KEYS: readonly StratumKey[] = ['diversity', ...WORLDCOVER_CLASSES.map((c) => c.key)];

/** The file column a stratum sorts by. */
export function stratumColumn(key: StratumKey): string {
  if (key === 'diversity') return COUNT_COLUMN;
  const c = WORLDCOVER_CLASSES.find((x) => x.key === key);
  if (!c) throw new ClayError('BAD_ARGUMENT', `unknown stratum '${String(key)}' (one of ${STRATUM_KEYS.join(', ')})`, { input: String(key) });
  return c.column;
}

/** A sampled tile: name, footprint, v0's `count`, class fractions (0..1) and the stratum that drew it. */
export interface SampledTile {
  name: string;
  footprint: Footprint;
  count: number;
  fractions: Record<ClassKey, number>;
  stratum: StratumKey;
}

/** What one stratum did. */
export interface StratumReport extends Stratum {
  column: string;
  /** Tiles in the pool (min(pool, tiles in the file)). */
  available: number;
  /** Tiles drawn (min(size, available)). */
  drawn: number;
  /** Drawn tiles not already taken by an earlier stratum (what it added to the sample). */
  added: number;
  /** True when the stratum asked for more than its pool held (v0 would have raised). */
  short: boolean;
}

/** The result of `drawSample`. */
export interface SampleResult {
  tiles: SampledTile[];
  strata: StratumReport[];
  seed: number;
}

/** Options of `drawSample`. */
export interface SampleOptions {
  /** Default 42 (Clay v0). */
  seed?: number;
  /** Default CLAY_V0_STRATA. */
  strata?: readonly Stratum[];
  /**
   * How tied values are ordered by each stratum's sort: `stable` (default: ties keep the order the previous
   * sort left, the same on every machine) or `numpy-quicksort` (pandas' sort_values on numpy's introsort,
   * exactly: what v0 ran on a machine where numpy's AVX-512 sort is not used, numpy <= 1.24 anywhere).
   */
  ties?: TieOrder;
}

/** The tie orders of `SampleOptions.ties`. */
export type TieOrder = 'stable' | 'numpy-quicksort';

/** Class counts as fractions of the tile's classified pixels (all 0 for a tile without any). */
export function classFractions(row: StatsRow): Record<ClassKey, number> {
  const total = WORLDCOVER_CLASSES.reduce((n, c) => n + row.pixels[c.key], 0);
  return Object.fromEntries(WORLDCOVER_CLASSES.map((c) => [c.key, total > 0 ? row.pixels[c.key] / total : 0])) as Record<ClassKey, number>;
}

/** Draws the stratified sample of `rows` (a stats file's rows, in file order). */
export function drawSample(rows: readonly StatsRow[], options: SampleOptions = {}): SampleResult {
  const seed = options.seed ?? CLAY_V0_SEED;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ClayError('BAD_ARGUMENT', `seed must be an integer in [0, 2^32), got ${seed}`, { input: 'seed' });
  const strata = options.strata ?? CLAY_V0_STRATA;
  const ties = options.ties ?? 'stable';
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.name)) throw new ClayError('BAD_SAMPLE_FILE', `tile ${r.name} appears twice in the stats`, { input: r.name });
    seen.add(r.name);
  }
  const fractions = rows.map(classFractions);
  const value = (key: StratumKey, i: number): number => (key === 'diversity' ? rows[i]!.count : fractions[i]![key]);
  let order = rows.map((_, i) => i);
  const taken = new Set<string>();
  const tiles: SampledTile[] = [];
  const reports: StratumReport[] = [];
  for (const s of strata) {
    if (!Number.isInteger(s.size) || s.size < 0 || !Number.isInteger(s.pool) || s.pool < 0) {
      throw new ClayError('BAD_ARGUMENT', `stratum ${s.key}: size and pool must be integers >= 0, got ${s.size}/${s.pool}`, { input: s.key });
    }
    const column = stratumColumn(s.key);
    // Descending sort of the shared order: v0 sorted one frame in place, stratum after stratum.
    if (ties === 'numpy-quicksort') {
      const current = order;
      order = pandasDescendingOrder(current.map((i) => value(s.key, i))).map((k) => current[k]!);
    } else {
      order = order.map((i, pos) => ({ i, pos, v: value(s.key, i) })).sort((a, b) => b.v - a.v || a.pos - b.pos).map((x) => x.i);
    }
    const pool = order.slice(0, s.pool);
    const drawn = Math.min(s.size, pool.length);
    const picks = new NumpyRandomState(seed).permutation(pool.length).slice(0, drawn);
    let added = 0;
    for (const p of picks) {
      const i = pool[p]!;
      const row = rows[i]!;
      if (taken.has(row.name)) continue;
      taken.add(row.name);
      added++;
      tiles.push({ name: row.name, footprint: row.footprint, count: row.count, fractions: fractions[i]!, stratum: s.key });
    }
    reports.push({ ...s, column, available: pool.length, drawn, added, short: s.size > pool.length });
  }
  return { tiles, strata: reports, seed };
}

/**
 * Parses `key=size/pool` (e.g. `water=100/1000`) into a stratum; `key=size` keeps v0's pool. Unknown keys and
 * malformed numbers are BAD_ARGUMENT.
 */
export function parseStratum(spec: string): Stratum {
  const m = /^\s*([a-z-]+)\s*=\s*(\d+)\s*(?:\/\s*(\d+)\s*)?$/.exec(spec);
  if (!m) throw new ClayError('BAD_ARGUMENT', `--stratum must be KEY=SIZE or KEY=SIZE/POOL (keys: ${STRATUM_KEYS.join(', ')}), got '${spec}'`, { input: '--stratum' });
  const key = m[1] as StratumKey;
  if (!STRATUM_KEYS.includes(key)) throw new ClayError('BAD_ARGUMENT', `--stratum: unknown stratum '${key}' (one of ${STRATUM_KEYS.join(', ')})`, { input: '--stratum' });
  const base = CLAY_V0_STRATA.find((s) => s.key === key)!;
  return { key, size: Number(m[2]), pool: m[3] === undefined ? base.pool : Number(m[3]) };
}

/** v0's strata with some replaced (same key, same place in the order). */
export function withOverrides(overrides: readonly Stratum[]): Stratum[] {
  return CLAY_V0_STRATA.map((s) => overrides.filter((o) => o.key === s.key).at(-1) ?? s);
}
