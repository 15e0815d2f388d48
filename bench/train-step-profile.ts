/**
 * Where one single-threaded training step of the Clay port spends its time: wall ms of the phases
 * (inputs, gradients, AdamW) and the process's CPU time (less disturbed by other load on the machine) as the
 * median and the minimum of several steps, then tfjs's kernel profile of one step by
 * kernel name, and the matmuls by shape. For finding what bounds a step; bench/train-step.ts gives the
 * figures to compare with PyTorch.
 *
 *   node --import tsx bench/train-step-profile.ts [--backend wasm] [--size tiny] [--img 128] [--patch 16] [--batch 2] [--steps 5]
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../model/backend.ts';
import { clayConfig, type ModelSize } from '../model/config.ts';
import { ClayModel } from '../model/clay.ts';
import { disposeInputs, prepareInputs } from '../model/inputs.ts';
import { randomMask } from '../model/masking.ts';
import { initParams } from '../model/params.ts';
import { computeGradients, Trainer } from '../model/trainer.ts';
import { benchBatch } from './train-step-child.ts';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** Kernel ms and calls grouped by `key`, largest first. */
type Kernel = Awaited<ReturnType<typeof tf.profile>>['kernels'][number];

function group(kernels: readonly Kernel[], key: (k: Kernel) => string | null): [string, number, number][] {
  const by = new Map<string, [number, number]>();
  for (const k of kernels) {
    const name = key(k);
    if (name === null) continue;
    const t = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = by.get(name) ?? [0, 0];
    by.set(name, [e[0] + t, e[1] + 1]);
  }
  return [...by].map(([n, [t, c]]): [string, number, number] => [n, Math.round(t * 10) / 10, c]).sort((a, b) => b[1] - a[1]);
}

async function main(): Promise<void> {
  await initBackend({ prefer: arg('backend', 'wasm') as BackendChoice, log: () => {} });
  const cfg = clayConfig(arg('size', 'tiny') as ModelSize, { imageSize: Number(arg('img', '128')), patchSize: Number(arg('patch', '16')) });
  const batch = Number(arg('batch', '2'));
  const steps = Number(arg('steps', '5'));
  const data = benchBatch(cfg.imageSize, batch);
  const model = new ClayModel(initParams(cfg, 1));
  const trainer = new Trainer(model, { batchSize: batch });
  const phases: Record<'inputs' | 'grads' | 'adamw' | 'total', number[]> = { inputs: [], grads: [], adamw: [], total: [] };
  const cpu: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const inputs = prepareInputs(cfg, data);
    const t1 = performance.now();
    const { grads } = await computeGradients(model, { inputs, mask: randomMask(cfg, batch, s + 1) });
    const t2 = performance.now();
    trainer.optimizer.apply(model.params.vars, grads, 1e-4);
    tf.dispose([...grads.values()]);
    disposeInputs(inputs);
    const t3 = performance.now();
    const c1 = process.cpuUsage(c0);
    if (s === 0) continue;
    cpu.push((c1.user + c1.system) / 1000);
    phases.inputs.push(t1 - t0);
    phases.grads.push(t2 - t1);
    phases.adamw.push(t3 - t2);
    phases.total.push(t3 - t0);
  }
  console.log(`process CPU ms per step (median / min of ${steps}): ${median(cpu).toFixed(1)} / ${Math.min(...cpu).toFixed(1)}`);
  console.log(`wall ms per phase (median / min of ${steps}): ${Object.entries(phases).map(([k, v]) => `${k} ${median(v).toFixed(1)} / ${Math.min(...v).toFixed(1)}`).join(', ')}`);
  const inputs = prepareInputs(cfg, data);
  const mask = randomMask(cfg, batch, 99);
  let grads = new Map<string, tf.Tensor>();
  // tfjs reuses one profile object: keep each kernel list before the next profile.
  const pg = [...(await tf.profile(async () => {
    grads = (await computeGradients(model, { inputs, mask })).grads;
  })).kernels];
  const pa = [...(await tf.profile(() => trainer.optimizer.apply(model.params.vars, grads, 1e-4))).kernels];
  tf.dispose([...grads.values()]);
  disposeInputs(inputs);
  const skip = (n: string): boolean => n === 'forward' || n === 'unnamed scope';
  for (const [label, p] of [['gradients', pg], ['adamw', pa]] as const) {
    const rows = group(p, (k) => (skip(k.name) ? null : k.name));
    const sum = rows.reduce((a, r) => a + r[1], 0);
    console.log(`${label}: ${p.length} kernels, ${sum.toFixed(1)} ms kernel time`);
    for (const r of rows.slice(0, 14)) console.log(`  ${r[0].padEnd(20)} ${r[1].toFixed(1).padStart(7)} ms ${String(r[2]).padStart(5)} calls`);
  }
  console.log('matmuls by shape (gradients):');
  const mm = group(pg, (k) => (k.name === 'BatchMatMul' ? k.inputShapes.map((s: number[]) => s.join('x')).join(' * ') : null));
  for (const r of mm.slice(0, 20)) console.log(`  ${r[0].padEnd(32)} ${r[1].toFixed(1).padStart(7)} ms ${String(r[2]).padStart(5)} calls`);
  const sl = group(pg, (k) => (k.name === 'Slice' || k.name === 'GatherV2' || k.name === 'Concat' || k.name === 'Transpose' ? `${k.name} ${k.inputShapes.map((s: number[]) => s.join('x')).join(',')}` : null));
  console.log('slices, gathers, concats, transposes by input shape (gradients):');
  for (const r of sl.slice(0, 14)) console.log(`  ${r[0].padEnd(40)} ${r[1].toFixed(1).padStart(7)} ms ${String(r[2]).padStart(5)} calls`);
}

await main();
