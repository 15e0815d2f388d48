/**
 * Generic STAC items, narrowed once where they enter (from a search page). Field access helpers throw
 * `STAC_INVALID` errors that name the item and the missing or malformed field.
 */
import { ClayError } from '../errors.ts';
import type { GeoJsonGeometry } from './stac-client.ts';

/** An asset: its href and the rest of its fields, unvalidated. */
export interface StacAsset {
  href: string;
  fields: Record<string, unknown>;
}

/** A STAC item with the fields every item has. */
export interface StacItem {
  id: string;
  collection: string;
  geometry: GeoJsonGeometry;
  /** [west, south, east, north] of `geometry`, in degrees. */
  bbox: [number, number, number, number];
  properties: Record<string, unknown>;
  assets: Record<string, StacAsset>;
  /** The item JSON as received. */
  raw: Record<string, unknown>;
}

/** Narrows one search feature into a StacItem, or throws STAC_INVALID naming it. */
export function asStacItem(value: unknown, source: string): StacItem {
  if (!isObject(value)) throw invalid('(unnamed item)', 'the feature is not an object', source);
  const id = typeof value.id === 'string' ? value.id : undefined;
  if (!id) throw invalid('(unnamed item)', "missing 'id'", source);
  const collection = typeof value.collection === 'string' ? value.collection : undefined;
  if (!collection) throw invalid(id, "missing 'collection'", source);
  const geometry = asGeometry(value.geometry);
  if (!geometry) throw invalid(id, "missing or unsupported 'geometry' (Polygon or MultiPolygon expected)", source);
  if (!isObject(value.properties)) throw invalid(id, "missing 'properties'", source);
  if (!isObject(value.assets)) throw invalid(id, "missing 'assets'", source);
  const assets: Record<string, StacAsset> = {};
  for (const [key, asset] of Object.entries(value.assets)) {
    if (!isObject(asset) || typeof asset.href !== 'string') throw invalid(id, `asset '${key}' has no 'href'`, source);
    assets[key] = { href: asset.href, fields: asset };
  }
  return { id, collection, geometry, bbox: geometryBbox(geometry), properties: value.properties, assets, raw: value };
}

/** The STAC_INVALID error for `itemId`. */
export function invalid(itemId: string, what: string, source?: string): ClayError {
  return new ClayError('STAC_INVALID', `item ${itemId}: ${what}`, { input: source ? `${itemId} (${source})` : itemId });
}

/** [west, south, east, north] of a geometry. */
export function geometryBbox(g: GeoJsonGeometry): [number, number, number, number] {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const visit = (p: [number, number]): void => {
    w = Math.min(w, p[0]); e = Math.max(e, p[0]);
    s = Math.min(s, p[1]); n = Math.max(n, p[1]);
  };
  if (g.type === 'Point') visit(g.coordinates);
  else if (g.type === 'Polygon') g.coordinates.forEach((ring) => ring.forEach(visit));
  else g.coordinates.forEach((poly) => poly.forEach((ring) => ring.forEach(visit)));
  return [w, s, e, n];
}

function asGeometry(value: unknown): GeoJsonGeometry | undefined {
  if (!isObject(value) || !Array.isArray(value.coordinates)) return undefined;
  if (value.type === 'Polygon' && isRings(value.coordinates)) return { type: 'Polygon', coordinates: value.coordinates };
  if (value.type === 'MultiPolygon' && value.coordinates.every(isRings)) {
    return { type: 'MultiPolygon', coordinates: value.coordinates as [number, number][][][] };
  }
  return undefined;
}

function isRings(v: unknown): v is [number, number][][] {
  return Array.isArray(v) && v.every((ring) => Array.isArray(ring) && ring.length >= 4 && ring.every(isPosition));
}

function isPosition(p: unknown): p is [number, number] {
  return Array.isArray(p) && p.length >= 2 && typeof p[0] === 'number' && typeof p[1] === 'number';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A required finite number property (item or asset level), else STAC_INVALID. */
export function numberField(obj: Record<string, unknown>, field: string, itemId: string): number {
  const v = obj[field];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(itemId, `missing or non-numeric '${field}'`);
  return v;
}

/** A required string property, else STAC_INVALID. */
export function stringField(obj: Record<string, unknown>, field: string, itemId: string): string {
  const v = obj[field];
  if (typeof v !== 'string' || v === '') throw invalid(itemId, `missing '${field}'`);
  return v;
}

/** A required datetime property as a Date, else STAC_INVALID. */
export function dateField(obj: Record<string, unknown>, field: string, itemId: string): Date {
  const s = stringField(obj, field, itemId);
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw invalid(itemId, `'${field}' is not a datetime: ${s}`);
  return d;
}

/** The EPSG code of an item or asset: `proj:epsg` (number) or `proj:code` ("EPSG:n"). */
export function epsgOf(obj: Record<string, unknown>, itemId: string, fallback?: number): number {
  const epsg = obj['proj:epsg'];
  if (typeof epsg === 'number' && Number.isInteger(epsg)) return epsg;
  const code = obj['proj:code'];
  if (typeof code === 'string') {
    const m = /^EPSG:(\d+)$/i.exec(code);
    if (m) return Number(m[1]);
    throw invalid(itemId, `'proj:code' is not an EPSG code: ${code}`);
  }
  if (fallback !== undefined) return fallback;
  throw invalid(itemId, "missing 'proj:epsg' or 'proj:code'");
}

/**
 * An affine transform in rasterio/STAC `proj:transform` order [a, b, c, d, e, f]:
 * x = a*col + b*row + c, y = d*col + e*row + f, for pixel corner (col, row).
 */
export type Affine = readonly [number, number, number, number, number, number];

/** `proj:transform` (6 or 9 elements) as an Affine, else STAC_INVALID naming `where`. */
export function transformField(obj: Record<string, unknown>, itemId: string, where: string): Affine {
  const t = obj['proj:transform'];
  if (!Array.isArray(t) || (t.length !== 6 && t.length !== 9) || !t.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw invalid(itemId, `missing or malformed 'proj:transform' on ${where}`);
  }
  const n = t as number[];
  return [n[0]!, n[1]!, n[2]!, n[3]!, n[4]!, n[5]!];
}

/** `proj:shape` as two positive integers, else STAC_INVALID naming `where`. */
export function shapeField(obj: Record<string, unknown>, itemId: string, where: string): [number, number] {
  const s = obj['proj:shape'];
  if (!Array.isArray(s) || s.length !== 2 || !s.every((v) => typeof v === 'number' && Number.isInteger(v) && v > 0)) {
    throw invalid(itemId, `missing or malformed 'proj:shape' on ${where}`);
  }
  return [s[0] as number, s[1] as number];
}
