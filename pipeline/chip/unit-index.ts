/**
 * The chip index of a unit and of a run: one GeoParquet row per candidate chip, kept or not, built from the
 * manifest's records (no pixels re-read), so users can re-filter with other thresholds.
 */
import type { ChipIndexRow } from '../index/chip-index.ts';
import { chipFileName } from './chip-file.ts';
import type { UnitManifest } from './manifest.ts';

/** The unit index's file name inside the unit's folder. */
export const UNIT_INDEX_NAME = 'chips.parquet';

/** Index rows of a unit (rejected chips get the path they would have had). */
export function indexRows(m: Pick<UnitManifest, 'version' | 'mgrs' | 'date' | 'plan' | 'chips'>): ChipIndexRow[] {
  const prefix = `${m.version}/${m.mgrs}/${m.date}/`;
  return m.chips.map((c) => ({
    path: c.file?.key ?? prefix + chipFileName(m.mgrs, m.date, c.chip, m.version),
    mgrs: m.mgrs,
    date: m.date,
    chip: c.chip,
    kept: c.kept,
    reasons: c.reasons,
    epsg: m.plan.grid.epsg,
    window: c.window,
    bounds: c.bounds,
    footprint: c.footprint,
    s2Item: m.plan.s2.id,
    s1Items: m.plan.s1.scenes.map((s) => s.id),
    demItems: m.plan.dem.map((d) => d.id),
    cloudShare: c.cloudShare,
    sclShares: c.sclShares,
    nodataShares: c.nodataShares,
  }));
}
