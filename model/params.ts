/**
 * Parameters of the Clay v0 model: their PyTorch `state_dict` names, shapes and order (as
 * `CLAY.state_dict()`), PyTorch's default initialisation, and the conversion between PyTorch layouts and the
 * matmul-ready layouts used here (Linear weight `[out,in]` is held as `[in,out]`; Conv2d weight
 * `[D,C,P,P]` is held as `[C*P*P, D]`), so that no forward matmul needs a transpose.
 */
import * as tf from '@tensorflow/tfjs';
import { BAND_GROUPS, type ClayConfig } from './config.ts';

/** How a parameter is laid out in PyTorch and how it is initialised there. */
export type ParamKind = 'linear.weight' | 'conv.weight' | 'bias' | 'norm.weight' | 'norm.bias' | 'mask_token';

/** One parameter: its state_dict name, PyTorch shape and kind; `fanIn` sets the default init bound. */
export interface ParamSpec {
  readonly name: string;
  readonly torchShape: readonly number[];
  readonly kind: ParamKind;
  readonly fanIn: number;
}

function linearSpecs(name: string, inDim: number, outDim: number, bias = true): ParamSpec[] {
  const out: ParamSpec[] = [{ name: `${name}.weight`, torchShape: [outDim, inDim], kind: 'linear.weight', fanIn: inDim }];
  if (bias) out.push({ name: `${name}.bias`, torchShape: [outDim], kind: 'bias', fanIn: inDim });
  return out;
}

function normSpecs(name: string, dim: number): ParamSpec[] {
  return [
    { name: `${name}.weight`, torchShape: [dim], kind: 'norm.weight', fanIn: dim },
    { name: `${name}.bias`, torchShape: [dim], kind: 'norm.bias', fanIn: dim },
  ];
}

/** True when vit-pytorch's Attention has an output projection (it is Identity when heads == 1 and dimHead == dim). */
export function hasOutProjection(dim: number, heads: number, dimHead: number): boolean {
  return !(heads === 1 && dimHead === dim);
}

/** vit-pytorch 1.6.x Transformer parameters: final norm first (registered first), then the layers. */
function transformerSpecs(prefix: string, dim: number, depth: number, heads: number, dimHead: number, mlp: number): ParamSpec[] {
  const inner = heads * dimHead;
  const out = normSpecs(`${prefix}.norm`, dim);
  for (let i = 0; i < depth; i++) {
    const a = `${prefix}.layers.${i}.0`;
    const f = `${prefix}.layers.${i}.1`;
    out.push(...normSpecs(`${a}.norm`, dim), ...linearSpecs(`${a}.to_qkv`, dim, inner * 3, false));
    if (hasOutProjection(dim, heads, dimHead)) out.push(...linearSpecs(`${a}.to_out.0`, inner, dim));
    out.push(...normSpecs(`${f}.net.0`, dim), ...linearSpecs(`${f}.net.1`, dim, mlp), ...linearSpecs(`${f}.net.4`, mlp, dim));
  }
  return out;
}

/** Every parameter of CLAY(cfg), in `state_dict()` order. */
export function paramSpecs(cfg: ClayConfig): ParamSpec[] {
  const P = cfg.patchSize;
  const out: ParamSpec[] = [...linearSpecs('encoder.latlon_embedding', 2, cfg.dim), ...linearSpecs('encoder.time_embedding', 3, cfg.dim)];
  for (const g of BAND_GROUPS) {
    const c = g.bands.length;
    const fanIn = c * P * P;
    out.push(
      { name: `encoder.patch_embedding.${g.name}.proj.weight`, torchShape: [cfg.dim, c, P, P], kind: 'conv.weight', fanIn },
      { name: `encoder.patch_embedding.${g.name}.proj.bias`, torchShape: [cfg.dim], kind: 'bias', fanIn },
      ...normSpecs(`encoder.patch_embedding.${g.name}.norm`, cfg.dim),
    );
  }
  out.push(...transformerSpecs('encoder.transformer', cfg.dim, cfg.depth, cfg.heads, cfg.dimHead, cfg.dim * cfg.mlpRatio));
  out.push({ name: 'decoder.mask_patch', torchShape: [cfg.decoderDim], kind: 'mask_token', fanIn: 1 });
  if (cfg.dim !== cfg.decoderDim) out.push(...linearSpecs('decoder.enc_to_dec', cfg.dim, cfg.decoderDim));
  out.push(
    ...transformerSpecs('decoder.transformer', cfg.decoderDim, cfg.decoderDepth, cfg.decoderHeads, cfg.decoderDimHead,
      cfg.decoderDim * cfg.decoderMlpRatio),
  );
  for (const g of BAND_GROUPS) out.push(...linearSpecs(`decoder.embed_to_pixels.${g.name}`, cfg.decoderDim, P * P * g.bands.length));
  return out;
}

