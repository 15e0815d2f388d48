/**
 * The `search` stage: the items of one collection over a sample row's footprint, optionally for one year
 * (Clay's year interval), summarised for people. The first thing a user runs against an endpoint.
 */
import type { StacClient } from '../../core/stac/stac-client.ts';
import type { SampleRow } from '../sample-file.ts';
import { listQuery } from './queries.ts';

/** A one-line summary of an item. */
export interface ItemSummary {
  id: string;
  collection: string;
  datetime: string;
  /** eo:cloud_cover (S2). */
  cloudCover?: number;
  /** s2:nodata_pixel_percentage (S2). */
  nodataPercentage?: number;
  /** sat:orbit_state (S1). */
  orbitState?: string;
  /** EPSG from proj:epsg / proj:code. */
  epsg?: number;
  assets: number;
}

/** Input of `listItems`. */
export interface ListItemsInput {
  stac: StacClient;
  row: SampleRow;
  collection: string;
  year?: number;
  signal?: AbortSignal;
}

/** Lists the items of `collection` intersecting the row's footprint, sorted by datetime. */
export async function listItems(input: ListItemsInput): Promise<ItemSummary[]> {
  const items = await input.stac.searchAll(listQuery(input.collection, input.row.geometry, input.year), input.signal ? { signal: input.signal } : {});
  return items.map((item) => {
    const p = item.properties;
    const code = typeof p['proj:code'] === 'string' ? /^EPSG:(\d+)$/i.exec(p['proj:code']) : null;
    const epsg = typeof p['proj:epsg'] === 'number' ? p['proj:epsg'] : code ? Number(code[1]) : undefined;
    return {
      id: item.id,
      collection: item.collection,
      datetime: typeof p.datetime === 'string' ? p.datetime : typeof p.start_datetime === 'string' ? p.start_datetime : '',
      ...(typeof p['eo:cloud_cover'] === 'number' ? { cloudCover: p['eo:cloud_cover'] } : {}),
      ...(typeof p['s2:nodata_pixel_percentage'] === 'number' ? { nodataPercentage: p['s2:nodata_pixel_percentage'] } : {}),
      ...(typeof p['sat:orbit_state'] === 'string' ? { orbitState: p['sat:orbit_state'] } : {}),
      ...(epsg !== undefined ? { epsg } : {}),
      assets: Object.keys(item.assets).length,
    };
  });
}
