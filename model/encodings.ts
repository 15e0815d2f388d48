/**
 * Fixed sin-cos encodings of Clay v0 (`src/utils.py`, from vit-pytorch's simple_vit). The original computes
 * them in float32 and stores them as float16 buffers that are added to float32 activations, so the values
 * the model really uses are float16-rounded; we reproduce that rounding.
 */
import { BAND_GROUPS } from './config.ts';

/** Rounds a number to the nearest float16 value (round half to even), returned as a JS number. */
export function roundToFloat16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  if (e < -14) e = -14; // subnormal range: fixed spacing 2^-24
  const ulp = 2 ** (e - 10);
  const q = a / ulp; // exact: scaling by a power of two
  const fl = Math.floor(q);
  const frac = q - fl;
  const r = frac > 0.5 || (frac === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  return Math.sign(x) * r * ulp;
}

const f32 = Math.fround;

/** omega_k = 1 / 10000^(k/(n-1)), k < n, computed step by step in float32 as torch does. */
function omegas(n: number): Float64Array {
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = f32(1 / f32(10000 ** f32(k / (n - 1))));
  return out;
}

/** Options for the encodings: float16 rounding (default true, as the model uses them). */
export interface EncodingOptions {
  readonly float16?: boolean;
}

/**
 * posemb_sincos_2d(h = w = side, dim): `[side*side, dim]`, row-major tokens l = row*side + col, features
 * [sin(x w), cos(x w), sin(y w), cos(y w)] with x = column, y = row.
 */
export function posembSincos2d(side: number, dim: number, opts: EncodingOptions = {}): Float32Array {
  const q = dim / 4;
  const w = omegas(q);
  const round = opts.float16 === false ? f32 : (v: number) => roundToFloat16(f32(v));
  const out = new Float32Array(side * side * dim);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const base = (y * side + x) * dim;
      for (let k = 0; k < q; k++) {
        const ax = f32(x * (w[k] ?? 0));
        const ay = f32(y * (w[k] ?? 0));
        out[base + k] = round(Math.sin(ax));
        out[base + q + k] = round(Math.cos(ax));
        out[base + 2 * q + k] = round(Math.sin(ay));
        out[base + 3 * q + k] = round(Math.cos(ay));
      }
    }
  }
  return out;
}

/** posemb_sincos_1d(length, dim): `[length, dim]`, features [sin(p w), cos(p w)]. */
export function posembSincos1d(length: number, dim: number, opts: EncodingOptions = {}): Float32Array {
  const h = dim / 2;
  const w = omegas(h);
  const round = opts.float16 === false ? f32 : (v: number) => roundToFloat16(f32(v));
  const out = new Float32Array(length * dim);
  for (let p = 0; p < length; p++) {
    for (let k = 0; k < h; k++) {
      const a = f32(p * (w[k] ?? 0));
      out[p * dim + k] = round(Math.sin(a));
      out[p * dim + h + k] = round(Math.cos(a));
    }
  }
  return out;
}

/**
 * The token encodings of one half of the model (encoder or decoder at width `dim`): `[G*L, dim]`, token
 * t = g*L + l gets concat(pos[l], band[g]) (position first, as v0).
 */
export function tokenEncodings(side: number, dim: number): Float32Array {
  const half = dim / 2;
  const L = side * side;
  const G = BAND_GROUPS.length;
  const pos = posembSincos2d(side, half);
  const band = posembSincos1d(G, half);
  const out = new Float32Array(G * L * dim);
  for (let g = 0; g < G; g++) {
    for (let l = 0; l < L; l++) {
      const base = (g * L + l) * dim;
      out.set(pos.subarray(l * half, (l + 1) * half), base);
      out.set(band.subarray(g * half, (g + 1) * half), base + half);
    }
  }
  return out;
}
