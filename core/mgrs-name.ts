/**
 * Sentinel-2 MGRS tile names (`31TGL`): a two-digit UTM zone 01..60, a latitude band C..X and a 100 km
 * square of two letters, I and O never used (rows stop at V). The name becomes a folder and a file name of
 * every chip, so nothing else may pass: `a/b` would nest folders, `..` climb out of the output.
 */

const MGRS_TILE = /^(0[1-9]|[1-5]\d|60)[C-HJ-NP-X][A-HJ-NP-Z][A-HJ-NP-V]$/;

/** True when `name` is a Sentinel-2 MGRS tile name (upper case, as ESA and Clay v0 write them). */
export function isMgrsTileName(name: string): boolean {
  return MGRS_TILE.test(name);
}
