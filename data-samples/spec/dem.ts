/**
 * Copernicus DEM GLO-30 miniature tiles: EPSG:4326, float32, PixelIsPoint (pixel centres on whole
 * arc-seconds), no nodata value, smooth terrain quantised to 0.25 m, tiles abutting exactly at 6 deg E.
 * One NaN pixel is planted under chip 5 of row 0.
 */
import type { GenContext } from './context.ts';
import { round9 } from './geometry.ts';
import type { Grid } from './geometry.ts';
import { blob, itemLinks, EXTENSIONS } from './stac.ts';
import { DEM_TILES } from './universe.ts';
import { noiseAt } from './landscape.ts';
import { fromUtm, zoneOf } from './utm.ts';

const PX = 1 / 3600;

/** Terrain height (m) at a lon/lat, quantised to 0.25 m; continuous across tiles. */
export function terrain(lon: number, lat: number): number {
  const h = 900 + 450 * Math.sin(lon * 17 + 0.3) * Math.cos(lat * 23) + 180 * Math.sin((lon + 2 * lat) * 41) + 60 * Math.cos((3 * lon - lat) * 67);
  return Math.round(h * 4) / 4;
}

/** The planted NaN: tile id, pixel [col, row], its centre, and the row-0 target pixel over it. */
export interface PlantedNan {
  item: string;
  pixel: [number, number];
  lonLat: [number, number];
  target: [number, number];
}

/** Result for the DEM collection. */
export interface DemResult {
  items: Array<Record<string, unknown>>;
  planted: PlantedNan;
}

/** The target pixel near `near` whose centre is closest to a DEM pixel centre, and that DEM pixel. */
function plant(target: Grid, near: [number, number]): PlantedNan {
  let best: PlantedNan & { d: number } = { d: Infinity, item: '', pixel: [0, 0], lonLat: [0, 0], target: near };
  for (let dj = -6; dj <= 6; dj++) {
    for (let di = -6; di <= 6; di++) {
      const t: [number, number] = [near[0] + di, near[1] + dj];
      const [lon, lat] = fromUtm(target.x0 + (t[0] + 0.5) * target.res, target.y0 - (t[1] + 0.5) * target.res, zoneOf(target.epsg));
      for (const tile of DEM_TILES) {
        const fc = (lon - tile.lon0) / PX;
        const fr = (tile.lat0 - lat) / PX;
        const c = Math.round(fc);
        const r = Math.round(fr);
        if (c < 0 || r < 0 || c >= tile.cols || r >= tile.rows) continue;
        const d = Math.hypot(fc - c, fr - r);
        if (d < best.d) best = { d, item: tile.id, pixel: [c, r], lonLat: [round9(lon), round9(lat)], target: t };
      }
    }
  }
  const { d: _d, ...planted } = best;
  return planted;
}

/** Writes both DEM tiles and returns their items. `nanAt` says where chip 5's NaN goes. */
export async function makeDem(ctx: GenContext, nanAt: { target: Grid; near: [number, number] }): Promise<DemResult> {
  const planted = plant(nanAt.target, nanAt.near);
  const items: Array<Record<string, unknown>> = [];
  for (const [t, tile] of DEM_TILES.entries()) {
    const data = new Float32Array(tile.cols * tile.rows);
    for (let r = 0; r < tile.rows; r++) {
      const lat = tile.lat0 - r * PX;
      // With noise, roughness of 1.5 m (1 sigma), unquantised, so the float32 mantissas are full as in GLO-30.
      for (let c = 0; c < tile.cols; c++) data[r * tile.cols + c] = terrain(tile.lon0 + c * PX, lat) + (ctx.noise ? 1.5 * noiseAt(c + tile.cols * t, r, 300) : 0);
    }
    if (planted.item === tile.id) data[planted.pixel[1] * tile.cols + planted.pixel[0]] = NaN;
    // GDAL's geotransform (pixel corner) = first centre - half a pixel; the file stores the centre (PixelIsPoint).
    const west = tile.lon0 - PX / 2;
    const north = tile.lat0 + PX / 2;
    const east = west + tile.cols * PX;
    const south = north - tile.rows * PX;
    const bl = blob('cop-dem-glo-30', `COP30_hh/${tile.id}.tif`);
    await ctx.writeCog(bl, { width: tile.cols, height: tile.rows, samples: 1, raster: { dtype: 'float32', data } }, {
      layout: { kind: 'tiles', width: 256, height: 256 },
      predictor: 'float',
      geo: { epsg: 4326, transform: [west, PX, 0, north, 0, -PX], rasterType: 'point' },
      overviews: { factors: [2, 4], resampling: 'nearest' },
    });
    const ring: Array<[number, number]> = [
      [east, south],
      [east, north],
      [west, north],
      [west, south],
      [east, south],
    ];
    items.push({
      type: 'Feature',
      stac_version: '1.0.0',
      id: tile.id,
      collection: 'cop-dem-glo-30',
      bbox: [west, south, east, north],
      geometry: { type: 'Polygon', coordinates: [ring] },
      properties: {
        datetime: '2021-04-22T00:00:00Z',
        platform: 'TanDEM-X',
        gsd: 30,
        'proj:epsg': 4326,
        'proj:shape': [tile.rows, tile.cols],
        'proj:transform': [PX, 0, west, 0, -PX, north, 0, 0, 1],
      },
      assets: {
        data: {
          href: bl.href,
          type: 'image/tiff; application=geotiff; profile=cloud-optimized',
          roles: ['data'],
          title: `${tile.id}`,
          'raster:bands': [{ data_type: 'float32', spatial_resolution: 30, unit: 'metre' }],
        },
      },
      links: itemLinks('cop-dem-glo-30', tile.id),
      stac_extensions: [EXTENSIONS.proj, EXTENSIONS.raster],
    });
  }
  return { items, planted };
}
