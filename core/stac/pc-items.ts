/**
 * Typed Planetary Computer items: Sentinel-2 L2A, Sentinel-1 RTC, Copernicus DEM GLO-30 and ESA
 * WorldCover, narrowed from generic STAC items once, with STAC_INVALID errors naming the item and field.
 * The grids the pipeline reads are checked for plausibility against the collection's (`pc-grids.ts`).
 * Field facts: ../shared/PLANETARY-COMPUTER.md ("Collections").
 */
import {
  dateField, epsgOf, invalid, numberField, shapeField, stringField, transformField,
  type Affine, type StacItem,
} from './stac-item.ts';
import { checkGrid, DEM_GRID, S1_GRID, s2Grid } from './pc-grids.ts';

/** Collection ids on the Planetary Computer. */
export const COLLECTIONS = {
  s2: 'sentinel-2-l2a',
  s1: 'sentinel-1-rtc',
  dem: 'cop-dem-glo-30',
  worldcover: 'esa-worldcover',
} as const;

/** The Sentinel-2 assets the pipeline reads (Clay v0's S2_BANDS): ten reflectance bands and SCL. */
export const S2_ASSETS = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12', 'SCL'] as const;
/** One of S2_ASSETS. */
export type S2Asset = (typeof S2_ASSETS)[number];

/** Resolution of each S2 asset the pipeline reads, in metres. */
const S2_RESOLUTION: Record<S2Asset, 10 | 20> = {
  B02: 10, B03: 10, B04: 10, B08: 10, B05: 20, B06: 20, B07: 20, B8A: 20, B11: 20, B12: 20, SCL: 20,
};

/** A raster asset with its own grid (`proj:shape` as [rows, cols], `proj:transform`). */
export interface GriddedAsset {
  href: string;
  transform: Affine;
  /** [rows, cols]. */
  shape: [number, number];
  /** Ground sample distance in metres, when given. */
  gsd: number | undefined;
}

/** A validated Sentinel-2 L2A item. */
export interface S2Item {
  kind: 's2';
  item: StacItem;
  id: string;
  datetime: Date;
  /** The item's UTM EPSG code (`proj:epsg`, or `proj:code` on newer items). */
  epsg: number;
  cloudCover: number;
  nodataPercentage: number;
  /** `s2:processing_baseline` ("04.00" and later add +1000 to reflectances), if given. */
  processingBaseline: string | undefined;
  mgrsTile: string | undefined;
  assets: Record<S2Asset, GriddedAsset>;
}

/** A validated Sentinel-1 RTC item. */
export interface S1Item {
  kind: 's1';
  item: StacItem;
  id: string;
  datetime: Date;
  start: Date;
  end: Date;
  orbitState: 'ascending' | 'descending';
  relativeOrbit: number | undefined;
  epsg: number;
  transform: Affine;
  /** `proj:shape` as published: [rows, cols] since 2023, [x, y] before. Read sizes from the COG itself. */
  shapeAsPublished: [number, number];
  /** Co- and cross-polarised assets: vv/vh, or hh/hv where only those exist. */
  co: { key: 'vv' | 'hh'; href: string };
  cross: { key: 'vh' | 'hv'; href: string };
  /** `raster:bands[0].nodata` (-32768 on PC). */
  nodata: number;
}

/** A validated Copernicus DEM GLO-30 item (EPSG:4326, PixelIsPoint COGs). */
export interface DemItem {
  kind: 'dem';
  item: StacItem;
  id: string;
  epsg: number;
  data: GriddedAsset;
}

/** A validated ESA WorldCover item (`map` asset, uint8 classes, nodata 0). */
export interface WorldCoverItem {
  kind: 'worldcover';
  item: StacItem;
  id: string;
  epsg: number;
  map: { href: string };
}

function griddedAsset(item: StacItem, key: string, fallbackTransform?: Affine, fallbackShape?: [number, number]): GriddedAsset {
  const asset = item.assets[key];
  if (!asset) throw invalid(item.id, `missing asset '${key}'`);
  const f = asset.fields;
  const transform = f['proj:transform'] === undefined && fallbackTransform ? fallbackTransform : transformField(f, item.id, `asset '${key}'`);
  const shape = f['proj:shape'] === undefined && fallbackShape ? fallbackShape : shapeField(f, item.id, `asset '${key}'`);
  return { href: asset.href, transform, shape, gsd: typeof f.gsd === 'number' ? f.gsd : undefined };
}

function expectCollection(item: StacItem, collection: string): void {
  if (item.collection !== collection) throw invalid(item.id, `is in collection '${item.collection}', expected '${collection}'`);
}

