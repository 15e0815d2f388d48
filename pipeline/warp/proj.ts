/**
 * Coordinate reference systems: the only file that imports proj4. The pipeline needs WGS 84 / UTM north
 * and south (EPSG:326xx, 327xx) and geographic WGS 84 (EPSG:4326, x = longitude, y = latitude, as GDAL's
 * geotransforms use them); they are defined here from their parameters, without any network lookup.
 */
import proj4 from 'proj4';
import { ClayError } from '../../core/errors.ts';

/** Maps a point of one CRS to another; returns NaN coordinates when the point has no image. */
export interface PointTransform {
  readonly fromEpsg: number;
  readonly toEpsg: number;
  /** True when both CRSs are the same (the transform is the identity). */
  readonly identity: boolean;
  /** Transforms (x, y) into `out` ([x', y']). */
  apply(x: number, y: number, out: [number, number]): void;
}

/** The proj4 definition string of a supported EPSG code, or a BAD_ARGUMENT error. */
export function projDefinition(epsg: number): string {
  if (epsg === 4326) return '+proj=longlat +datum=WGS84 +no_defs';
  const zone = epsg % 100;
  if (zone >= 1 && zone <= 60) {
    if (epsg - zone === 32600) return `+proj=utm +zone=${zone} +datum=WGS84 +units=m +no_defs`;
    if (epsg - zone === 32700) return `+proj=utm +zone=${zone} +south +datum=WGS84 +units=m +no_defs`;
  }
  throw new ClayError('BAD_ARGUMENT', `unsupported CRS EPSG:${epsg} (supported: 4326, 32601-32660, 32701-32760)`, { input: `EPSG:${epsg}` });
}

/** True when `epsg` is one of the supported codes. */
export function isSupportedEpsg(epsg: number): boolean {
  try {
    projDefinition(epsg);
    return true;
  } catch {
    return false;
  }
}

/** The exact transform from `fromEpsg` to `toEpsg` (proj4, per point). */
export function pointTransform(fromEpsg: number, toEpsg: number): PointTransform {
  if (fromEpsg === toEpsg) {
    projDefinition(fromEpsg);
    return {
      fromEpsg, toEpsg, identity: true,
      apply(x, y, out) {
        out[0] = x;
        out[1] = y;
      },
    };
  }
  const converter = proj4(projDefinition(fromEpsg), projDefinition(toEpsg));
  const point: [number, number] = [0, 0];
  return {
    fromEpsg, toEpsg, identity: false,
    apply(x, y, out) {
      point[0] = x;
      point[1] = y;
      let r: number[];
      try {
        r = converter.forward(point);
      } catch {
        r = [Number.NaN, Number.NaN];
      }
      const rx = r[0] ?? Number.NaN;
      const ry = r[1] ?? Number.NaN;
      const ok = Number.isFinite(rx) && Number.isFinite(ry);
      out[0] = ok ? rx : Number.NaN;
      out[1] = ok ? ry : Number.NaN;
    },
  };
}
