/**
 * One measurement for bench/train-step.ts, in its own process (so peak RSS is this run's): trains a
 * configuration for a few steps on one backend, single-threaded or data-parallel over worker threads, and
 * prints one JSON line.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../model/backend.ts';
import { clayConfig, type ModelSize } from '../model/config.ts';
import { isClayError } from '../core/errors.ts';
import { ClayModel } from '../model/clay.ts';
import { estimateFootprint } from '../model/footprint.ts';
import { disposeInputs, prepareInputs, type ClayBatch } from '../model/inputs.ts';
import { randomMask } from '../model/masking.ts';
import { initParams } from '../model/params.ts';
import { ParallelTrainer } from '../model/parallel-trainer.ts';
import { Trainer } from '../model/trainer.ts';

/** A random but fixed batch (the speed of a step does not depend on the values). */
export function benchBatch(imageSize: number, batch: number): ClayBatch {
  const pixels = new Float32Array(batch * 13 * imageSize * imageSize);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i * 0.37) * 0.8;
  return { batch, pixels, latlon: new Float32Array(batch * 2).fill(0.3), timestep: new Float32Array(batch * 3).fill(0.1) };
}

/** Kernel time of one step by kernel name (ms, calls), largest first; custom-op wrappers excluded. */
async function kernelProfile(step: () => Promise<void>): Promise<[string, number, number][]> {
  const prof = await tf.profile(step);
  const by = new Map<string, [number, number]>();
  for (const k of prof.kernels) {
    const t = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    if (k.name === 'forward' || k.name === 'unnamed scope') continue;
    const e = by.get(k.name) ?? [0, 0];
    by.set(k.name, [e[0] + t, e[1] + 1]);
  }
  return [...by].map(([n, [t, c]]): [string, number, number] => [n, Math.round(t * 10) / 10, c]).sort((a, b) => b[1] - a[1]).slice(0, 10);
}

async function main(): Promise<void> {
  const [backend, size, img, patch, batchS, stepsS, workersS] = process.argv.slice(2);
  const cfg = clayConfig(size as ModelSize, { imageSize: Number(img), patchSize: Number(patch) });
  const batch = Number(batchS);
  const steps = Number(stepsS);
  const workers = Number(workersS ?? '0');
  const info = await initBackend({ prefer: backend as BackendChoice, log: () => {} });
  const data = benchBatch(cfg.imageSize, batch);
  const out: Record<string, unknown> = { backend, size, img: cfg.imageSize, patch: cfg.patchSize, batch, workers };
  if (info.adapter !== null) {
    const a = info.adapter;
    out['adapter'] = `${a.vendor} ${a.architecture} ${a.device} (${a.description})${a.isCpu ? ', a CPU adapter' : ''}; maxStorageBufferBindingSize ${info.limits?.maxStorageBufferBindingSize}`;
  }
  out['footprintMiB'] = Math.round(estimateFootprint(cfg, workers > 0 ? Math.ceil(batch / workers) : batch, 'train').peakBytes / 2 ** 20);
  try {
    const times: number[] = [];
    if (workers > 0) {
      const pt = await ParallelTrainer.create(cfg, { workers, batchSize: batch, backend: info.choice, seed: 1 });
      try {
        for (let s = 0; s <= steps; s++) {
          const t0 = performance.now();
          await pt.step(data, s + 1);
          if (s > 0) times.push((performance.now() - t0) / 1000);
        }
        out['profile'] = pt.lastProfile;
      } finally {
        await pt.close();
      }
    } else {
      const model = new ClayModel(initParams(cfg, 1));
      const trainer = new Trainer(model, { batchSize: batch });
      for (let s = 0; s <= steps; s++) {
        const t0 = performance.now();
        const inputs = prepareInputs(cfg, data);
        await trainer.step([{ inputs, mask: randomMask(cfg, batch, s + 1) }]);
        disposeInputs(inputs);
        if (s > 0) times.push((performance.now() - t0) / 1000);
      }
      if (process.env['CLAY_BENCH_PROFILE'] === '1') out['kernels'] = await kernelProfile(async () => {
        const inputs = prepareInputs(cfg, data);
        await trainer.step([{ inputs, mask: randomMask(cfg, batch, 99) }]);
        disposeInputs(inputs);
      });
    }
    out['sPerStep'] = Math.min(...times);
    out['sPerStepMean'] = times.reduce((a, b) => a + b, 0) / times.length;
  } catch (err) {
    if (!isClayError(err, 'MODEL_CONFIG')) throw err;
    out['refused'] = `${err.code}: ${err.message}`;
  }
  out['peakRssMiB'] = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (process.argv[1]?.endsWith('train-step-child.ts')) await main();
