/**
 * The search semantics of the miniature Planetary Computer: the CQL2-JSON subset the pipeline writes,
 * pgstac's datetime intervals and polygon intersection. Datetime rules (pgstac): "A/B" means
 * [A, B] with a bare date meaning that day's 00:00Z, both ends inclusive; an item matches when
 * start <= B and end >= A, using `start_datetime`/`end_datetime` when present, else `datetime`.
 */
import type { Cql2 } from '../stac/stac-client.ts';
import type { GeoJsonGeometry } from '../geometry.ts';
import { intersects } from '../geometry.ts';

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

