/**
 * The first image file directory of a classic TIFF held in memory, parsed synchronously (so it runs in a
 * worker thread without geotiff.js' async block sources): every tag as numbers or a string, plus the
 * georeferencing (GeoKeys, ModelPixelScale + ModelTiepoint or ModelTransformation) and GDAL's
 * GDAL_METADATA items. Made for whole small files (chips); COGs over HTTP go through `cog.ts`.
 *
 * Anything the bytes do not support (not a TIFF, BigTIFF, a directory or value past the end, no EPSG code)
 * is `ClayError('COG_CORRUPT')` naming `where`.
 */
import { pointToArea, type GeoTransform } from '../../core/grid.ts';
import { ClayError } from '../../core/errors.ts';
import { Tag } from '../write/tiff-ifd.ts';

/** A tag's values: numbers for numeric types (rationals as quotients), a string for ASCII (no trailing NUL). */
export type TiffTagValue = readonly number[] | string;

/** The first IFD of a TIFF. */
export interface TiffIfd {
  readonly littleEndian: boolean;
  readonly tags: ReadonlyMap<number, TiffTagValue>;
}

/** Bytes per value of TIFF field types 1..12 (0 = unknown type). */
const TYPE_SIZE = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8];

/** Parses IFD 0 of a classic TIFF (either byte order). */
export function readTiffIfd(bytes: Uint8Array, where: string): TiffIfd {
  const corrupt = (why: string): ClayError => new ClayError('COG_CORRUPT', `${where}: ${why}`, { input: where });
  if (bytes.length < 8) throw corrupt(`${bytes.length} bytes is too short for a TIFF`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const order = view.getUint16(0, false);
  if (order !== 0x4949 && order !== 0x4d4d) throw corrupt('not a TIFF (no II/MM byte-order mark)');
  const le = order === 0x4949;
  const magic = view.getUint16(2, le);
  if (magic === 43) throw corrupt('BigTIFF is not supported');
  if (magic !== 42) throw corrupt(`not a TIFF (magic ${magic})`);
  const ifd = view.getUint32(4, le);
  if (ifd < 8 || ifd + 2 > bytes.length) throw corrupt(`first IFD at ${ifd} is outside the ${bytes.length}-byte file`);
  const n = view.getUint16(ifd, le);
  if (ifd + 2 + n * 12 > bytes.length) throw corrupt(`the IFD's ${n} entries run past the end of the file`);
  const tags = new Map<number, TiffTagValue>();
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    const tag = view.getUint16(e, le);
    const type = view.getUint16(e + 2, le);
    const count = view.getUint32(e + 4, le);
    const size = TYPE_SIZE[type] ?? 0;
    if (size === 0) continue; // unknown types are skipped, as TIFF readers must
    const total = size * count;
    const at = total <= 4 ? e + 8 : view.getUint32(e + 8, le);
    if (at + total > bytes.length) throw corrupt(`tag ${tag}'s ${count} values at ${at} run past the end of the file`);
    tags.set(tag, type === 2 ? ascii(bytes, at, count) : values(view, type, at, count, le));
  }
  return { littleEndian: le, tags };
}

function ascii(bytes: Uint8Array, at: number, count: number): string {
  let end = at + count;
  while (end > at && bytes[end - 1] === 0) end--;
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, end - at).toString('latin1');
}

function values(view: DataView, type: number, at: number, count: number, le: boolean): number[] {
  const out = new Array<number>(count);
  for (let k = 0; k < count; k++) {
    switch (type) {
      case 1: case 7: out[k] = view.getUint8(at + k); break;
      case 6: out[k] = view.getInt8(at + k); break;
      case 3: out[k] = view.getUint16(at + k * 2, le); break;
      case 8: out[k] = view.getInt16(at + k * 2, le); break;
      case 4: out[k] = view.getUint32(at + k * 4, le); break;
      case 9: out[k] = view.getInt32(at + k * 4, le); break;
      case 5: out[k] = view.getUint32(at + k * 8, le) / view.getUint32(at + k * 8 + 4, le); break;
      case 10: out[k] = view.getInt32(at + k * 8, le) / view.getInt32(at + k * 8 + 4, le); break;
      case 11: out[k] = view.getFloat32(at + k * 4, le); break;
      default: out[k] = view.getFloat64(at + k * 8, le);
    }
  }
  return out;
}

