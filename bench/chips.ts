/**
 * Chip benchmark: the whole main job (`runIndex`) for one bundled sample row (default row 0, 31TGL:
 * 3 dates, 60 candidate chips, 47 kept), against the mini Planetary Computer on 127.0.0.1, into a local
 * folder. Prints chips/s, MB read, MB written, CPU seconds, peak RSS and where the time went; then, in the
 * same run, the same kept chips made by a GDAL script: per date, `gdalwarp` of each of the 14 layers (13
 * bands + SCL, nearest, local files) onto the tile grid, `gdalbuildvrt -separate`, and `gdal_translate
 * -srcwin ... -co COMPRESS=DEFLATE` per kept chip (Clay v0's file layout: 512 x 1 strips, no predictor).
 * Prints the ratios (time, CPU, output size) and compares every pixel of the two sets of chips.
 *
 *   node --import tsx bench/chips.ts [--index 0] [--level 6] [--rows-per-strip 16] [--inflight 2] [--cache-mb N] [--source-cache-mb N] [--compat] [--no-gdal] [--noisy] [--repeat 1] [--v0 DIR | --no-v0] [--v0-python python3]
 *
 * `--noisy`: the same design with per-pixel sensor noise on every band (S2 noise, S1 speckle, DEM roughness),
 * generated once into .bench/noisy-universe (about 600 MB): pixels that compress like real ones.
 *
 * Clay v0 in the same run: its own `scripts/datacube.py`, unchanged (`bench/v0/run_datacube.py` points it
 * at the loopback STAC API and turns its closing `aws s3 sync` into a copy to a folder), as its own
 * process, after each of our runs (`--repeat N` pairs; medians). `--v0 DIR` (default .bench/v0-env) holds
 * v0's scripts/ and, in site/, the packages it pins (see `v0Setup`). Printed: both jobs' wall, CPU seconds,
 * peak RSS, blob bytes read (as the server counted them) and chips, and our ratios to v0; and the time to
 * write the run's chip indexes and merge them into the row index.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { windowBounds, type Grid } from '../core/grid.ts';
import { loadUniverse, type Universe } from '../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../core/mini-pc/server.ts';
import { openStore } from '../core/store/open-store.ts';
import { unitPrefix } from '../pipeline/chip/chip-file.ts';
import { MANIFEST_NAME, parseManifest, type UnitManifest } from '../pipeline/chip/manifest.ts';
import { mergeChipIndexes, readChipIndex, writeChipIndex } from '../pipeline/index/chip-index.ts';
import type { RunSummary } from '../cli/commands/run.ts';
import { generateSamples } from '../data-samples/generate.ts';
import { BUNDLED_DIR } from '../test/helpers/bundled.ts';
import { localFile } from '../test/pipeline/warp/oracle.ts';

const run = promisify(execFile);
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const index = Number(arg('index', '0'));
const compat = process.argv.includes('--compat');
const encoding = {
  ...(process.argv.includes('--level') ? { level: Number(arg('level', '6')) } : {}),
  ...(process.argv.includes('--rows-per-strip') ? { rowsPerStrip: Number(arg('rows-per-strip', '16')) } : {}),
};
const inflight = Number(arg('inflight', '2'));
// The caches as `clay run` sizes them unless given (so the bench runs the job its users run).
const cacheArgs = ['cache-mb', 'source-cache-mb'].flatMap((name) => (process.argv.includes(`--${name}`) ? [`--${name}`, String(Number(arg(name, '0')))] : []));
const mb = (b: number): string => (b / 1e6).toFixed(1);

const out = await mkdtemp(join(tmpdir(), 'bench-chips-'));
const noisy = process.argv.includes('--noisy');
const universeDir = noisy ? fileURLToPath(new URL('../.bench/noisy-universe/', import.meta.url)) : BUNDLED_DIR;
if (noisy) await generateSamples({ out: universeDir.replace(/\/$/, ''), noise: true });
const repeat = Math.max(1, Number(arg('repeat', '1')));
const v0 = process.argv.includes('--no-v0') ? undefined : await v0Setup(arg('v0', fileURLToPath(new URL('../.bench/v0-env/', import.meta.url))), arg('v0-python', '/usr/bin/python3'));
const universe = await loadUniverse(universeDir);
const pc = await startMiniPc({ universe });
// Clay v0 signs only `*.blob.core.windows.net` hrefs and the loopback ones are not: its server serves blobs
// without tokens. v0 reads `proj:epsg` only; an item that says `proj:code` (as newer PC items do) also gets
// `proj:epsg` there, or v0 would stop on it (our job reads both).
const v0pc = v0 ? await startMiniPc({ universe: withProjEpsg(universe), requireToken: false }) : undefined;
try {
  const ours: JobFigures[] = [];
  const theirs: JobFigures[] = [];
  let first: OurRun | undefined;
  for (let i = 0; i < repeat; i++) {
    const r = await runOurs(join(out, `ours-${i}`));
    first ??= r;
    ours.push(r.figures);
    if (v0 && v0pc) theirs.push(await runV0(v0, v0pc, join(out, `v0-${i}`)));
  }
  const { summary, manifests, kept, candidates, chipBytes } = first!;
  const result = summary.rows[0]!;
  const sum = (f: (m: UnitManifest) => number): number => manifests.reduce((n, m) => n + f(m), 0);
  const o = medianFigures(ours);
  console.log(`row ${index} (${result.mgrs})${noisy ? ', noisy pixels' : ''}${compat ? ', --compat clay-v0' : ''}: ${result.units.length} dates, ${candidates} candidate chips, ${kept} kept; encoding ${JSON.stringify(manifests[0]?.settings.encoding)}, ${inflight} chips in flight; ${repeat} paired run${repeat > 1 ? 's, medians' : ''}`);
  console.log(`ours (clay run, its own process): ${o.wallS.toFixed(2)} s wall (process start included), ${(kept / o.wallS).toFixed(2)} kept chips/s (${(candidates / o.wallS).toFixed(2)} candidates/s); CPU ${o.cpuS.toFixed(2)} s; peak RSS ${o.rssMb.toFixed(0)} MB`);
  console.log(`     read ${mb(o.bytesRead)} MB in ${o.requests} blob requests (${summary.http.rereads} of them re-reads, ${mb(summary.http.rereadBytes)} MB); wrote ${mb(chipBytes)} MB of chips (${kept} files, ${mb(chipBytes / Math.max(1, kept))} MB each), ${mb(summary.bytesWritten)} MB in all (chip indexes and manifests included)`);
  console.log(`     time summed over the chips in flight: stack (read + decode + warp + filter) ${(sum((m) => m.run.stackMs) / 1000).toFixed(2)} s, encode ${(sum((m) => m.run.encodeMs) / 1000).toFixed(2)} s, store ${(sum((m) => m.run.storeMs) / 1000).toFixed(2)} s; units ${manifests.map((m) => `${m.date} ${(m.run.ms / 1000).toFixed(2)} s`).join(', ')}`);
  console.log(`     ${await indexWriteFigures(join(out, 'ours-0'), manifests)}`);
  if (theirs.length > 0) {
    const t = medianFigures(theirs);
    console.log(`Clay v0 (its scripts/datacube.py, same mini Planetary Computer, its own process): ${t.wallS.toFixed(2)} s wall, ${(t.chips / t.wallS).toFixed(2)} kept chips/s; CPU ${t.cpuS.toFixed(2)} s; peak RSS ${t.rssMb.toFixed(0)} MB; read ${mb(t.bytesRead)} MB in ${t.requests} blob requests; wrote ${t.chips} chips, ${mb(t.bytesWritten)} MB`);
    if (t.chips !== kept) console.log(`     NOTE: Clay v0 kept ${t.chips} chips, ours ${kept}: the ratios below compare different work`);
    console.log(`ratio to Clay v0 (medians): wall ${(t.wallS / o.wallS).toFixed(2)}x faster; CPU ${(o.cpuS / t.cpuS).toFixed(2)}x v0's; peak RSS ${(o.rssMb / t.rssMb).toFixed(2)}x; bytes read ${(o.bytesRead / t.bytesRead).toFixed(2)}x; chip bytes ${(chipBytes / t.bytesWritten).toFixed(2)}x`);
  }
  const jobOut = join(out, 'ours-0');

  if (!process.argv.includes('--no-gdal')) {
    const gdalDir = join(out, 'gdal');
    let wall = 0, gdalCpuS = 0, peakKb = 0, gdalBytes = 0, compared = 0, mismatches = 0;
    const byBand: Record<string, number> = {};
    const bandNames = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12', 'vh', 'vv', 'dem'];
    const timed = async (cmd: string, args: string[]): Promise<void> => {
      const { stderr } = await run('/usr/bin/time', ['-f', 'TIME %e %U %S %M', cmd, ...args], { maxBuffer: 1 << 24 });
      const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
      if (!m) throw new Error(`no timing from ${cmd}: ${stderr}`);
      gdalCpuS += Number(m[2]) + Number(m[3]);
      peakKb = Math.max(peakKb, Number(m[4]));
    };
    const g0 = performance.now();
    for (const m of manifests) {
      const d = m.plan;
      const grid: Grid = { epsg: d.grid.epsg, transform: d.grid.transform, width: d.chips.columns * d.chips.size, height: d.chips.rows * d.chips.size };
      const b = windowBounds(grid);
      const dir = join(gdalDir, m.date);
      await run('mkdir', ['-p', dir]);
      const layers: [string, string[], string[]][] = [
        ...['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12', 'SCL'].map((k): [string, string[], string[]] => [k, [d.s2.hrefs[k]!], ['-ot', 'UInt16']]),
        ['vh', d.s1.scenes.map((s) => s.hrefs.vh ?? s.hrefs.hv!), ['-ot', 'Float32', '-srcnodata', '-32768', '-dstnodata', 'nan']],
        ['vv', d.s1.scenes.map((s) => s.hrefs.vv ?? s.hrefs.hh!), ['-ot', 'Float32', '-srcnodata', '-32768', '-dstnodata', 'nan']],
        ['dem', d.dem.map((x) => x.hrefs.data!), ['-ot', 'Float32', '-dstnodata', 'nan']],
      ];
      for (const [name, hrefs, args] of layers) {
        await timed('gdalwarp', ['-q', '-overwrite', '-r', 'near', '-t_srs', `EPSG:${grid.epsg}`, '-te', String(b.minX), String(b.minY), String(b.maxX), String(b.maxY), '-ts', String(grid.width), String(grid.height), ...args, ...hrefs.map((h) => localFile(h, universeDir)), join(dir, `${name}.tif`)]);
      }
      const bands = layers.filter(([n]) => n !== 'SCL').map(([n]) => join(dir, `${n}.tif`));
      await timed('gdalbuildvrt', ['-q', '-separate', join(dir, 'stack.vrt'), ...bands]);
      for (const c of m.chips) {
        if (!c.file) continue;
        const name = join(dir, c.file.key.split('/').pop()!);
        await timed('gdal_translate', ['-q', '-ot', 'Float32', '-co', 'COMPRESS=DEFLATE', '-srcwin', String(c.window.col), String(c.window.row), String(c.window.width), String(c.window.height), join(dir, 'stack.vrt'), name]);
        gdalBytes += (await stat(name)).size;
        // Same pixels? Both files as raw float32 through GDAL.
        const raw = async (f: string): Promise<Float32Array> => {
          const tmp = `${f}.bin`;
          await run('gdal_translate', ['-q', '-of', 'ENVI', '-co', 'INTERLEAVE=BSQ', '-ot', 'Float32', f, tmp]);
          const bytes = await readFile(tmp);
          await rm(tmp);
          return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
        };
        const wallBefore = performance.now();
        const [a, o] = await Promise.all([raw(name), raw(join(jobOut, c.file.key))]);
        for (let i = 0; i < a.length; i++) {
          if (a[i] !== o[i] && !(a[i] !== a[i] && o[i] !== o[i])) {
            mismatches++;
            const band = bandNames[Math.floor(i / (a.length / 13))]!;
            byBand[band] = (byBand[band] ?? 0) + 1;
          }
        }
        compared += a.length;
        wall -= performance.now() - wallBefore; // the comparison is not GDAL's work
      }
    }
    wall += performance.now() - g0;
    console.log(`GDAL script (local files, no HTTP): ${(wall / 1000).toFixed(2)} s wall, ${(kept / (wall / 1000)).toFixed(2)} kept chips/s; CPU ${gdalCpuS.toFixed(2)} s; peak RSS of one GDAL process ${(peakKb / 1024).toFixed(0)} MB; wrote ${mb(gdalBytes)} MB (${mb(gdalBytes / Math.max(1, kept))} MB each)`);
    console.log(`ratio: ours ${(wall / 1000 / o.wallS).toFixed(2)}x GDAL's throughput; CPU ${(o.cpuS / gdalCpuS).toFixed(2)}x GDAL's; our files ${(chipBytes / gdalBytes).toFixed(3)}x the size of GDAL's DEFLATE (Clay v0's layout)`);
    console.log(`pixels compared: ${compared} (${kept} chips x 13 bands), differing: ${mismatches}${mismatches ? ` ${JSON.stringify(byBand)}` : ''}`);
  }
} finally {
  await pc.close();
  await v0pc?.close();
  await rm(out, { recursive: true, force: true });
}

/** What one whole-process job run cost. */
interface JobFigures {
  wallS: number;
  cpuS: number;
  rssMb: number;
  /** Blob bytes the server sent, and its blob requests. */
  bytesRead: number;
  requests: number;
  chips: number;
  bytesWritten: number;
}

