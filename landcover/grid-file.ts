/**
 * MGRS grid files: FlatGeobuf or GeoJSON (Clay's `mgrs_full.fgb` shape: a name and a polygon per tile) or
 * ESA's Sentinel-2 tiling grid KML (`S2A_OPER_GIP_TILPAR_MPC__...kml`: one Placemark per tile, its `<name>`
 * and a MultiGeometry of Polygons, plus a Point). The name column is `name`, else `Name` (ESA's KML as
 * ogr2ogr writes it, which Clay v0 read), else the one given. Problems are BAD_SAMPLE_FILE naming the file.
 */
import { ClayError } from '../core/errors.ts';
import { polygonalProblem } from '../core/geometry.ts';
import { readInputFile, readVectorFile, type VectorFeature } from '../core/vector-file.ts';
import { asFootprint, type Footprint, type GridTile } from './footprint.ts';

/** A grid file read: its tiles (first of each name), and names seen more than once. */
export interface GridFile {
  tiles: GridTile[];
  duplicates: string[];
}

/** Reads the tiles of a grid file. */
export async function readGridFile(path: string, options: { nameField?: string } = {}): Promise<GridFile> {
  const features = /\.kml$/i.test(path) ? await readKml(path) : await readVectorFile(path, 'BAD_SAMPLE_FILE');
  if (features.length === 0) throw new ClayError('BAD_SAMPLE_FILE', `${path} has no tiles`, { input: path });
  const first = features[0]!.properties;
  const field = options.nameField ?? (typeof first.name === 'string' ? 'name' : typeof first.Name === 'string' ? 'Name' : undefined);
  if (!field) throw new ClayError('BAD_SAMPLE_FILE', `${path} has no 'name' (or 'Name') column: the MGRS tile name (name another with --name-field)`, { input: path });
  const tiles: GridTile[] = [];
  const seen = new Set<string>();
  const duplicates: string[] = [];
  features.forEach((f, i) => {
    const name = f.properties[field];
    if (typeof name !== 'string' || name.trim() === '') throw new ClayError('BAD_SAMPLE_FILE', `${path}: feature ${i} has no '${field}'`, { input: path });
    const footprint = asFootprint(f.geometry);
    if (!footprint) throw new ClayError('BAD_SAMPLE_FILE', `${path}: feature ${i} (${name}): ${polygonalProblem(f.geometry, { lonLat: false }) ?? 'no Polygon or MultiPolygon geometry'}`, { input: path });
    if (seen.has(name)) {
      duplicates.push(name);
      return;
    }
    seen.add(name);
    tiles.push({ name: name.trim(), footprint });
  });
  return { tiles, duplicates };
}

/** The Placemarks of a KML file as features: `name` and a (Multi)Polygon built from its Polygons. */
export async function readKml(path: string): Promise<VectorFeature[]> {
  const text = (await readInputFile(path, 'BAD_SAMPLE_FILE')).toString('utf8');
  if (!/<kml[\s>]/i.test(text)) throw new ClayError('BAD_SAMPLE_FILE', `${path} is not a KML file`, { input: path });
  // A cut file would otherwise read as fewer tiles.
  if (!/<\/kml>\s*$/i.test(text)) throw new ClayError('BAD_SAMPLE_FILE', `${path} does not end with </kml> (truncated?)`, { input: path });
  const out: VectorFeature[] = [];
  for (const pm of text.matchAll(/<Placemark\b[^>]*>([\s\S]*?)<\/Placemark>/g)) {
    const body = pm[1]!;
    const name = /<name>\s*(?:<!\[CDATA\[)?([\s\S]*?)(?:\]\]>)?\s*<\/name>/.exec(body)?.[1]?.trim();
    const polygons: [number, number][][][] = [];
    for (const poly of body.matchAll(/<Polygon\b[^>]*>([\s\S]*?)<\/Polygon>/g)) {
      const rings: [number, number][][] = [];
      const outer = /<outerBoundaryIs>([\s\S]*?)<\/outerBoundaryIs>/.exec(poly[1]!);
      if (!outer) continue;
      rings.push(coordinates(outer[1]!, path));
      for (const inner of poly[1]!.matchAll(/<innerBoundaryIs>([\s\S]*?)<\/innerBoundaryIs>/g)) rings.push(coordinates(inner[1]!, path));
      polygons.push(rings);
    }
    const geometry: Footprint | null = polygons.length === 0 ? null : polygons.length === 1 ? { type: 'Polygon', coordinates: polygons[0]! } : { type: 'MultiPolygon', coordinates: polygons };
    out.push({ geometry, properties: name === undefined ? {} : { name } });
  }
  return out;
}

function coordinates(linearRing: string, path: string): [number, number][] {
  const m = /<coordinates>([\s\S]*?)<\/coordinates>/.exec(linearRing);
  if (!m) throw new ClayError('BAD_SAMPLE_FILE', `${path}: a LinearRing without <coordinates>`, { input: path });
  return m[1]!.trim().split(/\s+/).map((tuple) => {
    const [x, y] = tuple.split(',').map(Number);
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new ClayError('BAD_SAMPLE_FILE', `${path}: bad KML coordinate '${tuple}'`, { input: path });
    return [x!, y!];
  });
}