/** The numbers of `tag`, or undefined when absent (or ASCII). */
export function tagNumbers(ifd: TiffIfd, tag: number): readonly number[] | undefined {
  const v = ifd.tags.get(tag);
  return typeof v === 'string' ? undefined : v;
}

/** The first number of `tag`, or `fallback` when absent. */
export function tagNumber(ifd: TiffIfd, tag: number, fallback?: number): number | undefined {
  return tagNumbers(ifd, tag)?.[0] ?? fallback;
}

/** Where a TIFF lies: EPSG code and GDAL geotransform (corner based, PixelIsPoint already shifted). */
export interface TiffGeoreference {
  readonly epsg: number;
  readonly transform: GeoTransform;
  /** True when GTRasterTypeGeoKey said PixelIsPoint (the stored tiepoint was a pixel centre). */
  readonly pixelIsPoint: boolean;
}

const GeoKey = { GTRasterType: 1025, GeographicType: 2048, ProjectedCSType: 3072 } as const;

/**
 * The georeferencing of IFD 0. Like GDAL (GTIFF_POINT_GEO_IGNORE=FALSE), a PixelIsPoint tiepoint is the
 * centre of the first pixel and is moved back half a pixel to the corner convention of `core/grid.ts`.
 */
export function tiffGeoreference(ifd: TiffIfd, where: string): TiffGeoreference {
  const corrupt = (why: string): ClayError => new ClayError('COG_CORRUPT', `${where}: ${why}`, { input: where });
  const dir = tagNumbers(ifd, Tag.GeoKeyDirectory);
  if (dir === undefined || dir.length < 4) throw corrupt('no GeoKeyDirectory (no CRS)');
  const keys = new Map<number, number>();
  for (let i = 0; i < (dir[3] ?? 0); i++) {
    const [id, location, , value] = dir.slice(4 + i * 4, 8 + i * 4);
    // Only keys stored inline (location 0) are integers; the ones read here always are.
    if (id !== undefined && location === 0 && value !== undefined) keys.set(id, value);
  }
  const epsg = keys.get(GeoKey.ProjectedCSType) ?? keys.get(GeoKey.GeographicType);
  if (epsg === undefined || epsg <= 0 || epsg === 32767) throw corrupt('no EPSG code in the GeoKeys (no CRS)');
  const pixelIsPoint = keys.get(GeoKey.GTRasterType) === 2;
  let t: GeoTransform;
  const m = tagNumbers(ifd, Tag.ModelTransformation);
  if (m !== undefined && m.length >= 16) {
    t = [m[3]!, m[0]!, m[1]!, m[7]!, m[4]!, m[5]!];
  } else {
    const tp = tagNumbers(ifd, Tag.ModelTiepoint);
    const s = tagNumbers(ifd, Tag.ModelPixelScale);
    if (tp === undefined || tp.length < 6 || s === undefined || s.length < 2) {
      throw corrupt('no georeferencing (ModelTiepoint + ModelPixelScale or ModelTransformation)');
    }
    t = [tp[3]! - tp[0]! * s[0]!, s[0]!, 0, tp[4]! + tp[1]! * s[1]!, 0, -s[1]!];
  }
  if (!t.every(Number.isFinite) || t[1] * t[5] - t[2] * t[4] === 0) throw corrupt(`degenerate geotransform [${t.join(', ')}]`);
  return { epsg, transform: pixelIsPoint ? pointToArea(t) : t, pixelIsPoint };
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * Dataset-level items of GDAL_METADATA (`<Item name="date">2021-06-15</Item>`); band-level items (those
 * with a `sample` attribute) are left out. Empty when the tag is absent.
 */
export function gdalDatasetMetadata(ifd: TiffIfd): Record<string, string> {
  const xml = ifd.tags.get(Tag.GdalMetadata);
  const out: Record<string, string> = {};
  if (typeof xml !== 'string') return out;
  for (const m of xml.matchAll(/<Item\s+([^>]*)>([^<]*)<\/Item>/g)) {
    const attrs = m[1] ?? '';
    if (/\bsample\s*=/.test(attrs)) continue;
    const name = /\bname\s*=\s*"([^"]*)"/.exec(attrs)?.[1];
    if (name === undefined) continue;
    out[unescapeXml(name)] = unescapeXml(m[2] ?? '');
  }
  return out;
}

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return XML_ENTITIES[e] ?? '';
  });
}