/** The shape a parameter is held in here (matmul-ready). */
export function internalShape(spec: ParamSpec): number[] {
  const s = spec.torchShape;
  if (spec.kind === 'linear.weight') return [s[1] ?? 0, s[0] ?? 0];
  if (spec.kind === 'conv.weight') return [(s[1] ?? 0) * (s[2] ?? 0) * (s[3] ?? 0), s[0] ?? 0];
  return [...s];
}

/** A PyTorch-layout tensor converted to the internal layout (a new tensor). */
export function fromTorchLayout(spec: ParamSpec, t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (spec.kind === 'linear.weight') return tf.transpose(t.reshape(spec.torchShape as number[]));
    if (spec.kind === 'conv.weight') return tf.transpose(t.reshape([spec.torchShape[0] ?? 0, -1]));
    return t.reshape(spec.torchShape as number[]).clone();
  });
}

/** An internal-layout tensor converted to the PyTorch layout (a new tensor). */
export function toTorchLayout(spec: ParamSpec, t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (spec.kind === 'linear.weight' || spec.kind === 'conv.weight') return tf.transpose(t).reshape(spec.torchShape as number[]);
    return t.clone();
  });
}

/** The model's parameters: specs in state_dict order and a variable per name (internal layout). */
export interface ClayParams {
  readonly cfg: ClayConfig;
  readonly specs: readonly ParamSpec[];
  readonly vars: ReadonlyMap<string, tf.Variable>;
}

/** The deterministic PRNG of initialisation and masking noise (re-exported from core/random.ts). */
export { mulberry32 } from '../core/random.ts';
import { mulberry32 } from '../core/random.ts';

/** Standard normal samples (Box-Muller) from a uniform PRNG. */
export function randn(n: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** PyTorch default init values for one parameter, in its PyTorch layout. */
function initValues(spec: ParamSpec, rand: () => number): Float32Array {
  const n = spec.torchShape.reduce((a, b) => a * b, 1);
  if (spec.kind === 'norm.weight') return new Float32Array(n).fill(1);
  if (spec.kind === 'norm.bias') return new Float32Array(n);
  if (spec.kind === 'mask_token') return randn(n, rand); // nn.Parameter(torch.randn(dim))
  // kaiming_uniform(a=sqrt(5)) for weights and the matching bias bound: both U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const bound = 1 / Math.sqrt(spec.fanIn);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 2 - 1) * bound;
  return out;
}

/** Fresh parameters as PyTorch state_dict arrays (names, PyTorch layouts), seeded: what `initParams` holds. */
export function initStateDict(cfg: ClayConfig, seed = 0): { name: string; shape: number[]; data: Float32Array }[] {
  const rand = mulberry32(seed);
  return paramSpecs(cfg).map((spec) => ({ name: spec.name, shape: [...spec.torchShape], data: initValues(spec, rand) }));
}

/** Fresh parameters with PyTorch's default initialisation, seeded. */
export function initParams(cfg: ClayConfig, seed = 0): ClayParams {
  const specs = paramSpecs(cfg);
  const init = initStateDict(cfg, seed);
  const vars = new Map<string, tf.Variable>();
  for (const [i, spec] of specs.entries()) {
    const t = tf.tensor(init[i]!.data, spec.torchShape as number[], 'float32');
    const internal = fromTorchLayout(spec, t);
    t.dispose();
    vars.set(spec.name, tf.variable(internal, true));
    internal.dispose();
  }
  return { cfg, specs, vars };
}

/** Parameters from PyTorch-layout arrays by state_dict name (every spec must be present). */
export function paramsFromTorch(cfg: ClayConfig, get: (spec: ParamSpec) => Float32Array): ClayParams {
  const specs = paramSpecs(cfg);
  const vars = new Map<string, tf.Variable>();
  for (const spec of specs) {
    const t = tf.tensor(get(spec), spec.torchShape as number[], 'float32');
    const internal = fromTorchLayout(spec, t);
    t.dispose();
    vars.set(spec.name, tf.variable(internal, true));
    internal.dispose();
  }
  return { cfg, specs, vars };
}

/** Disposes every variable. */
export function disposeParams(p: ClayParams): void {
  for (const v of p.vars.values()) v.dispose();
}

/** Number of scalar parameters. */
export function countParams(cfg: ClayConfig): number {
  return paramSpecs(cfg).reduce((s, p) => s + p.torchShape.reduce((a, b) => a * b, 1), 0);
}
