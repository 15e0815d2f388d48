/**
 * RGB quicklooks of chips (`--previews`): B04, B03, B02 scaled linearly from reflectance 0..3000 to 0..255
 * (NaN and nodata black), a PNG beside each kept chip. The only file that imports `sharp`, loaded on
 * first use so runs without previews never pay for it.
 */
import type { Grid } from '../../core/grid.ts';

/** Reflectance mapped to white. */
const WHITE = 3000;

type Sharp = typeof import('sharp');
let sharpModule: Promise<Sharp> | undefined;

/**
 * A PNG of bands `rgb` (plane indexes into band-sequential `planes`, each `grid.width * grid.height`).
 * `offset` is subtracted first (1000 for unharmonised processing baseline >= 04.00).
 */
export async function previewPng(planes: Float32Array, grid: Grid, rgb: readonly [number, number, number], offset = 0): Promise<Uint8Array> {
  const n = grid.width * grid.height;
  const pixels = new Uint8Array(n * 3);
  rgb.forEach((band, c) => {
    const p = planes.subarray(band * n, (band + 1) * n);
    for (let i = 0; i < n; i++) {
      const v = (p[i]! - offset) * (255 / WHITE);
      pixels[i * 3 + c] = v > 255 ? 255 : v > 0 ? v : 0;
    }
  });
  const sharp = (await (sharpModule ??= import('sharp'))).default;
  const png = await sharp(pixels, { raw: { width: grid.width, height: grid.height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
