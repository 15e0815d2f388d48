/**
 * The STAC searches of Clay v0's `datacube.py`, as CQL2-JSON bodies: Sentinel-2 by the tile centroid and
 * a year, Sentinel-1 by a bbox polygon and a +/-3 day window of dates, the DEM by bbox. The date strings
 * are Clay's own (`"YYYY-01-01/YYYY-12-31"`, `"{(d-3).date()}/{(d+3).date()}"`), so the Planetary
 * Computer's interval rules apply to them exactly as they did to Clay v0 (see PLANETARY-COMPUTER.md).
 */
import { bboxPolygon, centroid, type Bbox, type GeoJsonGeometry } from '../../core/geometry.ts';
import { COLLECTIONS } from '../../core/stac/pc-items.ts';
import type { SearchBody } from '../../core/stac/stac-client.ts';

/** Clay v0's Sentinel-2 thresholds (percent). */
export const S2_LIMITS = { maxCloudCover: 50, maxNodataPercentage: 20 } as const;

/** Clay's year interval: both ends are dates, i.e. [Jan 1 00:00Z, Dec 31 00:00Z]. */
export function yearInterval(year: number): string {
  return `${year}-01-01/${year}-12-31`;
}

/** Clay's Sentinel-1 window around an S2 acquisition: `date-N days / date+N days`, as dates. */
export function dayWindow(at: Date, days = 3): string {
  const day = 86_400_000;
  const iso = (t: number): string => new Date(t).toISOString().slice(0, 10);
  return `${iso(at.getTime() - days * day)}/${iso(at.getTime() + days * day)}`;
}

/**
 * The Sentinel-2 search for a tile and year (Clay v0's filter), sorted by cloud cover ascending. Ties keep
 * the API's default order (datetime desc, id desc), which is where Clay v0's pandas sort left them.
 */
export function s2Query(tile: GeoJsonGeometry, year: number, limits: { maxCloudCover: number; maxNodataPercentage: number } = S2_LIMITS, pageSize?: number): SearchBody {
  const [lon, lat] = centroid(tile);
  return {
    'filter-lang': 'cql2-json',
    filter: {
      op: 'and',
      args: [
        { op: 's_intersects', args: [{ property: 'geometry' }, { type: 'Point', coordinates: [lon, lat] }] },
        { op: 'anyinteracts', args: [{ property: 'datetime' }, yearInterval(year)] },
        { op: '=', args: [{ property: 'collection' }, COLLECTIONS.s2] },
        { op: '<=', args: [{ property: 'eo:cloud_cover' }, limits.maxCloudCover] },
        { op: '<=', args: [{ property: 's2:nodata_pixel_percentage' }, limits.maxNodataPercentage] },
      ],
    },
    sortby: [{ field: 'eo:cloud_cover', direction: 'asc' }, { field: 'datetime', direction: 'desc' }, { field: 'id', direction: 'desc' }],
    ...(pageSize === undefined ? {} : { limit: pageSize }),
  };
}

/** The Sentinel-1 RTC search: scenes intersecting the bbox polygon within the date window. */
export function s1Query(bbox: Bbox, window: string): SearchBody {
  return {
    'filter-lang': 'cql2-json',
    filter: {
      op: 'and',
      args: [
        { op: 's_intersects', args: [{ property: 'geometry' }, bboxPolygon(bbox)] },
        { op: 'anyinteracts', args: [{ property: 'datetime' }, window] },
        { op: '=', args: [{ property: 'collection' }, COLLECTIONS.s1] },
      ],
    },
  };
}

/** The Copernicus DEM search: every tile intersecting the bbox. */
export function demQuery(bbox: Bbox): SearchBody {
  return { collections: [COLLECTIONS.dem], bbox };
}

/** A listing search: one collection, a footprint and a year (what `clay search` shows). */
export function listQuery(collection: string, tile: GeoJsonGeometry, year: number | undefined): SearchBody {
  return {
    'filter-lang': 'cql2-json',
    filter: {
      op: 'and',
      args: [
        { op: '=', args: [{ property: 'collection' }, collection] },
        { op: 's_intersects', args: [{ property: 'geometry' }, tile] },
        ...(year === undefined ? [] : [{ op: 'anyinteracts' as const, args: [{ property: 'datetime' }, yearInterval(year)] as [{ property: string }, string] }]),
      ],
    },
    sortby: [{ field: 'datetime', direction: 'asc' }, { field: 'id', direction: 'asc' }],
  };
}
