/**
 * Clay v0's input normalisation (`src/datamodule.py` at v0.0.1: `ClayDataset.normalize_timestamp`,
 * `normalize_latlon`, `__getitem__` and `ClayDataModule.MEAN` / `STD`), reproduced to the bit:
 *
 * - pixels: `torch.as_tensor(pixels, dtype=torch.float16)`, then torchvision's `v2.Normalize(MEAN, STD)`,
 *   which casts MEAN and STD to the tensor's dtype and computes `(x - mean) / std` in float16 (each op in
 *   float32, rounded to half). A float32 pixel therefore meets three roundings to half; since the result
 *   depends only on the pixel's half value, one table of the 65536 half values per band does it exactly.
 *   NaN stays NaN, as in v0 (v0 never removes NaNs despite its comment; kept chips have none).
 * - time: year, month and day parsed as `np.float16`; with v0's numpy (1.26, legacy promotion)
 *   `np.float16 - int` is float64, so the angles are computed in double, then `torch.as_tensor` makes the
 *   triple float32.
 * - lat/lon: the chip centre (rasterio's `lnglat()`), `atan2(cos, sin)` of the longitude and `sin` of the
 *   latitude, in double, stored as float32 in the order `[lat, lon]`.
 */
import { f16round, halfBitsFromFloat32Bits, halfToNumber } from '../../core/float16.ts';

/** Clay v0's per-band means, band order B02 B03 B04 B05 B06 B07 B08 B8A B11 B12 vh vv dem. */
export const CLAY_V0_MEAN: readonly number[] = [1369.03, 1597.68, 1741.1, 2053.58, 2569.82, 2763.01, 2858.43, 2893.86, 2303.0, 1807.79, 0.026, 0.118, 499.46];

/** Clay v0's per-band standard deviations, same order. */
export const CLAY_V0_STD: readonly number[] = [2026.96, 2011.88, 2146.35, 2138.96, 2003.27, 1962.45, 2016.38, 1917.12, 1679.88, 1568.06, 0.118, 0.873, 880.35];

let table: Float32Array | undefined;

/**
 * The normalised value of every float16 bit pattern `h` of every band `b`, at `(b << 16) | h`:
 * `half(half(x - mean16) / std16)` with `mean16`, `std16` the half-rounded constants. Built once per
 * thread (13 x 256 KiB).
 */
export function normalizationTable(): Float32Array {
  if (table !== undefined) return table;
  const t = new Float32Array(CLAY_V0_MEAN.length << 16);
  CLAY_V0_MEAN.forEach((mean, b) => {
    const m = f16round(mean);
    const s = f16round(CLAY_V0_STD[b]!);
    for (let h = 0; h < 65536; h++) t[(b << 16) | h] = f16round(f16round(halfToNumber(h) - m) / s);
  });
  table = t;
  return t;
}

/** v0's normalised value of one float32 pixel (given by its bit pattern) of band `band` (0-based). */
export function normalizePixelBits(bits: number, band: number): number {
  if (!(band >= 0 && band < CLAY_V0_MEAN.length)) throw new RangeError(`band ${band} is not one of Clay's 13`);
  return normalizationTable()[(band << 16) | halfBitsFromFloat32Bits(bits)]!;
}

/** v0's `normalize_timestamp` of `YYYY-MM-DD`: `[year, month, day]` as float32 values. */
export function normalizeTimestamp(date: string): [number, number, number] {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (m === null) throw new RangeError(`date ${JSON.stringify(date)} is not YYYY-MM-DD`);
  const [year, month, day] = [m[1], m[2], m[3]].map((s) => f16round(Number(s))) as [number, number, number];
  const yearRad = (2 * Math.PI * (year - 2012)) / (2030 - 2012); // years 2012-2030
  const monthRad = (2 * Math.PI * (month - 1)) / 11;
  const dayRad = (2 * Math.PI * (day - 1)) / 30; // v0: "assuming a 31-day month"
  const enc = (r: number): number => Math.fround(Math.atan2(Math.cos(r), Math.sin(r)));
  return [enc(yearRad), enc(monthRad), enc(dayRad)];
}

/** v0's `normalize_latlon` of a point in degrees, as v0 stacks it: `[lat, lon]`, float32 values. */
export function normalizeLatlon(lon: number, lat: number): [number, number] {
  // CPython's math.radians multiplies by pi / 180.
  const lonRad = lon * (Math.PI / 180);
  const latRad = lat * (Math.PI / 180);
  return [Math.fround(Math.sin(latRad)), Math.fround(Math.atan2(Math.cos(lonRad), Math.sin(lonRad)))];
}
