/**
 * ESA WorldCover on the Planetary Computer: the items of one product year listed once for the whole grid
 * (about 2 700 3x3-degree items for the world: a few search pages instead of one search per MGRS tile),
 * indexed by 1-degree cells so each tile finds the few items under it.
 */
import { ClayError } from '../core/errors.ts';
import { intersects } from '../core/geometry.ts';
import { asWorldCoverItem, COLLECTIONS } from '../core/stac/pc-items.ts';
import type { StacClient } from '../core/stac/stac-client.ts';
import type { Footprint } from './footprint.ts';
import { footprintBbox, footprintPolygons } from './footprint.ts';

/** One WorldCover COG: item id, `map` asset href (unsigned), footprint bbox. */
export interface WorldCoverSource {
  id: string;
  href: string;
  bbox: [number, number, number, number];
  geometry: Footprint | undefined;
}

/** Clay v0 used the 2021 map (v200). */
export const DEFAULT_WORLDCOVER_YEAR = 2021;

/** Lists the WorldCover items of `year` intersecting `bbox` (one paged search). */
export async function listWorldCover(stac: StacClient, options: { bbox: [number, number, number, number]; year?: number; signal?: AbortSignal }): Promise<WorldCoverSource[]> {
  const year = options.year ?? DEFAULT_WORLDCOVER_YEAR;
  if (!Number.isInteger(year) || year < 2000 || year > 2100) throw new ClayError('BAD_ARGUMENT', `year must be a 4-digit year, got ${year}`, { input: 'year' });
  const [w, s, e, n] = options.bbox;
  const bbox: [number, number, number, number] = [Math.max(-180, w), Math.max(-90, s), Math.min(180, e), Math.min(90, n)];
  const out: WorldCoverSource[] = [];
  const search = stac.search({ collections: [COLLECTIONS.worldcover], bbox, datetime: `${year}-01-01T00:00:00Z/${year}-12-31T23:59:59Z`, limit: 1000 }, options.signal ? { signal: options.signal } : {});
  for await (const item of search) {
    const wc = asWorldCoverItem(item);
    const g = item.geometry;
    out.push({ id: wc.id, href: wc.map.href, bbox: item.bbox, geometry: g.type === 'Point' ? undefined : g });
  }
  return out;
}

/** WorldCover sources indexed by 1-degree cells. */
export class WorldCoverIndex {
  readonly sources: readonly WorldCoverSource[];
  private readonly cells = new Map<number, WorldCoverSource[]>();

  constructor(sources: readonly WorldCoverSource[]) {
    this.sources = sources;
    for (const src of sources) {
      for (const key of cellKeys(src.bbox)) {
        const list = this.cells.get(key);
        if (list) list.push(src);
        else this.cells.set(key, [src]);
      }
    }
  }

  /** The sources whose footprint intersects `footprint`, in listing order. */
  under(footprint: Footprint): WorldCoverSource[] {
    const found = new Set<WorldCoverSource>();
    for (const poly of footprintPolygons(footprint)) {
      const part: Footprint = { type: 'Polygon', coordinates: poly };
      for (const key of cellKeys(footprintBbox(part))) {
        for (const src of this.cells.get(key) ?? []) {
          if (found.has(src)) continue;
          if (!bboxesMeet(src.bbox, footprintBbox(part))) continue;
          if (src.geometry && !intersects(src.geometry, part)) continue;
          found.add(src);
        }
      }
    }
    return this.sources.filter((s) => found.has(s));
  }
}

function bboxesMeet(a: readonly number[], b: readonly number[]): boolean {
  return a[0]! <= b[2]! && b[0]! <= a[2]! && a[1]! <= b[3]! && b[1]! <= a[3]!;
}

function cellKeys([w, s, e, n]: readonly number[]): number[] {
  const keys: number[] = [];
  for (let y = Math.floor(s!); y <= Math.floor(n!); y++) {
    for (let x = Math.floor(w!); x <= Math.floor(e!); x++) keys.push((y + 90) * 400 + (x + 180));
  }
  return keys;
}
