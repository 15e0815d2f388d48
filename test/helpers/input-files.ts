/**
 * Input files for the hardening tests: a sample, stats and grid file of each format the readers take
 * (FlatGeobuf, GeoJSON, ESA's KML), made from the bundled sample, and seeded mutations of them (empty,
 * truncated, bit-flipped, a garbage tail behind a valid signature).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mulberry32 } from '../../core/random.ts';
import { writeVectorFile } from '../../core/vector-file.ts';
import { readSampleFile } from '../../pipeline/sample-file.ts';
import { WORLDCOVER_CLASSES } from '../../landcover/classes.ts';
import { statsFeature, zeroCounts } from '../../landcover/stats-file.ts';
import { BUNDLED_DIR } from './bundled.ts';

/** Which reader a file is for, and its format. */
export type InputKind = 'sample.fgb' | 'sample.geojson' | 'stats.fgb' | 'stats.geojson' | 'grid.fgb' | 'grid.kml';

/** Every kind. */
export const INPUT_KINDS: readonly InputKind[] = ['sample.fgb', 'sample.geojson', 'stats.fgb', 'stats.geojson', 'grid.fgb', 'grid.kml'];

/** Writes a valid file of each kind into `dir` (names as the kinds); resolves with their paths. */
export async function writeInputFiles(dir: string): Promise<Record<InputKind, string>> {
  const rows = await readSampleFile(join(BUNDLED_DIR, 'mgrs_sample.fgb'));
  const paths = Object.fromEntries(INPUT_KINDS.map((k) => [k, join(dir, k)])) as Record<InputKind, string>;
  await writeFile(paths['sample.fgb'], await readFile(join(BUNDLED_DIR, 'mgrs_sample.fgb')));
  await writeFile(paths['sample.geojson'], await readFile(join(BUNDLED_DIR, 'mgrs_sample.geojson')));
  const stats = rows.map((r, i) => {
    const pixels = zeroCounts();
    WORLDCOVER_CLASSES.forEach((c, j) => (pixels[c.key] = (i + 1) * 1000 + j * 37));
    return statsFeature({ name: r.name, footprint: r.geometry, count: WORLDCOVER_CLASSES.length, pixels });
  });
  await writeVectorFile(paths['stats.fgb'], stats);
  await writeVectorFile(paths['stats.geojson'], stats);
  await writeVectorFile(paths['grid.fgb'], rows.map((r) => ({ geometry: r.geometry, properties: { name: r.name } })));
  const placemarks = rows.map((r) => {
    const polys = r.geometry.type === 'Polygon' ? [r.geometry.coordinates] : r.geometry.coordinates;
    const body = polys.map((p) => `<Polygon><outerBoundaryIs><LinearRing><coordinates>${p[0]!.map(([x, y]) => `${x},${y},0`).join(' ')}</coordinates></LinearRing></outerBoundaryIs></Polygon>`).join('');
    return `<Placemark><name>${r.name}</name><MultiGeometry>${body}</MultiGeometry></Placemark>`;
  });
  await writeFile(paths['grid.kml'], `<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document>${placemarks.join('\n')}</Document></kml>\n`);
  return paths;
}

/** A mutation and what it did. */
export interface Mutation {
  kind: 'empty' | 'truncated' | 'bit-flips' | 'garbage-tail';
  bytes: Uint8Array;
  detail: string;
}

/**
 * The `seed`-th mutation of `original`: empty, truncated at a random length, 1-8 random bit flips (half
 * of them within the first 64 bytes, where the header and its lengths are), or the first 12 bytes kept and
 * random bytes after them.
 */
export function mutate(original: Uint8Array, seed: number): Mutation {
  const random = mulberry32(seed * 7919 + 13);
  const pick = random();
  if (seed === 0) return { kind: 'empty', bytes: new Uint8Array(0), detail: '0 bytes' };
  if (pick < 0.25) {
    const at = Math.floor(random() * original.byteLength);
    return { kind: 'truncated', bytes: original.slice(0, at), detail: `${at} of ${original.byteLength} bytes` };
  }
  if (pick < 0.9) {
    const bytes = Uint8Array.from(original);
    const flips: number[] = [];
    const n = 1 + Math.floor(random() * 8);
    for (let i = 0; i < n; i++) {
      const span = random() < 0.5 ? Math.min(64, bytes.byteLength) : bytes.byteLength;
      const at = Math.floor(random() * span);
      const bit = Math.floor(random() * 8);
      bytes[at] = bytes[at]! ^ (1 << bit);
      flips.push(at * 8 + bit);
    }
    return { kind: 'bit-flips', bytes, detail: `bits ${flips.join(',')}` };
  }
  const bytes = Uint8Array.from(original);
  for (let i = 12; i < bytes.byteLength; i++) bytes[i] = Math.floor(random() * 256);
  return { kind: 'garbage-tail', bytes, detail: `random after byte 12 of ${bytes.byteLength}` };
}