interface OurRun {
  figures: JobFigures;
  summary: RunSummary;
  manifests: UnitManifest[];
  kept: number;
  candidates: number;
  chipBytes: number;
}

/** Runs `cmd` under /usr/bin/time: wall, CPU seconds and peak RSS of it and its children. */
async function timedProcess(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ stdout: string; wallS: number; cpuS: number; rssMb: number }> {
  const t0 = performance.now();
  const p = await run('/usr/bin/time', ['-f', 'TIME %e %U %S %M', cmd, ...args], { maxBuffer: 1 << 26, ...(env ? { env } : {}) });
  const wallS = (performance.now() - t0) / 1000;
  const tm = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(p.stderr);
  if (!tm) throw new Error(`no timing from ${cmd}: ${p.stderr.slice(-2000)}`);
  return { stdout: p.stdout, wallS, cpuS: Number(tm[2]) + Number(tm[3]), rssMb: Number(tm[4]) / 1024 };
}

/** Blob bytes and requests the server logged from `from` on. */
function blobTraffic(server: MiniPc, from: number): { bytesRead: number; requests: number } {
  const blobs = server.requests.slice(from).filter((r) => r.service === 'blob');
  return { bytesRead: blobs.reduce((n, r) => n + r.bytes, 0), requests: blobs.length };
}

