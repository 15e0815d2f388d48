/**
 * ESA WorldCover classes, as the landcover stages name them. Column names are Clay v0's
 * (`scripts/landcover.py`), so a stats or sample file made here reads where v0's did, and the other way round.
 */

/** One WorldCover class: its pixel value, Clay v0's column name, the stratum key that samples it, and ESA's legend colour. */
export interface WorldCoverClass {
  value: number;
  column: string;
  key: ClassKey;
  color: string;
}

/** Stratum keys of the classes (CLI spelling). */
export type ClassKey = 'trees' | 'shrubland' | 'grassland' | 'cropland' | 'built-up' | 'bare' | 'snow' | 'water' | 'wetland' | 'mangroves' | 'moss';

/** The 11 classes in value order (10 .. 100). Colours are ESA's WorldCover legend. */
export const WORLDCOVER_CLASSES: readonly WorldCoverClass[] = [
  { value: 10, column: 'Tree cover', key: 'trees', color: '#006400' },
  { value: 20, column: 'Shrubland', key: 'shrubland', color: '#ffbb22' },
  { value: 30, column: 'Grassland', key: 'grassland', color: '#ffff4c' },
  { value: 40, column: 'Cropland', key: 'cropland', color: '#f096ff' },
  { value: 50, column: 'Built-up', key: 'built-up', color: '#fa0000' },
  { value: 60, column: 'Bare / sparse vegetation', key: 'bare', color: '#b4b4b4' },
  { value: 70, column: 'Snow and Ice', key: 'snow', color: '#f0f0f0' },
  { value: 80, column: 'Permanent water bodies', key: 'water', color: '#0064c8' },
  { value: 90, column: 'Herbaceous wetland', key: 'wetland', color: '#0096a0' },
  { value: 95, column: 'Mangroves', key: 'mangroves', color: '#00cf75' },
  { value: 100, column: 'Moss and lichen', key: 'moss', color: '#fae6a0' },
];

/** WorldCover's nodata value (ignored by the counts). */
export const WORLDCOVER_NODATA = 0;
/** The water class: a tile whose valid pixels are all water is dropped (Clay v0). */
export const WORLDCOVER_WATER = 80;
/** The column holding the number of distinct classes of a tile (Clay v0's `count`). */
export const COUNT_COLUMN = 'count';
