/**
 * The design of the bundled miniature Planetary Computer: grids, items and the cases each one exists
 * for. Pure data; the other spec modules turn it into rasters and STAC JSON. `README.md` explains it.
 */
import type { Grid } from './geometry.ts';

/** Row 0 (`31TGL`): the miniature tile, 2580 x 2100 px at 10 m = 5 x 4 full 512 px chips. */
export const ROW0: Grid = { epsg: 32631, x0: 720000, y0: 5071000, res: 10, width: 2580, height: 2100 };
/** Row 2 (`31TGK`): the "20th attempt" tile, 540 x 540 px at 10 m (1 chip; 540 keeps the 60 m grid whole). */
export const ROW2: Grid = { epsg: 32631, x0: 722000, y0: 5041000, res: 10, width: 540, height: 540 };
/** Row 1 (`01KAB`): a footprint in the open Pacific, lon/lat, where nothing exists. */
export const ROW1_BBOX: [number, number, number, number] = [-177.2, -20.2, -177.0, -20.0];

/** Sample rows: name and grid (row 1 has none). */
export const ROWS = [
  { index: 0, name: '31TGL', grid: ROW0 },
  { index: 1, name: '01KAB', grid: undefined },
  { index: 2, name: '31TGK', grid: ROW2 },
] as const;

/** A cloud patch: `sclPixels` SCL (20 m) pixels of cloudy classes inside one chip (4 target pixels each). */
export interface CloudPatch {
  chip: number;
  sclPixels: number;
}

/** A Sentinel-2 L2A item of the design. */
export interface S2Spec {
  key: string;
  row: 0 | 2;
  datetime: string;
  platform: 'Sentinel-2A' | 'Sentinel-2B';
  relativeOrbit: number;
  cloud: number;
  nodataPct: number;
  baseline: string;
  /** Reflectance multiplier (season). */
  season: number;
  /** Partial swath: valid where the pixel centre is west of the line from column `top` (first row's top
   * edge) to column `bottom` (last row's bottom edge), in 10 m pixel units. */
  swath?: { top: number; bottom: number };
  clouds?: CloudPatch[];
  /** 10 m pixels [col, row] where B02 alone is 0. */
  b02Zero?: Array<[number, number]>;
  /** Write `proj:code` instead of `proj:epsg`. */
  projCode?: boolean;
  /** Use the blob files of another item (same grid). */
  blobsOf?: string;
  /** Why the item exists. */
  role: string;
}

const T = 'T10:30:21.024000Z';

/** Row 0 items. Year order for index 0: 2021, 2019, 2018, 2017, 2022, 2020, 2023. */
const ROW0_S2: S2Spec[] = [
  { key: 'A', row: 0, datetime: `2021-04-20${T}`, platform: 'Sentinel-2B', relativeOrbit: 108, cloud: 5, nodataPct: 0.61, baseline: '03.00', season: 0.94, role: 'passes the filters but has no Sentinel-1 within its window: attempt 0 of 2021 moves on' },
  {
    key: 'B', row: 0, datetime: `2021-06-15${T}`, platform: 'Sentinel-2A', relativeOrbit: 108, cloud: 12, nodataPct: 0.42, baseline: '03.00', season: 1.0,
    clouds: [{ chip: 1, sclPixels: 19660 }, { chip: 2, sclPixels: 19661 }, { chip: 13, sclPixels: 6000 }],
    b02Zero: [[1300, 200]],
    role: 'chosen date 1 (attempt 1 of 2021); carries the chip filter cases',
  },
  { key: 'DEC31', row: 0, datetime: '2021-12-31T10:40:11.024000Z', platform: 'Sentinel-2B', relativeOrbit: 8, cloud: 0.5, nodataPct: 0.2, baseline: '03.01', season: 0.8, role: 'trap: after midnight on Dec 31, outside pgstac interval 2021-01-01/2021-12-31; has Sentinel-1 coverage' },
  { key: 'F2019C', row: 0, datetime: `2019-05-12${T}`, platform: 'Sentinel-2B', relativeOrbit: 108, cloud: 72, nodataPct: 0.3, baseline: '02.12', season: 0.97, role: 'filtered: eo:cloud_cover 72 > 50' },
  { key: 'F2019N', row: 0, datetime: '2019-07-21T10:40:11.024000Z', platform: 'Sentinel-2A', relativeOrbit: 8, cloud: 4, nodataPct: 35, baseline: '02.13', season: 1.02, swath: { top: 1500, bottom: 1620 }, role: 'filtered: s2:nodata_pixel_percentage 35 > 20' },
  { key: 'P2017', row: 0, datetime: `2017-08-10${T}`, platform: 'Sentinel-2A', relativeOrbit: 108, cloud: 8, nodataPct: 15, baseline: '02.05', season: 1.05, swath: { top: 1900, bottom: 2030 }, role: 'chosen date 2: partial swath, all bands 0 east of a slanted edge' },
  { key: 'BL2022', row: 0, datetime: `2022-07-05${T}`, platform: 'Sentinel-2B', relativeOrbit: 108, cloud: 3, nodataPct: 0.12, baseline: '04.00', season: 1.03, clouds: [{ chip: 8, sclPixels: 8000 }], projCode: true, role: 'chosen date 3: processing baseline 04.00 (+1000 BOA offset); item uses proj:code' },
];

