/**
 * Sentinel-2 L2A items: 12 reflectance COGs (uint16, nodata 0, at 10/20/60 m) and SCL (uint8, 20 m)
 * on the row's UTM grid, plus the PC-shaped STAC item. Also measures, from the rasters it wrote, what
 * the chip filters will see (cloudy SCL pixels and B02 zeros per 512 px chip).
 */
import { geoTransform, gridBounds, polygon, projTransform, rectRing, utmRingToLonLat, bboxOf } from './geometry.ts';
import type { Grid, Ring } from './geometry.ts';
import type { GenContext } from './context.ts';
import { classMap, noiseAt, reflectance, S2_BANDS, SCL_OF_CLASS, texture } from './landscape.ts';
import { blob, EXTENSIONS, itemLinks } from './stac.ts';
import type { Blob } from './stac.ts';
import type { S2Spec } from './universe.ts';

/** SCL classes the chip filter counts as cloudy (0 nodata, 1 saturated, 3 shadow, 8/9 cloud, 10 cirrus). */
export const CLOUDY_SCL = [0, 1, 3, 8, 9, 10] as const;
const CLOUDY = new Uint8Array(256);
for (const c of CLOUDY_SCL) CLOUDY[c] = 1;

/** What the chip filters see in one 512 px chip of an item, measured from its rasters. */
export interface ChipStats {
  chip: number;
  /** Target (10 m) pixels whose SCL (nearest from 20 m: 4 per SCL pixel) is cloudy. */
  cloudyPixels: number;
  /** 10 m pixels where B02 = 0. */
  b02Zeros: number;
}

/** Result of generating one S2 item. */
export interface S2Result {
  spec: S2Spec;
  id: string;
  item: Record<string, unknown>;
  bbox: [number, number, number, number];
  chips: ChipStats[];
}

const compact = (iso: string): string => iso.slice(0, 19).replace(/[-:]/g, '');
const sub = (g: Grid, res: number): Grid => ({ ...g, res, width: (g.width * g.res) / res, height: (g.height * g.res) / res });
const classCache = new Map<string, Uint8Array>();

function classesFor(g: Grid): Uint8Array {
  const k = `${g.epsg}:${g.x0}:${g.y0}:${g.res}:${g.width}:${g.height}`;
  let m = classCache.get(k);
  if (m === undefined) {
    m = classMap(g, 7);
    classCache.set(k, m);
  }
  return m;
}

/** Number of valid pixels at the start of row j of a grid (the rest is east of the swath edge). */
type ValidCols = (j: number, g: Grid) => number;

/** The swath edge as a UTM x for a y, or +Infinity when the item is not a partial swath. */
function edgeX(s: S2Spec, g: Grid): (y: number) => number {
  const sw = s.swath;
  if (sw === undefined) return () => Infinity;
  const top = g.x0 + sw.top * g.res;
  const bottom = g.x0 + sw.bottom * g.res;
  const h = g.height * g.res;
  return (y) => top + ((bottom - top) * (g.y0 - y)) / h;
}

/** The valid-data footprint in UTM (counter-clockwise). */
function footprint(s: S2Spec, g: Grid): Ring {
  const [x0, y0, x1, y1] = gridBounds(g);
  if (s.swath === undefined) return rectRing([x0, y0, x1, y1]);
  const e = edgeX(s, g);
  return [
    [x0, y0],
    [e(y0), y0],
    [e(y1), y1],
    [x0, y1],
  ];
}

function sclRaster(s: S2Spec, g20: Grid, validCols: ValidCols): Uint8Array {
  const cls = classesFor(g20);
  const scl = new Uint8Array(cls.length);
  for (let p = 0; p < cls.length; p++) scl[p] = SCL_OF_CLASS[cls[p] as number] ?? 0;
  const perRow = (g20.width - (g20.width % 256)) / 256;
  for (const patch of s.clouds ?? []) {
    // Row-major fill from row 40 of the chip's 256 x 256 SCL window, cycling through every cloudy class.
    const c0 = ((patch.chip - 1) % perRow) * 256;
    const r0 = Math.floor((patch.chip - 1) / perRow) * 256 + 40;
    for (let k = 0; k < patch.sclPixels; k++) {
      scl[(r0 + Math.floor(k / 256)) * g20.width + c0 + (k % 256)] = CLOUDY_SCL[Math.floor(k / 41) % CLOUDY_SCL.length] ?? 0;
    }
  }
  for (let j = 0; j < g20.height; j++) scl.fill(0, j * g20.width + validCols(j, g20), (j + 1) * g20.width);
  return scl;
}

