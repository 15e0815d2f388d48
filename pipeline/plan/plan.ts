/**
 * The `plan` stage: for one sample row, which Sentinel-2, Sentinel-1 and DEM items make each date, and why
 * (Clay v0's `datacube.py` main loop and `process()`). Search-only: no pixels are read, so the plan doubles
 * as a dry run that counts chips and estimates bytes before anything is spent.
 *
 * Per year (CPython's shuffled order) the S2 candidates come from ONE search, sorted by cloud cover; attempt
 * i takes the i-th, searches S1 in its window and applies the orbit and coverage rule; no S1 moves on to the
 * next candidate; running out of candidates moves on to the next year. Stops after `dates` dates.
 * Where `clay-v0` mode differs from the default, the spot says so.
 */
import type { Bbox } from '../../core/geometry.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { isClayError } from '../../core/errors.ts';
import { asDemItem, asS1Item, asS2Item, type DemItem, type S1Item, type S2Item } from '../../core/stac/pc-items.ts';
import type { SearchBody, StacClient } from '../../core/stac/stac-client.ts';
import type { StacItem } from '../../core/stac/stac-item.ts';
import type { SampleRow } from '../sample-file.ts';
import { dayWindow, demQuery, s1Query, s2Query, S2_LIMITS } from '../search/queries.ts';
import { estimateBytes, plannedGrid, chipLayout } from './plan-grid.ts';
import { clayYears } from './python-random.ts';
import { selectS1, type S1Selection } from './select-s1.ts';
import type { AttemptRecord, PlanMode, PlannedDate, ScenePlan, YearRecord } from './plan-types.ts';

/** Options of `plan`. */
export interface PlanOptions {
  stac: StacClient;
  /** `clay-v0` reproduces v0's selection bugs (`--compat clay-v0`); default fixes them. */
  mode?: PlanMode;
  /** Dates per row (Clay's DATES_PER_LOCATION, 3). */
  dates?: number;
  /** Attempts per year (Clay's S1_MATCH_ATTEMPTS, 20). */
  attempts?: number;
  /** Half-width of the S1 window in days (3). */
  s1WindowDays?: number;
  /** Override the year order (default: CPython's shuffle of 2017..2023 seeded with the row index). */
  years?: readonly number[];
  /** S2 item filters (Clay's 50 % cloud cover, 20 % nodata). */
  limits?: { maxCloudCover: number; maxNodataPercentage: number };
  /** Chip size in pixels (512). */
  chipSize?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

type Settings = ScenePlan['settings'];

/** Runs searches once each: a repeated identical search answers from memory. */
class Searches {
  private readonly memo = new Map<string, Promise<{ items: StacItem[]; complete: boolean }>>();
  /** Distinct searches run. */
  count = 0;
  /** Pages requested (HTTP requests to the STAC API, retries aside). */
  pages = 0;
  constructor(private readonly stac: StacClient, private readonly signal: AbortSignal | undefined, readonly logger: Logger) {}

  /** The first `max` items of `body` (all when `max` is undefined), and whether that is all of them. */
  run(body: SearchBody, max?: number): Promise<{ items: StacItem[]; complete: boolean }> {
    const key = `${max ?? ''}|${JSON.stringify(body)}`;
    let hit = this.memo.get(key);
    if (!hit) {
      this.count++;
      hit = this.fetch(body, max);
      this.memo.set(key, hit);
    }
    return hit;
  }

