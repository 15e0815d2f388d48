/**
 * Reduced-resolution images for COG overviews. Each level is computed from the full-resolution image
 * (not from the previous level), one destination pixel per `factor x factor` source block, clipped at
 * the right/bottom edges; the overview size is ceil(size / factor), as GDAL sizes overviews.
 */
import { allocRaster } from './tiff-raster.ts';
import type { TiffImage } from './tiff-raster.ts';

/**
 * How a block becomes one pixel:
 * - `nearest`: the block's top-left source pixel;
 * - `mode`: the most frequent valid value (ties: the smallest value), nodata when the block has none;
 * - `average`: the mean of valid values (rounded for integer types), nodata when the block has none.
 * Valid = not equal to `nodata` and not NaN.
 */
export type OverviewResampling = 'nearest' | 'mode' | 'average';

/** Builds the overview of `img` at integer `factor`; the result is pixel-interleaved. */
export function buildOverview(img: TiffImage, factor: number, resampling: OverviewResampling, nodata: number | undefined): TiffImage {
  const { width, height, samples: s } = img;
  const ow = Math.ceil(width / factor);
  const oh = Math.ceil(height / factor);
  const out = allocRaster(img.raster.dtype, ow * oh * s);
  const src = img.raster.data;
  const dst = out.data;
  const band = img.interleave === 'band';
  const plane = width * height;
  const at = (x: number, y: number, b: number): number => (band ? b * plane + y * width + x : (y * width + x) * s + b);
  const isValid = (v: number): boolean => !Number.isNaN(v) && v !== nodata;
  const empty = nodata ?? 0;
  const round = img.raster.dtype !== 'float32';
  // Integer types count in a histogram (fast); float32 in a Map.
  const hist = img.raster.dtype === 'uint8' ? new Uint32Array(256) : img.raster.dtype === 'uint16' ? new Uint32Array(65536) : undefined;
  const counts = new Map<number, number>();
  const touched: number[] = [];
  for (let oy = 0; oy < oh; oy++) {
    const y0 = oy * factor;
    const y1 = Math.min(y0 + factor, height);
    for (let ox = 0; ox < ow; ox++) {
      const x0 = ox * factor;
      const x1 = Math.min(x0 + factor, width);
      for (let b = 0; b < s; b++) {
        const o = (oy * ow + ox) * s + b;
        if (resampling === 'nearest') {
          dst[o] = src[at(x0, y0, b)] as number;
          continue;
        }
        let sum = 0;
        let n = 0;
        counts.clear();
        touched.length = 0;
        for (let y = y0; y < y1; y++) {
          for (let x = x0; x < x1; x++) {
            const v = src[at(x, y, b)] as number;
            if (!isValid(v)) continue;
            n++;
            if (resampling === 'average') sum += v;
            else if (hist === undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
            else if ((hist[v] = (hist[v] as number) + 1) === 1) touched.push(v);
          }
        }
        if (n === 0) {
          dst[o] = empty;
        } else if (resampling === 'average') {
          dst[o] = round ? Math.round(sum / n) : sum / n;
        } else {
          let best = 0;
          let bestCount = -1;
          if (hist !== undefined) {
            for (const v of touched) {
              counts.set(v, hist[v] as number);
              hist[v] = 0;
            }
          }
          for (const [v, c] of counts) {
            if (c > bestCount || (c === bestCount && v < best)) {
              best = v;
              bestCount = c;
            }
          }
          dst[o] = best;
        }
      }
    }
  }
  return { width: ow, height: oh, samples: s, raster: out, interleave: 'pixel' };
}
