/**
 * A static STAC 1.0 catalog of chips: one Collection and one Item per KEPT chip, built from chip index rows.
 * Beyond Clay v0, which published no STAC. Plain JSON objects with their keys; the caller writes them.
 *
 * Layout (keys relative to the output root, like the chips'): the collection at `collection.json`, each
 * item beside its chip with `.json` for `.tif` (`{version}/{mgrs}/{date}/claytile_..._NNNN.json`). Links
 * are relative (a self-contained catalog) unless `hrefBase` is given, then absolute, with `self` links;
 * an item's asset href stays relative to the item either way, so the folder can be moved.
 */
import { ClayError } from '../../core/errors.ts';
import { toStacAffine } from '../../core/grid.ts';
import { COLLECTIONS } from '../../core/stac/pc-items.ts';
import type { ChipIndexRow } from './chip-index.ts';

/** A STAC link. */
export interface StacLink {
  rel: string;
  href: string;
  type?: string;
  title?: string;
}

/** `eo:bands` entry (EO extension 1.1). Wavelengths in micrometres. */
export interface EoBand {
  name: string;
  common_name?: string;
  center_wavelength?: number;
  description?: string;
}

/** `raster:bands` entry (raster extension 1.1). */
export interface RasterBand {
  data_type: 'float32';
  spatial_resolution: number;
  unit?: string;
}

/** The chip GeoTIFF asset. */
export interface ChipAsset {
  href: string;
  type: 'image/tiff; application=geotiff';
  title: string;
  roles: ['data'];
  'eo:bands': EoBand[];
  'raster:bands': RasterBand[];
}

/** The ids of the STAC items a chip was made from (collections: sentinel-2-l2a, sentinel-1-rtc, cop-dem-glo-30). */
export interface ChipSources {
  s2: string;
  s1: string[];
  dem: string[];
}

/** A STAC Item of one kept chip. */
export interface ChipItem {
  type: 'Feature';
  stac_version: '1.0.0';
  stac_extensions: string[];
  id: string;
  collection: string;
  geometry: { type: 'Polygon'; coordinates: [number, number][][] };
  bbox: [number, number, number, number];
  properties: {
    /** The acquisition date at 00:00Z: the index keeps the date only, as Clay v0's chips do. */
    datetime: string;
    'proj:epsg': number;
    /** Rasterio order [x res, 0, x0, 0, -y res, y0] of the chip's own grid. */
    'proj:transform': [number, number, number, number, number, number];
    /** [rows, cols]. */
    'proj:shape': [number, number];
    'proj:bbox': [number, number, number, number];
    'clay:mgrs': string;
    'clay:chip': number;
    'clay:cloud_share': number;
    'clay:sources': ChipSources;
  };
  links: StacLink[];
  assets: { data: ChipAsset };
}

/** The STAC Collection of the chips. */
export interface ChipCollection {
  type: 'Collection';
  stac_version: '1.0.0';
  stac_extensions: string[];
  id: string;
  title: string;
  description: string;
  license: string;
  extent: {
    spatial: { bbox: [number, number, number, number][] };
    temporal: { interval: [string | null, string | null][] };
  };
  summaries: { 'proj:epsg': number[]; 'clay:mgrs': string[] };
  links: StacLink[];
}

/** A JSON object and the key (relative to the output root) it belongs at. */
export interface StacFile<T> {
  key: string;
  json: T;
}

/** The collection and its items. */
export interface ChipCatalog {
  collection: StacFile<ChipCollection>;
  items: StacFile<ChipItem>[];
}

/** Options of chipCollection. */
export interface ChipCollectionOptions {
  /** Collection id; default `clay-chips`. */
  id?: string;
  description?: string;
  /** License of the collection; default `proprietary` (Copernicus Sentinel and DEM terms), as the PC's sources. */
  license?: string;
  /** Absolute URL of the output root (ending in `/` or not): links become absolute and `self` links are added. */
  hrefBase?: string;
  /** A STAC API root: adds `derived_from` links to the source items at `{stacApi}/collections/{c}/items/{id}`. */
  stacApi?: string;
}

