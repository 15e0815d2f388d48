/**
 * Planar geometry on lon/lat GeoJSON (as shapely computes it for Clay v0): intersection tests, bbox
 * polygons, centroids and areas. Coordinates are [lon, lat] degrees; no geodesic correction, on purpose,
 * because Clay v0's rules (centroid, overlap ranking) are planar in degrees.
 */

/** GeoJSON geometries used in searches and item footprints (lon/lat, EPSG:4326). */
export type GeoJsonGeometry =
  | { type: 'Point'; coordinates: [number, number] }
  | { type: 'Polygon'; coordinates: [number, number][][] }
  | { type: 'MultiPolygon'; coordinates: [number, number][][][] };

/** A bounding box [west, south, east, north]. */
export type Bbox = [number, number, number, number];

type Ring = [number, number][];

/** The polygons of a geometry (none for a Point). */
export function polygons(g: GeoJsonGeometry): Ring[][] {
  if (g.type === 'Polygon') return [g.coordinates];
  if (g.type === 'MultiPolygon') return g.coordinates;
  return [];
}

/** Point-in-ring by ray casting (points on an edge count as inside). */
function inRing(p: [number, number], ring: Ring): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]!;
    const [xj, yj] = ring[j]!;
    if (onSegment(p, ring[i]!, ring[j]!)) return true;
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function inPolygon(p: [number, number], poly: Ring[]): boolean {
  if (!poly[0] || !inRing(p, poly[0])) return false;
  return !poly.slice(1).some((hole) => inRing(p, hole) && !hole.some((_, i) => i > 0 && onSegment(p, hole[i - 1]!, hole[i]!)));
}

function cross(o: [number, number], a: [number, number], b: [number, number]): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

function onSegment(p: [number, number], a: [number, number], b: [number, number]): boolean {
  return cross(a, b, p) === 0 && Math.min(a[0], b[0]) <= p[0] && p[0] <= Math.max(a[0], b[0]) && Math.min(a[1], b[1]) <= p[1] && p[1] <= Math.max(a[1], b[1]);
}

function segmentsIntersect(a: [number, number], b: [number, number], c: [number, number], d: [number, number]): boolean {
  const d1 = cross(c, d, a), d2 = cross(c, d, b), d3 = cross(a, b, c), d4 = cross(a, b, d);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  return onSegment(a, c, d) || onSegment(b, c, d) || onSegment(c, a, b) || onSegment(d, a, b);
}

/** Whether two geometries (Point, Polygon, MultiPolygon) share at least one point. */
export function intersects(a: GeoJsonGeometry, b: GeoJsonGeometry): boolean {
  if (a.type === 'Point' && b.type === 'Point') return a.coordinates[0] === b.coordinates[0] && a.coordinates[1] === b.coordinates[1];
  if (a.type === 'Point') return polygons(b).some((poly) => inPolygon(a.coordinates, poly));
  if (b.type === 'Point') return polygons(a).some((poly) => inPolygon(b.coordinates, poly));
  for (const pa of polygons(a)) {
    for (const pb of polygons(b)) {
      const ra = pa[0]!, rb = pb[0]!;
      if (ra.some((p) => inPolygon(p, pb)) || rb.some((p) => inPolygon(p, pa))) return true;
      for (let i = 1; i < ra.length; i++) {
        for (let j = 1; j < rb.length; j++) if (segmentsIntersect(ra[i - 1]!, ra[i]!, rb[j - 1]!, rb[j]!)) return true;
      }
    }
  }
  return false;
}

/** A bbox [w, s, e, n] as a closed Polygon. */
export function bboxPolygon(b: readonly [number, number, number, number]): Extract<GeoJsonGeometry, { type: 'Polygon' }> {
  const [w, s, e, n] = b;
  return { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}

function ringAreaAndCentroid(ring: Ring): { a: number; cx: number; cy: number } {
  let a = 0, cx = 0, cy = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [x0, y0] = ring[j]!;
    const [x1, y1] = ring[i]!;
    const f = x0 * y1 - x1 * y0;
    a += f;
    cx += (x0 + x1) * f;
    cy += (y0 + y1) * f;
  }
  return { a: a / 2, cx, cy };
}

/** Planar area (square degrees) of a Polygon or MultiPolygon, holes subtracted. */
export function area(g: GeoJsonGeometry): number {
  let total = 0;
  for (const poly of polygons(g)) {
    poly.forEach((ring, k) => {
      const a = Math.abs(ringAreaAndCentroid(ring).a);
      total += k === 0 ? a : -a;
    });
  }
  return total;
}

/** The area-weighted centroid of a Polygon or MultiPolygon (shapely's `centroid`), or the Point itself. */
export function centroid(g: GeoJsonGeometry): [number, number] {
  if (g.type === 'Point') return g.coordinates;
  let a = 0, cx = 0, cy = 0;
  for (const poly of polygons(g)) {
    poly.forEach((ring, k) => {
      const r = ringAreaAndCentroid(ring);
      const sign = (k === 0 ? 1 : -1) * Math.sign(r.a || 1);
      a += sign * r.a;
      cx += sign * r.cx;
      cy += sign * r.cy;
    });
  }
  if (a === 0) throw new Error('centroid of a degenerate polygon');
  return [cx / (6 * a), cy / (6 * a)];
}

/**
 * Why `g` is not a well-formed Polygon or MultiPolygon (as read from a file: anything), or undefined when it
 * is: every ring an array of at least 3 positions of two or more finite numbers, and with `lonLat` (the
 * default) lon in [-180, 180] and lat in [-90, 90]. A GeometryCollection is the caller's to unpack.
 */
export function polygonalProblem(g: unknown, options: { lonLat?: boolean } = {}): string | undefined {
  const [maxX, maxY] = options.lonLat === false ? [Infinity, Infinity] : [180, 90];
  if (typeof g !== 'object' || g === null) return 'no geometry';
  const { type, coordinates } = g as { type?: unknown; coordinates?: unknown };
  if (type !== 'Polygon' && type !== 'MultiPolygon') return `a ${typeof type === 'string' ? type : 'geometry without a type'}, not a Polygon or MultiPolygon`;
  const polys = type === 'Polygon' ? [coordinates] : coordinates;
  if (!Array.isArray(polys) || polys.length === 0) return `a ${type} without coordinates`;
  for (const poly of polys as unknown[]) {
    if (!Array.isArray(poly) || poly.length === 0) return `a ${type} with an empty polygon`;
    for (const ring of poly as unknown[]) {
      if (!Array.isArray(ring) || ring.length < 3) return `a ${type} with a ring of fewer than 3 positions`;
      for (const p of ring as unknown[]) {
        const [x, y] = Array.isArray(p) ? (p as unknown[]) : [];
        if (typeof x !== 'number' || typeof y !== 'number' || !Number.isFinite(x) || !Number.isFinite(y) || Math.abs(x) > maxX || Math.abs(y) > maxY) {
          return `a ${type} with position ${JSON.stringify(p)} (not ${maxX === 180 ? 'a lon/lat pair in degrees' : 'two finite numbers'})`;
        }
      }
    }
  }
  return undefined;
}
