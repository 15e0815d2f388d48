/** Small in-memory STAC universes for tests that need exact control over items. */
import { universeItem, type Universe } from '../../core/mini-pc/universe.ts';

/** A polygon around [lon, lat] with half-size `r` degrees. */
export function square(lon: number, lat: number, r = 0.1): { type: 'Polygon'; coordinates: [number, number][][] } {
  return { type: 'Polygon', coordinates: [[[lon - r, lat - r], [lon + r, lat - r], [lon + r, lat + r], [lon - r, lat + r], [lon - r, lat - r]]] };
}

/** One STAC item JSON. */
export function itemJson(id: string, collection: string, properties: Record<string, unknown>, options: { lon?: number; lat?: number; assets?: Record<string, unknown> } = {}): Record<string, unknown> {
  const geometry = square(options.lon ?? 6, options.lat ?? 45.6);
  return {
    type: 'Feature', stac_version: '1.0.0', id, collection, geometry,
    bbox: [geometry.coordinates[0]![0]![0], geometry.coordinates[0]![0]![1], geometry.coordinates[0]![2]![0], geometry.coordinates[0]![2]![1]],
    properties, links: [],
    assets: options.assets ?? { data: { href: `https://acct.blob.core.windows.net/cont/${id}.tif`, type: 'image/tiff' } },
  };
}

/** A universe of the given item JSONs, with one in-memory blob per `blobs` entry. */
export function universeOf(items: Record<string, unknown>[], blobs: Record<string, Uint8Array> = {}): Universe {
  const collections = [...new Set(items.map((i) => String(i.collection)))].map((id) => ({ type: 'Collection', id, stac_version: '1.0.0', links: [] }));
  return { collections, items: items.map(universeItem), blobs: new Map(Object.entries(blobs)) };
}
