/**
 * Plausibility of the grids items declare (`proj:shape`, `proj:transform`) against what each Planetary
 * Computer collection's rasters are (../shared/PLANETARY-COMPUTER.md, "Collections"). A hostile or broken
 * item with `proj:shape` 10^7 x 10^7 would otherwise make the plan count 381 million chips and a run try to
 * read a raster the size of a continent. The bounds are loose, a margin over the real grids: they catch the
 * absurd, not the unusual. North-up grids only (no rotation terms), as every PC raster here is.
 */
import { invalid, type Affine } from './stac-item.ts';

/** What a collection's rasters look like, in CRS units. */
export interface KnownGrid {
  /** Pixel height (and the smallest pixel width), in CRS units per pixel. */
  pixel: number;
  /** Largest pixel width as a multiple of `pixel` (1 for square pixels; GLO-30 widens them towards the poles). */
  maxWidthFactor: number;
  /** Largest extent of a raster along either axis, in CRS units. */
  maxExtent: number;
}

/** Sentinel-2 L2A tiles: 109.8 km square, at 10, 20 or 60 m. */
export function s2Grid(resolution: 10 | 20 | 60): KnownGrid {
  return { pixel: resolution, maxWidthFactor: 1, maxExtent: 109_800 };
}

/** Sentinel-1 RTC scenes: 10 m in UTM; a slice of an IW swath (about 250 x 170 km) fits well inside 500 km. */
export const S1_GRID: KnownGrid = { pixel: 10, maxWidthFactor: 1, maxExtent: 500_000 };

/** Copernicus DEM GLO-30: one-degree tiles of 1 arc-second rows, columns 1 to 10 arc-seconds wide. */
export const DEM_GRID: KnownGrid = { pixel: 1 / 3600, maxWidthFactor: 10, maxExtent: 1 };

/** Relative slack on pixel sizes, and the extent margin in pixels. */
const PIXEL_SLACK = 0.01;
const EXTENT_MARGIN_PX = 1;

/**
 * Throws STAC_INVALID naming the item and `where` when `transform` and `shape` are not a plausible raster of
 * `known`: rotated or south-up, a pixel size off the collection's, or wider than its largest raster. `shape`
 * may be [rows, cols] or [x, y] (Sentinel-1 before 2023): both sides are held to the same bound.
 */
export function checkGrid(itemId: string, where: string, transform: Affine, shape: readonly [number, number], known: KnownGrid): void {
  const [a, b, , d, e] = transform;
  const slack = known.pixel * PIXEL_SLACK;
  const fail = (what: string): never => {
    throw invalid(itemId, `implausible grid on ${where}: ${what}`);
  };
  if (Math.abs(b) > slack || Math.abs(d) > slack) fail(`rotation terms ${b}, ${d} (north-up grids expected)`);
  if (e >= 0 || Math.abs(-e - known.pixel) > slack) fail(`pixel height ${-e}, expected ${known.pixel}`);
  if (a < known.pixel - slack || a > known.pixel * known.maxWidthFactor + slack) fail(`pixel width ${a}, expected ${known.pixel}${known.maxWidthFactor > 1 ? ` to ${known.pixel * known.maxWidthFactor}` : ''}`);
  const longest = Math.max(shape[0], shape[1]);
  const widest = Math.max(shape[0] * -e, shape[1] * a);
  const margin = EXTENT_MARGIN_PX * known.pixel * known.maxWidthFactor;
  if (widest > known.maxExtent + margin) fail(`proj:shape [${shape[0]}, ${shape[1]}] spans ${widest} units (${longest} pixels), more than the collection's largest raster (${known.maxExtent})`);
}
