/**
 * Training steps of Clay on the webgpu backend, for a GPU machine (bench/device/webgpu.sh carries this,
 * bundled, with a compressed node and the Vulkan loader). Per case: the adapter, then for batch 1, 2, 4,
 * ... (up to the largest whose largest tensor fits the adapter's buffer binding, or `--max-batch`) the
 * seconds per step, chips/s, achieved TFLOP/s (matmul FLOPs of bench/train-step-flops.ts: 588.8 GFLOP a
 * sample for small 512/32) and the ratio to Clay v0's 23.8 chips/s (small 512/32 on 4 A10G); a batch
 * that runs the device out of memory (a WebGPU out-of-memory or validation error in the step) ends the
 * search, and the largest batch that ran is reported. JSON lines on stdout, a table on stderr.
 *
 *   node webgpu-bench.mjs [--cases tiny-512-32,small-512-32] [--steps 3] [--max-batch 64] [--budget-s 420]
 *     [--allow-cpu-adapter]   (lavapipe: the path works, the figures mean nothing)
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../model/backend.ts';
import { ClayModel } from '../../model/clay.ts';
import { clayConfig, type ModelSize } from '../../model/config.ts';
import { estimateFootprint, largestFittingBatch, largestTensor } from '../../model/footprint.ts';
import { disposeInputs, prepareInputs } from '../../model/inputs.ts';
import { randomMask } from '../../model/masking.ts';
import { disposeParams, initParams } from '../../model/params.ts';
import { Trainer } from '../../model/trainer.ts';
import { provideWebGpuBackendModule } from '../../model/webgpu.ts';
import { benchBatch } from '../train-step-child.ts';
import { trainStepFlops } from '../train-step-flops.ts';

/** Clay v0's training rate: small 512/32 on 4 A10G (chips per second). */
const CLAY_V0_CHIPS_PER_S = 23.8;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}

interface ErrorScopes {
  pushErrorScope(filter: 'out-of-memory' | 'validation'): void;
  popErrorScope(): Promise<{ message: string } | null>;
}

function hasScopes(d: unknown): d is ErrorScopes {
  return typeof d === 'object' && d !== null && 'pushErrorScope' in d && typeof d.pushErrorScope === 'function' &&
    'popErrorScope' in d && typeof d.popErrorScope === 'function';
}

/** The GPUDevice under tfjs-webgpu (its `device` field), for error scopes. */
function device(): ErrorScopes | null {
  const b: unknown = tf.backend();
  const d = typeof b === 'object' && b !== null && 'device' in b ? b.device : null;
  return hasScopes(d) ? d : null;
}

/** Runs `f` inside out-of-memory and validation error scopes; the first error's message, or null. */
async function scoped(f: () => Promise<void>): Promise<string | null> {
  const d = device();
  d?.pushErrorScope('out-of-memory');
  d?.pushErrorScope('validation');
  let thrown: string | null = null;
  try {
    await f();
  } catch (e) {
    thrown = e instanceof Error ? e.message : String(e);
  }
  const validation = (await d?.popErrorScope()) ?? null;
  const oom = (await d?.popErrorScope()) ?? null;
  return thrown ?? (oom === null ? null : `out of memory: ${oom.message}`) ?? (validation === null ? null : `validation: ${validation.message}`);
}

interface Row {
  case: string;
  batch: number;
  sPerStep?: number;
  chipsPerS?: number;
  tflops?: number;
  ratioVsClayV0?: number;
  footprintGiB: number;
  largestTensorMiB: number;
  failed?: string;
}

