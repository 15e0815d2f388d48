/**
 * The chip index: one GeoParquet row per candidate chip of a tile-date, kept or rejected, with the figures
 * behind the filter so users can re-filter with other thresholds in DuckDB or GeoPandas. Beyond Clay v0,
 * which kept no record of rejected chips.
 *
 * Columns, all flat (no structs), in this order:
 * - `path` utf8: key of the chip file under the output root (for a rejected chip, where it would have been)
 * - `mgrs` utf8, `date` utf8 (YYYY-MM-DD, sorts as text), `chip` int32 (1-based, row-major from top-left)
 * - `kept` bool, `reasons` list<utf8> (every failing rule: `cloud`, `b02_nodata`, `s1_nodata`, `dem_nodata`)
 * - `epsg` int32 (the tile's UTM CRS)
 * - `window_col`, `window_row`, `window_width`, `window_height` int32 (pixels of the tile's 10 m grid)
 * - `minx`, `miny`, `maxx`, `maxy` float64 (chip bounds in EPSG:`epsg`, metres)
 * - `s2_item` utf8, `s1_items` list<utf8>, `dem_items` list<utf8> (STAC item ids the chip was made from)
 * - `cloud_share` float64 (share of pixels whose SCL is in {0, 1, 3, 8, 9, 10}; v0 rejects at >= 0.3)
 * - `scl_0` .. `scl_11` float64 (share of pixels per SCL class)
 * - `nodata_b02`, `nodata_vh`, `nodata_vv`, `nodata_dem` float64 (share of nodata pixels per band)
 * - `geometry` WKB Polygon, the chip footprint in lon/lat (OGC:CRS84)
 * File metadata (Parquet key-value, in this order): the GeoParquet `geo` key and `clay:chip_index_version`.
 */
import { ClayError } from '../../core/errors.ts';
import { columnReader, readGeoParquet, writeGeoParquet, type Column } from '../../core/geoparquet.ts';
import type { RejectReason } from '../chip/quality.ts';

/** Why a chip was rejected (the chip filter's union). */
export type { RejectReason };

const REASONS: readonly string[] = ['cloud', 'b02_nodata', 's1_nodata', 'dem_nodata'] satisfies RejectReason[];

function isRejectReason(r: string): r is RejectReason {
  return REASONS.includes(r);
}

/** One candidate chip of a tile-date. */
export interface ChipIndexRow {
  /** Key of the chip file relative to the output root (for rejected chips: where it would have been). */
  path: string;
  mgrs: string;
  /** Acquisition date, YYYY-MM-DD. */
  date: string;
  /** 1-based position of the chip in the tile, counted whether kept or not. */
  chip: number;
  kept: boolean;
  /** Every failing rule; empty when kept. */
  reasons: RejectReason[];
  /** EPSG code of the tile CRS. */
  epsg: number;
  /** The chip's pixels in the tile's 10 m grid. */
  window: { col: number; row: number; width: number; height: number };
  /** minx, miny, maxx, maxy in EPSG:epsg. */
  bounds: [number, number, number, number];
  /** Closed ring of [lon, lat] (EPSG:4326). */
  footprint: [number, number][];
  s2Item: string;
  s1Items: string[];
  demItems: string[];
  /** Share of the chip's pixels in SCL classes {0, 1, 3, 8, 9, 10}. */
  cloudShare: number;
  /** Share of pixels per SCL class 0..11 (length 12). */
  sclShares: number[];
  /** Share of nodata pixels: B02 == 0, NaN in vh, vv, dem. */
  nodataShares: { b02: number; vh: number; vv: number; dem: number };
}

/** The file metadata key holding the index format version. */
export const CHIP_INDEX_VERSION_KEY = 'clay:chip_index_version';
/** The index format version this module writes and reads. */
export const CHIP_INDEX_VERSION = '1';

const SCL_CLASSES = 12;
const NODATA_BANDS = ['b02', 'vh', 'vv', 'dem'] as const;

