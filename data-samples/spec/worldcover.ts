/**
 * ESA WorldCover miniature tiles: uint8 class maps on the global 1/12000 deg grid (EPSG:4326), nodata 0,
 * COGs with mode overviews 2/4/8/16. Patches of every class with wobbly borders, plus a nodata block in
 * the north-east that reaches into row 0's footprint. Class counts per tile and level are recorded.
 */
import type { GenContext } from './context.ts';
import { hash3 } from './geometry.ts';
import type { BBox } from './geometry.ts';
import { WORLDCOVER_CLASSES } from './landscape.ts';
import { blob, EXTENSIONS, itemLinks } from './stac.ts';
import { WORLDCOVER_TILES } from './universe.ts';
import { buildOverview } from '../../pipeline/write/tiff-overview.ts';
import type { TiffImage } from '../../pipeline/write/tiff-writer.ts';

const PX = 1 / 12000;
/** Overview factors of the WorldCover COGs (GDAL overview levels 1..4). */
export const WORLDCOVER_OVERVIEWS = [2, 4, 8, 16];
/** The nodata block (lon/lat bbox of pixel centres). */
export const WORLDCOVER_NODATA: BBox = [6.1, 45.72, 6.2, 45.8];

/** Class histogram: class code -> pixel count (nodata 0 included under "0"). */
export type Histogram = Record<string, number>;

/** Result for the collection. */
export interface WorldCoverResult {
  items: Array<Record<string, unknown>>;
  /** Per item id: histogram at full resolution and at each overview factor ("1", "2", ... "16"). */
  counts: Record<string, Record<string, Histogram>>;
}

/** Patches of about 0.012 x 0.009 deg (~950 x 1000 m); classes cycle over cells so every class is near. */
function classOf(lon: number, lat: number): number {
  const u = lon + 0.002 * Math.sin(lat * 500);
  const v = lat + 0.0015 * Math.sin(lon * 400);
  const cx = Math.floor(u / 0.012);
  const cy = Math.floor(v / 0.009);
  const k = (4 * cx + 7 * cy + Math.floor(hash3(cx, cy, 31) * 3)) % 11;
  return WORLDCOVER_CLASSES[(k + 11) % 11] ?? 10;
}

function histogram(data: Uint8Array): Histogram {
  const h = new Uint32Array(256);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    h[v] = (h[v] as number) + 1;
  }
  const out: Histogram = {};
  for (const c of [0, ...WORLDCOVER_CLASSES]) out[String(c)] = h[c] ?? 0;
  return out;
}

/** Writes the WorldCover tiles and returns their items and class counts. Throws unless every class
 * occurs inside each bbox of `mustHaveAll` (the sample rows' footprints). */
export async function makeWorldCover(ctx: GenContext, mustHaveAll: BBox[]): Promise<WorldCoverResult> {
  const seen = mustHaveAll.map(() => new Set<number>());
  const items: Array<Record<string, unknown>> = [];
  const counts: Record<string, Record<string, Histogram>> = {};
  const [nw, ns, ne, nn] = WORLDCOVER_NODATA;
  for (const tile of WORLDCOVER_TILES) {
    const data = new Uint8Array(tile.cols * tile.rows);
    for (let r = 0; r < tile.rows; r++) {
      const lat = tile.lat0 - (r + 0.5) * PX;
      for (let c = 0; c < tile.cols; c++) {
        const lon = tile.lon0 + (c + 0.5) * PX;
        const v = lon >= nw && lon < ne && lat >= ns && lat < nn ? 0 : classOf(lon, lat);
        data[r * tile.cols + c] = v;
        if (c % 8 === 0 && r % 8 === 0) mustHaveAll.forEach((b, k) => lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3] && seen[k]?.add(v));
      }
    }
    const img: TiffImage = { width: tile.cols, height: tile.rows, samples: 1, raster: { dtype: 'uint8', data } };
    const west = tile.lon0;
    const north = tile.lat0;
    const east = west + tile.cols * PX;
    const south = north - tile.rows * PX;
    const bl = blob('esa-worldcover', `v200/2021/map/${tile.id}_Map.tif`);
    await ctx.writeCog(bl, img, {
      layout: { kind: 'tiles', width: 512, height: 512 },
      predictor: 'horizontal',
      nodata: 0,
      overviews: { factors: WORLDCOVER_OVERVIEWS, resampling: 'mode' },
      geo: { epsg: 4326, transform: [west, PX, 0, north, 0, -PX] },
    });
    const perLevel: Record<string, Histogram> = { '1': histogram(data) };
    for (const f of WORLDCOVER_OVERVIEWS) {
      const ov = buildOverview(img, f, 'mode', 0);
      if (ov.raster.dtype === 'uint8') perLevel[String(f)] = histogram(ov.raster.data);
    }
    counts[tile.id] = perLevel;
    items.push({
      type: 'Feature',
      stac_version: '1.0.0',
      id: tile.id,
      collection: 'esa-worldcover',
      bbox: [west, south, east, north],
      geometry: { type: 'Polygon', coordinates: [[[east, south], [east, north], [west, north], [west, south], [east, south]]] },
      properties: {
        datetime: null,
        start_datetime: '2021-01-01T00:00:00Z',
        end_datetime: '2021-12-31T23:59:59Z',
        'esa_worldcover:product_version': '2.0.0',
        'esa_worldcover:product_tile': tile.tile,
        mission: 'sentinel-1, sentinel-2',
        platform: 'sentinel-1a, sentinel-1b, sentinel-2a, sentinel-2b',
        'proj:epsg': 4326,
      },
      assets: {
        map: {
          href: bl.href,
          type: 'image/tiff; application=geotiff; profile=cloud-optimized',
          roles: ['data'],
          title: 'Land Cover Classes',
          'proj:shape': [tile.rows, tile.cols],
          'proj:transform': [PX, 0, west, 0, -PX, north, 0, 0, 1],
          'raster:bands': [{ nodata: 0, data_type: 'uint8', spatial_resolution: 10 }],
          'classification:classes': WORLDCOVER_CLASSES.map((value) => ({ value })),
        },
      },
      links: itemLinks('esa-worldcover', tile.id),
      stac_extensions: [EXTENSIONS.proj, EXTENSIONS.raster, EXTENSIONS.classification],
    });
  }
  seen.forEach((set, k) => {
    const missing = WORLDCOVER_CLASSES.filter((c) => !set.has(c));
    if (missing.length > 0) throw new Error(`design: WorldCover classes ${missing.join(',')} missing in ${mustHaveAll[k]?.join(',')}`);
  });
  return { items, counts };
}
