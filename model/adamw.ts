/**
 * AdamW exactly as `torch.optim.AdamW` (v0: lr 1e-4, weight decay 0.05, betas 0.9/0.95, eps 1e-8, one
 * parameter group): decoupled decay `p *= 1 - lr*wd` on EVERY parameter (norms, biases and the mask token
 * too, as v0), then `p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)`.
 */
import * as tf from '@tensorflow/tfjs';

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
    this.weightDecay = opts.weightDecay ?? 0.05;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.95;
    this.eps = opts.eps ?? 1e-8;
  }

  /** The moments of a parameter (undefined before its first step). */
  moments(name: string): Moments | undefined {
    return this.state.get(name);
  }

  /** One update of every variable that has a gradient, at learning rate `lr`. */
  apply(vars: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const { beta1: b1, beta2: b2, eps } = this;
    const stepSize = lr / (1 - b1 ** this.step);
    const bc2Sqrt = Math.sqrt(1 - b2 ** this.step);
    const decay = 1 - lr * this.weightDecay;
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
        const m = tf.add(tf.mul(expAvg, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(expAvgSq, b2), tf.mul(tf.square(g), 1 - b2));
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps);
        const next = tf.sub(tf.mul(p, decay), tf.mul(tf.div(m, denom), stepSize));
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