/** Every column name, in file order (the geometry last). */
export const CHIP_INDEX_COLUMNS: readonly string[] = [
  'path', 'mgrs', 'date', 'chip', 'kept', 'reasons', 'epsg',
  'window_col', 'window_row', 'window_width', 'window_height', 'minx', 'miny', 'maxx', 'maxy',
  's2_item', 's1_items', 'dem_items', 'cloud_share',
  ...Array.from({ length: SCL_CLASSES }, (_, c) => `scl_${c}`),
  ...NODATA_BANDS.map((b) => `nodata_${b}`),
  'geometry',
];

function checkRow(r: ChipIndexRow, i: number): void {
  const bad = (what: string): ClayError => new ClayError('BAD_ARGUMENT', `chip index row ${i} (${r.path}): ${what}`, { input: r.path });
  if (r.path === '') throw bad('empty path');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(r.date)) throw bad(`date '${r.date}' is not YYYY-MM-DD`);
  if (!Number.isInteger(r.chip) || r.chip < 1) throw bad(`chip ${r.chip} is not a 1-based number`);
  if (r.sclShares.length !== SCL_CLASSES) throw bad(`sclShares has ${r.sclShares.length} values, not ${SCL_CLASSES}`);
  if (r.bounds.length !== 4) throw bad('bounds needs 4 numbers');
  if (r.kept !== (r.reasons.length === 0)) throw bad('kept must be true exactly when there are no reasons');
}

/** The rows as GeoParquet columns. */
function toColumns(rows: readonly ChipIndexRow[]): Column[] {
  const int = (name: string, f: (r: ChipIndexRow) => number): Column => ({ name, type: 'int32', values: rows.map(f) });
  const float = (name: string, f: (r: ChipIndexRow) => number): Column => ({ name, type: 'float64', values: rows.map(f) });
  const text = (name: string, f: (r: ChipIndexRow) => string): Column => ({ name, type: 'utf8', values: rows.map(f) });
  const list = (name: string, f: (r: ChipIndexRow) => readonly string[]): Column => ({ name, type: 'list<utf8>', values: rows.map(f) });
  return [
    text('path', (r) => r.path),
    text('mgrs', (r) => r.mgrs),
    text('date', (r) => r.date),
    int('chip', (r) => r.chip),
    { name: 'kept', type: 'bool', values: rows.map((r) => r.kept) },
    list('reasons', (r) => r.reasons),
    int('epsg', (r) => r.epsg),
    int('window_col', (r) => r.window.col),
    int('window_row', (r) => r.window.row),
    int('window_width', (r) => r.window.width),
    int('window_height', (r) => r.window.height),
    ...(['minx', 'miny', 'maxx', 'maxy'] as const).map((name, k) => float(name, (r) => r.bounds[k]!)),
    text('s2_item', (r) => r.s2Item),
    list('s1_items', (r) => r.s1Items),
    list('dem_items', (r) => r.demItems),
    float('cloud_share', (r) => r.cloudShare),
    ...Array.from({ length: SCL_CLASSES }, (_, c) => float(`scl_${c}`, (r) => r.sclShares[c]!)),
    ...NODATA_BANDS.map((b) => float(`nodata_${b}`, (r) => r.nodataShares[b])),
  ];
}

/**
 * The chip index of these rows as GeoParquet bytes (snappy: small either way, and readable by every
 * Parquet reader, hyparquet included, without codec plugins). Rows are written in the given order.
 * BAD_ARGUMENT for a malformed row (date, chip number, 12 SCL shares, kept vs reasons, open footprint).
 */
export function writeChipIndex(rows: readonly ChipIndexRow[]): Uint8Array {
  rows.forEach(checkRow);
  return writeGeoParquet(
    { columns: toColumns(rows), geometry: { name: 'geometry', polygons: rows.map((r) => [r.footprint]) } },
    { compression: 'snappy', metadata: { [CHIP_INDEX_VERSION_KEY]: CHIP_INDEX_VERSION } },
  );
}

