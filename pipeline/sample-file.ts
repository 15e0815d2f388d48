/**
 * The MGRS sample file (`mgrs_sample.fgb` from the landcover sampler, or GeoJSON): one row per MGRS tile
 * with a `name` and a footprint polygon in EPSG:4326. A job processes one row, chosen by index. The file
 * is a local path or an `s3://bucket/key` object (array jobs read it from the bucket they write to).
 */
import { ClayError, isClayError } from '../core/errors.ts';
import { polygonalProblem } from '../core/geometry.ts';
import { isMgrsTileName } from '../core/mgrs-name.ts';
import type { GeoJsonGeometry } from '../core/stac/stac-client.ts';
import { openStore } from '../core/store/open-store.ts';
import { parseVectorFile, readVectorFile, type VectorFeature } from '../core/vector-file.ts';

/** One sample row. */
export interface SampleRow {
  /** 0-based position in the file (Clay v0's `--index`). */
  index: number;
  /** MGRS tile name, e.g. `31TGL`. */
  name: string;
  /** Footprint, lon/lat. */
  geometry: Extract<GeoJsonGeometry, { type: 'Polygon' | 'MultiPolygon' }>;
  properties: Record<string, unknown>;
}

/**
 * Reads all rows of a sample file (a path or `s3://bucket/key`); a missing or malformed file, a row whose
 * `name` is not an MGRS tile name (`isMgrsTileName`) or whose geometry is not a lon/lat (Multi)Polygon, is a
 * BAD_SAMPLE_FILE error naming the file, and the row and its value where one is at fault.
 */
export async function readSampleFile(path: string): Promise<SampleRow[]> {
  const features = /^s3:\/\//i.test(path) ? await readS3Features(path) : await readVectorFile(path, 'BAD_SAMPLE_FILE');
  if (features.length === 0) throw new ClayError('BAD_SAMPLE_FILE', `${path} has no rows`, { input: path });
  return features.map((f, index) => {
    const name = f.properties.name;
    if (typeof name !== 'string' || name === '') {
      throw new ClayError('BAD_SAMPLE_FILE', `${path}: row ${index} has no 'name' column (the MGRS tile name)`, { input: path });
    }
    if (!isMgrsTileName(name)) {
      throw new ClayError('BAD_SAMPLE_FILE', `${path}: row ${index}: name ${JSON.stringify(name)} is not an MGRS tile name (like 31TGL)`, { input: path });
    }
    const g = f.geometry;
    const problem = polygonalProblem(g);
    if (!g || problem !== undefined || (g.type !== 'Polygon' && g.type !== 'MultiPolygon')) {
      throw new ClayError('BAD_SAMPLE_FILE', `${path}: row ${index} (${name}): ${problem ?? 'no Polygon geometry'}`, { input: path });
    }
    const geometry = g.type === 'Polygon'
      ? { type: 'Polygon' as const, coordinates: g.coordinates as [number, number][][] }
      : { type: 'MultiPolygon' as const, coordinates: g.coordinates as [number, number][][][] };
    return { index, name, geometry, properties: f.properties };
  });
}

/** Row `index` of a sample file; out of range is a BAD_INDEX error naming the file and its row count. */
export async function readSampleRow(path: string, index: number): Promise<SampleRow> {
  const rows = await readSampleFile(path);
  if (!Number.isInteger(index) || index < 0 || index >= rows.length) {
    throw new ClayError('BAD_INDEX', `index ${index} is out of range for ${path} (${rows.length} rows: 0..${rows.length - 1})`, { input: path });
  }
  return rows[index]!;
}

/** The features of a sample file at `s3://bucket/key` (S3 settings from the environment, as for `--out`). */
async function readS3Features(url: string): Promise<VectorFeature[]> {
  const slash = url.lastIndexOf('/');
  const key = url.slice(slash + 1);
  let bytes: Uint8Array | undefined;
  try {
    if (slash < 'S3://x'.length || key === '') throw new ClayError('BAD_ARGUMENT', 'an S3 sample file is s3://bucket/key');
    const store = await openStore(url.slice(0, slash));
    bytes = await store.get(key);
  } catch (cause) {
    throw new ClayError('BAD_SAMPLE_FILE', `cannot read ${url}: ${isClayError(cause) ? cause.message : String(cause)}`, { input: url, cause });
  }
  if (!bytes) throw new ClayError('BAD_SAMPLE_FILE', `cannot read ${url}: no such object`, { input: url });
  return parseVectorFile(bytes, url, 'BAD_SAMPLE_FILE');
}
