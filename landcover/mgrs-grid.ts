/**
 * The Sentinel-2 tiling grid computed, so that no grid file is needed: MGRS 100 km squares per UTM zone and
 * latitude band, each extended to ESA's 109.8 km tile.
 *
 * ESA's tile of a square (checked against ESA's grid: 31TCK's upper-left corner is (300000, 5000040) in
 * EPSG:32631): the upper-left corner is the square's upper-left corner snapped outward to the 60 m grid
 * (easting down, northing up to a multiple of 60 m), and the tile extends 109 800 m east and south from
 * there, so it overlaps its eastern and southern neighbours by 9.8 km. (The "from the lower-left
 * corner" does not give 31TCK; the upper-left rule does.)
 *
 * Names are MGRS: zone, latitude band (C..X, 8 deg, X 12 deg), column letter (sets A-H, J-R, S-Z by zone
 * mod 3; 100 km easting index 1..8), row letter (A..V without I and O, cycling every 2 000 km of northing,
 * shifted by 5 in even zones). A square exists in every band it intersects (MGRS splits squares at band
 * lines, so the same square can appear under two band letters), and only inside its zone, with Norway's
 * (32V) and Svalbard's (31X..37X) zone exceptions. Bands C..X: 80 deg S to 84 deg N, like ESA's grid.
 * Footprints are the four corners in lon/lat (straight edges, as ESA's KML), split at the antimeridian.
 */
import { ClayError } from '../core/errors.ts';
import { intersects, type GeoJsonGeometry } from '../core/geometry.ts';
import { pointTransform, type PointTransform } from '../pipeline/warp/proj.ts';
import { footprintBbox, type Footprint, type GridTile } from './footprint.ts';

/** Side of a Sentinel-2 tile in metres. */
export const S2_TILE_SIZE = 109_800;
/** The MGRS square side in metres. */
const SQUARE = 100_000;
const BANDS = 'CDEFGHJKLMNPQRSTUVWX';
const ROWS = 'ABCDEFGHJKLMNPQRSTUV';
const COLUMN_SETS = ['STUVWXYZ', 'ABCDEFGH', 'JKLMNPQR'] as const;

/** A computed tile: MGRS name, UTM EPSG code, upper-left corner in that CRS, and the lon/lat footprint. */
export interface ComputedTile extends GridTile {
  epsg: number;
  /** Upper-left corner (easting, northing) of the 109.8 km tile. */
  ulx: number;
  uly: number;
}

/** A latitude band's south and north edges in degrees. */
export function bandLatitudes(band: string): [number, number] {
  const i = BANDS.indexOf(band);
  if (i < 0 || band.length !== 1) throw new ClayError('BAD_ARGUMENT', `'${band}' is not an MGRS latitude band (C..X)`, { input: band });
  const south = -80 + 8 * i;
  return [south, band === 'X' ? 84 : south + 8];
}

/** The longitude range of UTM zone `zone` within band `band` (Norway and Svalbard exceptions), or undefined where the zone does not exist. */
export function zoneLongitudes(zone: number, band: string): [number, number] | undefined {
  const west = -180 + 6 * (zone - 1);
  if (band === 'V') {
    if (zone === 31) return [0, 3];
    if (zone === 32) return [3, 12];
  }
  if (band === 'X') {
    if (zone === 32 || zone === 34 || zone === 36) return undefined;
    if (zone === 31) return [0, 9];
    if (zone === 33) return [9, 21];
    if (zone === 35) return [21, 33];
    if (zone === 37) return [33, 42];
  }
  return [west, west + 6];
}

/** The 100 km square letters of (easting, northing) in `zone` (MGRS, WGS 84 lettering). */
export function squareLetters(zone: number, easting: number, northing: number): string {
  const col = Math.floor(easting / SQUARE);
  if (col < 1 || col > 8) throw new RangeError(`easting ${easting} is outside MGRS columns 1..8`);
  const set = COLUMN_SETS[zone % 3]!;
  const row = (((Math.floor(northing / SQUARE) + (zone % 2 === 0 ? 5 : 0)) % 20) + 20) % 20;
  return `${set[col - 1]!}${ROWS[row]!}`;
}