/**
 * The rows of a chip index written by writeChipIndex, in file order: an exact round trip. IO, naming
 * `name`, for bytes that are not a chip index of this version.
 */
export async function readChipIndex(bytes: Uint8Array, name?: string): Promise<ChipIndexRow[]> {
  const label = name ?? 'chip index';
  const fail = (message: string): ClayError => new ClayError('IO', `${label}: ${message}`, { input: name });
  const file = await readGeoParquet(bytes, name === undefined ? {} : { name });
  const version = file.metadata[CHIP_INDEX_VERSION_KEY];
  if (version !== CHIP_INDEX_VERSION) throw fail(`${CHIP_INDEX_VERSION_KEY} is ${version ?? 'missing'}, this reader reads ${CHIP_INDEX_VERSION}`);
  const { text, float, int, bool, list } = columnReader(file, fail);
  const [path, mgrs, date, s2Item] = ['path', 'mgrs', 'date', 's2_item'].map(text);
  const [chip, epsg, col, row, width, height] = ['chip', 'epsg', 'window_col', 'window_row', 'window_width', 'window_height'].map(int);
  const [minx, miny, maxx, maxy, cloud] = ['minx', 'miny', 'maxx', 'maxy', 'cloud_share'].map(float);
  const scl = Array.from({ length: SCL_CLASSES }, (_, c) => float(`scl_${c}`));
  const [b02, vh, vv, dem] = NODATA_BANDS.map((b) => float(`nodata_${b}`));
  const kept = bool('kept');
  const [reasons, s1Items, demItems] = ['reasons', 's1_items', 'dem_items'].map(list);
  return file.geometry.polygons.map((rings, i): ChipIndexRow => {
    const at = <T>(a: readonly T[] | undefined): T => a![i]!;
    const why = at(reasons).map((r) => {
      if (!isRejectReason(r)) throw fail(`row ${i} has an unknown reject reason '${r}'`);
      return r;
    });
    if (rings.length !== 1) throw fail(`row ${i}: the footprint has ${rings.length} rings, not 1`);
    return {
      path: at(path), mgrs: at(mgrs), date: at(date), chip: at(chip), kept: at(kept), reasons: why, epsg: at(epsg),
      window: { col: at(col), row: at(row), width: at(width), height: at(height) },
      bounds: [at(minx), at(miny), at(maxx), at(maxy)],
      footprint: rings[0]!,
      s2Item: at(s2Item), s1Items: [...at(s1Items)], demItems: [...at(demItems)],
      cloudShare: at(cloud),
      sclShares: scl.map((s) => s[i]!),
      nodataShares: { b02: at(b02), vh: at(vh), vv: at(vv), dem: at(dem) },
    };
  });
}

/** Orders rows by mgrs, then date, then chip number (plain code-unit comparison, not locale). */
export function compareChipRows(a: ChipIndexRow, b: ChipIndexRow): number {
  if (a.mgrs !== b.mgrs) return a.mgrs < b.mgrs ? -1 : 1;
  if (a.date !== b.date) return a.date < b.date ? -1 : 1;
  return a.chip - b.chip;
}

/**
 * One chip index holding the rows of every part (e.g. one per job), sorted by mgrs, date, chip. IO when a
 * part is not a chip index (named `part N`, 0-based); BAD_ARGUMENT when two rows share mgrs, date and chip,
 * since parts of one run never overlap and a duplicate means a unit was indexed twice.
 */
export async function mergeChipIndexes(parts: readonly Uint8Array[]): Promise<Uint8Array> {
  const rows: ChipIndexRow[] = [];
  for (const [i, bytes] of parts.entries()) rows.push(...(await readChipIndex(bytes, `part ${i}`)));
  rows.sort(compareChipRows);
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [rows[i - 1]!, rows[i]!];
    if (compareChipRows(a, b) === 0) throw new ClayError('BAD_ARGUMENT', `chip ${b.chip} of ${b.mgrs} ${b.date} is in more than one part`, { input: b.path });
  }
  return writeChipIndex(rows);
}
