/**
 * The chip's bands: what each is read from, its fill where no source has data, and how GDAL shows it.
 * Clay v0's order (`scripts/datacube.py` stacks S2, then S1, then the DEM; `tile.py` drops SCL).
 */
import type { ColorInterp } from '../write/tiff-writer.ts';

/** Where a band comes from: an S2 asset, an S1 polarisation (co = vv/hh, cross = vh/hv), or the DEM. */
export type BandSource =
  | { kind: 's2'; asset: S2ChipAsset }
  | { kind: 's1'; pol: 'co' | 'cross' }
  | { kind: 'dem' };

/** The S2 assets a chip reads: the 10 reflectance bands and SCL (for the cloud rule only). */
export type S2ChipAsset = 'B02' | 'B03' | 'B04' | 'B05' | 'B06' | 'B07' | 'B08' | 'B8A' | 'B11' | 'B12' | 'SCL';

/** One band of the stack. */
export interface BandSpec {
  name: string;
  source: BandSource;
  /** Value where no source pixel is valid: 0 for S2 (uint16 nodata, as stackstac's fill_value=0), NaN otherwise. */
  fill: number;
  /** Categorical bands are always resampled with nearest neighbour. */
  categorical: boolean;
  colorInterp: ColorInterp;
}

const s2 = (name: Exclude<S2ChipAsset, 'SCL'>, colorInterp: ColorInterp = 'Gray'): BandSpec => ({ name, source: { kind: 's2', asset: name }, fill: 0, categorical: false, colorInterp });

/** The 13 bands written to every chip, in file order (band 1 first). */
export const CHIP_BANDS: readonly BandSpec[] = [
  s2('B02', 'Blue'),
  s2('B03', 'Green'),
  s2('B04', 'Red'),
  s2('B05'),
  s2('B06'),
  s2('B07'),
  s2('B08'),
  s2('B8A'),
  s2('B11'),
  s2('B12'),
  { name: 'vh', source: { kind: 's1', pol: 'cross' }, fill: Number.NaN, categorical: false, colorInterp: 'Gray' },
  { name: 'vv', source: { kind: 's1', pol: 'co' }, fill: Number.NaN, categorical: false, colorInterp: 'Gray' },
  { name: 'dem', source: { kind: 'dem' }, fill: Number.NaN, categorical: false, colorInterp: 'Gray' },
];

/** The scene classification layer: read for the cloud rule, never written. */
export const SCL_BAND: BandSpec = { name: 'SCL', source: { kind: 's2', asset: 'SCL' }, fill: 0, categorical: true, colorInterp: 'Gray' };

/** Index of a chip band by name (B02 = 0 ... dem = 12). */
export const BAND_INDEX: Readonly<Record<string, number>> = Object.fromEntries(CHIP_BANDS.map((b, i) => [b.name, i]));

/** The S2 reflectance offset of processing baseline >= 04.00 (`BOA_ADD_OFFSET` = -1000). */
export const BOA_OFFSET = 1000;

/** True for processing baselines >= 04.00, whose reflectances carry the +1000 offset. */
export function hasBoaOffset(baseline: string | null): boolean {
  if (baseline === null) return false;
  const major = Number.parseInt(baseline.split('.')[0] ?? '', 10);
  return Number.isFinite(major) && major >= 4;
}
