/**
 * Sentinel-1 RTC scenes: float32 linear gamma0 `vv`/`vh` COGs (nodata -32768 outside the footprint) on
 * each scene's own 10 m UTM grid with a sub-pixel origin, and PC-shaped items (pre-2023: `proj:shape` in
 * [x, y] order, 9-element `proj:transform`, `proj:bbox` = footprint bbox in the scene CRS).
 */
import { bboxOf, densify, geoTransform, lonLatRingToUtm, polygon, rasterizeRing, rectRing, round9 } from './geometry.ts';
import type { BBox, Grid } from './geometry.ts';
import type { GenContext } from './context.ts';
import { classMap, noiseAt, texture } from './landscape.ts';
import { blob, EXTENSIONS, itemLinks } from './stac.ts';
import type { S1Spec } from './universe.ts';
import { fromUtm, toUtm, zoneOf } from './utm.ts';

/** Nodata of S1 RTC files and `raster:bands`. */
export const S1_NODATA_VALUE = -32768;

/** vv base level (x 1024) per land class of the scene's own patch map. */
const VV_BASE = [10, 180, 120, 140, 400, 90, 60];

/** A pixel made nodata on purpose, and where it lands. */
export interface PlantedNodata {
  scene: string;
  asset: 'vv';
  /** The scene raster pixel [col, row] set to -32768. */
  pixel: [number, number];
  /** The row-0 10 m pixel [col, row] whose centre falls in it (nearest neighbour). */
  target: [number, number];
  lonLat: [number, number];
}

/** Result for one scene. */
export interface S1Result {
  spec: S1Spec;
  id: string;
  item: Record<string, unknown>;
  grid: Grid;
  /** 1 where the scene has data (pixel centre inside its footprint), 0 where it is nodata. */
  mask: Uint8Array;
  planted?: PlantedNodata;
}

const compact = (iso: string): string => iso.slice(0, 19).replace(/[-:]/g, '');
const iso6 = (ms: number): string => `${new Date(ms).toISOString().slice(0, 23)}000Z`;

/** The scene grid: UTM bbox of the footprint, snapped to 10 m + the sub-pixel offset, one pixel of margin. */
function sceneGrid(s: S1Spec, ring: Array<[number, number]>): Grid {
  const [minx, miny, maxx, maxy] = bboxOf(ring);
  const [ox, oy] = s.offset;
  const x0 = Math.floor((minx - ox) / 10) * 10 + ox - 10;
  const y0 = Math.ceil((maxy - oy) / 10) * 10 + oy + 10;
  return { epsg: s.epsg, x0, y0, res: 10, width: Math.ceil((maxx - x0) / 10) + 1, height: Math.ceil((y0 - miny) / 10) + 1 };
}

/**
 * Finds, near target pixel `near` of `target`, the target pixel whose centre falls closest to the
 * centre of a scene pixel (robust under approximate transformers) and returns both.
 */
function plantPoint(target: Grid, near: [number, number], g: Grid): { pixel: [number, number]; target: [number, number]; lonLat: [number, number] } {
  let best = { d: Infinity, pixel: [0, 0] as [number, number], target: near, lonLat: [0, 0] as [number, number] };
  for (let dj = -5; dj <= 5; dj++) {
    for (let di = -5; di <= 5; di++) {
      const t: [number, number] = [near[0] + di, near[1] + dj];
      const [lon, lat] = fromUtm(target.x0 + (t[0] + 0.5) * target.res, target.y0 - (t[1] + 0.5) * target.res, zoneOf(target.epsg));
      const [x, y] = toUtm(lon, lat, zoneOf(g.epsg));
      const fc = (x - g.x0) / g.res;
      const fr = (g.y0 - y) / g.res;
      const d = Math.hypot((fc % 1) - 0.5, (fr % 1) - 0.5);
      if (d < best.d) best = { d, pixel: [Math.floor(fc), Math.floor(fr)], target: t, lonLat: [round9(lon), round9(lat)] };
    }
  }
  return best;
}

function rasters(s: S1Spec, index: number, g: Grid, ring: Array<[number, number]>, noise: boolean): { vv: Float32Array; vh: Float32Array; mask: Uint8Array } {
  const mask = rasterizeRing(g, ring);
  const cls = classMap(g, 100 + index);
  const n = g.width * g.height;
  const vv = new Float32Array(n).fill(S1_NODATA_VALUE);
  const vh = new Float32Array(n).fill(S1_NODATA_VALUE);
  for (let j = 0; j < g.height; j++) {
    for (let i = 0; i < g.width; i++) {
      const p = j * g.width + i;
      if (mask[p] === 0) continue;
      const base = (VV_BASE[cls[p] as number] ?? 0) + 3 * index;
      const t = texture(i, j);
      // Multiples of 1/1024: exact in float32, low mantissa bytes zero, so DEFLATE does well.
      vv[p] = (base + t) / 1024;
      vh[p] = (Math.round(base / 4) + (t % 31)) / 1024;
      if (noise) {
        // Speckle: multiplicative, about 1.5 dB (1 sigma), as in multilooked RTC backscatter.
        vv[p] = (vv[p] as number) * Math.exp(0.35 * noiseAt(i, j, 100 + 2 * index));
        vh[p] = (vh[p] as number) * Math.exp(0.35 * noiseAt(i, j, 101 + 2 * index));
      }
    }
  }
  return { vv, vh, mask };
}

