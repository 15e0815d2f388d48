/**
 * The synthetic landscape: land-cover-like patches (about 1.6 x 1.2 km) with wobbly borders, defined in
 * world coordinates (so 10, 20 and 60 m bands of one place agree), reflectance tables per class, and a
 * texture ramp that makes a one-pixel shift visible (+6 per column, +18 per row, period 16) while
 * compressing well under predictor 2 (short, repeated match distances; few patch borders per row).
 */
import { hash3 } from './geometry.ts';
import type { Grid } from './geometry.ts';

/** Land classes of the landscape (index = class id). */
export const LAND = ['water', 'forest', 'grass', 'crop', 'urban', 'bare', 'snow'] as const;

const WEIGHTS = [0.08, 0.3, 0.2, 0.22, 0.08, 0.08, 0.04];

/** Sentinel-2 reflectance band names in table order, with resolution (m). */
export const S2_BANDS = [
  { name: 'B01', res: 60, title: 'Band 1 - Coastal aerosol', common: 'coastal', wl: 0.443 },
  { name: 'B02', res: 10, title: 'Band 2 - Blue', common: 'blue', wl: 0.49 },
  { name: 'B03', res: 10, title: 'Band 3 - Green', common: 'green', wl: 0.56 },
  { name: 'B04', res: 10, title: 'Band 4 - Red', common: 'red', wl: 0.665 },
  { name: 'B05', res: 20, title: 'Band 5 - Vegetation red edge 1', common: 'rededge', wl: 0.704 },
  { name: 'B06', res: 20, title: 'Band 6 - Vegetation red edge 2', common: 'rededge', wl: 0.74 },
  { name: 'B07', res: 20, title: 'Band 7 - Vegetation red edge 3', common: 'rededge', wl: 0.783 },
  { name: 'B08', res: 10, title: 'Band 8 - NIR', common: 'nir', wl: 0.842 },
  { name: 'B8A', res: 20, title: 'Band 8A - Vegetation red edge 4', common: 'rededge', wl: 0.865 },
  { name: 'B09', res: 60, title: 'Band 9 - Water vapor', common: undefined, wl: 0.945 },
  { name: 'B11', res: 20, title: 'Band 11 - SWIR (1.6)', common: 'swir16', wl: 1.61 },
  { name: 'B12', res: 20, title: 'Band 12 - SWIR (2.2)', common: 'swir22', wl: 2.19 },
] as const;

/** Surface reflectance x 10000 per class (rows: LAND) and band (columns: S2_BANDS). */
const REFLECTANCE: ReadonlyArray<readonly number[]> = [
  [300, 350, 400, 250, 220, 200, 190, 150, 140, 100, 80, 60],
  [250, 300, 500, 300, 800, 2200, 2800, 3000, 3100, 900, 1500, 700],
  [350, 400, 700, 500, 1100, 2500, 3000, 3300, 3400, 1000, 2200, 1200],
  [400, 500, 900, 800, 1400, 2300, 2700, 2900, 3000, 950, 2600, 1700],
  [900, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1750, 600, 2000, 1800],
  [1200, 1400, 1700, 2000, 2200, 2300, 2400, 2500, 2550, 800, 3200, 2800],
  [6000, 7000, 7100, 7200, 7100, 6900, 6800, 6700, 6600, 3000, 600, 500],
];

/** Scene classification (SCL) code of each land class: vegetation 4, not vegetated 5, water 6, snow 11. */
export const SCL_OF_CLASS = [6, 4, 4, 4, 5, 5, 11];

/** Reflectance x 10000 of a class in band index `b` (S2_BANDS order). */
export function reflectance(cls: number, b: number): number {
  return REFLECTANCE[cls]?.[b] ?? 0;
}

/** The texture term of pixel (i, j) of any grid: ((i + 3j) mod 16) * 6, in 0..90. */
export function texture(i: number, j: number): number {
  return ((i + 3 * j) % 16) * 6;
}

/**
 * Sensor-like noise of pixel (i, j) of layer `layer`: about normal (a sum of four hashed uniforms), mean 0,
 * standard deviation 1, deterministic. Only the noisy universe (`--noise`) uses it.
 */
export function noiseAt(i: number, j: number, layer: number): number {
  let s = 0;
  for (let k = 0; k < 4; k++) s += hash3(i + 7919 * k, j, layer);
  return (s - 2) * Math.sqrt(3);
}

function pickClass(h: number): number {
  let acc = 0;
  for (let k = 0; k < WEIGHTS.length; k++) {
    acc += WEIGHTS[k] ?? 0;
    if (h < acc) return k;
  }
  return WEIGHTS.length - 1;
}

/**
 * Class of every pixel centre of a projected grid (row-major), from patches of 1600 x 1200 m with
 * sinusoidal borders (200 m amplitude). Same world point -> same class, whatever the grid's resolution.
 */
export function classMap(g: Grid, seed: number): Uint8Array {
  const out = new Uint8Array(g.width * g.height);
  const xs = Float64Array.from({ length: g.width }, (_, i) => g.x0 + (i + 0.5) * g.res);
  const wobbleY = xs.map((x) => 200 * Math.sin(x / 720));
  for (let j = 0; j < g.height; j++) {
    const y = g.y0 - (j + 0.5) * g.res;
    const wobbleX = 200 * Math.sin(y / 960);
    let prevCx = NaN;
    let prevCy = NaN;
    let prev = 0;
    for (let i = 0; i < g.width; i++) {
      const cx = Math.floor(((xs[i] as number) + wobbleX) / 1600);
      const cy = Math.floor((y + (wobbleY[i] as number)) / 1200);
      if (cx !== prevCx || cy !== prevCy) {
        prev = pickClass(hash3(cx, cy, seed));
        prevCx = cx;
        prevCy = cy;
      }
      out[j * g.width + i] = prev;
    }
  }
  return out;
}

/** ESA WorldCover class codes. */
export const WORLDCOVER_CLASSES = [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100] as const;