/**
 * The index write, timed here on the run's own rows (the job does not time it apart): each unit's
 * chips.parquet read back and written again with `writeChipIndex`, then merged into the row index as
 * `clay run --index N` does; medians of 5.
 */
async function indexWriteFigures(dir: string, manifests: readonly UnitManifest[]): Promise<string> {
  const store = await openStore(dir);
  const units = await Promise.all(manifests.map(async (m) => {
    const key = unitPrefix(m.mgrs, m.date) + 'chips.parquet';
    return readChipIndex((await store.get(key))!, key);
  }));
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const writeMs: number[] = [], mergeMs: number[] = [];
  let parts: Uint8Array[] = [];
  let merged: Uint8Array = new Uint8Array();
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    parts = units.map((rows) => writeChipIndex(rows));
    const t1 = performance.now();
    merged = await mergeChipIndexes(parts);
    writeMs.push(t1 - t0);
    mergeMs.push(performance.now() - t1);
  }
  const rows = units.reduce((n, u) => n + u.length, 0);
  return `index write (timed in this process on the run's rows): ${units.length} unit chip indexes, ${rows} rows, ${median(writeMs).toFixed(1)} ms (${(parts.reduce((n, p) => n + p.byteLength, 0) / 1024).toFixed(1)} KiB); row index merge ${median(mergeMs).toFixed(1)} ms (${(merged.byteLength / 1024).toFixed(1)} KiB)`;
}

