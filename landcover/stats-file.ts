/**
 * The stats file (`mgrs_stats.fgb`): one feature per kept MGRS tile with Clay v0's schema, `name`, `count`
 * (distinct classes present) and one pixel-count column per WorldCover class (v0's column names), plus the
 * footprint as a MultiPolygon in EPSG:4326. Numbers are written as FlatGeobuf doubles (the shared vector
 * writer's one number type); their values are whole counts.
 */
import { ClayError } from '../core/errors.ts';
import { polygonalProblem } from '../core/geometry.ts';
import { readVectorFile, type VectorFeature } from '../core/vector-file.ts';
import { writeFeatures } from './vector-out.ts';
import { COUNT_COLUMN, WORLDCOVER_CLASSES, type ClassKey } from './classes.ts';
import { asFootprint, toMultiPolygon, type Footprint } from './footprint.ts';

/** Pixel counts per class key. */
export type ClassCounts = Record<ClassKey, number>;

/** One row of a stats file. */
export interface StatsRow {
  name: string;
  footprint: Footprint;
  /** Distinct non-nodata values present (Clay v0's `count`). */
  count: number;
  pixels: ClassCounts;
}

/** Zero counts for every class. */
export function zeroCounts(): ClassCounts {
  return Object.fromEntries(WORLDCOVER_CLASSES.map((c) => [c.key, 0])) as ClassCounts;
}

/** The feature of a stats row (v0's column order: name, count, then the classes by value). */
export function statsFeature(row: StatsRow): VectorFeature {
  const properties: Record<string, unknown> = { name: row.name, [COUNT_COLUMN]: row.count };
  for (const c of WORLDCOVER_CLASSES) properties[c.column] = row.pixels[c.key];
  return { geometry: toMultiPolygon(row.footprint), properties };
}

/** Writes a stats file (FlatGeobuf or GeoJSON by extension), atomically. At least one row is needed (an empty FlatGeobuf has no schema). */
export async function writeStatsFile(path: string, rows: StatsRow[]): Promise<void> {
  if (rows.length === 0) throw new ClayError('INTERNAL', `no rows to write to ${path}`, { input: path });
  await writeFeatures(path, rows.map(statsFeature));
}

/**
 * Reads a stats file. A missing or unreadable file, no rows, a row without `name`, a geometry that is not a
 * (Multi)Polygon, or a class column that is absent or not a non-negative number is BAD_SAMPLE_FILE naming the
 * file (the code of every MGRS tile file: grid, stats, sample). A missing `count` is computed from the classes.
 */
export async function readStatsFile(path: string): Promise<StatsRow[]> {
  const features = await readVectorFile(path, 'BAD_SAMPLE_FILE');
  if (features.length === 0) throw new ClayError('BAD_SAMPLE_FILE', `${path} has no tiles (an empty stats file: nothing to sample)`, { input: path });
  return features.map((f, i) => {
    const bad = (why: string): ClayError => new ClayError('BAD_SAMPLE_FILE', `${path}: row ${i}: ${why}`, { input: path });
    const name = f.properties.name ?? f.properties.Name;
    if (typeof name !== 'string' || name === '') throw bad("no 'name' column (the MGRS tile name)");
    const footprint = asFootprint(f.geometry);
    if (!footprint) throw bad(`${name}: ${polygonalProblem(f.geometry, { lonLat: false }) ?? 'no Polygon or MultiPolygon geometry'}`);
    const pixels = zeroCounts();
    for (const c of WORLDCOVER_CLASSES) {
      const v = f.properties[c.column];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`${name}: column '${c.column}' is ${v === undefined ? 'missing' : `not a non-negative number (${String(v)})`}`);
      pixels[c.key] = v;
    }
    const rawCount = f.properties[COUNT_COLUMN];
    const count = typeof rawCount === 'number' && Number.isFinite(rawCount) ? rawCount : WORLDCOVER_CLASSES.filter((c) => pixels[c.key] > 0).length;
    return { name, footprint, count, pixels };
  });
}
