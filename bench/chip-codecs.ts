/**
 * Chip codecs: the whole main job (`clay run`, its own process, against the mini Planetary Computer on
 * 127.0.0.1) once per chip encoding, in one run, and each encoding's codec floor: the time its codec alone
 * takes, on one thread, to compress the same chips' bytes (16-row strips, the predictor applied) at the
 * same level. Prints, per encoding, wall, CPU seconds, peak RSS, MB of chips, and the ratios to Clay v0's
 * layout (DEFLATE 6, no predictor) measured in the same run.
 *
 *   npm run build && node --import tsx bench/chip-codecs.ts [--noisy] [--index 0] [--runs 1]
 *
 * `--noisy`: the noisy universe (see bench/chips.ts): pixels that compress like real ones.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import { loadZstd, zstdCompressSync } from '../core/zstd.ts';
import { loadUniverse } from '../core/mini-pc/universe.ts';
import { startMiniPc } from '../core/mini-pc/server.ts';
import type { RunSummary } from '../cli/commands/run.ts';
import { generateSamples } from '../data-samples/generate.ts';
import { applyPredictor } from '../pipeline/write/tiff-raster.ts';
import { BUNDLED_DIR } from '../test/helpers/bundled.ts';

const run = promisify(execFile);
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const index = Number(arg('index', '0'));
const runs = Number(arg('runs', '1'));
const noisy = process.argv.includes('--noisy');

interface Encoding { name: string; compress: 'deflate' | 'zstd'; level: number; predictor: 'none' | 'float' }
const ENCODINGS: Encoding[] = [
  { name: 'deflate 6 (Clay v0)', compress: 'deflate', level: 6, predictor: 'none' },
  { name: 'deflate 1', compress: 'deflate', level: 1, predictor: 'none' },
  { name: 'deflate 6 + float', compress: 'deflate', level: 6, predictor: 'float' },
  { name: 'zstd 1 (default)', compress: 'zstd', level: 1, predictor: 'none' },
  { name: 'zstd 3', compress: 'zstd', level: 3, predictor: 'none' },
  { name: 'zstd 1 + float', compress: 'zstd', level: 1, predictor: 'float' },
];

const universeDir = noisy ? fileURLToPath(new URL('../.bench/noisy-universe/', import.meta.url)) : BUNDLED_DIR;
if (noisy) await generateSamples({ out: universeDir.replace(/\/$/, ''), noise: true });
const pc = await startMiniPc({ universe: await loadUniverse(universeDir) });
const out = await mkdtemp(join(tmpdir(), 'bench-codecs-'));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function listTifs(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile() && e.name.endsWith('.tif')) found.push(join(e.parentPath, e.name));
  return found.sort();
}

try {
  const rows: { e: Encoding; wall: number; cpu: number; rss: number; bytes: number; floor: number }[] = [];
  let raws: Uint8Array[] = [];
  for (const e of ENCODINGS) {
    const walls: number[] = [];
    const cpus: number[] = [];
    const rsss: number[] = [];
    let bytes = 0;
    for (let r = 0; r < runs; r++) {
      const dir = join(out, 'run');
      await rm(dir, { recursive: true, force: true });
      const cli = ['run', '--stac-api', pc.stacApi, '--sas-api', pc.sasApi, '--sample', join(universeDir, 'mgrs_sample.fgb'), '--index', String(index), '--out', dir,
        '--compress', e.compress, '--level', String(e.level), '--predictor', e.predictor];
      const job = await run('/usr/bin/time', ['-f', 'TIME %e %U %S %M', process.execPath, fileURLToPath(new URL('../dist/cli/run.js', import.meta.url)), ...cli], { maxBuffer: 1 << 26 });
      const tm = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(job.stderr);
      if (!tm) throw new Error(`no timing: ${job.stderr.slice(-2000)}`);
      walls.push(Number(tm[1]));
      cpus.push(Number(tm[2]) + Number(tm[3]));
      rsss.push(Number(tm[4]) / 1024);
      const summary = JSON.parse(job.stdout.trim().split('\n').pop()!) as RunSummary;
      bytes = summary.bytesWritten;
      if (raws.length === 0) {
        // The chips' samples, pixel-interleaved, as GDAL reads them: what every encoding compresses.
        for (const f of await listTifs(dir)) {
          await run('gdal_translate', ['-q', '-of', 'ENVI', '-co', 'INTERLEAVE=BIP', f, `${f}.bip`]);
          raws.push(new Uint8Array(await readFile(`${f}.bip`)));
        }
      }
    }
    // The codec floor: this codec alone, one thread, the same strips.
    await loadZstd();
    const strip = 512 * 16 * 13 * 4;
    const t0 = performance.now();
    for (const raw of raws) {
      for (let o = 0; o < raw.length; o += strip) {
        const block = raw.slice(o, o + strip);
        if (e.predictor === 'float') applyPredictor({ dtype: 'float32', data: new Float32Array(block.buffer) }, 'float', 512, 13);
        if (e.compress === 'zstd') zstdCompressSync(block, e.level);
        else deflateSync(block, { level: e.level });
      }
    }
    rows.push({ e, wall: median(walls), cpu: median(cpus), rss: median(rsss), bytes, floor: (performance.now() - t0) / 1000 });
  }
  const base = rows[0]!;
  console.log(`row ${index} of ${noisy ? 'the noisy universe' : 'the bundled universe'}: ${raws.length} kept chips; medians of ${runs} run(s) each, process start included`);
  console.log('| encoding | wall s | CPU s | peak RSS MB | MB written | codec floor CPU s | speed vs v0 layout (its wall / this wall) | CPU vs v0 layout | size vs v0 layout |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.e.name} | ${r.wall.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.rss.toFixed(0)} | ${(r.bytes / 1e6).toFixed(1)} | ${r.floor.toFixed(2)} | ${(base.wall / r.wall).toFixed(2)}x | ${(r.cpu / base.cpu).toFixed(2)} | ${(r.bytes / base.bytes).toFixed(3)} |`);
  }
} finally {
  await pc.close();
  await rm(out, { recursive: true, force: true });
}