/** EPSG code of UTM `zone` in the band's hemisphere. */
export function utmEpsg(zone: number, band: string): number {
  return (band >= 'N' ? 32600 : 32700) + zone;
}

/** The upper-left corner of the Sentinel-2 tile of the square whose lower-left corner is (e, n). */
export function tileCorner(e: number, n: number): [number, number] {
  return [Math.floor(e / 60) * 60, Math.ceil((n + SQUARE) / 60) * 60];
}

/** Options of `computeGrid`. */
export interface GridOptions {
  /** Only tiles whose footprint intersects this geometry (lon/lat), besides the bbox test. */
  within?: GeoJsonGeometry;
}

/**
 * Every Sentinel-2 tile whose footprint intersects `bbox` [west, south, east, north] (degrees; west > east
 * crosses the antimeridian), sorted by name. Each has a UTM corner and a lon/lat footprint.
 */
export function computeGrid(bbox: readonly [number, number, number, number], options: GridOptions = {}): ComputedTile[] {
  const [w, s, e, n] = bbox;
  if (![w, s, e, n].every(Number.isFinite) || s >= n || s < -90 || n > 90 || w < -180 || e > 180 || w === e) {
    throw new ClayError('BAD_ARGUMENT', `bbox must be west,south,east,north in degrees with south < north, got ${bbox.join(',')}`, { input: 'bbox' });
  }
  const boxes: [number, number, number, number][] = w < e ? [[w, s, e, n]] : [[w, s, 180, n], [-180, s, e, n]];
  const out = new Map<string, ComputedTile>();
  const aoi: GeoJsonGeometry = boxes.length === 1
    ? boxPolygon(boxes[0]!)
    : { type: 'MultiPolygon', coordinates: boxes.map((b) => boxPolygon(b).coordinates) };
  for (const [bw, bs, be, bn] of boxes) {
    for (let bi = 0; bi < BANDS.length; bi++) {
      const band = BANDS[bi]!;
      const [lat0, lat1] = bandLatitudes(band);
      if (lat1 < bs - 1 || lat0 > bn + 1) continue; // tiles reach < 1 deg beyond their band
      for (let zone = 1; zone <= 60; zone++) {
        const lons = zoneLongitudes(zone, band);
        if (!lons) continue;
        const margin = Math.min(180, 1.5 / Math.cos((Math.min(89, Math.max(Math.abs(lat0), Math.abs(lat1))) * Math.PI) / 180));
        if (!lonRangesMeet(lons, [bw - margin, be + margin])) continue;
        for (const tile of zoneBandTiles(zone, band, lons, [lat0, lat1])) {
          if (out.has(tile.name)) continue;
          if (!intersects(tile.footprint, aoi)) continue;
          if (options.within && !intersects(tile.footprint, options.within)) continue;
          out.set(tile.name, tile);
        }
      }
    }
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function lonRangesMeet(a: [number, number], b: [number, number]): boolean {
  return a[0] <= b[1] && b[0] <= a[1];
}

function boxPolygon([w, s, e, n]: [number, number, number, number]): Extract<GeoJsonGeometry, { type: 'Polygon' }> {
  return { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}

const zoneCache = new Map<string, ComputedTile[]>();

/** Every tile of one zone x band cell (memoised: a world grid visits each cell once per bbox part). */
function zoneBandTiles(zone: number, band: string, lons: [number, number], lats: [number, number]): ComputedTile[] {
  const key = `${zone}${band}`;
  const hit = zoneCache.get(key);
  if (hit) return hit;
  const epsg = utmEpsg(zone, band);
  const toUtm = pointTransform(4326, epsg);
  const toLonLat = pointTransform(epsg, 4326);
  const cell: GeoJsonGeometry = boxPolygon([lons[0], lats[0], lons[1], lats[1]]);
  // The cell's UTM extent: extremes of easting and northing lie on its boundary.
  let minE = Infinity, maxE = -Infinity, minN = Infinity, maxN = -Infinity;
  const p: [number, number] = [0, 0];
  for (let k = 0; k <= 64; k++) {
    const t = k / 64;
    for (const [lon, lat] of [[lons[0] + t * (lons[1] - lons[0]), lats[0]], [lons[0] + t * (lons[1] - lons[0]), lats[1]], [lons[0], lats[0] + t * (lats[1] - lats[0])], [lons[1], lats[0] + t * (lats[1] - lats[0])]] as const) {
      toUtm.apply(lon, Math.max(-89.9, Math.min(89.9, lat)), p);
      minE = Math.min(minE, p[0]); maxE = Math.max(maxE, p[0]);
      minN = Math.min(minN, p[1]); maxN = Math.max(maxN, p[1]);
    }
  }
  const tiles: ComputedTile[] = [];
  const cm = -183 + 6 * zone;
  for (let e0 = Math.max(1, Math.floor(minE / SQUARE)) * SQUARE; e0 < maxE && e0 < 9 * SQUARE; e0 += SQUARE) {
    for (let n0 = Math.floor(minN / SQUARE) * SQUARE; n0 < maxN; n0 += SQUARE) {
      const square = ringToLonLat(toLonLat, [[e0, n0], [e0 + SQUARE, n0], [e0 + SQUARE, n0 + SQUARE], [e0, n0 + SQUARE]], cm, 8);
      if (!square || !intersects(square, cell)) continue;
      const [ulx, uly] = tileCorner(e0, n0);
      const footprint = ringToLonLat(toLonLat, [[ulx, uly - S2_TILE_SIZE], [ulx + S2_TILE_SIZE, uly - S2_TILE_SIZE], [ulx + S2_TILE_SIZE, uly], [ulx, uly]], cm, 1);
      if (!footprint) continue;
      tiles.push({ name: `${String(zone).padStart(2, '0')}${band}${squareLetters(zone, e0, n0)}`, epsg, ulx, uly, footprint });
    }
  }
  zoneCache.set(key, tiles);
  return tiles;
}

/**
 * A UTM ring (corners, counter-clockwise, open) as a lon/lat footprint: `densify` points per edge, longitudes
 * unwrapped around the central meridian `cm`, split at +-180 into a MultiPolygon when it crosses.
 */
function ringToLonLat(t: PointTransform, corners: [number, number][], cm: number, densify: number): Footprint | undefined {
  const ring: [number, number][] = [];
  const p: [number, number] = [0, 0];
  for (let i = 0; i < corners.length; i++) {
    const [x0, y0] = corners[i]!;
    const [x1, y1] = corners[(i + 1) % corners.length]!;
    for (let k = 0; k < densify; k++) {
      t.apply(x0 + ((x1 - x0) * k) / densify, y0 + ((y1 - y0) * k) / densify, p);
      if (!Number.isFinite(p[0]) || !Number.isFinite(p[1])) return undefined;
      let lon = p[0];
      while (lon - cm > 180) lon -= 360;
      while (lon - cm < -180) lon += 360;
      ring.push([lon, p[1]]);
    }
  }
  ring.push([...ring[0]!]);
  const [w, , e] = footprintBbox({ type: 'Polygon', coordinates: [ring] });
  if (w >= -180 && e <= 180) return { type: 'Polygon', coordinates: [ring] };
  const shift = e > 180 ? -360 : 360;
  const inside = clipLon(ring, shift < 0 ? 'below' : 'above', shift < 0 ? 180 : -180);
  const outside = clipLon(ring, shift < 0 ? 'above' : 'below', shift < 0 ? 180 : -180).map(([x, y]): [number, number] => [x + shift, y]);
  const parts = [inside, outside].filter((r) => r.length >= 4);
  if (parts.length === 1) return { type: 'Polygon', coordinates: [parts[0]!] };
  return { type: 'MultiPolygon', coordinates: parts.map((r) => [r]) };
}

/** Sutherland-Hodgman clip of a closed ring to lon <= x ('below') or lon >= x ('above'); closed result. */
function clipLon(ring: [number, number][], keep: 'below' | 'above', x: number): [number, number][] {
  const inside = (q: [number, number]): boolean => (keep === 'below' ? q[0] <= x : q[0] >= x);
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < ring.length; i++) {
    const a = ring[i]!;
    const b = ring[i + 1]!;
    if (inside(a)) out.push(a);
    if (inside(a) !== inside(b)) {
      const t = (x - a[0]) / (b[0] - a[0]);
      out.push([x, a[1] + t * (b[1] - a[1])]);
    }
  }
  if (out.length > 0) out.push([...out[0]!]);
  return out;
}
