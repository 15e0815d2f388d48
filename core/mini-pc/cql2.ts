/**
 * The search semantics of the miniature Planetary Computer: the CQL2-JSON subset the pipeline writes,
 * pgstac's datetime intervals and polygon intersection. Datetime rules (pgstac): "A/B" means
 * [A, B] with a bare date meaning that day's 00:00Z, both ends inclusive; an item matches when
 * start <= B and end >= A, using `start_datetime`/`end_datetime` when present, else `datetime`.
 */
import type { Cql2, GeoJsonGeometry } from '../stac/stac-client.ts';

/** An item as the server keeps it. */
export interface ServedItem {
  id: string;
  collection: string;
  geometry: GeoJsonGeometry;
  properties: Record<string, unknown>;
}

/** A closed time interval in ms since the epoch (open ends are ±Infinity). */
export interface Interval {
  start: number;
  end: number;
}

/** Parses "A/B", "A/..", "../B" or a single instant, with pgstac's date-only meaning (00:00Z). */
export function parseInterval(text: string): Interval {
  const parts = text.split('/');
  const at = (s: string | undefined, open: number): number => {
    if (s === undefined || s === '' || s === '..') return open;
    const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s);
    if (Number.isNaN(t)) throw new Error(`invalid datetime '${s}'`);
    return t;
  };
  if (parts.length === 1) {
    const t = at(parts[0], NaN);
    return { start: t, end: t };
  }
  if (parts.length !== 2) throw new Error(`invalid interval '${text}'`);
  return { start: at(parts[0], -Infinity), end: at(parts[1], Infinity) };
}

/** The time extent of an item: start/end_datetime when present, else datetime. */
export function itemInterval(item: ServedItem): Interval {
  const p = item.properties;
  const dt = typeof p.datetime === 'string' ? Date.parse(p.datetime) : NaN;
  const start = typeof p.start_datetime === 'string' ? Date.parse(p.start_datetime) : dt;
  const end = typeof p.end_datetime === 'string' ? Date.parse(p.end_datetime) : dt;
  return { start, end };
}

/** pgstac's rule: an item matches an interval when it overlaps it, both ends inclusive. */
export function intervalMatches(item: ServedItem, q: Interval): boolean {
  const t = itemInterval(item);
  return t.start <= q.end && t.end >= q.start;
}

/** The value of `property` on an item (`id`, `collection`, `geometry`, or a property name). */
function propertyValue(item: ServedItem, name: string): unknown {
  const key = name.startsWith('properties.') ? name.slice('properties.'.length) : name;
  if (key === 'id') return item.id;
  if (key === 'collection') return item.collection;
  return item.properties[key];
}

/** Evaluates a CQL2-JSON expression against an item; unknown operators throw (the server answers 400). */
export function evaluate(expr: Cql2, item: ServedItem): boolean {
  switch (expr.op) {
    case 'and':
      return expr.args.every((a) => evaluate(a, item));
    case 'or':
      return expr.args.some((a) => evaluate(a, item));
    case 'not':
      return !evaluate(expr.args[0], item);
    case 's_intersects':
      return intersects(item.geometry, expr.args[1]);
    case 'anyinteracts': {
      const v = expr.args[1];
      const text = typeof v === 'string' ? v : `${v.interval[0]}/${v.interval[1]}`;
      return intervalMatches(item, parseInterval(text));
    }
    default: {
      const left = propertyValue(item, expr.args[0].property);
      const right = expr.args[1];
      if (left === undefined || left === null) return false;
      const l = left as string | number | boolean;
      switch (expr.op) {
        case '=': return l === right;
        case '<>': return l !== right;
        case '<': return l < right;
        case '<=': return l <= right;
        case '>': return l > right;
        case '>=': return l >= right;
      }
    }
  }
  throw new Error(`unsupported CQL2 operator '${(expr as { op: string }).op}'`);
}

type Ring = [number, number][];

function polygons(g: GeoJsonGeometry): Ring[][] {
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
export function bboxPolygon(b: readonly [number, number, number, number]): GeoJsonGeometry {
  const [w, s, e, n] = b;
  return { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}
