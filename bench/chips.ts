/**
 * Chip benchmark: the whole main job (`runIndex`) for one bundled sample row (default row 0, 31TGL:
 * 3 dates, 60 candidate chips, 47 kept), against the mini Planetary Computer on 127.0.0.1, into a local
 * folder. Prints chips/s, MB read, MB written, CPU seconds, peak RSS and where the time went; then, in the
 * same run, the same kept chips made by a GDAL script: per date, `gdalwarp` of each of the 14 layers (13
 * bands + SCL, nearest, local files) onto the tile grid, `gdalbuildvrt -separate`, and `gdal_translate
 * -srcwin ... -co COMPRESS=DEFLATE` per kept chip (Clay v0's file layout: 512 x 1 strips, no predictor).
 * Prints the ratios (time, CPU, output size) and compares every pixel of the two sets of chips.
 *
 *   node --import tsx bench/chips.ts [--index 0] [--level 6] [--rows-per-strip 16] [--inflight 2] [--compat] [--no-gdal]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { windowBounds, type Grid } from '../core/grid.ts';
import { HttpClient } from '../core/http.ts';
import { loadUniverse } from '../core/mini-pc/universe.ts';
import { startMiniPc } from '../core/mini-pc/server.ts';
import { PcSigner } from '../core/stac/pc-signer.ts';
import { StacClient } from '../core/stac/stac-client.ts';
import { openStore } from '../core/store/open-store.ts';
import { parseManifest, type UnitManifest } from '../pipeline/chip/manifest.ts';
import { newRunState, runIndex } from '../pipeline/run/run-index.ts';
import { readSampleFile } from '../pipeline/sample-file.ts';
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
const mb = (b: number): string => (b / 1e6).toFixed(1);

const out = await mkdtemp(join(tmpdir(), 'bench-chips-'));
const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
try {
  const rows = await readSampleFile(join(BUNDLED_DIR, 'mgrs_sample.fgb'));
  const row = rows[index];
  if (!row) throw new Error(`no row ${index}`);
  const http = new HttpClient();
  const store = await openStore(join(out, 'ours'));
  const state = newRunState();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await runIndex(row, {
    stac: new StacClient({ url: pc.stacApi, http }), http, signer: new PcSigner({ http, sasApi: pc.sasApi }), store,
    mode: compat ? 'clay-v0' : 'default', encoding, inflight,
  }, state);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const rssMb = process.resourceUsage().maxRSS / 1024;
  const manifests: UnitManifest[] = [];
  for (const u of result.units) manifests.push(parseManifest((await store.get(u.manifest))!, u.manifest));
  const kept = manifests.reduce((n, m) => n + m.totals.kept, 0);
  const candidates = manifests.reduce((n, m) => n + m.totals.candidates, 0);
  const chipBytes = manifests.reduce((n, m) => n + m.chips.reduce((k, c) => k + (c.file?.bytes ?? 0), 0), 0);
  const sum = (f: (m: UnitManifest) => number): number => manifests.reduce((n, m) => n + f(m), 0);
  console.log(`row ${index} (${result.mgrs})${compat ? ', --compat clay-v0' : ''}: ${result.units.length} dates, ${candidates} candidate chips, ${kept} kept; encoding ${JSON.stringify(manifests[0]?.settings.encoding)}, ${inflight} chips in flight`);
  console.log(`ours: ${(ms / 1000).toFixed(2)} s wall, ${(kept / (ms / 1000)).toFixed(2)} kept chips/s (${(candidates / (ms / 1000)).toFixed(2)} candidates/s); CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, sys ${(cpu.system / 1e6).toFixed(2)}; includes the loopback server in this process); peak RSS ${rssMb.toFixed(0)} MB`);
  console.log(`     read ${mb(state.stats.bytesRead)} MB in ${state.stats.requests} requests (decoded ${mb(state.stats.bytesDecoded)} MB); wrote ${mb(chipBytes)} MB of chips (${kept} files, ${mb(chipBytes / Math.max(1, kept))} MB each)`);
  console.log(`     time summed over chips in flight: stack (read + warp + filter) ${(sum((m) => m.run.stackMs) / 1000).toFixed(2)} s, encode ${(sum((m) => m.run.encodeMs) / 1000).toFixed(2)} s, store ${(sum((m) => m.run.storeMs) / 1000).toFixed(2)} s; tile cache peak ${mb(state.cache.stats.peakBytes)} MB, ${state.cache.stats.hits} hits / ${state.cache.stats.misses} misses`);
  console.log(`     against Clay v0 on this machine kind (27.5 s, 885 MB, 1.7 kept chips/s for this job): ${(27.5 / (ms / 1000)).toFixed(2)}x the throughput, ${(rssMb / 885).toFixed(2)}x the memory`);

  if (!process.argv.includes('--no-gdal')) {
    const gdalDir = join(out, 'gdal');
    let wall = 0, cpuS = 0, peakKb = 0, gdalBytes = 0, compared = 0, mismatches = 0;
    const timed = async (cmd: string, args: string[]): Promise<void> => {
      const { stderr } = await run('/usr/bin/time', ['-f', 'TIME %e %U %S %M', cmd, ...args], { maxBuffer: 1 << 24 });
      const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
      if (!m) throw new Error(`no timing from ${cmd}: ${stderr}`);
      cpuS += Number(m[2]) + Number(m[3]);
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
        await timed('gdalwarp', ['-q', '-overwrite', '-r', 'near', '-t_srs', `EPSG:${grid.epsg}`, '-te', String(b.minX), String(b.minY), String(b.maxX), String(b.maxY), '-ts', String(grid.width), String(grid.height), ...args, ...hrefs.map(localFile), join(dir, `${name}.tif`)]);
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
          await run('gdal_translate', ['-q', '-of', 'ENVI', '-ot', 'Float32', f, tmp]);
          const bytes = await readFile(tmp);
          await rm(tmp);
          return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
        };
        const wallBefore = performance.now();
        const [a, o] = await Promise.all([raw(name), raw(join(out, 'ours', c.file.key))]);
        for (let i = 0; i < a.length; i++) if (a[i] !== o[i] && !(a[i] !== a[i] && o[i] !== o[i])) mismatches++;
        compared += a.length;
        wall -= performance.now() - wallBefore; // the comparison is not GDAL's work
      }
    }
    wall += performance.now() - g0;
    console.log(`GDAL script (local files, no HTTP): ${(wall / 1000).toFixed(2)} s wall, ${(kept / (wall / 1000)).toFixed(2)} kept chips/s; CPU ${cpuS.toFixed(2)} s; peak RSS of one GDAL process ${(peakKb / 1024).toFixed(0)} MB; wrote ${mb(gdalBytes)} MB (${mb(gdalBytes / Math.max(1, kept))} MB each)`);
    console.log(`ratio: ours ${(wall / ms).toFixed(2)}x GDAL's throughput; CPU ${((cpu.user + cpu.system) / 1e6 / cpuS).toFixed(2)}x GDAL's; our files ${(chipBytes / gdalBytes).toFixed(3)}x the size of GDAL's DEFLATE (Clay v0's layout)`);
    console.log(`pixels compared: ${compared} (${kept} chips x 13 bands), differing: ${mismatches}`);
    void readdir;
  }
} finally {
  await pc.close();
  await rm(out, { recursive: true, force: true });
}