/**
 * Generates one scene over `over` (the lon/lat bbox of the S2 item it is laid on). `plant` puts a
 * nodata vv pixel under a row-0 target pixel.
 */
export async function makeS1Scene(
  ctx: GenContext,
  s: S1Spec,
  index: number,
  over: BBox,
  plant?: { target: Grid; near: [number, number] },
): Promise<S1Result> {
  const [w, south, e, north] = over;
  const lonLat: BBox = [round9(w + s.lon[0] * (e - w)), round9(south - 0.01), round9(w + s.lon[1] * (e - w)), round9(north + 0.01)];
  const llRing = rectRing(lonLat);
  const utmRing = lonLatRingToUtm(densify(llRing, 16), s.epsg);
  const g = sceneGrid(s, utmRing);
  const { vv, vh, mask } = rasters(s, index, g, utmRing, ctx.noise);
  let planted: PlantedNodata | undefined;
  if (plant !== undefined) {
    const p = plantPoint(plant.target, plant.near, g);
    vv[p.pixel[1] * g.width + p.pixel[0]] = S1_NODATA_VALUE;
    planted = { scene: s.key, asset: 'vv', pixel: p.pixel, target: p.target, lonLat: p.lonLat };
  }
  const startMs = Date.parse(s.start);
  const endMs = startMs + 25e3;
  const sat = s.platform === 'SENTINEL-1A' ? 'S1A' : 'S1B';
  const absOrbit = 30000 + (Math.floor(startMs / 86400e3) % 9000);
  const datatake = ((absOrbit * 7919) % 0xfffff).toString(16).toUpperCase().padStart(6, '0');
  const product = `${sat}_IW_GRDH_1SDV_${compact(s.start)}_${compact(new Date(endMs).toISOString())}_${String(absOrbit).padStart(6, '0')}_${datatake}`;
  const id = `${product}_rtc`;
  const d = new Date(startMs);
  const dir = `GRD/${d.getUTCFullYear()}/${d.getUTCMonth() + 1}/${d.getUTCDate()}/IW/DV/${product}_${datatake.slice(0, 4)}/measurement`;
  const assets: Record<string, unknown> = {};
  for (const [pol, data] of [['vh', vh], ['vv', vv]] as const) {
    const bl = blob('sentinel-1-rtc', `${dir}/iw-${pol}.rtc.tiff`);
    await ctx.writeCog(bl, { width: g.width, height: g.height, samples: 1, raster: { dtype: 'float32', data } }, {
      layout: { kind: 'tiles', width: 512, height: 512 },
      nodata: S1_NODATA_VALUE,
      geo: { epsg: s.epsg, transform: geoTransform(g) },
    });
    assets[pol] = {
      href: bl.href,
      type: 'image/tiff; application=geotiff; profile=cloud-optimized',
      roles: ['data'],
      title: pol === 'vv' ? 'VV: vertical transmit, vertical receive' : 'VH: vertical transmit, horizontal receive',
      description: 'Terrain-corrected gamma naught values of signal transmitted with vertical polarization.',
      'raster:bands': [{ nodata: S1_NODATA_VALUE, data_type: 'float32', spatial_resolution: 10, scale: 1, offset: 0 }],
    };
  }
  const geometry = llRing;
  const item = {
    type: 'Feature',
    stac_version: '1.0.0',
    id,
    collection: 'sentinel-1-rtc',
    bbox: bboxOf(geometry),
    geometry: polygon(geometry),
    properties: {
      datetime: iso6((startMs + endMs) / 2),
      start_datetime: iso6(startMs),
      end_datetime: iso6(endMs),
      platform: s.platform,
      constellation: 'Sentinel-1',
      'sar:instrument_mode': 'IW',
      'sar:frequency_band': 'C',
      'sar:center_frequency': 5.405,
      'sar:polarizations': ['VV', 'VH'],
      'sar:product_type': 'GRD',
      'sat:orbit_state': s.orbit,
      'sat:relative_orbit': s.relativeOrbit,
      'sat:absolute_orbit': absOrbit,
      's1:processing_level': '1',
      's1:product_timeliness': 'Fast-24h',
      'proj:epsg': s.epsg,
      'proj:shape': [g.width, g.height],
      'proj:bbox': bboxOf(utmRing).map((v) => Math.round(v * 1000) / 1000),
      'proj:transform': [10, 0, g.x0, 0, -10, g.y0, 0, 0, 1],
    },
    assets,
    links: itemLinks('sentinel-1-rtc', id),
    stac_extensions: [EXTENSIONS.sar, EXTENSIONS.sat, EXTENSIONS.proj, EXTENSIONS.raster],
  };
  return { spec: s, id, item, grid: g, mask, ...(planted === undefined ? {} : { planted }) };
}
