/**
 * Training-step benchmark of the Clay port: seconds per step, samples/s, achieved matmul GFLOP/s and peak
 * RSS for tiny at 64/16, 128/16, 512/32 (batch 2) and small at 512/32 (batch 1), on each available
 * backend, single-threaded and data-parallel over worker threads (engine tfjs); and the torch engine's model
 * (`engines/torch/clay_torch`, `python3 -m clay_torch.bench`, on the CPU with 1 and 2 threads) on the same
 * cases in the same run when a Python with torch is found, with the ratio tfjs / torch.
 *
 *   node --import tsx bench/train-step.ts [--engines tfjs,torch] [--backends webgpu,wasm,cpu] [--workers 0,2] [--steps 3]
 *     [--cpu-budget 60] [--cases tiny-128-16,small-512-32]   (default: every case; a case is size-image-patch)
 *     [--nproc 1,2]
 *
 * `--nproc 1,2` (with the torch engine): the data-parallel torch engine (torchrun ranks on gloo, one thread
 * each, `--batch` chips per rank) on each case, samples/s per rank and in all, and the scaling efficiency
 * (samples/s at N ranks / (N x samples/s at 1 rank)), in one run. On CPU ranks share the machine's cores:
 * the figure says what the all-reduce costs, not what GPUs would do (docs/deploy.md has that on paper).
 *
 * `webgpu` runs on the adapter Dawn finds (named in the output; on a machine without a GPU that is
 * lavapipe, Vulkan on the CPU: its figures say the path works, not how fast a GPU is). Worker threads are
 * for WASM and CPU only: webgpu is one device.
 *
 * Each measurement runs in its own process (bench/train-step-child.ts) so peak RSS is its own. The CPU
 * backend is skipped for a configuration whose predicted step time (from its measured GFLOP/s on a
 * smaller one) exceeds --cpu-budget seconds; the skip is printed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { clayConfig, MODEL_SIZES, type ModelSize } from '../model/config.ts';
import { trainStepFlops } from './train-step-flops.ts';

interface Case {
  size: ModelSize;
  img: number;
  patch: number;
  batch: number;
}

const CASES: Case[] = [
  { size: 'tiny', img: 64, patch: 16, batch: 2 },
  { size: 'tiny', img: 128, patch: 16, batch: 2 },
  { size: 'tiny', img: 512, patch: 32, batch: 2 },
  { size: 'small', img: 512, patch: 32, batch: 1 },
];

/** A case's name for --cases: size-image-patch (`tiny-128-16`). */
function caseName(c: Case): string {
  return `${c.size}-${c.img}-${c.patch}`;
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}

/** The Python that imports torch (as `clay train --engine torch` finds it), or null. */
function torchPython(): string | null {
  for (const py of [process.env.CLAY_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
      return py;
    } catch {
      // next
    }
  }
  return null;
}

const TORCH_PKG = fileURLToPath(new URL('../engines/torch/', import.meta.url));

function backendAvailable(b: string): boolean {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e',
    `import('./model/backend.ts').then(m => m.initBackend({ prefer: '${b}', log: () => {} })).then(() => process.exit(0), () => process.exit(1))`],
  { stdio: 'ignore', cwd: fileURLToPath(new URL('..', import.meta.url)) });
  return r.status === 0;
}

function child(backend: string, c: Case, steps: number, workers: number, profile = false): Record<string, unknown> {
  const script = fileURLToPath(new URL('./train-step-child.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, backend, c.size, String(c.img), String(c.patch),
    String(c.batch), String(steps), String(workers)], {
    encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, CLAY_BENCH_PROFILE: profile ? '1' : '0' },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { error: `exit ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ').slice(0, 300)}` };
  }
}

/** Seconds per step of the torch engine's model on the CPU with `threads` threads, or null. */
function torch(python: string, c: Case, steps: number, threads: number): number | null {
  const r = spawnSync(python, ['-m', 'clay_torch.bench', '--size', c.size, '--image', String(c.img), '--patch', String(c.patch),
    '--batch', String(c.batch), '--steps', String(steps), '--warmup', '1', '--device', 'cpu', '--threads', String(threads)],
  { encoding: 'utf8', cwd: TORCH_PKG });
  try {
    const v = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { s_per_step?: number };
    return typeof v.s_per_step === 'number' ? v.s_per_step : null;
  } catch {
    return null;
  }
}

