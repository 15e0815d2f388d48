/**
 * Synthetic chips for the chip-stream tests, written by the project's own chip encoder (`encodeChip`):
 * 13 float32 bands with values in each band's real range (S2 reflectances, S1 backscatter down to float16
 * subnormals, DEM heights), on a UTM grid derived from the MGRS tile's zone.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Grid } from '../../../core/grid.ts';
import { mulberry32 } from '../../../core/random.ts';
import { chipFileName, DEFAULT_ENCODING, encodeChip, unitPrefix, type ChipEncoding } from '../../../pipeline/chip/chip-file.ts';

/** Band-sequential planes of one synthetic chip, seeded. `specials` adds a NaN and values past float16's range. */
export function syntheticPlanes(size: number, seed: number, specials = false): Float32Array {
  const rand = mulberry32(seed);
  const plane = size * size;
  const out = new Float32Array(13 * plane);
  for (let b = 0; b < 13; b++) {
    for (let i = 0; i < plane; i++) {
      const u = rand();
      // S2: 0..12000 with fractions; S1: 10^[-7, 0.3] (float16 subnormals below 6.1e-5); DEM: -50..4000 m.
      out[b * plane + i] = b < 10 ? u * 12000 : b < 12 ? 10 ** (-7 + 7.3 * u) : -50 + 4050 * u;
    }
  }
  if (specials) {
    out[5] = Number.NaN; // B02, pixel (5, 0)
    out[6] = 70000; // rounds to +inf in float16
    out[7] = 65510; // rounds down to 65504
    out[8] = 65520; // the first value that overflows
    out[11 * plane + 9] = 0; // vv exactly 0
    out[10 * plane + 10] = 2 ** -25; // a tie between 0 and the smallest subnormal: to even, 0
  }
  return out;
}

/** The WGS 84 / UTM EPSG code of an MGRS tile (latitude bands N..X are north). */
export function utmEpsg(mgrs: string): number {
  const zone = Number.parseInt(mgrs, 10);
  const band = mgrs.replace(/^\d+/, '')[0] ?? 'N';
  return (band >= 'N' ? 32600 : 32700) + zone;
}

/** A chip grid: `size` pixels of 10 m, the `n`-th chip of a row starting at a plausible UTM corner. */
export function chipGrid(mgrs: string, n: number, size: number): Grid {
  const epsg = utmEpsg(mgrs);
  const y0 = epsg > 32700 ? 6_200_000 : 5_000_040;
  return { epsg, transform: [600_000 + n * size * 10, 10, 0, y0, 0, -10], width: size, height: size };
}

/** Options of `writeSyntheticChip`. */
export interface SyntheticChip {
  mgrs: string;
  date: string;
  /** 1-based chip number in the unit. */
  chip: number;
  size?: number;
  seed?: number;
  encoding?: ChipEncoding;
}

/** One synthetic chip's layout key and file bytes. */
export async function syntheticChip(c: SyntheticChip): Promise<{ key: string; bytes: Uint8Array }> {
  const size = c.size ?? 64;
  const key = `${unitPrefix(c.mgrs, c.date)}${chipFileName(c.mgrs, c.date, c.chip)}`;
  const planes = syntheticPlanes(size, c.seed ?? c.chip);
  const chunks = await encodeChip(planes, chipGrid(c.mgrs, c.chip, size), c.date, c.encoding ?? DEFAULT_ENCODING);
  return { key, bytes: new Uint8Array(Buffer.concat(chunks)) };
}

/** Writes one synthetic chip under the folder `root` at its layout key; resolves with the key. */
export async function writeSyntheticChip(root: string, c: SyntheticChip): Promise<string> {
  const { key, bytes } = await syntheticChip(c);
  await mkdir(dirname(join(root, key)), { recursive: true });
  await writeFile(join(root, key), bytes);
  return key;
}

/**
 * A minimal unit manifest (the fields `parseManifest` and `listChips` read): chips `kept` have a file,
 * `rejected` do not.
 */
export function fakeManifest(mgrs: string, date: string, kept: readonly number[], rejected: readonly number[] = []): string {
  const chips = [...kept.map((chip) => ({ chip, file: { key: `${unitPrefix(mgrs, date)}${chipFileName(mgrs, date, chip)}`, bytes: 0, sha256: '' } })), ...rejected.map((chip) => ({ chip }))];
  chips.sort((a, b) => a.chip - b.chip);
  return JSON.stringify({ manifestVersion: 1, version: '02', mgrs, date, index: 0, chips });
}
