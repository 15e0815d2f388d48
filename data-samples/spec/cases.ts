/**
 * `cases.json`: the machine-readable design. Expected selections are written from the design (what the
 * rules must give); per-chip figures are measured from the rasters the generator wrote.
 */
import type { BBox, Grid } from './geometry.ts';
import { geoTransform } from './geometry.ts';
import { fromUtm, toUtm, zoneOf } from './utm.ts';
import type { PlantedNan } from './dem.ts';
import type { PlantedNodata, S1Result } from './sentinel1.ts';
import { CLOUDY_SCL } from './sentinel2.ts';
import type { S2Result } from './sentinel2.ts';
import { ROWS, S2_ITEMS } from './universe.ts';

const CHIP = 512;
const CHIP_PIXELS = CHIP * CHIP;
/** Clay v0's cloud rule: reject when cloudy pixels >= 30 % of the chip. */
const CLOUD_THRESHOLD = 0.3;

/** Design inputs for cases.json. */
export interface CasesInput {
  s2: Map<string, S2Result>;
  s1: Map<string, S1Result>;
  demItems: string[];
  demNan: PlantedNan;
  s1Nodata: PlantedNodata;
  worldcover: { items: string[]; counts: unknown; nodataBlock: BBox; overviews: number[] };
}

/** A date the plan must choose. */
export interface ExpectedDate {
  year: number;
  attempt: number;
  s2: string;
  datetime: string;
  s1: string[];
  s1Orbit: string;
  dem: string[];
}

/** Lon/lat overlap share of a scene's footprint with an S2 item's bbox (Clay's ranking figure). */
export function overlapShare(scene: BBox, bbox: BBox): number {
  const w = Math.max(0, Math.min(scene[2], bbox[2]) - Math.max(scene[0], bbox[0]));
  const h = Math.max(0, Math.min(scene[3], bbox[3]) - Math.max(scene[1], bbox[1]));
  return (w * h) / ((bbox[2] - bbox[0]) * (bbox[3] - bbox[1]));
}

function chipOf(g: Grid, [c, r]: [number, number]): number {
  return Math.floor(r / CHIP) * Math.floor(g.width / CHIP) + Math.floor(c / CHIP) + 1;
}

/**
 * Chips of `g` with a target pixel that no scene covers: a pixel is covered when the scene pixel holding
 * its centre (nearest neighbour) has data in some scene. Same-zone scenes are checked with grid
 * arithmetic, others through the generator's own UTM formulas (independent of proj4).
 */
function s1Holes(g: Grid, scenes: readonly S1Result[]): Set<number> {
  const holes = new Set<number>();
  const cols = Math.floor(g.width / CHIP);
  const rows = Math.floor(g.height / CHIP);
  const covered = (s: S1Result, x: number, y: number): boolean => {
    const c = Math.floor((x - s.grid.x0) / s.grid.res);
    const r = Math.floor((s.grid.y0 - y) / s.grid.res);
    return c >= 0 && r >= 0 && c < s.grid.width && r < s.grid.height && s.mask[r * s.grid.width + c] === 1;
  };
  for (let chip = 0; chip < cols * rows; chip++) {
    const c0 = (chip % cols) * CHIP;
    const r0 = Math.floor(chip / cols) * CHIP;
    scan: for (let j = r0; j < r0 + CHIP; j++) {
      for (let i = c0; i < c0 + CHIP; i++) {
        const x = g.x0 + (i + 0.5) * g.res;
        const y = g.y0 - (j + 0.5) * g.res;
        const ok = scenes.some((s) => {
          if (s.grid.epsg === g.epsg) return covered(s, x, y);
          const [lon, lat] = fromUtm(x, y, zoneOf(g.epsg));
          const [sx, sy] = toUtm(lon, lat, zoneOf(s.grid.epsg));
          return covered(s, sx, sy);
        });
        if (!ok) {
          holes.add(chip + 1);
          break scan;
        }
      }
    }
  }
  return holes;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`cases: missing ${what}`);
  return v;
}

