/**
 * WGS 84 / UTM north (EPSG:326zz) forward and inverse, Krüger's series to n^4 (sub-millimetre within a
 * zone). The generator uses its own projection math so the pipeline's proj4 path is checked against an
 * independent implementation, and the generator needs no GDAL.
 */

const A_AXIS = 6378137;
const F = 1 / 298.257223563;
const K0 = 0.9996;
const E0 = 500000;
const N = F / (2 - F);
const N2 = N * N;
const N3 = N2 * N;
const N4 = N3 * N;
const A = (A_AXIS / (1 + N)) * (1 + N2 / 4 + N4 / 64);
const ALPHA = [N / 2 - (2 * N2) / 3 + (5 * N3) / 16 + (41 * N4) / 180, (13 * N2) / 48 - (3 * N3) / 5 + (557 * N4) / 1440, (61 * N3) / 240 - (103 * N4) / 140, (49561 * N4) / 161280];
const BETA = [N / 2 - (2 * N2) / 3 + (37 * N3) / 96 - N4 / 360, N2 / 48 + N3 / 15 - (437 * N4) / 1440, (17 * N3) / 480 - (37 * N4) / 840, (4397 * N4) / 161280];
const DELTA = [2 * N - (2 * N2) / 3 - 2 * N3 + (116 * N4) / 45, (7 * N2) / 3 - (8 * N3) / 5 - (227 * N4) / 45, (56 * N3) / 15 - (136 * N4) / 35, (4279 * N4) / 630];
const E2N = (2 * Math.sqrt(N)) / (1 + N);
const RAD = Math.PI / 180;

/** Central meridian of a UTM zone, degrees. */
function centralMeridian(zone: number): number {
  return zone * 6 - 183;
}

/** The UTM zone (1..60) of a northern-hemisphere EPSG code 326zz. */
export function zoneOf(epsg: number): number {
  const zone = epsg - 32600;
  if (zone < 1 || zone > 60) throw new Error(`not a WGS 84 / UTM north EPSG code: ${epsg}`);
  return zone;
}

/** lon/lat (degrees) -> easting/northing (metres) in UTM north `zone`. */
export function toUtm(lon: number, lat: number, zone: number): [number, number] {
  const phi = lat * RAD;
  const lam = (lon - centralMeridian(zone)) * RAD;
  const s = Math.sin(phi);
  const t = Math.sinh(Math.atanh(s) - E2N * Math.atanh(E2N * s));
  const xi = Math.atan2(t, Math.cos(lam));
  const eta = Math.atanh(Math.sin(lam) / Math.sqrt(1 + t * t));
  let x = eta;
  let y = xi;
  ALPHA.forEach((a, i) => {
    const j = 2 * (i + 1);
    x += a * Math.cos(j * xi) * Math.sinh(j * eta);
    y += a * Math.sin(j * xi) * Math.cosh(j * eta);
  });
  return [E0 + K0 * A * x, K0 * A * y];
}

/** Easting/northing (metres) in UTM north `zone` -> lon/lat (degrees). */
export function fromUtm(e: number, n: number, zone: number): [number, number] {
  const xi = n / (K0 * A);
  const eta = (e - E0) / (K0 * A);
  let xp = xi;
  let ep = eta;
  BETA.forEach((b, i) => {
    const j = 2 * (i + 1);
    xp -= b * Math.sin(j * xi) * Math.cosh(j * eta);
    ep -= b * Math.cos(j * xi) * Math.sinh(j * eta);
  });
  const chi = Math.asin(Math.sin(xp) / Math.cosh(ep));
  let phi = chi;
  DELTA.forEach((d, i) => {
    phi += d * Math.sin(2 * (i + 1) * chi);
  });
  const lam = Math.atan2(Math.sinh(ep), Math.cos(xp));
  return [centralMeridian(zone) + lam / RAD, phi / RAD];
}
