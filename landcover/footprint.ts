/**
 * MGRS tile footprints: Polygon or MultiPolygon in lon/lat (EPSG:4326). Tiles on the antimeridian are
 * MultiPolygons with one part on each side, as in ESA's grid file; nothing here wraps longitudes.
 */
import type { Geometry, MultiPolygon } from 'geojson';
import { polygonalProblem, type GeoJsonGeometry } from '../core/geometry.ts';

/** A tile footprint (lon/lat). */
export type Footprint = Extract<GeoJsonGeometry, { type: 'Polygon' | 'MultiPolygon' }>;

/** A named footprint: one MGRS tile. */
export interface GridTile {
  name: string;
  footprint: Footprint;
}

type Ring = [number, number][];

/**
 * The footprint of a GeoJSON geometry (Polygon, MultiPolygon, or a GeometryCollection of them, as KML gives),
 * or undefined when it has none or a malformed one (`polygonalProblem`: rings of finite positions).
 */
export function asFootprint(g: Geometry | null | undefined): Footprint | undefined {
  if (!g) return undefined;
  // Finite numbers only, not lon/lat ranges: a grid reprojected to UTM still reads (the tests compare with GDAL's).
  if (g.type !== 'GeometryCollection' && polygonalProblem(g, { lonLat: false }) !== undefined) return undefined;
  const ring = (r: number[][]): Ring => r.map((p) => [Number(p[0]), Number(p[1])]);
  if (g.type === 'Polygon') return { type: 'Polygon', coordinates: g.coordinates.map(ring) };
  if (g.type === 'MultiPolygon') return { type: 'MultiPolygon', coordinates: g.coordinates.map((poly) => poly.map(ring)) };
  if (g.type === 'GeometryCollection') {
    if (!Array.isArray(g.geometries)) return undefined;
    const parts = g.geometries.map(asFootprint).filter((p): p is Footprint => p !== undefined);
    if (parts.length === 0) return undefined;
    const polys = parts.flatMap((p) => (p.type === 'Polygon' ? [p.coordinates] : p.coordinates));
    return polys.length === 1 ? { type: 'Polygon', coordinates: polys[0]! } : { type: 'MultiPolygon', coordinates: polys };
  }
  return undefined;
}

/** The polygons (rings) of a footprint. */
export function footprintPolygons(f: Footprint): Ring[][] {
  return f.type === 'Polygon' ? [f.coordinates] : f.coordinates;
}

/** A footprint as a MultiPolygon (Clay v0's stats schema). */
export function toMultiPolygon(f: Footprint): MultiPolygon {
  return { type: 'MultiPolygon', coordinates: footprintPolygons(f) };
}

/** [west, south, east, north] of a footprint. */
export function footprintBbox(f: Footprint): [number, number, number, number] {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const poly of footprintPolygons(f)) {
    for (const [x, y] of poly[0] ?? []) {
      if (x < w) w = x;
      if (x > e) e = x;
      if (y < s) s = y;
      if (y > n) n = y;
    }
  }
  return [w, s, e, n];
}

/** Each part replaced by its bounding box: what Clay v0 counted (`from_bounds(*polygon.bounds)` per part). */
export function partBboxes(f: Footprint): Footprint {
  const boxes = footprintPolygons(f).map((poly): Ring[] => {
    const [w, s, e, n] = footprintBbox({ type: 'Polygon', coordinates: poly });
    return [[[w, s], [e, s], [e, n], [w, n], [w, s]]];
  });
  return boxes.length === 1 ? { type: 'Polygon', coordinates: boxes[0]! } : { type: 'MultiPolygon', coordinates: boxes };
}
