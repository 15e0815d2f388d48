/**
 * STAC shapes shared by the generator: blob hrefs (Azure-style, mapped to `blobs/{account}/{container}/
 * {path}` on disk), item links and the four collection documents, shaped like the Planetary Computer's.
 */
import type { BBox } from './geometry.ts';

/** The Planetary Computer's STAC API root; item links point there (the server may rewrite them). */
export const PC_STAC = 'https://planetarycomputer.microsoft.com/api/stac/v1';

/** Storage account and container of each collection's blobs. */
export const STORAGE = {
  'sentinel-2-l2a': { account: 'sentinel2l2a01', container: 'sentinel2-l2' },
  'sentinel-1-rtc': { account: 'sentinel1euwestrtc', container: 'sentinel1-grd-rtc' },
  'cop-dem-glo-30': { account: 'elevationeuwest', container: 'copernicus-dem' },
  'esa-worldcover': { account: 'esaworldcover', container: 'esa-worldcover' },
} as const;

/** A bundled collection id. */
export type CollectionId = keyof typeof STORAGE;

/** A blob URL and the path (relative to the output root) where its file lives. */
export interface Blob {
  href: string;
  file: string;
}

/** The blob of `path` inside a collection's container. */
export function blob(collection: CollectionId, path: string): Blob {
  const { account, container } = STORAGE[collection];
  return { href: `https://${account}.blob.core.windows.net/${container}/${path}`, file: `blobs/${account}/${container}/${path}` };
}

/** The links PC puts on an item. */
export function itemLinks(collection: CollectionId, id: string): Array<Record<string, string>> {
  const c = `${PC_STAC}/collections/${collection}`;
  return [
    { rel: 'collection', type: 'application/json', href: c },
    { rel: 'parent', type: 'application/json', href: c },
    { rel: 'root', type: 'application/json', href: `${PC_STAC}/` },
    { rel: 'self', type: 'application/geo+json', href: `${c}/items/${id}` },
  ];
}

/** A GeoJSON FeatureCollection of items, as `items/{collection}.json` stores them. */
export function featureCollection(features: unknown[]): Record<string, unknown> {
  return { type: 'FeatureCollection', features, links: [] };
}

const EXT = {
  eo: 'https://stac-extensions.github.io/eo/v1.0.0/schema.json',
  proj: 'https://stac-extensions.github.io/projection/v1.0.0/schema.json',
  raster: 'https://stac-extensions.github.io/raster/v1.0.0/schema.json',
  sat: 'https://stac-extensions.github.io/sat/v1.0.0/schema.json',
  sar: 'https://stac-extensions.github.io/sar/v1.0.0/schema.json',
  itemAssets: 'https://stac-extensions.github.io/item-assets/v1.0.0/schema.json',
  classification: 'https://stac-extensions.github.io/classification/v1.0.0/schema.json',
} as const;

/** Extension schema URIs items use. */
export const EXTENSIONS = EXT;

interface CollectionArgs {
  id: CollectionId;
  title: string;
  description: string;
  license: string;
  bbox: BBox;
  interval: [string | null, string | null];
  itemAssets: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

function collection(a: CollectionArgs): Record<string, unknown> {
  const c = `${PC_STAC}/collections/${a.id}`;
  return {
    type: 'Collection',
    id: a.id,
    stac_version: '1.0.0',
    title: a.title,
    description: a.description,
    license: a.license,
    keywords: [],
    providers: [{ name: 'Microsoft', roles: ['host', 'processor'], url: 'https://planetarycomputer.microsoft.com' }],
    extent: { spatial: { bbox: [a.bbox] }, temporal: { interval: [a.interval] } },
    links: [
      { rel: 'items', type: 'application/geo+json', href: `${c}/items` },
      { rel: 'parent', type: 'application/json', href: `${PC_STAC}/` },
      { rel: 'root', type: 'application/json', href: `${PC_STAC}/` },
      { rel: 'self', type: 'application/json', href: c },
    ],
    stac_extensions: [EXT.itemAssets],
    item_assets: a.itemAssets,
    'msft:container': STORAGE[a.id].container,
    'msft:storage_account': STORAGE[a.id].account,
    'msft:short_description': a.title,
    ...a.extra,
  };
}

/** The four collection documents, with the spatial extent of the bundled items. */
export function collections(extents: Record<CollectionId, BBox>, itemAssets: Record<CollectionId, Record<string, unknown>>): Array<Record<string, unknown>> {
  return [
    collection({
      id: 'sentinel-2-l2a',
      title: 'Sentinel-2 Level-2A',
      description: 'Miniature of the Planetary Computer Sentinel-2 L2A collection (bundled test universe).',
      license: 'proprietary',
      bbox: extents['sentinel-2-l2a'],
      interval: ['2015-06-27T10:25:31Z', null],
      itemAssets: itemAssets['sentinel-2-l2a'],
      extra: { 'msft:requires_account': false },
    }),
    collection({
      id: 'sentinel-1-rtc',
      title: 'Sentinel 1 Radiometrically Terrain Corrected (RTC)',
      description: 'Miniature of the Planetary Computer Sentinel-1 RTC collection (bundled test universe).',
      license: 'CC-BY-4.0',
      bbox: extents['sentinel-1-rtc'],
      interval: ['2014-10-10T00:28:21Z', null],
      itemAssets: itemAssets['sentinel-1-rtc'],
      extra: { 'msft:requires_account': true },
    }),
    collection({
      id: 'cop-dem-glo-30',
      title: 'Copernicus DEM GLO-30',
      description: 'Miniature of the Planetary Computer Copernicus DEM GLO-30 collection (bundled test universe).',
      license: 'proprietary',
      bbox: extents['cop-dem-glo-30'],
      interval: ['2021-04-22T00:00:00Z', '2021-04-22T00:00:00Z'],
      itemAssets: itemAssets['cop-dem-glo-30'],
      extra: { 'msft:requires_account': false },
    }),
    collection({
      id: 'esa-worldcover',
      title: 'ESA WorldCover',
      description: 'Miniature of the Planetary Computer ESA WorldCover collection (bundled test universe).',
      license: 'CC-BY-4.0',
      bbox: extents['esa-worldcover'],
      interval: ['2020-01-01T00:00:00Z', '2021-12-31T23:59:59Z'],
      itemAssets: itemAssets['esa-worldcover'],
      extra: { 'msft:requires_account': false },
    }),
  ];
}
