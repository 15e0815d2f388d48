/**
 * One training step of Clay v0: gradients of the loss (optionally accumulated over micro-batches and
 * averaged, as Lightning's accumulate_grad_batches), then AdamW at the scheduled learning rate. Every
 * tensor a step makes is freed before it returns. A step reads one thing back from the backend, awaited:
 * the losses of its micro-batches, once the update is queued (gradients and moments stay on the device;
 * a synchronous read would stall a GPU queue, and tfjs-webgpu has none in Node).
 */
import * as tf from '@tensorflow/tfjs';
import { ClayError } from '../core/errors.ts';
import { AdamW, type AdamWOptions } from './adamw.ts';
import type { ClayModel } from './clay.ts';
import type { PreparedInputs } from './inputs.ts';
import type { Mask } from './masking.ts';
import { currentBackend } from './backend.ts';
import { assertFits, type Footprint } from './footprint.ts';
import { cosineWarmRestartsLr } from './schedule.ts';

/** One micro-batch: prepared inputs and its mask. */
export interface MicroBatch {
  readonly inputs: PreparedInputs;
  readonly mask: Mask;
}

/** Gradients by state_dict name (internal layout) and the loss; dispose the gradients. */
export interface Gradients {
  readonly loss: number;
  readonly grads: Map<string, tf.Tensor>;
}

/** Gradients as `Gradients`, the loss still on the device (a scalar tensor; dispose it too). */
export interface DeviceGradients {
  readonly loss: tf.Scalar;
  readonly grads: Map<string, tf.Tensor>;
}

/** Loss and gradients of every parameter for one micro-batch, the loss read back (awaited). */
export async function computeGradients(model: ClayModel, mb: MicroBatch): Promise<Gradients> {
  const { loss, grads } = deviceGradients(model, mb);
  const value = (await loss.data())[0] ?? Number.NaN;
  loss.dispose();
  return { loss: value, grads };
}

/** Loss and gradients of every parameter for one micro-batch, nothing read back. */
export function deviceGradients(model: ClayModel, mb: MicroBatch): DeviceGradients {
  const names: string[] = [];
  const vars: tf.Variable[] = [];
  for (const [name, v] of model.params.vars) {
    names.push(name);
    vars.push(v);
  }
  const { value, grads } = tf.variableGrads(() => model.forward(mb.inputs, mb.mask).loss, vars);
  const out = new Map<string, tf.Tensor>();
  vars.forEach((v, i) => {
    const g = grads[v.name];
    const name = names[i];
    if (g === undefined || name === undefined) throw new ClayError('INTERNAL', `no gradient for ${names[i] ?? v.name}`);
    out.set(name, g);
  });
  return { loss: value, grads: out };
}

/** Options of a Trainer (v0 defaults). */
export interface TrainerOptions extends AdamWOptions {
  /** Base learning rate (v0: 1e-4). */
  readonly lr?: number;
  /** Learning rate per optimizer step; default v0's CosineAnnealingWarmRestarts(1000, 2, 10*lr). */
  readonly schedule?: (step: number) => number;
  /** Largest micro-batch this trainer will see; its footprint is checked before anything runs. */
  readonly batchSize: number;
  /** Memory limit to check against; default the current backend's (WASM: 4 GiB), null = unbounded. */
  readonly memoryLimitBytes?: number | null;
  /** Largest tensor allowed; default the current backend's (webgpu: its largest buffer binding), null = none. */
  readonly tensorLimitBytes?: number | null;
}

/** AdamW training of a ClayModel, one optimizer step per call of `step`. */
export class Trainer {
  readonly model: ClayModel;
  readonly optimizer: AdamW;
  /** Estimated memory of one step at `batchSize` (checked against the backend's limit). */
  readonly footprint: Footprint;
  readonly batchSize: number;
  private readonly schedule: (step: number) => number;

  /**
   * Throws ClayError MODEL_CONFIG, naming the limit, when a step at `batchSize` cannot fit the backend
   * (its memory, or on webgpu its largest tensor: the tensor is named too).
   */
  constructor(model: ClayModel, opts: TrainerOptions) {
    const backend = currentBackend();
    const limit = opts.memoryLimitBytes === undefined ? (backend?.memoryLimitBytes ?? null) : opts.memoryLimitBytes;
    const tensorLimit = opts.tensorLimitBytes === undefined ? (backend?.tensorLimitBytes ?? null) : opts.tensorLimitBytes;
    this.footprint = assertFits(model.cfg, opts.batchSize, 'train', limit, backend?.choice ?? 'backend', tensorLimit);
    this.batchSize = opts.batchSize;
    this.model = model;
    this.optimizer = new AdamW(opts);
    const baseLr = opts.lr ?? 1e-4;
    this.schedule = opts.schedule ?? ((s: number) => cosineWarmRestartsLr(s, { baseLr }));
  }

  /** The rate the next step will use. */
  get lr(): number {
    return this.schedule(this.optimizer.step);
  }

  /**
   * One optimizer step over `micro` (gradient accumulation: gradients averaged over the micro-batches).
   * Resolves to the mean loss of the micro-batches, computed before the update.
   */
  async step(micro: readonly MicroBatch[]): Promise<number> {
    if (micro.length === 0) throw new ClayError('BAD_ARGUMENT', 'a training step needs at least one micro-batch');
    const big = micro.find((m) => m.inputs.batch > this.batchSize);
    if (big !== undefined) {
      throw new ClayError('MODEL_CONFIG', `micro-batch of ${big.inputs.batch} exceeds the checked batch size ${this.batchSize}`);
    }
    let sum: Map<string, tf.Tensor> | null = null;
    const losses: tf.Scalar[] = [];
    for (const mb of micro) {
      const { loss, grads } = deviceGradients(this.model, mb);
      losses.push(loss);
      if (sum === null) {
        sum = grads;
      } else {
        for (const [name, g] of grads) {
          const prev = sum.get(name);
          sum.set(name, prev === undefined ? g : tf.add(prev, g));
          if (prev !== undefined) tf.dispose([prev, g]);
        }
      }
    }
    const grads = sum ?? new Map<string, tf.Tensor>();
    if (micro.length > 1) {
      for (const [name, g] of grads) {
        grads.set(name, tf.div(g, micro.length));
        g.dispose();
      }
    }
    this.optimizer.apply(this.model.params.vars, grads, this.lr);
    for (const g of grads.values()) g.dispose();
    // The one read of the step, after the update is queued; the mean is taken in float64 here.
    const stacked = tf.stack(losses);
    tf.dispose(losses);
    const values = await stacked.data();
    stacked.dispose();
    let lossSum = 0;
    for (const v of values) lossSum += v;
    return lossSum / micro.length;
  }

  /** Frees the optimizer state (not the model). */
  dispose(): void {
    this.optimizer.dispose();
  }
}