/** Narrows a STAC item into an S2Item (every band asset needs `proj:transform` and `proj:shape`). */
export function asS2Item(item: StacItem): S2Item {
  expectCollection(item, COLLECTIONS.s2);
  const p = item.properties;
  const assets = {} as Record<S2Asset, GriddedAsset>;
  for (const key of S2_ASSETS) {
    const asset = griddedAsset(item, key);
    checkGrid(item.id, `asset '${key}'`, asset.transform, asset.shape, s2Grid(S2_RESOLUTION[key]));
    assets[key] = asset;
  }
  return {
    kind: 's2',
    item,
    id: item.id,
    datetime: dateField(p, 'datetime', item.id),
    epsg: epsgOf(p, item.id),
    cloudCover: numberField(p, 'eo:cloud_cover', item.id),
    nodataPercentage: numberField(p, 's2:nodata_pixel_percentage', item.id),
    processingBaseline: typeof p['s2:processing_baseline'] === 'string' ? p['s2:processing_baseline'] : undefined,
    mgrsTile: typeof p['s2:mgrs_tile'] === 'string' ? p['s2:mgrs_tile'] : undefined,
    assets,
  };
}

function nodataOf(item: StacItem, key: string): number | undefined {
  const bands = item.assets[key]?.fields['raster:bands'];
  if (!Array.isArray(bands)) return undefined;
  const first: unknown = bands[0];
  if (typeof first !== 'object' || first === null) return undefined;
  const nodata = (first as Record<string, unknown>).nodata;
  return typeof nodata === 'number' ? nodata : undefined;
}

/** Narrows a STAC item into an S1Item. */
export function asS1Item(item: StacItem): S1Item {
  expectCollection(item, COLLECTIONS.s1);
  const p = item.properties;
  const orbit = stringField(p, 'sat:orbit_state', item.id);
  if (orbit !== 'ascending' && orbit !== 'descending') throw invalid(item.id, `'sat:orbit_state' is '${orbit}'`);
  const datetime = dateField(p, 'datetime', item.id);
  const coKey = item.assets.vv ? 'vv' : item.assets.hh ? 'hh' : undefined;
  const crossKey = item.assets.vh ? 'vh' : item.assets.hv ? 'hv' : undefined;
  if (!coKey || !crossKey) throw invalid(item.id, "missing polarisation assets ('vv' and 'vh', or 'hh' and 'hv')");
  const transform = transformField(p, item.id, 'the item');
  const shapeAsPublished = shapeField(p, item.id, 'the item');
  checkGrid(item.id, 'the item', transform, shapeAsPublished, S1_GRID);
  return {
    kind: 's1',
    item,
    id: item.id,
    datetime,
    start: p.start_datetime === undefined ? datetime : dateField(p, 'start_datetime', item.id),
    end: p.end_datetime === undefined ? datetime : dateField(p, 'end_datetime', item.id),
    orbitState: orbit,
    relativeOrbit: typeof p['sat:relative_orbit'] === 'number' ? p['sat:relative_orbit'] : undefined,
    epsg: epsgOf(p, item.id),
    transform,
    shapeAsPublished,
    co: { key: coKey, href: item.assets[coKey]!.href },
    cross: { key: crossKey, href: item.assets[crossKey]!.href },
    nodata: nodataOf(item, coKey) ?? -32768,
  };
}

/** Narrows a STAC item into a DemItem (asset `data`; grid at asset or item level). */
export function asDemItem(item: StacItem): DemItem {
  expectCollection(item, COLLECTIONS.dem);
  const p = item.properties;
  const itemTransform = p['proj:transform'] === undefined ? undefined : transformField(p, item.id, 'the item');
  const itemShape = p['proj:shape'] === undefined ? undefined : shapeField(p, item.id, 'the item');
  const data = griddedAsset(item, 'data', itemTransform, itemShape);
  checkGrid(item.id, "asset 'data'", data.transform, data.shape, DEM_GRID);
  return { kind: 'dem', item, id: item.id, epsg: epsgOf(p, item.id, 4326), data };
}

/** Narrows a STAC item into a WorldCoverItem. */
export function asWorldCoverItem(item: StacItem): WorldCoverItem {
  expectCollection(item, COLLECTIONS.worldcover);
  const map = item.assets.map;
  if (!map) throw invalid(item.id, "missing asset 'map'");
  return { kind: 'worldcover', item, id: item.id, epsg: epsgOf(item.properties, item.id, 4326), map: { href: map.href } };
}
