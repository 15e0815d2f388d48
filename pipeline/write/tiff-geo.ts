/**
 * GeoTIFF georeferencing tags (ModelPixelScale + ModelTiepoint or ModelTransformation, GeoKeyDirectory)
 * and GDAL's GDAL_METADATA XML (dataset items, band descriptions, colour interpretation).
 */
import { ClayError } from '../../core/errors.ts';
import { Tag } from './tiff-ifd.ts';
import type { TagValue } from './tiff-ifd.ts';

/**
 * Where the image sits. `transform` is GDAL's geotransform `[x0, dx, rx, y0, ry, dy]` of the top-left
 * corner of pixel (0, 0), in both raster types: `x = x0 + col*dx + row*rx`, `y = y0 + col*ry + row*dy`.
 * With `rasterType: 'point'` (GTRasterTypeGeoKey = RasterPixelIsPoint, as Copernicus DEM COGs) the file
 * stores the centre of pixel (0, 0) as tiepoint; GDAL shifts it back by half a pixel, so `gdalinfo` shows
 * `transform` unchanged.
 */
export interface GeoReference {
  epsg: number;
  /** Defaults: geographic for EPSG 4326/4258/4269, projected otherwise. */
  model?: 'projected' | 'geographic';
  transform: readonly [number, number, number, number, number, number];
  rasterType?: 'area' | 'point';
}

/** GDAL colour interpretation names, as GDAL reads them back from GDAL_METADATA. */
export type ColorInterp = 'Undefined' | 'Gray' | 'Red' | 'Green' | 'Blue' | 'Alpha' | 'Hue' | 'Saturation' | 'Lightness' | 'Cyan' | 'Magenta' | 'Yellow' | 'Black';

/** Per-band metadata written to GDAL_METADATA. */
export interface TiffBandInfo {
  description?: string;
  colorInterp?: ColorInterp;
  /** Band-level metadata items. */
  metadata?: Readonly<Record<string, string>>;
}

const GEOGRAPHIC = new Set([4326, 4258, 4269, 4283, 4674]);

const Key = {
  GTModelType: 1024,
  GTRasterType: 1025,
  GeographicType: 2048,
  GeogAngularUnits: 2054,
  ProjectedCSType: 3072,
  ProjLinearUnits: 3076,
} as const;

/** GeoTIFF tags for a georeference. */
export function buildGeoTags(geo: GeoReference): TagValue[] {
  if (!Number.isInteger(geo.epsg) || geo.epsg <= 0 || geo.epsg > 65535) throw new ClayError('BAD_ARGUMENT', `bad EPSG code ${geo.epsg}`);
  const [x0, dx, rx, y0, ry, dy] = geo.transform;
  if (![x0, dx, rx, y0, ry, dy].every(Number.isFinite) || dx === 0 || dy === 0) {
    throw new ClayError('BAD_ARGUMENT', `bad geotransform ${geo.transform.join(',')}`);
  }
  const point = geo.rasterType === 'point';
  // Pixel-centre origin for PixelIsPoint: the inverse of GDAL's half-pixel shift on read.
  const ox = point ? x0 + 0.5 * dx + 0.5 * rx : x0;
  const oy = point ? y0 + 0.5 * ry + 0.5 * dy : y0;
  const tags: TagValue[] = [];
  if (rx === 0 && ry === 0 && dy < 0) {
    tags.push({ tag: Tag.ModelPixelScale, type: 'double', value: [dx, -dy, 0] });
    tags.push({ tag: Tag.ModelTiepoint, type: 'double', value: [0, 0, 0, ox, oy, 0] });
  } else {
    tags.push({ tag: Tag.ModelTransformation, type: 'double', value: [dx, rx, 0, ox, ry, dy, 0, oy, 0, 0, 0, 0, 0, 0, 0, 1] });
  }
  const geographic = (geo.model ?? (GEOGRAPHIC.has(geo.epsg) ? 'geographic' : 'projected')) === 'geographic';
  const keys: Array<[number, number]> = [
    [Key.GTModelType, geographic ? 2 : 1],
    [Key.GTRasterType, point ? 2 : 1],
  ];
  if (geographic) keys.push([Key.GeographicType, geo.epsg], [Key.GeogAngularUnits, 9102]);
  else keys.push([Key.ProjectedCSType, geo.epsg], [Key.ProjLinearUnits, 9001]);
  const dir = [1, 1, 0, keys.length];
  for (const [k, v] of keys) dir.push(k, 0, 1, v);
  tags.push({ tag: Tag.GeoKeyDirectory, type: 'short', value: dir });
  return tags;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * GDAL_METADATA XML as GDAL writes it: dataset items, then per band (`sample` is 0-based) its items,
 * `DESCRIPTION` (role="description") and `COLORINTERP` (role="colorinterp"). Undefined when empty.
 */
export function gdalMetadataXml(metadata: Readonly<Record<string, string>>, bands: readonly TiffBandInfo[]): string | undefined {
  const items: string[] = [];
  for (const [k, v] of Object.entries(metadata)) items.push(`  <Item name="${escapeXml(k)}">${escapeXml(v)}</Item>`);
  bands.forEach((b, i) => {
    for (const [k, v] of Object.entries(b.metadata ?? {})) items.push(`  <Item name="${escapeXml(k)}" sample="${i}">${escapeXml(v)}</Item>`);
    if (b.description !== undefined) {
      items.push(`  <Item name="DESCRIPTION" sample="${i}" role="description">${escapeXml(b.description)}</Item>`);
    }
    if (b.colorInterp !== undefined) {
      items.push(`  <Item name="COLORINTERP" sample="${i}" role="colorinterp">${b.colorInterp}</Item>`);
    }
  });
  return items.length === 0 ? undefined : `<GDALMetadata>\n${items.join('\n')}\n</GDALMetadata>\n`;
}
