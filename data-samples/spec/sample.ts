/**
 * The MGRS sample file (`mgrs_sample.fgb` and the same as `mgrs_sample.geojson`): one row per sample
 * index with Clay's `name` column and the footprint polygon in EPSG:4326.
 */
import { geojson } from 'flatgeobuf';
import { gridBounds, rectRing, utmRingToLonLat } from './geometry.ts';
import type { Ring } from './geometry.ts';
import { ROW1_BBOX, ROWS } from './universe.ts';

/** GeoJSON FeatureCollection, as the flatgeobuf package types it. */
export type FeatureCollection = Parameters<typeof geojson.serialize>[0];

/** The sample rows as a GeoJSON FeatureCollection (row order = sample index). */
export function sampleCollection(): FeatureCollection {
  return {
    type: 'FeatureCollection',
    features: ROWS.map((row) => {
      const ring: Ring = row.grid === undefined ? rectRing(ROW1_BBOX) : utmRingToLonLat(rectRing(gridBounds(row.grid)), row.grid.epsg);
      const first = ring[0] ?? [0, 0];
      return {
        type: 'Feature',
        properties: { name: row.name },
        geometry: { type: 'Polygon', coordinates: [[...ring, first]] },
      };
    }),
  };
}

/** The FlatGeobuf encoding of the sample (CRS EPSG:4326). */
export function sampleFlatGeobuf(fc: FeatureCollection): Uint8Array {
  return geojson.serialize(fc, 4326);
}
