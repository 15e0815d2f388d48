/**
 * The scene plan: what the `plan` stage decides for one sample row, as plain JSON (it is written to disk,
 * printed, and read back by the chip stage). Every attempt is recorded with its outcome; expected outcomes
 * ("no S1 within window", an empty year, no data at all) are results here, never errors.
 */
import type { Grid } from '../../core/grid.ts';

/** `default`: Clay v0's data choices without its bugs. `clay-v0`: v0's behaviour, bugs included. */
export type PlanMode = 'default' | 'clay-v0';

/** What happened to one Sentinel-2 candidate. */
export type AttemptOutcome =
  /** No Sentinel-1 scene intersects the bbox within the window: the next candidate is tried. */
  | 'no S1 within window'
  /** The candidate cannot be used (e.g. an invalid item); `reason` says why. */
  | 'filtered'
  /** This candidate makes the date. */
  | 'chosen'
  /** `clay-v0` only: a match on the last attempt, which v0 discards (its attempt-loop bug). */
  | 'discarded';

/** One attempt of the per-year loop. */
export interface AttemptRecord {
  /** 0-based attempt number (Clay's `i`): the candidate's position in the cloud-cover order. */
  attempt: number;
  s2: string;
  datetime: string;
  cloudCover: number;
  /** The Sentinel-1 date window searched (`date-3d/date+3d`, as dates). */
  window?: string;
  /** Sentinel-1 scenes found in the window (before the orbit rule). */
  s1Found?: number;
  outcome: AttemptOutcome;
  reason?: string;
}

/** How a year ended. */
export type YearOutcome =
  | 'chosen'
  | 'no candidates'
  /** Every candidate was tried (fewer than the attempt limit), none had Sentinel-1. */
  | 'out of candidates'
  /** The attempt limit was reached without a match. */
  | 'no match within the attempt limit'
  /** The row already had its dates: the year was not searched. */
  | 'not needed'
  /** `clay-v0` only: v0 raised here (e.g. IndexError past the last candidate) and the row stopped. */
  | 'stopped'
  /** `clay-v0` only: after a stop, the year was never reached. */
  | 'not reached';

/** One year of the row, in the shuffled order. */
export interface YearRecord {
  year: number;
  outcome: YearOutcome;
  /** Candidate ids in cloud-cover order (at most the attempt limit, unless `complete`). */
  candidates: string[];
  /** False when more candidates exist than were fetched (only the first `attempts` can ever be tried). */
  complete: boolean;
  attempts: AttemptRecord[];
  note?: string;
}

/** An item reference: enough to read it later (hrefs are unsigned; signing happens at read time). */
export interface PlannedItem {
  id: string;
  collection: string;
  datetime: string | null;
  hrefs: Record<string, string>;
}

/** A chosen Sentinel-1 scene. */
export interface PlannedScene extends PlannedItem {
  start: string;
  end: string;
  orbitState: 'ascending' | 'descending';
  relativeOrbit: number | null;
  epsg: number;
  /** Share of the bbox inside the scene's footprint, 0..1. */
  overlap: number;
  /** Position in the overlap ranking (0 = best). */
  rank: number;
}

/**
 * The output grid: the Sentinel-2 item's own 10 m grid, a `Grid` (core/grid.ts). `transform` is GDAL's geotransform
 * [x of the top-left pixel's corner, pixel width, 0, y of that corner, 0, -pixel height].
 */
export interface PlannedGrid extends Grid {
  transform: [number, number, number, number, number, number];
  width: number;
  height: number;
  /** [minx, miny, maxx, maxy] in the grid's CRS. */
  bounds: [number, number, number, number];
}

/** One source file the chips read, and how much of it. */
export interface FileRead {
  collection: string;
  /** Unsigned href. */
  href: string;
  /** Share of the file's pixels under the chips, 0..1. */
  share: number;
  /** Uncompressed bytes of those pixels. */
  bytes: number;
  /** The file's size in bytes, when probed (`probeSizes`, `clay plan --probe`). */
  size?: number;
}

/** Uncompressed bytes of the source windows the chips need (an upper bound on compressed reads). */
export interface ByteEstimate {
  s2: number;
  s1: number;
  dem: number;
  total: number;
  files: FileRead[];
  /** With a probe: the files' sizes times the shares read, i.e. the compressed bytes to fetch. */
  compressed?: number;
}

/** One chosen date. */
export interface PlannedDate {
  year: number;
  attempt: number;
  /** `YYYY-MM-DD` of the S2 acquisition (UTC), the chip files' date. */
  date: string;
  /** The lon/lat bounds of the S2 footprint: the S1 and DEM search box. */
  bbox: [number, number, number, number];
  s2: Omit<PlannedItem, 'datetime'> & {
    datetime: string;
    cloudCover: number;
    nodataPercentage: number;
    processingBaseline: string | null;
    mgrsTile: string | null;
    epsg: number;
    /** `clay-v0` only, when v0's datetime lookup picked another item than the one ranked: its id. */
    rankedId?: string;
  };
  s1: {
    window: string;
    orbitState: 'ascending' | 'descending';
    /** Share of the bbox covered by the union of the chosen scenes. */
    coverage: number;
    /** In datetime ascending order (the mosaic order: the last valid pixel on top). */
    scenes: PlannedScene[];
    /** Scenes found but not taken, with why. */
    skipped: { id: string; reason: string }[];
  };
  dem: PlannedItem[];
  grid: PlannedGrid;
  /** Full chips from the top-left, row-major, before any filtering. */
  chips: { size: number; columns: number; rows: number; count: number };
  estimate: ByteEstimate;
}

/** The outcome of a plan. */
export type PlanStatus =
  /** At least one date. */
  | 'ok'
  /** No date anywhere: "no matching data" (the CLI exits 3). */
  | 'no-data'
  /** `clay-v0` only: v0 would have crashed part-way; the dates before the crash are kept. */
  | 'stopped';

/** The plan of one sample row. */
export interface ScenePlan {
  version: 1;
  mgrs: string;
  index: number;
  mode: PlanMode;
  /** The year order (CPython's `random.seed(index); random.shuffle(years)`). */
  years: number[];
  status: PlanStatus;
  /** One human sentence about the outcome. */
  message: string;
  dates: PlannedDate[];
  yearLog: YearRecord[];
  totals: {
    dates: number;
    chips: number;
    estimatedBytes: number;
    /** With a probe (`probeSizes`): the compressed bytes the chips will fetch. */
    compressedBytes?: number;
    /** HTTP requests made to the STAC API (search pages), retries not counted. */
    stacRequests: number;
    /** Distinct searches made. */
    stacSearches: number;
  };
  settings: {
    dates: number;
    attempts: number;
    s1WindowDays: number;
    maxCloudCover: number;
    maxNodataPercentage: number;
    chipSize: number;
  };
}
