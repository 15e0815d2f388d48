/**
 * Reduced-resolution images for COG overviews. Each level is computed from the full-resolution image
 * (not from the previous level), one destination pixel per `factor x factor` source block, clipped at
 * the right/bottom edges; the overview size is ceil(size / factor), as GDAL sizes overviews.
 */
import { allocRaster } from './tiff-raster.ts';
import type { Raster, TiffImage } from './tiff-raster.ts';

/**
 * How a block becomes one pixel:
 * - `nearest`: the block's top-left source pixel;
 * - `mode`: the most frequent valid value (ties: the smallest value), nodata when the block has none;
 * - `average`: the mean of valid values (rounded for integer types), nodata when the block has none.
 * Valid = not equal to `nodata` and not NaN.
 */
export type OverviewResampling = 'nearest' | 'mode' | 'average';

type Samples = Raster['data'];

/** Reduces one block (rows y0..y1, cols x0..x1 of one band) read with element strides. */
interface Reducer {
  (src: Samples, start: number, colStride: number, rowStride: number, w: number, h: number): number;
}

function averager(nodata: number | undefined, round: boolean): Reducer {
  const empty = nodata ?? 0;
  return (src, start, cs, rs, w, h) => {
    let sum = 0;
    let n = 0;
    for (let y = 0; y < h; y++) {
      let p = start + y * rs;
      for (let x = 0; x < w; x++, p += cs) {
        const v = src[p] as number;
        if (v === nodata || v !== v) continue;
        sum += v;
        n++;
      }
    }
    if (n === 0) return empty;
    return round ? Math.round(sum / n) : sum / n;
  };
}

/** Mode with a histogram for integer types (counts reset through the touched list), a Map for floats. */
function moder(nodata: number | undefined, histSize: number | undefined): Reducer {
  const empty = nodata ?? 0;
  const hist = histSize === undefined ? undefined : new Uint32Array(histSize);
  const touched: number[] = [];
  const counts = new Map<number, number>();
  return (src, start, cs, rs, w, h) => {
    touched.length = 0;
    counts.clear();
    for (let y = 0; y < h; y++) {
      let p = start + y * rs;
      for (let x = 0; x < w; x++, p += cs) {
        const v = src[p] as number;
        if (v === nodata || v !== v) continue;
        if (hist === undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
        else if ((hist[v] = (hist[v] as number) + 1) === 1) touched.push(v);
      }
    }
    // No closures in here: tsx wraps every function expression it creates (keepNames), per call.
    let best = empty;
    let bestCount = 0;
    if (hist === undefined) {
      for (const [v, c] of counts) {
        if (c > bestCount || (c === bestCount && v < best)) {
          best = v;
          bestCount = c;
        }
      }
    } else {
      for (let k = 0; k < touched.length; k++) {
        const v = touched[k] as number;
        const c = hist[v] as number;
        hist[v] = 0;
        if (c > bestCount || (c === bestCount && v < best)) {
          best = v;
          bestCount = c;
        }
      }
    }
    return best;
  };
}

/** Builds the overview of `img` at integer `factor`; the result is pixel-interleaved. */
export function buildOverview(img: TiffImage, factor: number, resampling: OverviewResampling, nodata: number | undefined): TiffImage {
  const { width, height, samples: s } = img;
  const ow = Math.ceil(width / factor);
  const oh = Math.ceil(height / factor);
  const out = allocRaster(img.raster.dtype, ow * oh * s);
  const src = img.raster.data;
  const dst = out.data;
  const band = img.interleave === 'band';
  // Element strides between horizontally / vertically adjacent samples of one band, and band offset.
  const cs = band ? 1 : s;
  const rs = band ? width : width * s;
  const bandStart = (b: number): number => (band ? b * width * height : b);
  const dtype = img.raster.dtype;
  const reduce: Reducer =
    resampling === 'nearest'
      ? (a, start) => a[start] as number
      : resampling === 'average'
        ? averager(nodata, dtype !== 'float32')
        : moder(nodata, dtype === 'uint8' ? 256 : dtype === 'uint16' ? 65536 : undefined);
  for (let b = 0; b < s; b++) {
    const b0 = bandStart(b);
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * factor;
      const h = Math.min(factor, height - y0);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * factor;
        dst[(oy * ow + ox) * s + b] = reduce(src, b0 + y0 * rs + x0 * cs, cs, rs, Math.min(factor, width - x0), h);
      }
    }
  }
  return { width: ow, height: oh, samples: s, raster: out, interleave: 'pixel' };
}
