/**
 * The sample file (`mgrs_sample.fgb`, what `clay run --index N` reads): Clay v0's columns (`name`, `count`,
 * the 11 class columns as fractions 0..1 of the tile's classified pixels) plus `stratum` (the stratum that
 * drew the tile), a MultiPolygon footprint in EPSG:4326, rows in sample order.
 */
import { ClayError } from '../core/errors.ts';
import { type VectorFeature } from '../core/vector-file.ts';
import { writeFeatures } from './vector-out.ts';
import { COUNT_COLUMN, WORLDCOVER_CLASSES } from './classes.ts';
import { toMultiPolygon } from './footprint.ts';
import type { SampledTile } from './sample.ts';

/** The feature of a sampled tile. */
export function sampleFeature(t: SampledTile): VectorFeature {
  const properties: Record<string, unknown> = { name: t.name, [COUNT_COLUMN]: t.count };
  for (const c of WORLDCOVER_CLASSES) properties[c.column] = t.fractions[c.key];
  properties.stratum = t.stratum;
  return { geometry: toMultiPolygon(t.footprint), properties };
}

/** Writes the sample (FlatGeobuf or GeoJSON by extension), atomically; an empty sample is BAD_ARGUMENT. */
export async function writeSampleFile(path: string, tiles: readonly SampledTile[]): Promise<void> {
  if (tiles.length === 0) throw new ClayError('BAD_ARGUMENT', `the sample is empty (every stratum has size 0): nothing to write to ${path}`, { input: path });
  await writeFeatures(path, tiles.map(sampleFeature));
}