const EXTENSIONS = {
  proj: 'https://stac-extensions.github.io/projection/v1.1.0/schema.json',
  eo: 'https://stac-extensions.github.io/eo/v1.1.0/schema.json',
  raster: 'https://stac-extensions.github.io/raster/v1.1.0/schema.json',
};

/** The collection key under the output root. */
export const CHIP_COLLECTION_KEY = 'collection.json';

/** The 13 chip bands in file order (Clay v0's: S2 L2A reflectances, then S1 RTC vh and vv, then the DEM). */
export const CHIP_EO_BANDS: readonly EoBand[] = [
  { name: 'B02', common_name: 'blue', center_wavelength: 0.49 },
  { name: 'B03', common_name: 'green', center_wavelength: 0.56 },
  { name: 'B04', common_name: 'red', center_wavelength: 0.665 },
  { name: 'B05', common_name: 'rededge', center_wavelength: 0.704 },
  { name: 'B06', common_name: 'rededge', center_wavelength: 0.74 },
  { name: 'B07', common_name: 'rededge', center_wavelength: 0.783 },
  { name: 'B08', common_name: 'nir', center_wavelength: 0.842 },
  { name: 'B8A', common_name: 'nir08', center_wavelength: 0.865 },
  { name: 'B11', common_name: 'swir16', center_wavelength: 1.61 },
  { name: 'B12', common_name: 'swir22', center_wavelength: 2.19 },
  { name: 'vh', description: 'Sentinel-1 RTC gamma0, VH polarisation (linear power)' },
  { name: 'vv', description: 'Sentinel-1 RTC gamma0, VV polarisation (linear power)' },
  { name: 'dem', description: 'Copernicus DEM GLO-30 elevation' },
];

function rasterBands(resolution: number): RasterBand[] {
  return CHIP_EO_BANDS.map((b) => (b.name === 'dem' ? { data_type: 'float32', spatial_resolution: resolution, unit: 'm' } : { data_type: 'float32', spatial_resolution: resolution }));
}

/** [west, south, east, north] of a ring (planar in degrees; chips do not cross the antimeridian). */
function ringBbox(ring: readonly (readonly [number, number])[]): [number, number, number, number] {
  const xs = ring.map((p) => p[0]);
  const ys = ring.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/** `a/b/c.json` -> `../../` (from the item's folder back to the root). */
function toRoot(key: string): string {
  return '../'.repeat(key.split('/').length - 1);
}

function itemKey(row: ChipIndexRow): string {
  if (!row.path.endsWith('.tif')) throw new ClayError('BAD_ARGUMENT', `chip path ${row.path} does not end in .tif`, { input: row.path });
  return `${row.path.slice(0, -'.tif'.length)}.json`;
}

function chipItem(row: ChipIndexRow, key: string, collectionId: string, options: ChipCollectionOptions, base: string | undefined): ChipItem {
  const stem = key.slice(key.lastIndexOf('/') + 1, -'.json'.length);
  const [minx, miny, maxx, maxy] = row.bounds;
  const resX = (maxx - minx) / row.window.width;
  const resY = (maxy - miny) / row.window.height;
  const collectionHref = base === undefined ? `${toRoot(key)}${CHIP_COLLECTION_KEY}` : `${base}${CHIP_COLLECTION_KEY}`;
  const links: StacLink[] = [
    { rel: 'collection', href: collectionHref, type: 'application/json' },
    { rel: 'parent', href: collectionHref, type: 'application/json' },
    { rel: 'root', href: collectionHref, type: 'application/json' },
  ];
  if (base !== undefined) links.push({ rel: 'self', href: `${base}${key}`, type: 'application/geo+json' });
  const sources: ChipSources = { s2: row.s2Item, s1: [...row.s1Items], dem: [...row.demItems] };
  if (options.stacApi !== undefined) {
    const api = options.stacApi.replace(/\/+$/, '');
    const from = (collection: string, id: string): StacLink => ({ rel: 'derived_from', href: `${api}/collections/${collection}/items/${encodeURIComponent(id)}`, type: 'application/geo+json' });
    links.push(from(COLLECTIONS.s2, sources.s2), ...sources.s1.map((id) => from(COLLECTIONS.s1, id)), ...sources.dem.map((id) => from(COLLECTIONS.dem, id)));
  }
  return {
    type: 'Feature',
    stac_version: '1.0.0',
    stac_extensions: [EXTENSIONS.proj, EXTENSIONS.eo, EXTENSIONS.raster],
    id: stem,
    collection: collectionId,
    geometry: { type: 'Polygon', coordinates: [row.footprint.map(([x, y]): [number, number] => [x, y])] },
    bbox: ringBbox(row.footprint),
    properties: {
      datetime: `${row.date}T00:00:00Z`,
      'proj:epsg': row.epsg,
      'proj:transform': toStacAffine([minx, resX, 0, maxy, 0, -resY]),
      'proj:shape': [row.window.height, row.window.width],
      'proj:bbox': [minx, miny, maxx, maxy],
      'clay:mgrs': row.mgrs,
      'clay:chip': row.chip,
      'clay:cloud_share': row.cloudShare,
      'clay:sources': sources,
    },
    links,
    assets: {
      data: {
        href: `./${stem}.tif`,
        type: 'image/tiff; application=geotiff',
        title: '13 bands, float32: B02 B03 B04 B05 B06 B07 B08 B8A B11 B12 vh vv dem',
        roles: ['data'],
        'eo:bands': CHIP_EO_BANDS.map((b) => ({ ...b })),
        'raster:bands': rasterBands(resX),
      },
    },
  };
}

/** Spatial and temporal extent of the items; the whole world and an open interval when there are none. */
function extent(items: readonly ChipItem[]): ChipCollection['extent'] {
  if (items.length === 0) return { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } };
  const boxes = items.map((i) => i.bbox);
  const times = items.map((i) => i.properties.datetime).sort();
  return {
    spatial: { bbox: [[Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])), Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))]] },
    temporal: { interval: [[times[0]!, times[times.length - 1]!]] },
  };
}