function fmt(v: number | null | undefined, d = 3): string {
  return v === null || v === undefined ? '-' : v.toFixed(d);
}

/** Seconds per step of the data-parallel torch engine on `nproc` CPU ranks (batch per rank `c.batch`). */
async function ddpStep(python: string, c: Case, steps: number, nproc: number): Promise<number> {
  const [{ startTorchEngine }, { maskNoise }, { createLogger }] = await Promise.all([
    import('../model/torch-engine.ts'), import('../model/masking.ts'), import('../core/log.ts'),
  ]);
  const cfg = clayConfig(c.size, { imageSize: c.img, patchSize: c.patch });
  const engine = await startTorchEngine({
    cfg, batch: c.batch, start: { kind: 'init', seed: 1 }, device: 'cpu', threads: 1, python, logger: createLogger({ write: () => undefined }), ranks: { nproc },
  });
  try {
    const n = c.batch * nproc;
    const batch = { batch: n, pixels: new Float32Array(n * 13 * c.img * c.img).map((_, i) => Math.sin(i)), latlon: new Float32Array(2 * n), timestep: new Float32Array(3 * n) };
    const times: number[] = [];
    for (let k = 0; k <= steps; k++) {
      const t0 = performance.now();
      await engine.step([{ batch, noise: maskNoise(cfg, n, k) }], 1e-4);
      if (k > 0) times.push((performance.now() - t0) / 1000); // the first step warms up
    }
    return Math.min(...times);
  } finally {
    await engine.close();
  }
}

async function scaling(python: string, cases: readonly Case[], steps: number, nprocs: number[]): Promise<void> {
  console.log('# data-parallel torch engine (CPU ranks on gloo, 1 thread each)');
  console.log('config            ranks  s/step  samples/s  per-rank  efficiency');
  for (const c of cases) {
    let base: number | undefined;
    const row: Record<string, number> = {};
    for (const n of nprocs) {
      const s = await ddpStep(python, c, steps, n);
      const rate = (c.batch * n) / s;
      base ??= n === 1 ? rate : undefined;
      const eff = base === undefined ? null : rate / (n * base);
      row[`samplesPerSec${n}`] = Number(rate.toFixed(3));
      console.log(`${`${c.size} ${c.img}/${c.patch} b${c.batch}`.padEnd(18)}${String(n).padStart(5)}  ${fmt(s).padStart(6)}  ${fmt(rate, 2).padStart(9)}  ${fmt(rate / n, 2).padStart(8)}  ${eff === null ? '-' : eff.toFixed(2).padStart(10)}`);
    }
    console.log(JSON.stringify({ event: 'Bench:Scaling', case: caseName(c), cores: cpus().length, ...row }));
  }
}