function bandRaster(s: S2Spec, b: number, g: Grid, g20: Grid, scl: Uint8Array, validCols: ValidCols, noise: boolean): Uint16Array {
  const cls = classesFor(g);
  const out = new Uint16Array(g.width * g.height);
  const base = Array.from({ length: 7 }, (_, c) => Math.round(reflectance(c, b) * s.season));
  const offset = s.baseline >= '04.00' ? 1000 : 0;
  const ratio = g.res / g20.res;
  for (let j = 0; j < g.height; j++) {
    const sj = Math.floor((j + 0.5) * ratio) * g20.width;
    const cols = validCols(j, g);
    for (let i = 0; i < cols; i++) {
      const p = j * g.width + i;
      let v = (base[cls[p] as number] ?? 0) + texture(i, j);
      // Reflectance noise: 30 DN + 3 % of the signal (1 sigma), never 0 (nodata).
      if (noise) v = Math.max(1, Math.round(v + noiseAt(i, j, b) * (30 + 0.03 * v)));
      const c = scl[sj + Math.floor((i + 0.5) * ratio)] as number;
      if (c >= 8 && c <= 10) v += 2000 + 1000 * (c - 8);
      else if (c === 3) v = Math.max(1, v >> 1);
      out[p] = v + offset;
    }
  }
  if (S2_BANDS[b]?.name === 'B02') for (const [i, j] of s.b02Zero ?? []) out[j * g.width + i] = 0;
  return out;
}

function chipStats(g: Grid, b02: Uint16Array, scl: Uint8Array, g20: Grid): ChipStats[] {
  const out: ChipStats[] = [];
  const cols = Math.floor(g.width / 512);
  const rows = Math.floor(g.height / 512);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      let cloudy = 0;
      for (let j = r * 256; j < r * 256 + 256; j++) for (let i = c * 256; i < c * 256 + 256; i++) cloudy += CLOUDY[scl[j * g20.width + i] as number] as number;
      let zeros = 0;
      for (let j = r * 512; j < r * 512 + 512; j++) for (let i = c * 512; i < c * 512 + 512; i++) if (b02[j * g.width + i] === 0) zeros++;
      out.push({ chip: r * cols + c + 1, cloudyPixels: cloudy * 4, b02Zeros: zeros });
    }
  }
  return out;
}

/** Names of an item: id, product, blob path prefix. */
function names(s: S2Spec, mgrs: string): { id: string; prefix: string; safe: string; stamp: string } {
  const stamp = compact(s.datetime);
  const gen = compact(new Date(Date.parse(s.datetime) + 52631e3).toISOString());
  const sat = s.platform === 'Sentinel-2A' ? 'S2A' : 'S2B';
  const rel = `R${String(s.relativeOrbit).padStart(3, '0')}`;
  const id = `${sat}_MSIL2A_${stamp}_${rel}_T${mgrs}_${gen}`;
  const safe = `${sat}_MSIL2A_${stamp}_N${s.baseline.replace('.', '')}_${rel}_T${mgrs}_${gen}.SAFE`;
  const abs = String(20000 + (Math.floor(Date.parse(s.datetime) / 86400e3) % 9000)).padStart(6, '0');
  const d = s.datetime;
  const prefix = `${mgrs.slice(0, 2)}/${mgrs[2]}/${mgrs.slice(3)}/${d.slice(0, 4)}/${d.slice(5, 7)}/${d.slice(8, 10)}/${safe}/GRANULE/L2A_T${mgrs}_A${abs}_${stamp}/IMG_DATA`;
  return { id, prefix, safe, stamp };
}

function bandBlob(prefix: string, mgrs: string, stamp: string, band: string, res: number): Blob {
  return blob('sentinel-2-l2a', `${prefix}/R${res}m/T${mgrs}_${stamp}_${band}_${res}m.tif`);
}

