/** Synthetic Planetary Computer item JSON (S2 L2A, S1 RTC, DEM) for small designed universes in tests. */
import { square } from './items.ts';

type Poly = { type: 'Polygon'; coordinates: [number, number][][] };

/** An S2 L2A item on a 10980 px UTM grid with every asset the pipeline reads. */
export function s2Json(id: string, datetime: string, options: { cloud?: number; nodata?: number; geometry?: Poly; epsg?: number; drop?: string } = {}): Record<string, unknown> {
  const geometry = options.geometry ?? square(6, 45.6, 0.5);
  const assets: Record<string, unknown> = {};
  for (const key of ['B02', 'B03', 'B04', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12', 'SCL']) {
    if (key === options.drop) continue;
    const res = ['B02', 'B03', 'B04', 'B08'].includes(key) ? 10 : 20;
    assets[key] = {
      href: `https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/${id}/${key}.tif`,
      'proj:shape': [109800 / res, 109800 / res], 'proj:transform': [res, 0, 699960, 0, -res, 5100000], gsd: res,
    };
  }
  return {
    type: 'Feature', stac_version: '1.0.0', id, collection: 'sentinel-2-l2a', geometry, links: [], assets,
    properties: { datetime, 'proj:epsg': options.epsg ?? 32631, 'eo:cloud_cover': options.cloud ?? 10, 's2:nodata_pixel_percentage': options.nodata ?? 1, 's2:mgrs_tile': '31TGL' },
  };
}

/** An S1 RTC item (vv/vh) over `geometry`, acquired at `start` (+25 s). */
export function s1Json(id: string, start: string, orbit: 'ascending' | 'descending', geometry: Poly = square(6, 45.6, 0.6)): Record<string, unknown> {
  const t0 = new Date(start).getTime();
  const iso = (t: number): string => new Date(t).toISOString();
  return {
    type: 'Feature', stac_version: '1.0.0', id, collection: 'sentinel-1-rtc', geometry, links: [],
    properties: {
      datetime: iso(t0 + 12_500), start_datetime: iso(t0), end_datetime: iso(t0 + 25_000), 'sat:orbit_state': orbit, 'sat:relative_orbit': 139,
      'proj:epsg': 32631, 'proj:shape': [10000, 10000], 'proj:transform': [10, 0, 700000, 0, -10, 5100000, 0, 0, 1],
    },
    assets: {
      vv: { href: `https://sentinel1euwestrtc.blob.core.windows.net/sentinel1-grd-rtc/${id}/vv.tif`, 'raster:bands': [{ nodata: -32768 }] },
      vh: { href: `https://sentinel1euwestrtc.blob.core.windows.net/sentinel1-grd-rtc/${id}/vh.tif`, 'raster:bands': [{ nodata: -32768 }] },
    },
  };
}

/** A Copernicus DEM tile with its south-west corner at (lon, lat). */
export function demJson(lon: number, lat: number): Record<string, unknown> {
  const id = `Copernicus_DSM_COG_10_N${lat}_00_E00${lon}_00_DEM`;
  const d = 1 / 7200;
  return {
    type: 'Feature', stac_version: '1.0.0', id, collection: 'cop-dem-glo-30', links: [],
    geometry: { type: 'Polygon', coordinates: [[[lon - d, lat - d], [lon + 1 - d, lat - d], [lon + 1 - d, lat + 1 - d], [lon - d, lat + 1 - d], [lon - d, lat - d]]] },
    properties: { datetime: '2021-04-22T00:00:00Z', 'proj:epsg': 4326, 'proj:shape': [3600, 3600], 'proj:transform': [1 / 3600, 0, lon - d, 0, -1 / 3600, lat + 1 + d, 0, 0, 1] },
    assets: { data: { href: `https://elevationeuwest.blob.core.windows.net/copernicus-dem/COP30_hh/${id}.tif` } },
  };
}