/** Builds the cases document. */
export function buildCases(x: CasesInput): Record<string, unknown> {
  const id2 = (k: string): string => need(x.s2.get(k), `S2 ${k}`).id;
  const id1 = (k: string): string => need(x.s1.get(k), `S1 ${k}`).id;
  const when = (k: string): string => need(x.s2.get(k), `S2 ${k}`).spec.datetime;
  const [dem5, dem6] = x.demItems;
  const row0 = need(ROWS[0].grid, 'row 0 grid');
  const row2 = need(ROWS[2].grid, 'row 2 grid');
  const s1Chip = chipOf(row0, x.s1Nodata.target);
  const demChip = chipOf(row0, x.demNan.target);
  const date = (k: string, year: number, attempt: number, s1: string[], orbit: string, dem: string[]): ExpectedDate => ({
    year, attempt, s2: id2(k), datetime: when(k), s1: s1.map(id1), s1Orbit: orbit, dem,
  });
  const both = [need(dem5, 'dem'), need(dem6, 'dem')];
  const row0Default = [date('B', 2021, 1, ['D1', 'D2'], 'descending', both), date('P2017', 2017, 0, ['S2017'], 'ascending', both), date('BL2022', 2022, 0, ['S2022'], 'descending', both)];
  const row0Compat = [date('B', 2021, 1, ['D1', 'D2', 'D3'], 'descending', both), row0Default[1], row0Default[2]];
  const row2Default = [date('R2_19', 2019, 19, ['R2S19'], 'descending', [need(dem5, 'dem')]), date('R2_2020', 2020, 0, ['R2S20'], 'ascending', [need(dem5, 'dem')])];

  const chips = (key: string, g: Grid, s1Nan: boolean, s1Keys: readonly string[]): unknown[] => {
    const holes = s1Holes(g, s1Keys.map((k) => need(x.s1.get(k), `S1 ${k}`)));
    return need(x.s2.get(key), key).chips.map((c) => {
      const reasons: string[] = [];
      if (c.b02Zeros > 0) reasons.push('b02_nodata');
      if ((s1Nan && c.chip === s1Chip) || holes.has(c.chip)) reasons.push('s1_nodata');
      if (g === row0 && c.chip === demChip) reasons.push('dem_nodata');
      if (c.cloudyPixels >= CLOUD_THRESHOLD * CHIP_PIXELS) reasons.push('cloud');
      const cols = Math.floor(g.width / CHIP);
      return {
        chip: c.chip,
        window: { col: ((c.chip - 1) % cols) * CHIP, row: Math.floor((c.chip - 1) / cols) * CHIP, width: CHIP, height: CHIP },
        cloudyPixels: c.cloudyPixels,
        cloudyShare: c.cloudyPixels / CHIP_PIXELS,
        b02Zeros: c.b02Zeros,
        kept: reasons.length === 0,
        reasons,
      };
    });
  };
  // The scenes of each date in default mode (compat adds D3 to B, which D1 + D2 already cover).
  const row0Chips = { B: chips('B', row0, true, ['D1', 'D2']), P2017: chips('P2017', row0, false, ['S2017']), BL2022: chips('BL2022', row0, false, ['S2022']) };
  const kept = (list: unknown[]): number => list.filter((c) => (c as { kept: boolean }).kept).length;
  const row0Kept = kept(row0Chips.B) + kept(row0Chips.P2017) + kept(row0Chips.BL2022);
  const s2Items = Object.fromEntries(
    S2_ITEMS.map((s) => [s.key, { id: id2(s.key), row: s.row, datetime: s.datetime, cloud: s.cloud, nodataPct: s.nodataPct, baseline: s.baseline, role: s.role, ...(s.blobsOf === undefined ? {} : { blobsOf: id2(s.blobsOf) }) }]),
  );
  const s1Items = Object.fromEntries(
    [...x.s1.values()].map((r) => {
      const over = need(x.s2.get(r.spec.over), r.spec.over);
      const fp = r.item['bbox'] as BBox;
      return [r.spec.key, { id: r.id, over: over.id, start: r.spec.start, orbit: r.spec.orbit, epsg: r.spec.epsg, grid: { transform: geoTransform(r.grid), width: r.grid.width, height: r.grid.height }, overlap: Math.round(overlapShare(fp, over.bbox) * 1e6) / 1e6, role: r.spec.role }];
    }),
  );
  return {
    version: 1,
    about: 'Designed cases of the bundled miniature Planetary Computer. See data-samples/README.md.',
    rules: { chipSize: CHIP, chipPixels: CHIP_PIXELS, cloudyScl: CLOUDY_SCL, cloudThreshold: CLOUD_THRESHOLD, cloudyPixelsRejectFrom: Math.ceil(CLOUD_THRESHOLD * CHIP_PIXELS), sclPixelToTargetPixels: 4 },
    rows: [
      {
        index: 0, name: '31TGL', years: [2021, 2019, 2018, 2017, 2022, 2020, 2023],
        grid: { epsg: row0.epsg, transform: geoTransform(row0), width: row0.width, height: row0.height, chips: 20 },
        bbox: need(x.s2.get('B'), 'B').bbox,
        years_detail: {
          2021: { candidates: [id2('A'), id2('B')], excluded: { [id2('DEC31')]: 'after 2021-12-31T00:00Z: outside the year interval' }, attempts: [{ attempt: 0, s2: id2('A'), outcome: 'no S1 within window' }, { attempt: 1, s2: id2('B'), outcome: 'chosen' }] },
          2019: { candidates: [], excluded: { [id2('F2019C')]: 'eo:cloud_cover 72 > 50', [id2('F2019N')]: 's2:nodata_pixel_percentage 35 > 20' } },
          2018: { candidates: [] },
          2017: { candidates: [id2('P2017')] },
          2022: { candidates: [id2('BL2022')] },
        },
        expected: { default: row0Default, compat: row0Compat },
        wrongIfChosen: {
          [id2('DEC31')]: 'year interval treated as the whole of Dec 31',
          [id2('F2019C')]: 'eo:cloud_cover <= 50 filter missing (it has S1: SF19C)',
          [id2('F2019N')]: 's2:nodata_pixel_percentage <= 20 filter missing (it has S1: SF19N)',
          [id1('X')]: 'symmetric +-72 h S1 window instead of PC interval semantics',
          [id1('A1')]: 'orbit rule ignored',
          [id1('D3')]: 'in default mode: union rule not applied (v0 loop); expected only with --compat clay-v0',
        },
        chips: { [id2('B')]: row0Chips.B, [id2('P2017')]: row0Chips.P2017, [id2('BL2022')]: row0Chips.BL2022 },
        candidateChips: 60,
        keptChips: { default: row0Kept, compat: row0Kept },
      },
      { index: 1, name: '01KAB', years: [2020, 2023, 2022, 2019, 2017, 2021, 2018], expected: { default: [], compat: [] }, note: 'no data anywhere: every year empty' },
      {
        index: 2, name: '31TGK', years: [2019, 2020, 2018, 2021, 2022, 2017, 2023],
        grid: { epsg: row2.epsg, transform: geoTransform(row2), width: row2.width, height: row2.height, chips: 1 },
        bbox: need(x.s2.get('R2_19'), 'R2_19').bbox,
        years_detail: {
          2019: { candidates: S2_ITEMS.filter((s) => s.key.startsWith('R2_') && s.key !== 'R2_2020').map((s) => id2(s.key)), attempts: 'attempts 0..18: no S1 within window; attempt 19: S1 found (default keeps it, compat discards it)' },
          2020: { candidates: [id2('R2_2020')] },
        },
        expected: { default: row2Default, compat: [row2Default[1]] },
        chips: { [id2('R2_19')]: chips('R2_19', row2, false, ['R2S19']), [id2('R2_2020')]: chips('R2_2020', row2, false, ['R2S20']) },
      },
    ],
    sentinel2: s2Items,
    sentinel1: s1Items,
    planted: { s1Nodata: { ...x.s1Nodata, sceneId: id1(x.s1Nodata.scene), chip: s1Chip }, demNan: { ...x.demNan, chip: demChip, note: 'the DEM is the same for every date: this chip is rejected on every date of row 0' } },
    dem: { items: x.demItems, abutLongitude: 6, pixel: 1 / 3600, pixelIsPoint: true },
    worldcover: x.worldcover,
  };
}