/** Row 2's 2019 items: cloud 1..20 on dates 10 days apart in a shuffled order; only cloud 20 has S1. */
const ROW2_2019: S2Spec[] = Array.from({ length: 20 }, (_, k) => {
  const day = new Date(Date.UTC(2019, 1, 5) + ((k * 7) % 20) * 10 * 86400e3).toISOString().slice(0, 10);
  return {
    key: `R2_${String(k).padStart(2, '0')}`, row: 2, datetime: `${day}${T}`, platform: k % 2 === 0 ? 'Sentinel-2A' : 'Sentinel-2B',
    relativeOrbit: 108, cloud: k + 1, nodataPct: 0.5, baseline: '02.12', season: 0.95 + k * 0.005, blobsOf: k === 0 ? undefined : 'R2_00',
    role: k === 19 ? 'row 2: the 20th attempt (index 19), the only 2019 item with Sentinel-1: chosen by default, discarded by --compat clay-v0' : 'row 2: 2019 candidate without Sentinel-1',
  } satisfies S2Spec;
});

/** Every Sentinel-2 item of the universe. */
export const S2_ITEMS: S2Spec[] = [
  ...ROW0_S2,
  ...ROW2_2019,
  { key: 'R2_2020', row: 2, datetime: `2020-06-09${T}`, platform: 'Sentinel-2A', relativeOrbit: 108, cloud: 4, nodataPct: 0.4, baseline: '02.14', season: 1.0, role: 'row 2: a 2020 date chosen in both modes' },
];

/** A Sentinel-1 RTC scene: footprint = a lon/lat rectangle over fractions of an S2 item's bbox. */
export interface S1Spec {
  key: string;
  /** The S2 item whose bbox the footprint is laid over. */
  over: string;
  start: string;
  orbit: 'ascending' | 'descending';
  relativeOrbit: number;
  platform: 'SENTINEL-1A' | 'SENTINEL-1B';
  epsg: number;
  /** West and east edges as fractions of the bbox width (latitude: bbox +- 0.01 deg). */
  lon: [number, number];
  /** Sub-pixel origin offset (m) of the scene's own 10 m grid. */
  offset: [number, number];
  role: string;
}

