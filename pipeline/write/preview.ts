/**
 * RGB pictures: quicklooks of chips (`--previews`) and the side-by-side panels of `clay reconstruct`. One
 * stretch for both: B04, B03, B02 scaled linearly from reflectance 0..3000 to 0..255 (NaN and nodata
 * black). The only file that imports `sharp`, loaded on first use so runs without pictures never pay for it.
 */
import type { Grid } from '../../core/grid.ts';

/** Reflectance mapped to white. */
export const PREVIEW_WHITE = 3000;

/** Pixels between two panels of `panelsPng` (white). */
export const PANEL_GAP = 8;

/** An 8-bit RGB image: `width * height * 3` bytes, row-major, R G B interleaved. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

type Sharp = typeof import('sharp');
let sharpModule: Promise<Sharp> | undefined;

/** One reflectance value under the stretch: `(v - offset) * 255 / 3000`, clamped, truncated; NaN is 0. */
export function stretchValue(v: number, offset = 0): number {
  const s = (v - offset) * (255 / PREVIEW_WHITE);
  return s > 255 ? 255 : s > 0 ? Math.trunc(s) : 0;
}

/**
 * Bands `rgb` (plane indexes into band-sequential `planes`, each `width * height`) under the stretch.
 * `offset` is subtracted first (1000 for unharmonised processing baseline >= 04.00).
 */
export function stretchRgb(planes: Float32Array, width: number, height: number, rgb: readonly [number, number, number], offset = 0): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  rgb.forEach((band, c) => {
    const p = planes.subarray(band * n, (band + 1) * n);
    for (let i = 0; i < n; i++) data[i * 3 + c] = stretchValue(p[i]!, offset);
  });
  return { width, height, data };
}

/** The PNG of an RGB image. */
export async function encodeRgbPng(image: RgbImage): Promise<Uint8Array> {
  const sharp = (await (sharpModule ??= import('sharp'))).default;
  const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** A PNG of bands `rgb` of a chip's planes under the stretch (see stretchRgb). */
export async function previewPng(planes: Float32Array, grid: Grid, rgb: readonly [number, number, number], offset = 0): Promise<Uint8Array> {
  return encodeRgbPng(stretchRgb(planes, grid.width, grid.height, rgb, offset));
}

/**
 * Panels of the same height side by side, left to right, `gap` white pixels apart: a PNG of width
 * `sum(widths) + gap * (panels - 1)`.
 */
export async function panelsPng(panels: readonly RgbImage[], gap = PANEL_GAP): Promise<Uint8Array> {
  const height = panels[0]?.height ?? 0;
  if (panels.length === 0 || panels.some((p) => p.height !== height || p.data.length !== p.width * p.height * 3)) {
    throw new RangeError('panels must be non-empty RGB images of one height');
  }
  const width = panels.reduce((w, p) => w + p.width, 0) + gap * (panels.length - 1);
  const data = new Uint8Array(width * height * 3).fill(255);
  let x0 = 0;
  for (const p of panels) {
    for (let y = 0; y < height; y++) data.set(p.data.subarray(y * p.width * 3, (y + 1) * p.width * 3), (y * width + x0) * 3);
    x0 += p.width + gap;
  }
  return encodeRgbPng({ width, height, data });
}
