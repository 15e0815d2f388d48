/** GDAL as the oracle for chip files: `gdalinfo -json`, batched `gdallocationinfo`, `gdaltransform`. */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The parts of `gdalinfo -json` the chip tests read. */
export interface GdalInfo {
  size: [number, number];
  geoTransform: number[];
  coordinateSystem: { wkt: string };
  metadata: Record<string, Record<string, string>>;
  bands: { band: number; block: [number, number]; type: string; description?: string; colorInterpretation: string; noDataValue?: number }[];
}

/** `gdalinfo -json` of a file. */
export async function gdalinfo(path: string): Promise<GdalInfo> {
  const { stdout } = await run('gdalinfo', ['-json', path], { maxBuffer: 1 << 24 });
  return JSON.parse(stdout) as GdalInfo;
}

/** Runs a command with `input` on stdin; resolves with stdout. */
function withStdin(cmd: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
    child.stdin.end(input);
  });
}

/**
 * `gdallocationinfo -valonly` at many points: pixel/line of `path` (`points` are [col, row]), or, with
 * `srs`, georeferenced points in that CRS (`-l_srs srs`; adding `-geoloc` would make GDAL 3.6 ignore that CRS). One array of band values per point
 * (NaN for an empty answer: outside the raster).
 */
export async function locationValues(path: string, points: readonly [number, number][], options: { srs?: string; bands?: number } = {}): Promise<number[][]> {
  const args = ['-valonly', ...(options.srs ? ['-l_srs', options.srs] : []), path];
  const input = points.map(([x, y]) => (options.srs ? `${x} ${y}` : `${Math.floor(x)} ${Math.floor(y)}`)).join('\n') + '\n';
  const lines = (await withStdin('gdallocationinfo', args, input)).split('\n');
  const per = options.bands ?? 1;
  return points.map((_, i) => Array.from({ length: per }, (_, b) => {
    const s = lines[i * per + b]?.trim() ?? '';
    return s === '' ? Number.NaN : s.toLowerCase() === 'nan' ? Number.NaN : Number(s);
  }));
}

/** `gdaltransform` of points from `from` to `to` (EPSG codes). */
export async function gdaltransform(points: readonly [number, number][], from: number, to: number): Promise<[number, number][]> {
  const out = await withStdin('gdaltransform', ['-s_srs', `EPSG:${from}`, '-t_srs', `EPSG:${to}`, '-output_xy'], points.map(([x, y]) => `${x} ${y}`).join('\n') + '\n');
  return out.trim().split('\n').map((l) => {
    const [x, y] = l.trim().split(/\s+/).map(Number);
    return [x!, y!];
  });
}