async function runOurs(dir: string): Promise<OurRun> {
  // The job runs as the CLI in its own process (what users run), so its CPU and peak RSS are its own,
  // not the loopback server's; `npm run build` first (dist/ is what `npm ci` builds).
  const cliArgs = ['run', '--stac-api', pc.stacApi, '--sas-api', pc.sasApi, '--sample', join(universeDir, 'mgrs_sample.fgb'), '--index', String(index), '--out', dir, '--inflight', String(inflight), ...cacheArgs, ...(compat ? ['--compat', 'clay-v0'] : []), ...Object.entries(encoding).flatMap(([k, v]) => [k === 'level' ? '--level' : '--rows-per-strip', String(v)])];
  const from = pc.requests.length;
  const job = await timedProcess(process.execPath, [fileURLToPath(new URL('../dist/cli/run.js', import.meta.url)), ...cliArgs]);
  const summary = JSON.parse(job.stdout.trim().split('\n').pop()!) as RunSummary;
  const store = await openStore(dir);
  const result = summary.rows[0]!;
  const manifests: UnitManifest[] = [];
  for (const u of result.units) {
    const key = unitPrefix(result.mgrs, u.date) + MANIFEST_NAME;
    manifests.push(parseManifest((await store.get(key))!, key));
  }
  const kept = manifests.reduce((n, m) => n + m.totals.kept, 0);
  const candidates = manifests.reduce((n, m) => n + m.totals.candidates, 0);
  const chipBytes = manifests.reduce((n, m) => n + m.chips.reduce((k, c) => k + (c.file?.bytes ?? 0), 0), 0);
  return { figures: { wallS: job.wallS, cpuS: job.cpuS, rssMb: job.rssMb, ...blobTraffic(pc, from), chips: kept, bytesWritten: chipBytes }, summary, manifests, kept, candidates, chipBytes };
}

