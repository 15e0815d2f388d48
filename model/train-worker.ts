/**
 * Worker-thread side of ParallelTrainer: one tfjs backend (WASM by default) per thread with a full
 * replica of the model and of AdamW. Per step it computes the gradients of its shard into its slot of a
 * shared buffer, then (after every worker has) averages all slots itself and applies the same AdamW
 * update, so the replicas stay identical without copying parameters around.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { AdamW, type AdamWOptions } from './adamw.ts';
import { initBackend, type BackendChoice } from './backend.ts';
import { ClayModel } from './clay.ts';
import type { ClayConfig } from './config.ts';
import { disposeInputs, prepareInputs, type ClayBatch } from './inputs.ts';
import { maskFromNoise } from './masking.ts';
import { initParams, internalShape, paramsFromTorch, toTorchLayout, type ClayParams } from './params.ts';
import { computeGradients } from './trainer.ts';

/** Data a worker starts with. */
export interface WorkerInit {
  readonly index: number;
  readonly cfg: ClayConfig;
  readonly backend: BackendChoice;
  readonly seed: number;
  /** PyTorch-layout initial parameters by name; absent: seeded default init. */
  readonly initial: Record<string, Float32Array> | null;
  readonly adamw: AdamWOptions;
  /** `workers` slots of `numel` floats: slot i holds worker i's gradient. */
  readonly grads: SharedArrayBuffer;
}

/** Messages to a worker. */
export type WorkerRequest =
  | { type: 'grads'; batch: ClayBatch; noise: Float32Array }
  | { type: 'apply'; lr: number; weights: number[] }
  | { type: 'params' }
  | { type: 'close' };

/** Replies from a worker. */
export type WorkerReply =
  | { type: 'ready'; backend: string }
  | { type: 'grads'; loss: number; ms: number }
  | { type: 'applied'; ms: number }
  | { type: 'params'; values: Record<string, Float32Array> }
  | { type: 'error'; message: string; code?: string };

function run(init: WorkerInit, port: NonNullable<typeof parentPort>): void {
  let params: ClayParams;
  let model: ClayModel;
  let opt: AdamW;
  const numel = (s: { name: string }): number => (params.vars.get(s.name)?.size ?? 0);
  const reply = (r: WorkerReply): void => port.postMessage(r);

  const handle = (req: WorkerRequest): void => {
    const t0 = performance.now();
    if (req.type === 'grads') {
      const inputs = prepareInputs(init.cfg, req.batch);
      const { loss, grads } = computeGradients(model, { inputs, mask: maskFromNoise(init.cfg, req.batch.batch, req.noise) });
      disposeInputs(inputs);
      const total = params.specs.reduce((a, s) => a + numel(s), 0);
      const slot = new Float32Array(init.grads, init.index * total * 4, total);
      let off = 0;
      for (const s of params.specs) {
        const g = grads.get(s.name);
        if (g !== undefined) slot.set(g.dataSync() as Float32Array, off);
        off += numel(s);
        g?.dispose();
      }
      reply({ type: 'grads', loss, ms: performance.now() - t0 });
    } else if (req.type === 'apply') {
      const total = params.specs.reduce((a, s) => a + numel(s), 0);
      const all = new Float32Array(init.grads);
      const avg = new Float32Array(total);
      req.weights.forEach((w, i) => {
        const base = i * total;
        for (let j = 0; j < total; j++) avg[j] = (avg[j] ?? 0) + w * (all[base + j] ?? 0);
      });
      const grads = new Map<string, tf.Tensor>();
      let off = 0;
      for (const s of params.specs) {
        const n = numel(s);
        grads.set(s.name, tf.tensor(avg.subarray(off, off + n), internalShape(s)));
        off += n;
      }
      opt.apply(params.vars, grads, req.lr);
      tf.dispose([...grads.values()]);
      reply({ type: 'applied', ms: performance.now() - t0 });
    } else if (req.type === 'params') {
      const values: Record<string, Float32Array> = {};
      for (const spec of params.specs) {
        const v = params.vars.get(spec.name);
        if (v === undefined) continue;
        const t = toTorchLayout(spec, v);
        values[spec.name] = Float32Array.from(t.dataSync());
        t.dispose();
      }
      reply({ type: 'params', values });
    } else {
      model.dispose();
      opt.dispose();
      for (const v of params.vars.values()) v.dispose();
      port.close();
    }
  };

  initBackend({ prefer: init.backend, log: () => {} })
    .then((b) => {
      const initial = init.initial;
      params = initial === null
        ? initParams(init.cfg, init.seed)
        : paramsFromTorch(init.cfg, (s) => initial[s.name] ?? new Float32Array(0));
      model = new ClayModel(params);
      opt = new AdamW(init.adamw);
      port.on('message', (req: WorkerRequest) => {
        try {
          handle(req);
        } catch (err) {
          const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
          reply({ type: 'error', message: err instanceof Error ? err.message : String(err), ...(code === undefined ? {} : { code }) });
        }
      });
      reply({ type: 'ready', backend: b.tfName });
    })
    .catch((err: unknown) => reply({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
}

if (parentPort !== null) run(workerData as WorkerInit, parentPort);
