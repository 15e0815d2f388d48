/**
 * The manifest of one unit (one MGRS tile on one date): provenance (the planned items), every candidate
 * chip with kept/rejected and why, each written file's size and sha256, and the run's figures. Written
 * last and atomically: its presence means the unit is complete. Everything but `run` is a function of the
 * inputs and options, so two runs of a unit (one killed and resumed, one not) write the same manifest
 * apart from `run`.
 */
import type { Window } from '../../core/grid.ts';
import { ClayError } from '../../core/errors.ts';
import type { PlanMode, PlannedDate } from '../plan/plan-types.ts';
import type { Resampling } from '../warp/warp.ts';
import type { ChipEncoding } from './chip-file.ts';
import type { ChipQuality, RejectReason } from './quality.ts';

/** The manifest's file name inside the unit's folder. */
export const MANIFEST_NAME = 'manifest.json';

/** A written file. */
export interface FileRecord {
  /** Key relative to the output root. */
  key: string;
  bytes: number;
  sha256: string;
}

/** One candidate chip: where it is, the filter's figures and outcome, and the files written for it. */
export interface ChipRecord extends ChipQuality {
  /** 1-based position, row-major from the top-left, counted whether kept or not. */
  chip: number;
  /** Pixel window in the planned 10 m grid. */
  window: Window;
  /** [minx, miny, maxx, maxy] of the window in the grid's CRS (true georeferencing). */
  bounds: [number, number, number, number];
  /** The window's corners in lon/lat (EPSG:4326), a closed ring: top-left, top-right, bottom-right, bottom-left. */
  footprint: [number, number][];
  /** The chip file, for kept chips. */
  file?: FileRecord;
  /** The RGB preview, for kept chips with `previews`. */
  preview?: FileRecord;
}

/** The unit's settings: what, besides the plan, decides its bytes. */
export interface UnitSettings {
  mode: PlanMode;
  resampling: Resampling;
  harmonize: boolean;
  /** True when the offset was removed (harmonize and baseline >= 04.00). */
  harmonized: boolean;
  encoding: ChipEncoding;
  previews: boolean;
  chipSize: number;
}

/** Figures of the run that made the unit (differ between runs; not part of the unit's identity). */
export interface UnitRun {
  startedAt: string;
  finishedAt: string;
  ms: number;
  /** Milliseconds summed over chips: reading + warping, filtering, encoding, storing. */
  stackMs: number;
  encodeMs: number;
  storeMs: number;
  /** Source bytes and requests of this unit (shared tiles read by earlier units are not counted again). */
  bytesRead: number;
  requests: number;
  tool: string;
}

/** The manifest of one unit. */
export interface UnitManifest {
  manifestVersion: 1;
  /** Dataset version folder (`02`, Clay v0's). */
  version: string;
  mgrs: string;
  date: string;
  /** The sample row the unit belongs to. */
  index: number;
  settings: UnitSettings;
  /** The planned date: S2, S1 and DEM items (ids, hrefs without tokens), grid and chip layout. */
  plan: Omit<PlannedDate, 'estimate'>;
  chips: ChipRecord[];
  /** The unit's chip index (GeoParquet): one row per candidate chip. */
  indexFile: FileRecord;
  totals: {
    candidates: number;
    kept: number;
    rejected: Record<RejectReason, number>;
    bytesWritten: number;
  };
  run: UnitRun;
}

/** Parses a manifest read back from a store; a malformed one is IO naming `where`. */
export function parseManifest(bytes: Uint8Array, where: string): UnitManifest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new ClayError('IO', `manifest ${where} is not JSON`, { input: where, cause });
  }
  const m = value as Partial<UnitManifest> | null;
  if (m === null || typeof m !== 'object' || m.manifestVersion !== 1 || !Array.isArray(m.chips) || typeof m.mgrs !== 'string' || typeof m.date !== 'string') {
    throw new ClayError('IO', `manifest ${where} is not a clay unit manifest (version 1)`, { input: where });
  }
  return m as UnitManifest;
}
