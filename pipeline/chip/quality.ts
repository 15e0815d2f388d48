/**
 * The chip filter, exactly Clay v0's (`scripts/tile.py`, `filter_clouds_nodata`): a chip is rejected when
 * any B02 pixel is 0 (S2 nodata), when any vv, vh or dem pixel is NaN (S1 -32768 and missing data become
 * NaN, as stackstac's masked reads), or when `cloudy / 262144 >= 0.3` with cloudy = pixels whose SCL is in
 * {0, 1, 3, 8, 9, 10} (SCL 0, nodata, counts as cloudy). v0 stops at the first failing rule; we record
 * every rule that fails, and the figures behind them, so a chip index can be re-filtered later.
 */

/** Why a chip was rejected. */
export type RejectReason = 'cloud' | 'b02_nodata' | 's1_nodata' | 'dem_nodata';

/** SCL classes counted as cloudy by Clay v0: nodata, saturated, cloud shadow, cloud medium/high, cirrus. */
export const CLOUDY_SCL: readonly number[] = [0, 1, 3, 8, 9, 10];

/** Clay v0's threshold: a chip with this share of cloudy SCL pixels or more is rejected. */
export const CLOUD_THRESHOLD = 0.3;

/** The figures of one chip. */
export interface ChipQuality {
  kept: boolean;
  /** Every failing rule, in the order b02_nodata, s1_nodata, dem_nodata, cloud. */
  reasons: RejectReason[];
  /** Pixels with a cloudy SCL class. */
  cloudyPixels: number;
  /** cloudyPixels / pixels. */
  cloudShare: number;
  /** Share of pixels per SCL class 0..11 (values outside 0..11 are counted nowhere). */
  sclShares: number[];
  /** Share of pixels that are nodata: B02 == 0, NaN in vh, vv, dem. */
  nodataShares: { b02: number; vh: number; vv: number; dem: number };
}

/** The bands the filter looks at, each `pixels` long. */
export interface QualityInput {
  b02: Float32Array;
  vh: Float32Array;
  vv: Float32Array;
  dem: Float32Array;
  scl: Float32Array;
}

function countNaN(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== a[i]) n++;
  return n;
}

function countValue(a: Float32Array, v: number): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === v) n++;
  return n;
}

/** Applies Clay v0's rules to one chip. */
export function assessChip(input: QualityInput): ChipQuality {
  const pixels = input.b02.length;
  const counts = new Int32Array(12);
  const scl = input.scl;
  for (let i = 0; i < scl.length; i++) {
    const c = scl[i]!;
    if (c >= 0 && c <= 11) counts[c | 0]! += 1;
  }
  const hist = Array.from(counts);
  const cloudyPixels = CLOUDY_SCL.reduce((n, c) => n + hist[c]!, 0);
  const b02 = countValue(input.b02, 0);
  const vh = countNaN(input.vh);
  const vv = countNaN(input.vv);
  const dem = countNaN(input.dem);
  const reasons: RejectReason[] = [];
  if (b02 > 0) reasons.push('b02_nodata');
  if (vv > 0 || vh > 0) reasons.push('s1_nodata');
  if (dem > 0) reasons.push('dem_nodata');
  // The same float division and comparison as v0: `cloudy_pixel_count / PIXELS_PER_TILE >= 0.3`.
  const cloudShare = cloudyPixels / pixels;
  if (cloudShare >= CLOUD_THRESHOLD) reasons.push('cloud');
  return {
    kept: reasons.length === 0,
    reasons,
    cloudyPixels,
    cloudShare,
    sclShares: hist.map((n) => n / pixels),
    nodataShares: { b02: b02 / pixels, vh: vh / pixels, vv: vv / pixels, dem: dem / pixels },
  };
}
