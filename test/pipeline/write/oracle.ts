/**
 * Test oracles: GDAL's command-line tools (gdalinfo -json, gdallocationinfo) and a minimal independent
 * TIFF directory walker (to check the file layout without trusting the writer's own code).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The parts of `gdalinfo -json` the tests read. */
export interface GdalInfo {
  size: [number, number];
  geoTransform?: number[];
  metadata: Record<string, Record<string, string>>;
  stac?: { 'proj:epsg'?: number | null };
  coordinateSystem?: { wkt: string };
  bands: Array<{
    band: number;
    block: [number, number];
    type: string;
    description?: string;
    colorInterpretation?: string;
    noDataValue?: number | string;
    overviews?: Array<{ size: [number, number] }>;
    metadata?: Record<string, Record<string, string>>;
  }>;
}

/** True when GDAL's tools are on PATH. */
export function haveGdal(): boolean {
  try {
    execFileSync('gdalinfo', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** `gdalinfo -json` of a file (stderr must be empty: GDAL warnings fail the test). */
export function gdalinfo(path: string, extra: string[] = []): GdalInfo {
  const out = execFileSync('gdalinfo', ['-json', ...extra, path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  return JSON.parse(out) as GdalInfo;
}

/** gdalinfo + its stderr, for asserting that GDAL printed no warning. */
export function gdalWarnings(path: string): string {
  const r = execFileSync('sh', ['-c', `gdalinfo -checksum '${path}' 2>&1 >/dev/null`], { encoding: 'utf8' });
  return r.trim();
}

/** Values of every band at pixel (col, row), read by gdallocationinfo. */
export function gdalValues(path: string, col: number, row: number): number[] {
  const out = execFileSync('gdallocationinfo', ['-valonly', path, String(col), String(row)], { encoding: 'utf8' });
  return out.trim().split('\n').map((s) => Number(s));
}

/** Many points at once: `points` are [col, row]; returns values per point per band. */
export function gdalValuesMany(path: string, points: ReadonlyArray<readonly [number, number]>): number[][] {
  const input = points.map(([c, r]) => `${c} ${r}`).join('\n') + '\n';
  const out = execFileSync('gdallocationinfo', ['-valonly', path], { encoding: 'utf8', input });
  const lines = out.trim().split('\n').map((s) => Number(s));
  const bands = lines.length / points.length;
  return points.map((_, i) => lines.slice(i * bands, (i + 1) * bands));
}

/** One IFD as a map tag -> numeric values (ASCII tags as their string in `ascii`). */
export interface RawIfd {
  offset: number;
  tags: Map<number, number[]>;
  ascii: Map<number, string>;
}

/** Walks a little-endian classic TIFF's IFD chain. */
export function readIfds(path: string): RawIfd[] {
  const buf = readFileSync(path);
  if (buf.readUInt16LE(0) !== 0x4949 || buf.readUInt16LE(2) !== 42) throw new Error('not a little-endian classic TIFF');
  const sizes: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 12: 8 };
  const out: RawIfd[] = [];
  let off = buf.readUInt32LE(4);
  while (off !== 0) {
    const n = buf.readUInt16LE(off);
    const tags = new Map<number, number[]>();
    const ascii = new Map<number, string>();
    for (let i = 0; i < n; i++) {
      const e = off + 2 + i * 12;
      const tag = buf.readUInt16LE(e);
      const type = buf.readUInt16LE(e + 2);
      const count = buf.readUInt32LE(e + 4);
      const size = (sizes[type] ?? 1) * count;
      const at = size <= 4 ? e + 8 : buf.readUInt32LE(e + 8);
      if (type === 2) {
        ascii.set(tag, buf.toString('latin1', at, at + count - 1));
        continue;
      }
      const vals: number[] = [];
      for (let k = 0; k < count; k++) {
        if (type === 3) vals.push(buf.readUInt16LE(at + k * 2));
        else if (type === 4) vals.push(buf.readUInt32LE(at + k * 4));
        else if (type === 12) vals.push(buf.readDoubleLE(at + k * 8));
        else vals.push(buf.readUInt8(at + k));
      }
      tags.set(tag, vals);
    }
    out.push({ offset: off, tags, ascii });
    off = buf.readUInt32LE(off + 2 + n * 12);
  }
  return out;
}
