/**
 * AdamW exactly as `torch.optim.AdamW` (v0: lr 1e-4, weight decay 0.05, betas 0.9/0.95, eps 1e-8, one
 * parameter group): decoupled decay `p *= 1 - lr*wd` on EVERY parameter (norms, biases and the mask token
 * too, as v0), then `p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)`.
 */
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_ADAMW } from './engine.ts';

/**
 * Name of a fused update kernel a backend may register (model/wasm-kernels.ts does, for WASM): inputs p,
 * g, m, v; attribute `c` (AdamWConstants); outputs p', m', v', bit-identical to `tensorUpdate`.
 */
export const ADAMW_KERNEL = 'ClayAdamW';

/**
 * The constants of one update, each rounded to float32 as tfjs rounds a JS number that meets a float32
 * tensor: b1, 1-b1, b2, 1-b2, sqrt(1-b2^t), eps, 1-lr*wd, lr/(1-b1^t).
 */
export interface AdamWConstants {
  readonly b1: number;
  readonly ob1: number;
  readonly b2: number;
  readonly ob2: number;
  readonly bc2Sqrt: number;
  readonly eps: number;
  readonly decay: number;
  readonly stepSize: number;
}

const f32 = Math.fround;

/**
 * `tensorUpdate` on flat float32 arrays, element by element with the same operations in the same order,
 * each rounded to float32 (so bit-identical: +, -, *, / and sqrt of float32 values done in float64 and
 * rounded once are correctly rounded). Writes p', m', v' to pOut, mOut, vOut (which may be p, m, v).
 */
export function adamwUpdate(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  pOut: Float32Array, mOut: Float32Array, vOut: Float32Array, c: AdamWConstants,
): void {
  const { b1, ob1, b2, ob2, bc2Sqrt, eps, decay, stepSize } = c;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] as number;
    const mi = f32(f32((m[i] as number) * b1) + f32(gi * ob1));
    const vi = f32(f32((v[i] as number) * b2) + f32(f32(gi * gi) * ob2));
    const denom = f32(f32(f32(Math.sqrt(vi)) / bc2Sqrt) + eps);
    pOut[i] = f32(f32((p[i] as number) * decay) - f32(f32(mi / denom) * stepSize));
    mOut[i] = mi;
    vOut[i] = vi;
  }
}

/** The update with tensor ops: [p', m', v']. */
export function tensorUpdate(p: tf.Tensor, g: tf.Tensor, expAvg: tf.Tensor, expAvgSq: tf.Tensor, c: AdamWConstants): tf.Tensor[] {
  const m = tf.add(tf.mul(expAvg, c.b1), tf.mul(g, c.ob1));
  const v = tf.add(tf.mul(expAvgSq, c.b2), tf.mul(tf.square(g), c.ob2));
  const denom = tf.add(tf.div(tf.sqrt(v), c.bc2Sqrt), c.eps);
  return [tf.sub(tf.mul(p, c.decay), tf.mul(tf.div(m, denom), c.stepSize)), m, v];
}

/** Hyper-parameters (the rate itself comes per step, from the schedule). */
export interface AdamWOptions {
  readonly weightDecay?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
}

/** Optimizer state of one parameter. */
export interface Moments {
  readonly expAvg: tf.Variable;
  readonly expAvgSq: tf.Variable;
}

function zerosVariable(like: tf.Tensor): tf.Variable {
  const z = tf.zerosLike(like);
  const v = tf.variable(z, false);
  z.dispose();
  return v;
}

/** AdamW over a fixed set of named variables. */
export class AdamW {
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Steps taken (torch's `state['step']`). */
  step = 0;
  private readonly state = new Map<string, Moments>();

  constructor(opts: AdamWOptions = {}) {
    this.weightDecay = opts.weightDecay ?? DEFAULT_ADAMW.weightDecay;
    this.beta1 = opts.beta1 ?? DEFAULT_ADAMW.beta1;
    this.beta2 = opts.beta2 ?? DEFAULT_ADAMW.beta2;
    this.eps = opts.eps ?? DEFAULT_ADAMW.eps;
  }

  /** The moments of a parameter (undefined before its first step). */
  moments(name: string): Moments | undefined {
    return this.state.get(name);
  }

  /** Counts a step and returns its constants at learning rate `lr`. */
  nextStep(lr: number): AdamWConstants {
    this.step += 1;
    const { beta1: b1, beta2: b2 } = this;
    return {
      b1: f32(b1), ob1: f32(1 - b1), b2: f32(b2), ob2: f32(1 - b2), bc2Sqrt: f32(Math.sqrt(1 - b2 ** this.step)),
      eps: f32(this.eps), decay: f32(1 - lr * this.weightDecay), stepSize: f32(lr / (1 - b1 ** this.step)),
    };
  }

  /**
   * One update of every variable that has a gradient, at learning rate `lr`: one fused kernel call per
   * parameter where the backend has ADAMW_KERNEL (14 memory-bound passes become one), else tensor ops.
   */
  apply(vars: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    const c = this.nextStep(lr);
    const fused = tf.getKernel(ADAMW_KERNEL, tf.getBackend()) !== undefined;
    for (const [name, p] of vars) {
      const g = grads.get(name);
      if (g === undefined) continue;
      let st = this.state.get(name);
      if (st === undefined) {
        st = { expAvg: zerosVariable(p), expAvgSq: zerosVariable(p) };
        this.state.set(name, st);
      }
      const { expAvg, expAvgSq } = st;
      tf.tidy(() => {
        const [next, m, v] = fused
          ? tf.engine().runKernel(ADAMW_KERNEL, { p, g, m: expAvg, v: expAvgSq }, { c: { ...c } }) as tf.Tensor[]
          : tensorUpdate(p, g, expAvg, expAvgSq, c);
        if (next === undefined || m === undefined || v === undefined) throw new Error(`${ADAMW_KERNEL} returned too few tensors`);
        expAvg.assign(m);
        expAvgSq.assign(v);
        p.assign(next);
      });
    }
  }

  /** Names that have moments, in the order they were created. */
  names(): string[] {
    return [...this.state.keys()];
  }

  /**
   * Replaces the state: the step count and the moments of each named parameter (internal layout, copied).
   * Used to resume from a checkpoint; a resumed optimizer then steps exactly as the one that was saved.
   */
  restore(step: number, moments: ReadonlyMap<string, { expAvg: tf.Tensor; expAvgSq: tf.Tensor }>): void {
    this.dispose();
    this.step = step;
    for (const [name, m] of moments) {
      this.state.set(name, { expAvg: tf.variable(m.expAvg, false), expAvgSq: tf.variable(m.expAvgSq, false) });
    }
  }

  /** Frees the moments. */
  dispose(): void {
    for (const s of this.state.values()) tf.dispose([s.expAvg, s.expAvgSq]);
    this.state.clear();
  }
}
