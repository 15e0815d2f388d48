/**
 * How much of a lon/lat box a set of footprints covers, exactly, in planar degrees (as shapely measures it
 * for Clay v0): the area of each footprint inside the box (Clay's S1 overlap ranking) and whether their
 * union covers the box (the S1 coverage rule).
 *
 * Method: vertical slabs. Between consecutive x breakpoints (vertices, edge-edge crossings, crossings of the
 * box's top and bottom lines) no edge starts, ends or crosses another, so the union's cross-section is a set
 * of y intervals whose ends move linearly; measuring it at the slab's middle gives the slab's exact area,
 * and full cover at the middle means full cover across the slab. Polygons with holes use the even-odd rule.
 */
import { polygons, type Bbox, type GeoJsonGeometry } from './geometry.ts';

type Point = [number, number];
type Segment = [Point, Point];

/** Area inside `box` and share of the box, for one footprint or a union of footprints. */
export interface BoxCoverage {
  /** Planar area in square degrees of the (union of the) footprint(s) inside the box. */
  area: number;
  /** `area` over the box's area, 0..1. */
  share: number;
  /** Whether the union covers the whole box (shapely's `covers`, to ~1e-12 of the box height). */
  covers: boolean;
}

function edgesOf(poly: Point[][]): Segment[] {
  const out: Segment[] = [];
  for (const ring of poly) {
    for (let i = 1; i < ring.length; i++) out.push([ring[i - 1]!, ring[i]!]);
    const first = ring[0], last = ring[ring.length - 1];
    if (first && last && (first[0] !== last[0] || first[1] !== last[1])) out.push([last, first]);
  }
  return out;
}

/** x of the proper crossing of two segments, if they cross at a single point. */
function crossingX(a: Segment, b: Segment): number | undefined {
  const [[x1, y1], [x2, y2]] = a;
  const [[x3, y3], [x4, y4]] = b;
  const den = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4);
  if (den === 0) return undefined;
  const t = ((x1 - x3) * (y3 - y4) - (y1 - y3) * (x3 - x4)) / den;
  const u = ((x1 - x3) * (y1 - y2) - (y1 - y3) * (x1 - x2)) / den;
  if (t < 0 || t > 1 || u < 0 || u > 1) return undefined;
  return x1 + t * (x2 - x1);
}

/** The y intervals of one polygon's cross-section at x (even-odd over all its rings). */
function crossSection(edges: Segment[], x: number): [number, number][] {
  const ys: number[] = [];
  for (const [[xa, ya], [xb, yb]] of edges) {
    if ((xa <= x && x < xb) || (xb <= x && x < xa)) ys.push(ya + ((x - xa) * (yb - ya)) / (xb - xa));
  }
  ys.sort((p, q) => p - q);
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < ys.length; i += 2) out.push([ys[i]!, ys[i + 1]!]);
  return out;
}

/** Length of the union of intervals clipped to [lo, hi]. */
function coveredLength(intervals: [number, number][], lo: number, hi: number): number {
  const clipped = intervals
    .map(([a, b]): [number, number] => [Math.max(a, lo), Math.min(b, hi)])
    .filter(([a, b]) => b > a)
    .sort((p, q) => p[0] - q[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of clipped) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

/** The coverage of `box` by the union of `footprints` (Polygon / MultiPolygon; Points cover nothing). */
export function boxCoverage(footprints: readonly GeoJsonGeometry[], box: Bbox): BoxCoverage {
  const [w, s, e, n] = box;
  const boxArea = (e - w) * (n - s);
  if (!(boxArea > 0)) throw new RangeError(`boxCoverage: empty box [${box.join(', ')}]`);
  const polys = footprints.flatMap((g) => polygons(g)).map(edgesOf);
  const all = polys.flat().filter(([[xa], [xb]]) => Math.max(xa, xb) >= w && Math.min(xa, xb) <= e);
  const lines: Segment[] = [[[w, s], [e, s]], [[w, n], [e, n]]];
  const xs = new Set<number>([w, e]);
  for (const [p, q] of all) { xs.add(p[0]); xs.add(q[0]); }
  const crossers = [...all, ...lines];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < crossers.length; j++) {
      const x = crossingX(all[i]!, crossers[j]!);
      if (x !== undefined) xs.add(x);
    }
  }
  const breaks = [...xs].filter((x) => x >= w && x <= e).sort((p, q) => p - q);
  const height = n - s;
  const tolerance = height * 1e-12;
  let area = 0;
  let covers = true;
  for (let k = 1; k < breaks.length; k++) {
    const x0 = breaks[k - 1]!, x1 = breaks[k]!;
    if (x1 <= x0) continue;
    const xm = (x0 + x1) / 2;
    const length = coveredLength(polys.flatMap((edges) => crossSection(edges, xm)), s, n);
    area += length * (x1 - x0);
    if (height - length > tolerance) covers = false;
  }
  return { area, share: Math.min(1, area / boxArea), covers };
}
