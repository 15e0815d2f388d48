/**
 * Worker-thread side of ParallelTrainer: one tfjs backend (WASM by default) per thread with a full
 * replica of the model. Per step: (1) gradients of its shard into its slot of a shared buffer; (2) for the
 * parameters it owns (a contiguous, size-balanced share), the weighted mean of all slots, AdamW (it holds
 * the moments of its share only), and the new values into a shared parameter buffer; (3) the other
 * workers' new values copied in. Replicas stay identical; the optimizer work is split, not repeated.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { AdamW, type AdamWOptions } from './adamw.ts';
import { initBackend, type BackendChoice } from './backend.ts';
import { ClayModel } from './clay.ts';
import type { ClayConfig } from './config.ts';
import { disposeInputs, prepareInputs, type ClayBatch } from './inputs.ts';
import { maskFromNoise } from './masking.ts';
import { initParams, paramsFromTorch, toTorchLayout, type ClayParams } from './params.ts';
import { deviceGradients } from './trainer.ts';
import { copyTensorData } from './tensor-data.ts';

/** Data a worker starts with. */
export interface WorkerInit {
  readonly index: number;
  readonly cfg: ClayConfig;
  readonly backend: BackendChoice;
  readonly seed: number;
  /** PyTorch-layout initial parameters by name; absent: seeded default init. */
  readonly initial: Record<string, Float32Array> | null;
  readonly adamw: AdamWOptions;
  readonly workers: number;
  /** `workers` slots of `numel` floats: slot i holds worker i's gradient. */
  readonly grads: SharedArrayBuffer;
  /** `numel` floats: the parameters after the update, written by their owners. */
  readonly shared: SharedArrayBuffer;
}

/** Worker `index`'s share of the flat parameter vector: whole parameters, contiguous, sizes balanced. */
export function ownedRange(sizes: readonly number[], workers: number, index: number): [number, number] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const bounds = [0];
  let acc = 0;
  for (let i = 0; i < sizes.length; i++) {
    acc += sizes[i] ?? 0;
    if (bounds.length < workers && acc >= (total * bounds.length) / workers) bounds.push(i + 1);
  }
  while (bounds.length < workers) bounds.push(sizes.length);
  bounds.push(sizes.length);
  return [bounds[index] ?? 0, bounds[index + 1] ?? sizes.length];
}

/** Messages to a worker. */
export type WorkerRequest =
  | { type: 'grads'; batch: ClayBatch; noise: Float32Array }
  | { type: 'apply'; lr: number; weights: number[] }
  | { type: 'sync' }
  | { type: 'params' }
  | { type: 'close' };

/** Replies from a worker. */
export type WorkerReply =
  | { type: 'ready'; backend: string }
  | { type: 'grads'; loss: number; ms: number }
  | { type: 'applied'; ms: number }
  | { type: 'synced'; ms: number }
  | { type: 'params'; values: Record<string, Float32Array> }
  | { type: 'error'; message: string; code?: string };

function run(init: WorkerInit, port: NonNullable<typeof parentPort>): void {
  let params: ClayParams;
  let model: ClayModel;
  let opt: AdamW;
  const reply = (r: WorkerReply): void => port.postMessage(r);

  const handle = async (req: WorkerRequest): Promise<void> => {
    const t0 = performance.now();
    if (req.type === 'grads') {
      const inputs = prepareInputs(init.cfg, req.batch);
      const { loss: lossT, grads } = deviceGradients(model, { inputs, mask: maskFromNoise(init.cfg, req.batch.batch, req.noise) });
      disposeInputs(inputs);
      let total = 0;
      for (const v of params.vars.values()) total += v.size;
      // Each gradient straight into this worker's slot (no concatenated copy, no intermediate array).
      const slot = new Float32Array(init.grads, init.index * total * 4, total);
      let off = 0;
      for (const [name, v] of params.vars) {
        const g = grads.get(name);
        if (g === undefined) throw new Error(`no gradient for ${name}`);
        await copyTensorData(g, slot.subarray(off, off + v.size));
        off += v.size;
      }
      tf.dispose([...grads.values()]);
      const loss = (await lossT.data())[0] ?? Number.NaN;
      lossT.dispose();
      reply({ type: 'grads', loss, ms: performance.now() - t0 });
    } else if (req.type === 'apply') {
      // The weighted mean of every worker's slot over the owned share (as tensor ops on the whole share: a
      // JS loop over it took 20-40 ms), AdamW on it, new values shared.
      const all = new Float32Array(init.grads);
      const total = all.length / req.weights.length;
      const entries = [...params.vars];
      const [first, last] = ownedRange(entries.map(([, v]) => v.size), init.workers, init.index);
      let off = 0;
      for (let i = 0; i < first; i++) off += entries[i]?.[1].size ?? 0;
      const start = off;
      let end = start;
      for (let i = first; i < last; i++) end += entries[i]?.[1].size ?? 0;
      const grads = new Map<string, tf.Tensor>();
      tf.tidy(() => {
        let g: tf.Tensor | null = null;
        for (const [k, w] of req.weights.entries()) {
          if (w === 0) continue;
          const part = tf.mul(tf.tensor1d(all.subarray(k * total + start, k * total + end)), w);
          g = g === null ? part : tf.add(g, part);
        }
        g ??= tf.zeros([end - start]);
        for (let i = first, o = 0; i < last; i++) {
          const [name, v] = entries[i] as [string, tf.Variable];
          grads.set(name, tf.keep(tf.slice(g, [o], [v.size]).reshape(v.shape)));
          o += v.size;
        }
      });
      opt.apply(params.vars, grads, req.lr);
      tf.dispose([...grads.values()]);
      const out = new Float32Array(init.shared);
      off = start;
      for (let i = first; i < last; i++) {
        const v = (entries[i] as [string, tf.Variable])[1];
        await copyTensorData(v, out.subarray(off, off + v.size));
        off += v.size;
      }
      reply({ type: 'applied', ms: performance.now() - t0 });
    } else if (req.type === 'sync') {
      const all = new Float32Array(init.shared);
      const entries = [...params.vars];
      const [first, last] = ownedRange(entries.map(([, v]) => v.size), init.workers, init.index);
      let off = 0;
      entries.forEach(([, v], i) => {
        if (i < first || i >= last) tf.tidy(() => v.assign(tf.tensor(all.subarray(off, off + v.size), v.shape)));
        off += v.size;
      });
      reply({ type: 'synced', ms: performance.now() - t0 });
    } else if (req.type === 'params') {
      const values: Record<string, Float32Array> = {};
      for (const spec of params.specs) {
        const v = params.vars.get(spec.name);
        if (v === undefined) continue;
        const t = toTorchLayout(spec, v);
        values[spec.name] = Float32Array.from(await t.data());
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
      // Requests are handled one at a time, in order (ParallelTrainer waits for each reply anyway).
      let queue: Promise<void> = Promise.resolve();
      port.on('message', (req: WorkerRequest) => {
        queue = queue.then(() => handle(req)).catch((err: unknown) => {
          const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
          reply({ type: 'error', message: err instanceof Error ? err.message : String(err), ...(code === undefined ? {} : { code }) });
        });
      });
      reply({ type: 'ready', backend: b.tfName });
    })
    .catch((err: unknown) => reply({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
}

if (parentPort !== null) run(workerData as WorkerInit, parentPort);
