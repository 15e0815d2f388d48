/**
 * Chip index rows for tests: a tile of 31TCJ-like geometry (EPSG:32631, origin 300000 / 4900020, 10 m),
 * chips numbered row-major over 21 columns of 512 px, a lon/lat footprint from a made-up linear mapping
 * (the index does not care how footprints were projected), kept and rejected chips with every field used.
 */
import type { ChipIndexRow, RejectReason } from '../../../pipeline/index/chip-index.ts';

/** `count` rows of one tile-date, chips `first`, `first + 1`, ... */
export function chipRows(count: number, options: { mgrs?: string; date?: string; first?: number } = {}): ChipIndexRow[] {
  const mgrs = options.mgrs ?? '31TCJ';
  const date = options.date ?? '2021-06-14';
  const first = options.first ?? 1;
  return Array.from({ length: count }, (_, k) => {
    const chip = first + k;
    const col = ((chip - 1) % 21) * 512;
    const row = Math.floor((chip - 1) / 21) * 512;
    const minx = 300000 + col * 10;
    const maxy = 4900020 - row * 10;
    const bounds: [number, number, number, number] = [minx, maxy - 5120, minx + 5120, maxy];
    const lon = (x: number): number => 0.5 + (x - 300000) / 80000 + 0.1 + 0.2; // 0.1 + 0.2: not a short decimal
    const lat = (y: number): number => 44 + (y - 4800000) / 111000;
    const footprint: [number, number][] = [
      [lon(bounds[0]), lat(bounds[1])], [lon(bounds[2]), lat(bounds[1])], [lon(bounds[2]), lat(bounds[3])],
      [lon(bounds[0]), lat(bounds[3])], [lon(bounds[0]), lat(bounds[1])],
    ];
    const cloudy = (chip * 7919) % 262144;
    const reasons: RejectReason[] = [];
    if (chip % 5 === 0) reasons.push('b02_nodata');
    if (chip % 7 === 0) reasons.push('s1_nodata');
    if (chip % 11 === 0) reasons.push('dem_nodata');
    if (chip % 3 === 0) reasons.push('cloud');
    const sclShares = Array.from({ length: 12 }, (_, c) => ((chip + c) % 12) / 66);
    const dateTag = date.replaceAll('-', '');
    return {
      path: `v02/${mgrs}/${date}/claytile_${mgrs}_${dateTag}_v02_${String(chip).padStart(4, '0')}.tif`,
      mgrs, date, chip,
      kept: reasons.length === 0,
      reasons,
      epsg: 32631,
      window: { col, row, width: 512, height: 512 },
      bounds,
      footprint,
      s2Item: `S2B_MSIL2A_${dateTag}T104619_R051_T${mgrs}_20210614T134213`,
      s1Items: chip % 7 === 0 ? [] : chip % 2 === 0 ? ['S1A_IW_GRDH_1SDV_20210613T055045_0'] : ['S1A_IW_GRDH_1SDV_20210613T055045_0', 'S1A_IW_GRDH_1SDV_20210613T055110_1'],
      demItems: ['Copernicus_DSM_COG_10_N44_00_E000_00_DEM', 'Copernicus_DSM_COG_10_N44_00_E001_00_DEM'].slice(0, 1 + (chip % 2)),
      cloudShare: cloudy / 262144,
      sclShares,
      nodataShares: { b02: chip % 5 === 0 ? 1 / 262144 : 0, vh: chip % 7 === 0 ? 0.25 : 0, vv: chip % 7 === 0 ? 1 / 3 : 0, dem: chip % 11 === 0 ? 0.5 : 0 },
    };
  });
}
