/**
 * The differentiable ops the model is built from besides the fused block, each with a hand-written
 * gradient (whose temporaries are freed in a tidy: tfjs runs custom gradients outside one). Why: on the WASM
 * backend `matMul` with transpose flags takes a slow path (about 3x), and the stock gradients of matMul use
 * those flags; gather's stock gradient needs UnsortedSegmentSum, which WASM lacks. Every matrix product
 * here transposes explicitly, forward and backward. Constants (inputs, indices) are closed over rather than
 * passed as inputs, so no gradient is computed for them.
 */
import * as tf from '@tensorflow/tfjs';

/** LayerNorm epsilon, as torch.nn.LayerNorm's default (v0 uses the default). */
export const LN_EPS = 1e-5;

/** Swaps the last two axes with an explicit Transpose kernel. */
export function swapLast(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

/**
 * y = x w + b for x `[..., in]`, w `[in, out]` (the transpose of a torch Linear weight), b `[out]` or null.
 * When `constInput` is set, x is treated as a constant (no gradient computed for it).
 */
export function linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null, constInput = false): tf.Tensor {
  const [inDim, outDim] = w.shape as [number, number];
  const lead = x.shape.slice(0, -1);
  const x2 = x.reshape([-1, inDim]);
  const fwd = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor | null): tf.Tensor => {
    const y = tf.matMul(xx as tf.Tensor2D, ww as tf.Tensor2D);
    return bb === null ? y : tf.add(y, bb);
  };
  const gx = (dy: tf.Tensor, ww: tf.Tensor): tf.Tensor => tf.matMul(dy as tf.Tensor2D, swapLast(ww) as tf.Tensor2D);
  const gw = (dy: tf.Tensor, xx: tf.Tensor): tf.Tensor => tf.matMul(swapLast(xx) as tf.Tensor2D, dy as tf.Tensor2D);
  let y: tf.Tensor;
  if (constInput) {
    const f = tf.customGrad((...args) => {
      const ww = args[0] as tf.Tensor;
      const bb = b === null ? null : (args[1] as tf.Tensor);
      return {
        value: fwd(x2, ww, bb),
        gradFunc: (dy: tf.Tensor) => tf.tidy(() => (bb === null ? [gw(dy, x2)] : [gw(dy, x2), tf.sum(dy, 0)])),
      };
    });
    y = b === null ? f(w) : f(w, b);
  } else {
    const f = tf.customGrad((...args) => {
      const xx = args[0] as tf.Tensor;
      const ww = args[1] as tf.Tensor;
      const bb = b === null ? null : (args[2] as tf.Tensor);
      const save = args[args.length - 1] as tf.GradSaveFunc;
      save([xx, ww]);
      return {
        value: fwd(xx, ww, bb),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
          const [sx, sw] = saved as [tf.Tensor, tf.Tensor];
          const out = [gx(dy, sw), gw(dy, sx)];
          if (bb !== null) out.push(tf.sum(dy, 0));
          return out;
        }),
      };
    });
    y = b === null ? f(x2, w) : f(x2, w, b);
  }
  return y.reshape([...lead, outDim]);
}

/** Normalised rows of x `[N, D]`: returns [xhat, rstd] (biased variance, eps 1e-5). */
export function normalizeRows(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), LN_EPS));
  return [tf.mul(xc, rstd), rstd];
}

/** LayerNorm backward for 2-D dy: [dx, dgamma, dbeta]. */
export function layerNormBackward(dy: tf.Tensor, xhat: tf.Tensor, rstd: tf.Tensor, gamma: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const gy = tf.mul(dy, gamma);
  const m1 = tf.mean(gy, -1, true);
  const m2 = tf.mean(tf.mul(gy, xhat), -1, true);
  const dx = tf.mul(rstd, tf.sub(tf.sub(gy, m1), tf.mul(xhat, m2)));
  return [dx, tf.sum(tf.mul(dy, xhat), 0), tf.sum(dy, 0)];
}

/** LayerNorm over the last axis with affine gamma/beta (biased variance, eps 1e-5, as torch). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const d = shape[shape.length - 1] ?? 1;
  const x2 = x.reshape([-1, d]);
  const f = tf.customGrad((xi, gi, bi, save) => {
    const xx = xi as tf.Tensor;
    const g = gi as tf.Tensor;
    const [xhat, rstd] = normalizeRows(xx);
    (save as tf.GradSaveFunc)([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), bi as tf.Tensor),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
        const [sh, sr, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        return layerNormBackward(dy, sh, sr, sg);
      }),
    };
  });
  return f(x2, gamma, beta).reshape(shape);
}

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Phi(x) = (1 + erf(x/sqrt2))/2, the standard normal CDF. */
export function normalCdf(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.add(tf.erf(tf.mul(x, INV_SQRT2)), 1), 0.5);
}

/** d/dx GELU(x) = Phi(x) + x phi(x), given x and Phi(x). */
export function geluDerivative(x: tf.Tensor, cdf: tf.Tensor): tf.Tensor {
  const pdf = tf.mul(tf.exp(tf.mul(tf.square(x), -0.5)), INV_SQRT_2PI);
  return tf.add(cdf, tf.mul(x, pdf));
}

/**
 * Rows `idx` of x `[R, D]` (flat row indices, each used at most once). The gradient scatters back with
 * a second gather over [dy; 0] (no UnsortedSegmentSum, which WASM lacks; flat indices, because gather with
 * batchDims=1 disagrees between backends).
 */
export function gatherRows(x: tf.Tensor, idx: Int32Array): tf.Tensor {
  const [R, D] = x.shape as [number, number];
  const n = idx.length;
  const inv = new Int32Array(R).fill(n);
  for (let j = 0; j < n; j++) {
    const r = idx[j] ?? -1;
    if (r < 0 || r >= R || inv[r] !== n) throw new RangeError(`gatherRows: bad or repeated index ${r}`);
    inv[r] = j;
  }
  const full = n === R;
  const f = tf.customGrad((xi) => {
    const value = tf.tidy(() => {
      const it = tf.tensor1d(idx, 'int32');
      return tf.gather(xi as tf.Tensor, it);
    });
    return {
      value,
      gradFunc: (dy: tf.Tensor) => tf.tidy(() => {
        const src = full ? dy : tf.concat([dy, tf.zeros([1, D])], 0);
        return tf.gather(src, tf.tensor1d(inv, 'int32'));
      }),
    };
  });
  return f(x);
}

/**
 * v `[D]` repeated as n rows `[n, D]`; gradient: the column sum. As ones `[n, 1]` times v `[1, D]` (exact):
 * WASM's Tile is an element-by-element loop, ~50x slower than a broadcast multiply.
 */
export function repeatRows(v: tf.Tensor, n: number): tf.Tensor {
  const d = v.shape[0] ?? 0;
  const f = tf.customGrad((vi) => ({
    value: tf.mul(tf.ones([n, 1]), (vi as tf.Tensor).reshape([1, d])),
    gradFunc: (dy: tf.Tensor) => tf.sum(dy, 0),
  }));
  return f(v);
}