  private async fetch(body: SearchBody, max: number | undefined): Promise<{ items: StacItem[]; complete: boolean }> {
    const items: StacItem[] = [];
    for await (const item of this.stac.search(body, { onPage: () => this.pages++, ...(this.signal ? { signal: this.signal } : {}) })) {
      items.push(item);
      // Stop at the cap without asking for the next page (more may exist: not complete).
      if (max !== undefined && items.length === max) return { items, complete: false };
    }
    return { items, complete: true };
  }
}

/** What one year's loop found. */
interface YearResult {
  record: YearRecord;
  date?: PlannedDate;
  /** `clay-v0`: v0 would have raised here; the row stops. */
  stop?: string;
}

/** Plans one sample row. Expected outcomes (no S1, empty years, no data at all) are in the result. */
export async function plan(row: SampleRow, options: PlanOptions): Promise<ScenePlan> {
  const mode = options.mode ?? 'default';
  const settings: Settings = {
    dates: options.dates ?? 3,
    attempts: options.attempts ?? 20,
    s1WindowDays: options.s1WindowDays ?? 3,
    maxCloudCover: options.limits?.maxCloudCover ?? S2_LIMITS.maxCloudCover,
    maxNodataPercentage: options.limits?.maxNodataPercentage ?? S2_LIMITS.maxNodataPercentage,
    chipSize: options.chipSize ?? 512,
  };
  const logger = options.logger ?? silentLogger;
  const years = [...(options.years ?? clayYears(row.index))];
  const searches = new Searches(options.stac, options.signal, logger);
  const dates: PlannedDate[] = [];
  const yearLog: YearRecord[] = [];
  let stop: { year: number; why: string } | undefined;
  for (const year of years) {
    if (stop || dates.length >= settings.dates) {
      yearLog.push({ year, outcome: stop ? 'not reached' : 'not needed', candidates: [], complete: false, attempts: [] });
      continue;
    }
    const result = await planYear(row, year, mode, settings, searches);
    yearLog.push(result.record);
    if (result.date) dates.push(result.date);
    if (result.stop) stop = { year, why: result.stop };
    logger.info('Plan:Year', { mgrs: row.name, year, outcome: result.record.outcome, attempts: result.record.attempts.length, ...(result.date ? { date: result.date.date } : {}) });
  }
  const status = stop ? 'stopped' : dates.length === 0 ? 'no-data' : 'ok';
  const totals = {
    dates: dates.length,
    chips: dates.reduce((n, d) => n + d.chips.count, 0),
    estimatedBytes: dates.reduce((n, d) => n + d.estimate.total, 0),
    stacRequests: searches.pages,
    stacSearches: searches.count,
  };
  const message = status === 'no-data'
    ? `no matching data: no year of ${years.join(', ')} has a Sentinel-2 scene with Sentinel-1 and DEM for ${row.name}`
    : status === 'stopped'
      ? `clay-v0 stops in ${stop!.year}: ${stop!.why}; ${dates.length} date(s) before that`
      : `${dates.length} date(s), ${totals.chips} chips before filtering`;
  logger.info('Plan:Done', { mgrs: row.name, index: row.index, mode, status, ...totals });
  return { version: 1, mgrs: row.name, index: row.index, mode, years, status, message, dates, yearLog, totals, settings };
}

/** The S2 candidates of a year in cloud-cover order, and (clay-v0) the API's default order. */
async function candidatesOf(row: SampleRow, year: number, mode: PlanMode, settings: Settings, searches: Searches): Promise<{ ranked: StacItem[]; complete: boolean; defaultOrder: StacItem[] }> {
  const limits = { maxCloudCover: settings.maxCloudCover, maxNodataPercentage: settings.maxNodataPercentage };
  if (mode === 'default') {
    // Only the first `attempts` candidates can ever be tried: ask for one page of exactly that many...
    const first = await searches.run(s2Query(row.geometry, year, limits, settings.attempts), settings.attempts);
    if (isRanked(first.items)) return { ranked: first.items, complete: first.complete, defaultOrder: first.items };
    // ...unless the API did not sort them: then fetch every candidate and rank them here, as v0 did.
    searches.logger.warn('Plan:Unsorted', { mgrs: row.name, year, note: 'the STAC API ignored sortby eo:cloud_cover; ranking locally' });
  }
  // v0 fetched every candidate in the API's default order (datetime desc, id desc), sorted them by cloud
  // cover with pandas (stable for small lists), and looked its choice up by datetime in the default order.
  const { items } = await searches.run(s2Query(row.geometry, year, limits));
  const defaultOrder = [...items].sort((a, b) => compareDesc(datetimeOf(a), datetimeOf(b)) || compareDesc(a.id, b.id));
  const ranked = [...defaultOrder].sort((a, b) => cloudOf(a) - cloudOf(b));
  return { ranked, complete: true, defaultOrder };
}

function cloudOf(item: StacItem): number {
  const v = item.properties['eo:cloud_cover'];
  return typeof v === 'number' ? v : Infinity;
}

/** Whether items are in cloud-cover order (what the search asked for). */
function isRanked(items: StacItem[]): boolean {
  return items.every((item, i) => i === 0 || cloudOf(items[i - 1]!) <= cloudOf(item));
}

function compareDesc(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

function datetimeOf(item: StacItem): string {
  const v = item.properties.datetime;
  return typeof v === 'string' ? v : '';
}

/** One year: attempts over the candidates until one has Sentinel-1 (and DEM). */
async function planYear(row: SampleRow, year: number, mode: PlanMode, settings: Settings, searches: Searches): Promise<YearResult> {
  const { ranked, complete, defaultOrder } = await candidatesOf(row, year, mode, settings, searches);
  const record: YearRecord = { year, outcome: 'no candidates', candidates: ranked.slice(0, complete ? undefined : settings.attempts).map((i) => i.id), complete, attempts: [] };
  if (ranked.length === 0) {
    // v0 ran this same search 20 times before giving up on the year; once is enough.
    return { record };
  }
  const tries = Math.min(settings.attempts, ranked.length);
  for (let i = 0; i < tries; i++) {
    const rankedItem = ranked[i]!;
    // v0 takes the bbox from the ranked row but the item from the first one with the same datetime.
    const item = mode === 'clay-v0' ? defaultOrder.find((c) => datetimeOf(c) === datetimeOf(rankedItem)) ?? rankedItem : rankedItem;
    const attempt = await tryCandidate(item, rankedItem.bbox, i, mode, settings, searches);
    record.attempts.push(attempt.record);
    if (attempt.stop) return { record: { ...record, outcome: 'stopped' }, stop: attempt.stop };
    if (attempt.record.outcome === 'discarded') {
      return { record: { ...record, outcome: 'no match within the attempt limit', note: 'clay-v0 discards a match found on the last attempt' } };
    }
    if (attempt.date) {
      if (item !== rankedItem) attempt.date.s2.rankedId = rankedItem.id;
      return { record: { ...record, outcome: 'chosen' }, date: attempt.date };
    }
  }
  if (tries < settings.attempts) {
    if (mode === 'clay-v0') {
      const why = `IndexError: attempt ${tries} is past the ${ranked.length} candidate(s) of ${year}`;
      return { record: { ...record, outcome: 'stopped', note: why }, stop: why };
    }
    return { record: { ...record, outcome: 'out of candidates' } };
  }
  return { record: { ...record, outcome: 'no match within the attempt limit' } };
}

/** One attempt: S1 for the candidate's window, then (on a match) the DEM and the date's record. */
async function tryCandidate(item: StacItem, bbox: Bbox, i: number, mode: PlanMode, settings: Settings, searches: Searches): Promise<{ record: AttemptRecord; date?: PlannedDate; stop?: string }> {
  const base = { attempt: i, s2: item.id, datetime: datetimeOf(item), cloudCover: Number(item.properties['eo:cloud_cover']) };
  let s2: S2Item;
  try {
    s2 = asS2Item(item);
  } catch (err) {
    if (!isClayError(err)) throw err;
    // A malformed candidate is skipped, as the filters skip others; said once here so it is not silent.
    searches.logger.warn('Plan:InvalidItem', { s2: item.id, code: err.code, error: err.message });
    return { record: { ...base, outcome: 'filtered', reason: err.message } };
  }
  const window = dayWindow(s2.datetime, settings.s1WindowDays);
  const found = await searches.run(s1Query(bbox, window));
  const rejected: { id: string; reason: string }[] = [];
  const scenes: S1Item[] = [];
  for (const candidate of found.items) {
    try {
      scenes.push(asS1Item(candidate));
    } catch (err) {
      if (!isClayError(err)) throw err;
      searches.logger.warn('Plan:InvalidItem', { s1: candidate.id, code: err.code, error: err.message });
      rejected.push({ id: candidate.id, reason: err.message });
    }
  }
  const selection = selectS1(scenes, bbox, mode === 'clay-v0' ? 'clay-v0' : 'union');
  const tried = { ...base, window, s1Found: found.items.length };
  if (!selection) return { record: { ...tried, outcome: 'no S1 within window', ...(rejected.length ? { reason: rejected.map((r) => r.reason).join('; ') } : {}) } };
  if (mode === 'clay-v0' && i === settings.attempts - 1) {
    return { record: { ...tried, outcome: 'discarded', reason: `a match on attempt ${i + 1} of ${settings.attempts}, which Clay v0 discards` } };
  }
  const dem = (await searches.run(demQuery(bbox))).items.map(asDemItem).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (dem.length === 0) {
    const reason = 'no Copernicus DEM tile intersects the bbox (every chip would be rejected for DEM nodata)';
    // stackstac raises on an empty item list: v0 crashed here.
    if (mode === 'clay-v0') return { record: { ...tried, outcome: 'filtered', reason }, stop: `ValueError: no DEM items for ${s2.id}` };
    return { record: { ...tried, outcome: 'filtered', reason } };
  }
  const date = plannedDate(s2, bbox, i, window, selection, rejected, dem, settings);
  return { record: { ...tried, outcome: 'chosen' }, date };
}

function plannedDate(s2: S2Item, bbox: Bbox, attempt: number, window: string, selection: S1Selection, rejected: { id: string; reason: string }[], dem: DemItem[], settings: Settings): PlannedDate {
  const grid = plannedGrid(s2);
  const chips = chipLayout(grid, settings.chipSize);
  const scenes = [...selection.chosen].sort((a, b) => a.scene.datetime.getTime() - b.scene.datetime.getTime() || (a.scene.id < b.scene.id ? -1 : 1));
  const p = s2.item.properties;
  return {
    year: s2.datetime.getUTCFullYear(),
    attempt,
    date: s2.datetime.toISOString().slice(0, 10),
    bbox,
    s2: {
      id: s2.id, collection: s2.item.collection, datetime: typeof p.datetime === 'string' ? p.datetime : s2.datetime.toISOString(),
      hrefs: Object.fromEntries(Object.entries(s2.assets).map(([k, a]) => [k, a.href])),
      cloudCover: s2.cloudCover, nodataPercentage: s2.nodataPercentage, processingBaseline: s2.processingBaseline ?? null,
      mgrsTile: s2.mgrsTile ?? null, epsg: s2.epsg,
    },
    s1: {
      window,
      orbitState: selection.orbitState,
      coverage: selection.coverage,
      scenes: scenes.map(({ scene, overlap, rank }) => ({
        id: scene.id, collection: scene.item.collection, datetime: scene.datetime.toISOString(),
        hrefs: { [scene.co.key]: scene.co.href, [scene.cross.key]: scene.cross.href },
        start: scene.start.toISOString(), end: scene.end.toISOString(), orbitState: scene.orbitState,
        relativeOrbit: scene.relativeOrbit ?? null, epsg: scene.epsg, overlap, rank,
      })),
      skipped: [...selection.skipped.map((s) => ({ id: s.scene.scene.id, reason: s.reason })), ...rejected],
    },
    dem: dem.map((d) => ({ id: d.id, collection: d.item.collection, datetime: typeof d.item.properties.datetime === 'string' ? d.item.properties.datetime : null, hrefs: { data: d.data.href } })),
    grid,
    chips,
    estimate: estimateBytes(s2, selection, dem, bbox, grid, chips),
  };
}