/** Generates one S2 item (its COGs unless it shares another item's) and returns its STAC item. */
export async function makeS2Item(ctx: GenContext, s: S2Spec, g: Grid, mgrs: string, shared: S2Spec | undefined): Promise<S2Result> {
  const n = names(s, mgrs);
  const files = names(shared ?? s, mgrs);
  // Pixels come from the item whose blobs are used (a sharing item has the same pixels by design).
  const src = shared ?? s;
  const g20 = sub(g, 20);
  const edge = edgeX(src, g);
  // Pixel i of row j is valid when its centre is west of the swath edge: i + 0.5 < (edge - x0) / res.
  const validCols: ValidCols = (j, gg) => {
    const e = (edge(gg.y0 - (j + 0.5) * gg.res) - gg.x0) / gg.res - 0.5;
    return e === Infinity ? gg.width : Math.min(gg.width, Math.max(0, Math.ceil(e)));
  };
  const scl = sclRaster(src, g20, validCols);
  const assets: Record<string, unknown> = {};
  let b02: Uint16Array = new Uint16Array(0);
  const assetOf = (name: string, res: number, bl: Blob, gg: Grid, dtype: string, title: string, extra: Record<string, unknown>): void => {
    assets[name] = {
      href: bl.href,
      'proj:bbox': gridBounds(gg),
      'proj:shape': [gg.height, gg.width],
      'proj:transform': projTransform(gg, false),
      gsd: res,
      type: 'image/tiff; application=geotiff; profile=cloud-optimized',
      roles: ['data'],
      title,
      ...extra,
      'raster:bands': [{ nodata: 0, data_type: dtype, spatial_resolution: res }],
    };
  };
  for (let b = 0; b < S2_BANDS.length; b++) {
    const band = S2_BANDS[b];
    if (band === undefined) continue;
    const gg = sub(g, band.res);
    const bl = bandBlob(files.prefix, mgrs, files.stamp, band.name, band.res);
    if (!ctx.has(bl) || band.name === 'B02') {
      const data = bandRaster(src, b, gg, g20, scl, validCols, ctx.noise);
      if (band.name === 'B02') b02 = data;
      await ctx.writeCog(bl, { width: gg.width, height: gg.height, samples: 1, raster: { dtype: 'uint16', data } }, {
        layout: { kind: 'tiles', width: 512, height: 512 },
        predictor: 'horizontal',
        nodata: 0,
        geo: { epsg: g.epsg, transform: geoTransform(gg) },
      });
    }
    const eo = { name: band.name, description: band.title, center_wavelength: band.wl, ...(band.common === undefined ? {} : { common_name: band.common }) };
    assetOf(band.name, band.res, bl, gg, 'uint16', `${band.title} - ${band.res}m`, { 'eo:bands': [eo] });
  }
  const sclBlob = bandBlob(files.prefix, mgrs, files.stamp, 'SCL', 20);
  await ctx.writeCog(sclBlob, { width: g20.width, height: g20.height, samples: 1, raster: { dtype: 'uint8', data: scl } }, {
    layout: { kind: 'tiles', width: 512, height: 512 },
    predictor: 'horizontal',
    nodata: 0,
    geo: { epsg: g.epsg, transform: geoTransform(g20) },
  });
  assetOf('SCL', 20, sclBlob, g20, 'uint8', 'Scene classification map (SCL)', {});
  const ring = utmRingToLonLat(footprint(src, g), g.epsg);
  const bbox = bboxOf(ring);
  const properties: Record<string, unknown> = {
    datetime: s.datetime,
    platform: s.platform,
    constellation: 'Sentinel 2',
    instruments: ['msi'],
    ...(s.projCode === true ? { 'proj:code': `EPSG:${g.epsg}` } : { 'proj:epsg': g.epsg }),
    'eo:cloud_cover': s.cloud,
    's2:mgrs_tile': mgrs,
    's2:product_type': 'S2MSI2A',
    's2:processing_baseline': s.baseline,
    's2:nodata_pixel_percentage': s.nodataPct,
    's2:generation_time': `${new Date(Date.parse(s.datetime) + 52631e3).toISOString().slice(0, 19)}.000000Z`,
    's2:product_uri': n.safe,
    's2:datatake_type': 'INS-NOBS',
    'sat:orbit_state': 'descending',
    'sat:relative_orbit': s.relativeOrbit,
  };
  const item = {
    type: 'Feature',
    stac_version: '1.0.0',
    id: n.id,
    collection: 'sentinel-2-l2a',
    bbox,
    geometry: polygon(ring),
    properties,
    assets,
    links: itemLinks('sentinel-2-l2a', n.id),
    stac_extensions: [EXTENSIONS.eo, EXTENSIONS.sat, s.projCode === true ? 'https://stac-extensions.github.io/projection/v2.0.0/schema.json' : EXTENSIONS.proj, EXTENSIONS.raster],
  };
  return { spec: s, id: n.id, item, bbox, chips: chipStats(g, b02, scl, g20) };
}
