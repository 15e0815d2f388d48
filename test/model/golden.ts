/**
 * Test helper: reads the Clay v0 golden set (`test/golden/clay-tiny-64`, in the repository: tensors exported
 * from the original PyTorch model; its README says how), and compares tensors against it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as assert from 'node:assert/strict';
import type { ClayConfig } from '../../model/config.ts';
import type { ClayBatch } from '../../model/inputs.ts';

/**
 * Folder of the golden set: `CLAY_GOLDEN_DIR` when set (another copy, e.g. a newer export), else the copy
 * in the repository, `test/golden/clay-tiny-64/`, so a clean clone tests against it. Missing: the tests
 * fail saying where they looked (never skip).
 */
export const GOLDEN_DIR = ((): string => {
  const env = process.env.CLAY_GOLDEN_DIR;
  const dir = env ? (env.endsWith('/') ? env : `${env}/`) : fileURLToPath(new URL('../golden/clay-tiny-64/', import.meta.url));
  if (!existsSync(`${dir}manifest.json`)) throw new Error(`golden set not found: no manifest.json in ${dir}`);
  return dir;
})();

/** One manifest entry. */
export interface GoldenEntry {
  name: string;
  kind: string;
  shape: number[];
  offset: number;
  length: number;
  nbytes: number;
}

interface Manifest {
  config: Record<string, number>;
  param_order: string[];
  lr_steps: number[];
  tensors: GoldenEntry[];
  adamw: { lr: number; weight_decay: number; betas: [number, number]; eps: number };
  values: Record<string, number>;
  noise_floor_f32_vs_f64_maxabs: Record<string, number>;
  blob_sha256?: string;
}

function isManifest(v: unknown): v is Manifest {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return Array.isArray(m['tensors']) && Array.isArray(m['param_order']) && typeof m['config'] === 'object';
}

/** The golden set, loaded once. */
export class Golden {
  readonly manifest: Manifest;
  private readonly blob: Buffer;

  constructor(dir = GOLDEN_DIR) {
    const raw: unknown = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8'));
    if (!isManifest(raw)) throw new Error('golden manifest is not clay-golden-v1');
    this.manifest = raw;
    this.blob = readFileSync(`${dir}/golden.bin`);
    // A copy mangled on the way (a Git LFS pointer, a line-ending filter) fails here, not as a wrong number.
    const sha = createHash('sha256').update(this.blob).digest('hex');
    if (raw.blob_sha256 !== undefined && sha !== raw.blob_sha256) throw new Error(`${dir}golden.bin: sha256 ${sha}, the manifest says ${raw.blob_sha256}`);
  }

  entry(name: string): GoldenEntry {
    const e = this.manifest.tensors.find((t) => t.name === name);
    if (e === undefined) throw new Error(`no golden tensor ${name}`);
    return e;
  }

  /** Names of every tensor of a kind. */
  names(kind: string): string[] {
    return this.manifest.tensors.filter((t) => t.kind === kind).map((t) => t.name);
  }

  /** A tensor's values (copied: the blob's offsets need not be 4-aligned). */
  get(name: string): Float32Array {
    const e = this.entry(name);
    return new Float32Array(Uint8Array.from(this.blob.subarray(e.offset, e.offset + e.nbytes)).buffer);
  }

  /** The model config the set was made with. */
  config(): ClayConfig {
    const c = this.manifest.config;
    const n = (k: string): number => {
      const v = c[k];
      if (typeof v !== 'number') throw new Error(`golden config lacks ${k}`);
      return v;
    };
    return {
      imageSize: n('image_size'), patchSize: n('patch_size'), maskRatio: n('mask_ratio'),
      dim: n('dim'), depth: n('depth'), heads: n('heads'), dimHead: n('dim_head'), mlpRatio: n('mlp_ratio'),
      decoderDim: n('decoder_dim'), decoderDepth: n('decoder_depth'), decoderHeads: n('decoder_heads'),
      decoderDimHead: n('decoder_dim_head'), decoderMlpRatio: n('decoder_mlp_ratio'),
    };
  }

  /** The golden input batch. */
  batch(): ClayBatch {
    const pixels = this.get('input/pixels');
    const b = this.entry('input/pixels').shape[0] ?? 0;
    return { batch: b, pixels, latlon: this.get('input/latlon'), timestep: this.get('input/timestep') };
  }
}

/** Largest |a - b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return m;
}

/** Largest |v|. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] ?? 0));
  return m;
}

/** Asserts max |actual - expected| <= tol, naming the tensor. */
export function assertClose(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  const d = maxAbsDiff(actual, expected);
  assert.ok(d <= tol, `${name}: max abs diff ${d.toExponential(3)} > ${tol.toExponential(3)}`);
}