/**
 * A STAC 1.0 Collection and one Item per kept chip (rejected rows are skipped). Item id = chip file stem;
 * datetime = the chip's date at 00:00Z; proj:transform from the chip bounds and window (pixel size =
 * (maxx - minx) / width). BAD_ARGUMENT for a chip path that does not end in `.tif`.
 */
export function chipCollection(rows: readonly ChipIndexRow[], options: ChipCollectionOptions = {}): ChipCatalog {
  const id = options.id ?? 'clay-chips';
  const base = options.hrefBase === undefined ? undefined : options.hrefBase.replace(/\/*$/, '/');
  const items = rows.filter((r) => r.kept).map((row) => {
    const key = itemKey(row);
    return { key, json: chipItem(row, key, id, options, base) };
  });
  const collectionHref = base === undefined ? `./${CHIP_COLLECTION_KEY}` : `${base}${CHIP_COLLECTION_KEY}`;
  const links: StacLink[] = [{ rel: 'root', href: collectionHref, type: 'application/json' }];
  if (base !== undefined) links.push({ rel: 'self', href: collectionHref, type: 'application/json' });
  for (const item of items) links.push({ rel: 'item', href: base === undefined ? `./${item.key}` : `${base}${item.key}`, type: 'application/geo+json', title: item.json.id });
  const collection: ChipCollection = {
    type: 'Collection',
    stac_version: '1.0.0',
    stac_extensions: [EXTENSIONS.proj, EXTENSIONS.eo, EXTENSIONS.raster],
    id,
    title: 'Clay training chips',
    description: options.description ?? '512 x 512 chips of Sentinel-2 L2A, Sentinel-1 RTC and Copernicus DEM GLO-30 on the Sentinel-2 10 m grid, as Clay v0 made them.',
    license: options.license ?? 'proprietary',
    extent: extent(items.map((i) => i.json)),
    summaries: {
      'proj:epsg': [...new Set(items.map((i) => i.json.properties['proj:epsg']))].sort((a, b) => a - b),
      'clay:mgrs': [...new Set(items.map((i) => i.json.properties['clay:mgrs']))].sort(),
    },
    links,
  };
  return { collection: { key: CHIP_COLLECTION_KEY, json: collection }, items };
}
