/**
 * Which Sentinel-1 RTC scenes go with a Sentinel-2 date (Clay v0's `search_sentinel1`): rank the scenes
 * found in the window by their overlap with the S2 footprint's bbox, keep the orbit state of the best, then
 * take scenes of that orbit in overlap order until they cover the bbox.
 *
 * - `union` (default, what v0 meant): stop once the union of the taken scenes covers the bbox.
 * - `clay-v0` (`--compat clay-v0`): v0's loop replaces its running geometry with the last scene taken, so
 *   it stops only once a single scene covers the bbox, and otherwise takes every scene of the orbit.
 *
 * Overlap ties keep the API's default order (datetime desc, then id desc), where v0's pandas sort left them.
 */
import { boxCoverage } from '../../core/coverage.ts';
import type { Bbox } from '../../core/geometry.ts';
import type { S1Item } from '../../core/stac/pc-items.ts';

/** The S1 coverage rule. */
export type S1CoverageRule = 'union' | 'clay-v0';

/** One ranked scene. */
export interface RankedScene {
  scene: S1Item;
  /** Share of the bbox inside the scene's footprint, 0..1 (planar lon/lat, as shapely). */
  overlap: number;
  /** 0-based position in the overlap ranking. */
  rank: number;
}

/** The selection for one S2 date. */
export interface S1Selection {
  /** The orbit state of the best-overlapping scene. */
  orbitState: 'ascending' | 'descending';
  /** The chosen scenes, in overlap order. */
  chosen: RankedScene[];
  /** Scenes left out, with why. */
  skipped: { scene: RankedScene; reason: 'other orbit state' | 'bbox already covered' }[];
  /** Share of the bbox covered by the union of the chosen scenes. */
  coverage: number;
}

const TIE = 1e-9;

/** Ranks scenes by overlap with `bbox` (descending; ties: datetime desc, id desc). */
export function rankScenes(scenes: readonly S1Item[], bbox: Bbox): RankedScene[] {
  const withOverlap = scenes.map((scene) => ({ scene, overlap: boxCoverage([scene.item.geometry], bbox).share }));
  withOverlap.sort((a, b) => {
    if (Math.abs(a.overlap - b.overlap) > TIE) return b.overlap - a.overlap;
    const dt = b.scene.datetime.getTime() - a.scene.datetime.getTime();
    if (dt !== 0) return dt;
    return a.scene.id < b.scene.id ? 1 : a.scene.id > b.scene.id ? -1 : 0;
  });
  return withOverlap.map((s, rank) => ({ ...s, rank }));
}

/** Selects the scenes for `bbox` from those found in the window; undefined when there are none. */
export function selectS1(scenes: readonly S1Item[], bbox: Bbox, rule: S1CoverageRule): S1Selection | undefined {
  const ranked = rankScenes(scenes, bbox);
  const best = ranked[0];
  if (!best) return undefined;
  const orbitState = best.scene.orbitState;
  const chosen: RankedScene[] = [];
  const skipped: S1Selection['skipped'] = [];
  let done = false;
  for (const r of ranked) {
    if (r.scene.orbitState !== orbitState) {
      skipped.push({ scene: r, reason: 'other orbit state' });
      continue;
    }
    if (!done && chosen.length > 0) {
      // v0: `intersection` is the geometry of the last scene taken, not the union of all of them.
      const judged = rule === 'union' ? chosen : chosen.slice(-1);
      done = boxCoverage(judged.map((c) => c.scene.item.geometry), bbox).covers;
    }
    if (done) skipped.push({ scene: r, reason: 'bbox already covered' });
    else chosen.push(r);
  }
  const coverage = boxCoverage(chosen.map((c) => c.scene.item.geometry), bbox).share;
  return { orbitState, chosen, skipped, coverage };
}