async function main(): Promise<void> {
  const steps = Number(arg('steps', '3'));
  const cpuBudget = Number(arg('cpu-budget', '60'));
  const engines = arg('engines', 'tfjs,torch').split(',');
  const asked = engines.includes('tfjs') ? arg('backends', 'node-gpu,node,webgpu,wasm,cpu').split(',') : [];
  const backends = asked.filter(backendAvailable);
  for (const b of asked.filter((x) => !backends.includes(x))) console.log(`# backend ${b}: not available here, skipped`);
  const workerCounts = arg('workers', `0,${Math.min(2, cpus().length)}`).split(',').map(Number);
  const python = engines.includes('torch') ? torchPython() : null;
  const hasTorch = python !== null;
  const wanted = arg('cases', CASES.map(caseName).join(',')).split(',');
  const cases = CASES.filter((c) => wanted.includes(caseName(c)));
  if (cases.length === 0) throw new Error(`--cases: none of ${wanted.join(', ')}; known: ${CASES.map(caseName).join(', ')}`);
  console.log(`# clay train-step bench: ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, ` +
    `engines ${engines.join(', ')}, backends ${backends.join(', ')}, torch ${hasTorch ? python : engines.includes('torch') ? 'no (python3-torch not installed)' : 'not asked'}`);
  const nprocArg = arg('nproc', '');
  if (nprocArg !== '') {
    if (python === null) throw new Error('--nproc needs the torch engine: a Python with torch (Debian: python3-torch)');
    await scaling(python, cases, steps, nprocArg.split(',').map(Number));
    return;
  }
  console.log('config            backend workers  s/step  samples/s  GFLOP/s  peakRSS_MiB  est_MiB  torch_s(1t/2t)  tfjs/torch');
  const cpuGflops: number[] = [];
  const profiles: string[] = [];
  for (const c of cases) {
    const cfg = clayConfig(c.size, { imageSize: c.img, patchSize: c.patch });
    const flops = trainStepFlops(cfg, c.batch);
    let torchBest: number | null = null;
    let torchCell = '-';
    if (python !== null) {
      const t1 = torch(python, c, steps, 1);
      const t2 = torch(python, c, steps, 2);
      const ts = [t1, t2].filter((t): t is number => t !== null);
      torchBest = ts.length > 0 ? Math.min(...ts) : null;
      torchCell = `${fmt(t1)}/${fmt(t2)}`;
    }
    if (backends.length === 0 && python !== null) {
      console.log(`${`${c.size} ${c.img}/${c.patch} b${c.batch}`.padEnd(18)}torch   ${String(0).padStart(7)}  ${fmt(torchBest).padStart(6)}  ${fmt(torchBest === null ? null : c.batch / torchBest, 2).padStart(9)}  ${fmt(torchBest === null ? null : flops / torchBest / 1e9, 1).padStart(7)}  ${torchCell.padStart(35)}`);
    }
    for (const b of backends) {
      for (const w of workerCounts) {
        const label = `${c.size} ${c.img}/${c.patch} b${c.batch}`.padEnd(18);
        if (b === 'cpu') {
          const best = cpuGflops.length > 0 ? Math.max(...cpuGflops) : null;
          if (w > 0 || (best !== null && flops / (best * 1e9) > cpuBudget)) {
            const why = w > 0 ? 'workers only on accelerated backends' : `predicted ${(flops / ((best ?? 1) * 1e9)).toFixed(0)} s/step > --cpu-budget ${cpuBudget}`;
            console.log(`${label}${b.padEnd(8)}${String(w).padStart(7)}  skipped: ${why}; torch ${torchCell} s`);
            continue;
          }
        }
        if (w > 0 && (b === 'webgpu' || b === 'node' || b === 'node-gpu')) {
          console.log(`${label}${b.padEnd(8)}${String(w).padStart(7)}  skipped: worker threads are for wasm and cpu (${b} is one device)`);
          continue;
        }
        if (w > c.batch) {
          console.log(`${label}${b.padEnd(8)}${String(w).padStart(7)}  skipped: batch ${c.batch} < ${w} workers; torch ${torchCell} s`);
          continue;
        }
        const r = child(b, c, b === 'cpu' ? 1 : steps, w, b === 'wasm' && w === 0 && c.img === 128);
        if (Array.isArray(r['kernels'])) profiles.push(`${label.trim()} ${b}: ${JSON.stringify(r['kernels'])}`);
        if (r['profile'] !== undefined) profiles.push(`${label.trim()} ${b} ${w} workers, ms per phase: ${JSON.stringify(r['profile'])}`);
        if (typeof r['error'] === 'string' || typeof r['refused'] === 'string') {
          console.log(`${label}${b.padEnd(8)}${String(w).padStart(7)}  ${String(r['refused'] ?? r['error'])}; torch ${torchCell} s`);
          continue;
        }
        if (typeof r['adapter'] === 'string' && !profiles.some((p) => p.startsWith(`${b} adapter`))) profiles.unshift(`${b} adapter: ${r['adapter']}`);
        const s = Number(r['sPerStep']);
        const gf = flops / s / 1e9;
        if (b === 'cpu') cpuGflops.push(gf);
        console.log(`${label}${b.padEnd(8)}${String(w).padStart(7)}  ${fmt(s).padStart(6)}  ${fmt(c.batch / s, 2).padStart(9)}  ` +
          `${fmt(gf, 1).padStart(7)}  ${String(r['peakRssMiB']).padStart(11)}  ${String(r['footprintMiB']).padStart(7)}  ` +
          `${torchCell.padStart(14)}  ${torchBest === null ? '-' : (s / torchBest).toFixed(2)}`);
      }
    }
  }
  console.log('# profiles (tfjs kernel ms of one step [name, ms, calls]; worker phases: gradients per worker, then AdamW + sync)');
  for (const p of profiles) console.log(p);
}

await main();