/** Every Sentinel-1 RTC scene. */
export const S1_SCENES: S1Spec[] = [
  { key: 'D1', over: 'B', start: '2021-06-12T05:50:00Z', orbit: 'descending', relativeOrbit: 139, platform: 'SENTINEL-1A', epsg: 32631, lon: [-0.03, 0.65], offset: [3.7, 6.1], role: 'descending, 65 % overlap, inside the window though > 72 h before' },
  { key: 'A1', over: 'B', start: '2021-06-16T17:30:00Z', orbit: 'ascending', relativeOrbit: 88, platform: 'SENTINEL-1B', epsg: 32631, lon: [0.4, 1.03], offset: [1.3, 8.9], role: 'ascending, 60 % overlap: excluded by the orbit rule' },
  { key: 'D2', over: 'B', start: '2021-06-13T05:42:00Z', orbit: 'descending', relativeOrbit: 37, platform: 'SENTINEL-1B', epsg: 32632, lon: [0.45, 1.03], offset: [7.2, 2.4], role: 'descending, UTM zone 32, 55 % overlap; D1 + D2 cover the bbox; carries the vv nodata pixel of chip 4' },
  { key: 'D3', over: 'B', start: '2021-06-14T05:45:00Z', orbit: 'descending', relativeOrbit: 66, platform: 'SENTINEL-1A', epsg: 32631, lon: [0.25, 0.65], offset: [5.5, 4.4], role: 'descending, 40 % middle strip: taken only by --compat clay-v0' },
  { key: 'X', over: 'B', start: '2021-06-18T05:40:00Z', orbit: 'descending', relativeOrbit: 139, platform: 'SENTINEL-1A', epsg: 32631, lon: [-0.03, 1.03], offset: [2.2, 9.6], role: 'covers 100 % but starts after 2021-06-18T00:00Z: outside the window (a symmetric +-72 h window would take it)' },
  { key: 'S2017', over: 'P2017', start: '2017-08-11T17:35:00Z', orbit: 'ascending', relativeOrbit: 88, platform: 'SENTINEL-1B', epsg: 32631, lon: [-0.03, 1.03], offset: [8.8, 0.7], role: 'covers the 2017 date' },
  { key: 'S2022', over: 'BL2022', start: '2022-07-04T05:48:00Z', orbit: 'descending', relativeOrbit: 139, platform: 'SENTINEL-1A', epsg: 32631, lon: [-0.03, 1.03], offset: [4.1, 3.3], role: 'covers the 2022 date' },
  { key: 'SDEC31', over: 'DEC31', start: '2021-12-30T05:45:00Z', orbit: 'descending', relativeOrbit: 139, platform: 'SENTINEL-1A', epsg: 32631, lon: [-0.03, 1.03], offset: [6.6, 5.8], role: 'covers the Dec 31 trap item' },
  { key: 'SF19C', over: 'F2019C', start: '2019-05-13T05:50:00Z', orbit: 'descending', relativeOrbit: 139, platform: 'SENTINEL-1B', epsg: 32631, lon: [-0.03, 0.3], offset: [5.0, 5.0], role: 'trap: makes the cloud-filtered 2019 item selectable if the eo:cloud_cover filter is missing' },
  { key: 'SF19N', over: 'F2019N', start: '2019-07-20T17:35:00Z', orbit: 'ascending', relativeOrbit: 88, platform: 'SENTINEL-1A', epsg: 32631, lon: [-0.03, 0.3], offset: [2.5, 7.5], role: 'trap: makes the nodata-filtered 2019 item selectable if the s2:nodata_pixel_percentage filter is missing' },
  { key: 'R2S19', over: 'R2_19', start: '2019-06-16T05:50:00Z', orbit: 'descending', relativeOrbit: 139, platform: 'SENTINEL-1A', epsg: 32631, lon: [-0.1, 1.1], offset: [3.1, 7.7], role: 'row 2: the only scene in any 2019 window (that of the cloud-20 item)' },
  { key: 'R2S20', over: 'R2_2020', start: '2020-06-10T17:35:00Z', orbit: 'ascending', relativeOrbit: 88, platform: 'SENTINEL-1B', epsg: 32631, lon: [-0.1, 1.1], offset: [0.9, 2.6], role: 'row 2: covers the 2020 date' },
];

/** Where chip 4's Sentinel-1 nodata goes: scene D2's vv, near this 10 m pixel of row 0 (col, row). */
export const S1_NODATA = { scene: 'D2', asset: 'vv', chip: 4, near: [1955, 255] as [number, number] };
/** Where chip 5's DEM NaN goes: the DEM pixel under this 10 m pixel of row 0 (col, row). */
export const DEM_NAN = { chip: 5, near: [2303, 255] as [number, number] };

/** Copernicus DEM miniature tiles: pixel-centre lon/lat of the first pixel, size; 1/3600 deg pixels. */
export const DEM_TILES = [
  { id: 'Copernicus_DSM_COG_10_N45_00_E005_00_DEM', lon0: 5.75, lat0: 45.8, cols: 900, rows: 1440 },
  { id: 'Copernicus_DSM_COG_10_N45_00_E006_00_DEM', lon0: 6.0, lat0: 45.8, cols: 900, rows: 1440 },
] as const;

/** ESA WorldCover miniature tiles: top-left corner, size; 1/12000 deg pixels. */
export const WORLDCOVER_TILES = [
  { id: 'ESA_WorldCover_10m_2021_v200_N45E003', tile: 'N45E003', lon0: 5.78, lat0: 45.8, cols: 2640, rows: 4800 },
  { id: 'ESA_WorldCover_10m_2021_v200_N45E006', tile: 'N45E006', lon0: 6.0, lat0: 45.8, cols: 2400, rows: 4800 },
] as const;