interface V0Env {
  python: string;
  scripts: string;
  pythonPath: string;
}

/**
 * Clay v0's environment: DIR/scripts is Clay-foundation/model's scripts/ at 0145e55 (datacube.py, tile.py);
 * DIR/site, when there, goes first on PYTHONPATH for what v0 pins and Debian does not package
 * (`pip install --target DIR/site pystac==1.9.0 pystac-client==0.7.5 stackstac==0.5.0 planetary-computer==1.0.0`
 * where PyPI is reachable); the rest (rioxarray, geopandas, xarray, dask, rasterio, click) from the
 * interpreter's own packages (Debian: python3-rioxarray python3-geopandas python3-click python3-dotenv).
 */
async function v0Setup(dir: string, python: string): Promise<V0Env> {
  const scripts = join(dir, 'scripts');
  const site = join(dir, 'site');
  const has = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
  if (!(await has(join(scripts, 'datacube.py')))) {
    throw new Error(`bench: no Clay v0 at ${dir} (--v0 DIR: DIR/scripts/datacube.py from Clay-foundation/model @ 0145e55, DIR/site with pystac 1.9.0, pystac-client 0.7.5, stackstac 0.5.0, planetary-computer 1.0.0); --no-v0 skips it`);
  }
  const pythonPath = [...((await has(site)) ? [site] : []), ...(process.env.PYTHONPATH ? [process.env.PYTHONPATH] : [])].join(':');
  const env = { ...process.env, PYTHONPATH: pythonPath };
  await run(python, ['-c', 'import pystac, pystac_client, stackstac, planetary_computer, rioxarray, geopandas, click'], { env }).catch((err: Error) => {
    throw new Error(`bench: Clay v0's packages do not import with ${python} and PYTHONPATH=${pythonPath}: ${err.message.split('\n').slice(-2).join(' ')}`);
  });
  return { python, scripts, pythonPath };
}

async function runV0(env: V0Env, server: MiniPc, dir: string): Promise<JobFigures> {
  const from = server.requests.length;
  const wrapper = fileURLToPath(new URL('./v0/run_datacube.py', import.meta.url));
  const job = await timedProcess(env.python, [wrapper, '--v0-scripts', env.scripts, '--stac-api', server.stacApi, '--out', dir, '--', '--sample', join(universeDir, 'mgrs_sample.fgb'), '--index', String(index)], { ...process.env, PYTHONPATH: env.pythonPath, PYTHONWARNINGS: 'ignore' });
  let chips = 0, bytesWritten = 0;
  for (const f of await readdir(dir, { recursive: true })) {
    if (!f.endsWith('.tif')) continue;
    chips++;
    bytesWritten += (await stat(join(dir, f))).size;
  }
  return { wallS: job.wallS, cpuS: job.cpuS, rssMb: job.rssMb, ...blobTraffic(server, from), chips, bytesWritten };
}

/** The universe with `proj:epsg` beside every item-level `proj:code` (see the v0 server above). */
function withProjEpsg(u: Universe): Universe {
  const items = u.items.map((it) => {
    const code = it.properties['proj:code'];
    if (it.properties['proj:epsg'] !== undefined || typeof code !== 'string' || !/^EPSG:\d+$/.test(code)) return it;
    const epsg = Number(code.slice(5));
    const json = { ...it.json, properties: { ...(it.json.properties as Record<string, unknown>), 'proj:epsg': epsg } };
    return { ...it, properties: { ...it.properties, 'proj:epsg': epsg }, json };
  });
  return { ...u, items };
}

function medianFigures(runs: JobFigures[]): JobFigures {
  const med = (f: (r: JobFigures) => number): number => {
    const v = runs.map(f).sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  return { wallS: med((r) => r.wallS), cpuS: med((r) => r.cpuS), rssMb: med((r) => r.rssMb), bytesRead: med((r) => r.bytesRead), requests: med((r) => r.requests), chips: med((r) => r.chips), bytesWritten: med((r) => r.bytesWritten) };
}
