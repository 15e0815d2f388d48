/**
 * Item search of the miniature Planetary Computer: filters, sorting, and PC's paging (`token`
 * "next:{collection}:{id}", a `rel=next` link re-sending the POST body, or a GET href).
 */
import type { Cql2, GeoJsonGeometry, SearchBody } from '../stac/stac-client.ts';
import { bboxPolygon, intersects } from '../geometry.ts';
import { evaluate, intervalMatches, parseInterval } from './cql2.ts';
import type { UniverseItem } from './universe.ts';

/** A page of results and the token of the next one. */
export interface SearchPage {
  features: UniverseItem[];
  nextToken: string | undefined;
}

/** Reads a GET /search query string into a search body. */
export function bodyFromQuery(q: URLSearchParams): SearchBody {
  const body: SearchBody = {};
  const list = (k: string): string[] | undefined => q.get(k)?.split(',').filter(Boolean);
  const collections = list('collections');
  if (collections) body.collections = collections;
  const ids = list('ids');
  if (ids) body.ids = ids;
  const bbox = list('bbox')?.map(Number);
  if (bbox && bbox.length === 4) body.bbox = bbox as [number, number, number, number];
  const datetime = q.get('datetime');
  if (datetime) body.datetime = datetime;
  const limit = q.get('limit');
  if (limit) body.limit = Number(limit);
  const token = q.get('token');
  if (token) body.token = token;
  const sortby = list('sortby');
  if (sortby) body.sortby = sortby.map((s) => ({ field: s.replace(/^[-+]/, ''), direction: s.startsWith('-') ? 'desc' : 'asc' }));
  const filter = q.get('filter');
  if (filter) body.filter = JSON.parse(filter) as Cql2;
  const intersectsText = q.get('intersects');
  if (intersectsText) body.intersects = JSON.parse(intersectsText) as GeoJsonGeometry;
  return body;
}

function sortValue(item: UniverseItem, field: string): string | number {
  const key = field.replace(/^properties\./, '');
  if (key === 'id') return item.id;
  if (key === 'collection') return item.collection;
  const v = item.properties[key];
  return typeof v === 'number' || typeof v === 'string' ? v : '';
}

/** Runs a search over the universe; throws an Error (answered 400) for malformed bodies. */
export function search(items: UniverseItem[], body: SearchBody): SearchPage {
  const limit = Math.min(body.limit ?? 250, 1000);
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`invalid limit ${String(body.limit)}`);
  const interval = body.datetime ? parseInterval(body.datetime) : undefined;
  const area = body.intersects ?? (body.bbox ? bboxPolygon(body.bbox) : undefined);
  const matches = items.filter((item) =>
    (!body.collections || body.collections.includes(item.collection)) &&
    (!body.ids || body.ids.includes(item.id)) &&
    (!interval || intervalMatches(item, interval)) &&
    (!area || intersects(item.geometry, area)) &&
    (!body.filter || evaluate(body.filter, item)));
  const sortby = body.sortby && body.sortby.length > 0 ? body.sortby : [{ field: 'datetime', direction: 'desc' as const }, { field: 'id', direction: 'desc' as const }];
  matches.sort((a, b) => {
    for (const { field, direction } of sortby) {
      const va = sortValue(a, field), vb = sortValue(b, field);
      if (va !== vb) return (va < vb ? -1 : 1) * (direction === 'desc' ? -1 : 1);
    }
    return 0;
  });
  let start = 0;
  if (body.token) {
    const m = /^next:([^:]+):(.+)$/.exec(body.token);
    const at = m ? matches.findIndex((it) => it.collection === m[1] && it.id === m[2]) : -1;
    if (at < 0) throw new Error(`invalid paging token '${body.token}'`);
    start = at + 1;
  }
  const features = matches.slice(start, start + limit);
  const last = features[features.length - 1];
  const nextToken = start + limit < matches.length && last ? `next:${last.collection}:${last.id}` : undefined;
  return { features, nextToken };
}