async function runBatch(name: string, size: ModelSize, img: number, patch: number, batch: number, steps: number): Promise<Row> {
  const cfg = clayConfig(size, { imageSize: img, patchSize: patch });
  const row: Row = {
    case: name, batch, footprintGiB: Number((estimateFootprint(cfg, batch, 'train').peakBytes / 2 ** 30).toFixed(2)),
    largestTensorMiB: Number((largestTensor(cfg, batch, 'train').bytes / 2 ** 20).toFixed(1)),
  };
  const params = initParams(cfg, 1);
  const model = new ClayModel(params);
  let trainer: Trainer | null = null;
  const data = benchBatch(img, batch);
  const times: number[] = [];
  const failed = await scoped(async () => {
    trainer = new Trainer(model, { batchSize: batch });
    for (let s = 0; s <= steps; s++) {
      const t0 = performance.now();
      const inputs = prepareInputs(cfg, data);
      const loss = await trainer.step([{ inputs, mask: randomMask(cfg, batch, s + 1) }]);
      disposeInputs(inputs);
      if (!Number.isFinite(loss)) throw new Error(`loss ${loss}`);
      if (s > 0) times.push((performance.now() - t0) / 1000);
    }
  });
  (trainer as Trainer | null)?.dispose();
  model.dispose();
  disposeParams(params);
  if (failed !== null) return { ...row, failed: failed.slice(0, 300) };
  const s = Math.min(...times);
  const chips = batch / s;
  return {
    ...row, sPerStep: Number(s.toFixed(4)), chipsPerS: Number(chips.toFixed(2)),
    tflops: Number((trainStepFlops(cfg, batch) / s / 1e12).toFixed(2)), ratioVsClayV0: Number((chips / CLAY_V0_CHIPS_PER_S).toFixed(3)),
  };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  // A literal import, so that the bundle carries tfjs-webgpu (model/webgpu.ts imports it by a computed name).
  provideWebGpuBackendModule(await import('@tensorflow/tfjs-backend-webgpu'));
  const steps = Number(arg('steps', '3'));
  const maxBatch = Number(arg('max-batch', '64'));
  const budgetS = Number(arg('budget-s', '420'));
  const info = await initBackend({ prefer: 'webgpu', log: () => {} });
  const a = info.adapter;
  process.stdout.write(`${JSON.stringify({ event: 'Bench:Adapter', ...a, limits: info.limits })}\n`);
  if (a?.isCpu === true && !process.argv.includes('--allow-cpu-adapter')) {
    process.stderr.write(`the adapter is a CPU adapter (${a.description}): no GPU driver reached Vulkan; pass --allow-cpu-adapter to run anyway\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`adapter: ${a?.vendor} ${a?.architecture} ${a?.device} (${a?.description}); maxBufferSize ${info.limits?.maxBufferSize}, maxStorageBufferBindingSize ${info.limits?.maxStorageBufferBindingSize}\n`);
  process.stderr.write('case            batch   s/step  chips/s  TFLOP/s  vs v0 (23.8/s)  est GiB  largest tensor MiB\n');
  for (const name of arg('cases', 'tiny-512-32,small-512-32').split(',')) {
    const [size, img, patch] = name.split('-');
    if (size !== 'tiny' && size !== 'small' && size !== 'medium' && size !== 'large') throw new Error(`--cases: unknown size in ${name}`);
    const cfg = clayConfig(size, { imageSize: Number(img), patchSize: Number(patch) });
    const cap = Math.min(maxBatch, largestFittingBatch(cfg, 'train', null, maxBatch, info.tensorLimitBytes));
    let best: Row | null = null;
    for (let b = 1; b <= cap; b *= 2) {
      if ((performance.now() - t0) / 1000 > budgetS) {
        process.stderr.write(`${name}: --budget-s ${budgetS} reached, stopping before batch ${b}\n`);
        break;
      }
      const row = await runBatch(name, size, Number(img), Number(patch), b, steps);
      process.stdout.write(`${JSON.stringify({ event: 'Bench:Step', ...row })}\n`);
      const cell = (v: number | undefined, d: number): string => (v === undefined ? '-' : v.toFixed(d));
      process.stderr.write(`${name.padEnd(15)} ${String(b).padStart(5)}  ${cell(row.sPerStep, 3).padStart(7)}  ${cell(row.chipsPerS, 2).padStart(7)}  ` +
        `${cell(row.tflops, 2).padStart(7)}  ${cell(row.ratioVsClayV0, 3).padStart(14)}  ${row.footprintGiB.toFixed(2).padStart(7)}  ${row.largestTensorMiB.toFixed(1).padStart(18)}` +
        `${row.failed === undefined ? '' : `  failed: ${row.failed}`}\n`);
      if (row.failed !== undefined) break;
      best = row;
    }
    process.stdout.write(`${JSON.stringify({ event: 'Bench:Largest', case: name, batch: best?.batch ?? 0, cappedBy: cap < maxBatch ? 'maxStorageBufferBindingSize' : '--max-batch', best })}\n`);
  }
}

await main();
