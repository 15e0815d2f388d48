/**
 * Chip benchmark: the whole main job (`runIndex`) for one bundled sample row (default row 0, 31TGL:
 * 3 dates, 60 candidate chips, 47 kept), against the mini Planetary Computer on 127.0.0.1, into a local
 * folder. Prints chips/s, MB read, MB written, CPU seconds, peak RSS and where the time went; then, in the
 * same run, the same kept chips made by a GDAL script: per date, `gdalwarp` of each of the 14 layers (13
 * bands + SCL, nearest, local files) onto the tile grid, `gdalbuildvrt -separate`, and `gdal_translate
 * -srcwin ... -co COMPRESS=DEFLATE` per kept chip (Clay v0's file layout: 512 x 1 strips, no predictor).
 * Prints the ratios (time, CPU, output size) and compares every pixel of the two sets of chips.
 *
 *   node --import tsx bench/chips.ts [--index 0] [--level 6] [--rows-per-strip 16] [--inflight 2] [--cache-mb 64] [--source-cache-mb 64] [--compat] [--no-gdal] [--noisy]
 *
 * `--noisy`: the same design with per-pixel sensor noise on every band (S2 noise, S1 speckle, DEM roughness),
 * generated once into .bench/noisy-universe (about 600 MB): pixels that compress like real ones.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { windowBounds, type Grid } from '../core/grid.ts';
import { loadUniverse } from '../core/mini-pc/universe.ts';
import { startMiniPc } from '../core/mini-pc/server.ts';
import { openStore } from '../core/store/open-store.ts';
import { unitPrefix } from '../pipeline/chip/chip-file.ts';
import { MANIFEST_NAME, parseManifest, type UnitManifest } from '../pipeline/chip/manifest.ts';
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
const cacheMb = Number(arg('cache-mb', '64'));
const sourceCacheMb = Number(arg('source-cache-mb', '64'));
const mb = (b: number): string => (b / 1e6).toFixed(1);

const out = await mkdtemp(join(tmpdir(), 'bench-chips-'));
const noisy = process.argv.includes('--noisy');
const universeDir = noisy ? fileURLToPath(new URL('../.bench/noisy-universe/', import.meta.url)) : BUNDLED_DIR;
if (noisy) await generateSamples({ out: universeDir.replace(/\/$/, ''), noise: true });
const pc = await startMiniPc({ universe: await loadUniverse(universeDir) });
try {
  // The job runs as the CLI in its own process (what users run), so its CPU and peak RSS are its own,
  // not the loopback server's; `npm run build` first (dist/ is what `npm ci` builds).
  const cliArgs = ['run', '--stac-api', pc.stacApi, '--sas-api', pc.sasApi, '--sample', join(universeDir, 'mgrs_sample.fgb'), '--index', String(index), '--out', join(out, 'ours'), '--inflight', String(inflight), '--cache-mb', String(cacheMb), '--source-cache-mb', String(sourceCacheMb), ...(compat ? ['--compat', 'clay-v0'] : []), ...Object.entries(encoding).flatMap(([k, v]) => [k === 'level' ? '--level' : '--rows-per-strip', String(v)])];
  const t0 = performance.now();
  const job = await run('/usr/bin/time', ['-f', 'TIME %e %U %S %M', process.execPath, fileURLToPath(new URL('../dist/cli/run.js', import.meta.url)), ...cliArgs], { maxBuffer: 1 << 26 });
  const ms = performance.now() - t0;
  const tm = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(job.stderr);
  if (!tm) throw new Error(`no timing: ${job.stderr.slice(-2000)}`);
  const cpuS = Number(tm[2]) + Number(tm[3]);
  const rssMb = Number(tm[4]) / 1024;
  const summary = JSON.parse(job.stdout.trim().split('\n').pop()!) as RunSummary;
  const store = await openStore(join(out, 'ours'));
  const result = summary.rows[0]!;
  const manifests: UnitManifest[] = [];
  for (const u of result.units) {
    const key = unitPrefix(result.mgrs, u.date) + MANIFEST_NAME;
    manifests.push(parseManifest((await store.get(key))!, key));
  }
  const kept = manifests.reduce((n, m) => n + m.totals.kept, 0);
  const candidates = manifests.reduce((n, m) => n + m.totals.candidates, 0);
  const chipBytes = manifests.reduce((n, m) => n + m.chips.reduce((k, c) => k + (c.file?.bytes ?? 0), 0), 0);
  const sum = (f: (m: UnitManifest) => number): number => manifests.reduce((n, m) => n + f(m), 0);
  console.log(`row ${index} (${result.mgrs})${compat ? ', --compat clay-v0' : ''}: ${result.units.length} dates, ${candidates} candidate chips, ${kept} kept; encoding ${JSON.stringify(manifests[0]?.settings.encoding)}, ${inflight} chips in flight`);
  console.log(`ours (clay run, its own process): ${(ms / 1000).toFixed(2)} s wall (process start included), ${(kept / (ms / 1000)).toFixed(2)} kept chips/s (${(candidates / (ms / 1000)).toFixed(2)} candidates/s); CPU ${cpuS.toFixed(2)} s (user ${tm[2]}, sys ${tm[3]}); peak RSS ${rssMb.toFixed(0)} MB`);
  console.log(`     read ${mb(summary.bytesRead)} MB in ${sum((m) => m.run.requests)} requests (${summary.http.rereads} of them re-reads, ${mb(summary.http.rereadBytes)} MB); wrote ${mb(chipBytes)} MB of chips (${kept} files, ${mb(chipBytes / Math.max(1, kept))} MB each), ${mb(summary.bytesWritten)} MB in all (chip indexes and manifests included)`);
  console.log(`     time summed over the chips in flight: stack (read + decode + warp + filter) ${(sum((m) => m.run.stackMs) / 1000).toFixed(2)} s, encode ${(sum((m) => m.run.encodeMs) / 1000).toFixed(2)} s, store ${(sum((m) => m.run.storeMs) / 1000).toFixed(2)} s; units ${manifests.map((m) => `${m.date} ${(m.run.ms / 1000).toFixed(2)} s`).join(', ')}`);
  console.log(`     against Clay v0 on this machine kind (27.5 s, 885 MB, 1.7 kept chips/s for this job): ${(27.5 / (ms / 1000)).toFixed(2)}x the throughput, ${(rssMb / 885).toFixed(2)}x the memory`);

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
        const [a, o] = await Promise.all([raw(name), raw(join(out, 'ours', c.file.key))]);
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
    console.log(`ratio: ours ${(wall / ms).toFixed(2)}x GDAL's throughput; CPU ${(cpuS / gdalCpuS).toFixed(2)}x GDAL's; our files ${(chipBytes / gdalBytes).toFixed(3)}x the size of GDAL's DEFLATE (Clay v0's layout)`);
    console.log(`pixels compared: ${compared} (${kept} chips x 13 bands), differing: ${mismatches}${mismatches ? ` ${JSON.stringify(byBand)}` : ''}`);
  }
} finally {
  await pc.close();
  await rm(out, { recursive: true, force: true });
}
