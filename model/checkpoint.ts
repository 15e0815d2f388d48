/**
 * Training checkpoints: everything a run needs to continue exactly where it stopped.
 *
 * A checkpoint is a folder `{out}/checkpoints/step-{NNNNNNNN}/` holding
 * - `weights.safetensors`: the parameters with PyTorch `state_dict` names and layouts (loads into the
 *   original's `CLAY` with `load_state_dict`, and into this port with `loadWeights`);
 * - `optimizer.safetensors`: AdamW's moments as torch keeps them (`{name}.exp_avg`, `{name}.exp_avg_sq`,
 *   PyTorch layouts), so the optimizer state also moves between the two;
 * - `checkpoint.json`: the step, the model config, the optimizer's hyper-parameters and step count, the
 *   schedule, the data position (epoch, samples consumed in it, seed) and the RNG state.
 * The folder is written under a hidden partial name and renamed into place, so a checkpoint that can be
 * seen is complete; `{out}/checkpoints/latest.json` (written atomically after the rename) names the newest.
 *
 * RNG state: the masking noise of micro-batch k of optimizer step s is drawn from a generator seeded with
 * `counterSeed(seed, s, k)` (a counter-based stream), so the state is the seed and the step, and a resumed
 * run draws the same masks as an uninterrupted one.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { ClayError, errorMessage } from '../core/errors.ts';
import type { AdamW } from './adamw.ts';
import { validateConfig, type ClayConfig } from './config.ts';
import { fromTorchLayout, toTorchLayout, type ClayParams } from './params.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.ts';
import { paramsFromStateDict, stateDict } from './weights.ts';

export const CHECKPOINT_FORMAT = 'clay-checkpoint/1';
export const WEIGHTS_FILE = 'weights.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const META_FILE = 'checkpoint.json';
export const LATEST_FILE = 'latest.json';
export const CHECKPOINTS_DIR = 'checkpoints';

/** Where the data stream stood after the last optimizer step of the checkpoint. */
export interface DataPosition {
  /** Epoch in progress (0-based). */
  readonly epoch: number;
  /** Training samples of that epoch already consumed. */
  readonly samplesInEpoch: number;
}

/** The JSON part of a checkpoint. */
export interface CheckpointMeta {
  readonly format: typeof CHECKPOINT_FORMAT;
  /** Optimizer steps taken. */
  readonly step: number;
  readonly model: { readonly size: string; readonly config: ClayConfig };
  readonly optimizer: { readonly kind: 'AdamW'; readonly weightDecay: number; readonly beta1: number; readonly beta2: number; readonly eps: number; readonly step: number };
  readonly schedule: { readonly kind: 'CosineAnnealingWarmRestarts'; readonly baseLr: number; readonly t0: number; readonly tMult: number; readonly etaMin: number };
  readonly data: DataPosition & { readonly seed: number; readonly batch: number; readonly accumulate: number; readonly source: string };
  readonly rng: { readonly kind: 'counter'; readonly seed: number; readonly nextStep: number };
  /** The run's options as given (for `--resume` to check it continues the same run). */
  readonly run: Record<string, string | number | boolean | null>;
}

/** A checkpoint read back: its folder, meta, parameters and the optimizer's moments (internal layout). */
export interface LoadedCheckpoint {
  readonly dir: string;
  readonly meta: CheckpointMeta;
  readonly params: ClayParams;
  /** Moments by parameter name, internal layout; dispose them once restored. */
  readonly moments: Map<string, { expAvg: tf.Tensor; expAvgSq: tf.Tensor }>;
}

/** A 32-bit seed for (seed, a, b) from a small integer hash (murmur3's finaliser over the mixed words). */
export function counterSeed(seed: number, a: number, b = 0): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const w of [a, b]) {
    h = Math.imul(h ^ (w >>> 0), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** The folder name of the checkpoint at `step`. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

async function optimizerTensors(params: ClayParams, optimizer: AdamW): Promise<NamedTensor[]> {
  const out: NamedTensor[] = [];
  for (const spec of params.specs) {
    const m = optimizer.moments(spec.name);
    if (m === undefined) continue;
    for (const [suffix, v] of [['exp_avg', m.expAvg], ['exp_avg_sq', m.expAvgSq]] as const) {
      const t = toTorchLayout(spec, v);
      const data = Float32Array.from(await t.data());
      t.dispose();
      out.push({ name: `${spec.name}.${suffix}`, shape: spec.torchShape, data });
    }
  }
  return out;
}

/**
 * Writes a checkpoint under `{out}/checkpoints/` and points `latest.json` at it; keeps the newest `keep`
 * checkpoints (older ones are removed after the new one is in place). Returns the checkpoint's folder.
 */
export async function saveCheckpoint(out: string, params: ClayParams, optimizer: AdamW, meta: CheckpointMeta, keep = 3): Promise<string> {
  const root = join(out, CHECKPOINTS_DIR);
  const name = checkpointName(meta.step);
  const final = join(root, name);
  const tmp = join(root, `.${name}.partial-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(tmp, { recursive: true });
    const runMeta = { format: 'pt', step: String(meta.step) };
    await writeFile(join(tmp, WEIGHTS_FILE), encodeSafetensors(await stateDict(params), runMeta));
    await writeFile(join(tmp, OPTIMIZER_FILE), encodeSafetensors(await optimizerTensors(params, optimizer), runMeta));
    await writeFile(join(tmp, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
    // A checkpoint of the same step from an earlier attempt is replaced whole.
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    await writeFileAtomic(join(root, LATEST_FILE), `${JSON.stringify({ step: meta.step, checkpoint: name })}\n`);
  } catch (cause) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw new ClayError('IO', `could not write checkpoint ${final}: ${errorMessage(cause)}`, { input: final, cause });
  }
  const all = (await readdir(root)).filter((n) => /^step-\d{8}$/.test(n)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    if (old !== name) await rm(join(root, old), { recursive: true, force: true });
  }
  return final;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The checkpoint folder `path` names: a checkpoint folder itself, or a training output folder (its
 * `checkpoints/latest.json`). CHECKPOINT_INVALID when there is none.
 */
export async function resolveCheckpoint(path: string): Promise<string> {
  if (await isDir(path)) {
    try {
      await stat(join(path, META_FILE));
      return path;
    } catch {
      // not a checkpoint folder: a training output folder?
    }
    const latest = join(path, CHECKPOINTS_DIR, LATEST_FILE);
    let text: string;
    try {
      text = await readFile(latest, 'utf8');
    } catch {
      throw new ClayError('CHECKPOINT_INVALID', `${path} holds no checkpoint (no ${META_FILE}, no ${CHECKPOINTS_DIR}/${LATEST_FILE})`, { input: path });
    }
    const name = (JSON.parse(text) as { checkpoint?: unknown }).checkpoint;
    if (typeof name !== 'string' || !/^step-\d{8}$/.test(name)) {
      throw new ClayError('CHECKPOINT_INVALID', `${latest} does not name a checkpoint`, { input: latest });
    }
    return join(path, CHECKPOINTS_DIR, name);
  }
  throw new ClayError('CHECKPOINT_INVALID', `${path} is not a checkpoint folder`, { input: path });
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new ClayError('CHECKPOINT_INVALID', `cannot read ${path}: ${errorMessage(cause)}`, { input: path, cause });
  }
}

/** Reads the meta of a checkpoint folder (checked for its format and config). */
export async function readCheckpointMeta(dir: string): Promise<CheckpointMeta> {
  const path = join(dir, META_FILE);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(new TextDecoder().decode(await readBytes(path))) as CheckpointMeta;
  } catch (cause) {
    if (cause instanceof ClayError) throw cause;
    throw new ClayError('CHECKPOINT_INVALID', `${path} is not JSON: ${errorMessage(cause)}`, { input: path, cause });
  }
  if (meta.format !== CHECKPOINT_FORMAT || !Number.isInteger(meta.step) || typeof meta.model?.config !== 'object') {
    throw new ClayError('CHECKPOINT_INVALID', `${path} is not a ${CHECKPOINT_FORMAT} checkpoint`, { input: path });
  }
  validateConfig(meta.model.config);
  return meta;
}

/** Loads a checkpoint (folder or training output folder): meta, parameters and optimizer moments. */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  const dir = await resolveCheckpoint(path);
  const meta = await readCheckpointMeta(dir);
  const cfg = meta.model.config;
  const wPath = join(dir, WEIGHTS_FILE);
  const params = paramsFromStateDict(cfg, decodeSafetensors(await readBytes(wPath)).tensors, wPath);
  const oPath = join(dir, OPTIMIZER_FILE);
  const byName = new Map(decodeSafetensors(await readBytes(oPath)).tensors.map((t) => [t.name, t]));
  const moments = new Map<string, { expAvg: tf.Tensor; expAvgSq: tf.Tensor }>();
  for (const spec of params.specs) {
    const a = byName.get(`${spec.name}.exp_avg`);
    const s = byName.get(`${spec.name}.exp_avg_sq`);
    if (a === undefined && s === undefined) continue;
    if (a === undefined || s === undefined || a.shape.join(',') !== spec.torchShape.join(',') || s.shape.join(',') !== spec.torchShape.join(',')) {
      throw new ClayError('CHECKPOINT_INVALID', `${oPath}: moments of ${spec.name} missing or not shaped [${spec.torchShape.join(',')}]`, { input: oPath });
    }
    const conv = (n: NamedTensor): tf.Tensor => tf.tidy(() => fromTorchLayout(spec, tf.tensor(n.data, spec.torchShape as number[], 'float32')));
    moments.set(spec.name, { expAvg: conv(a), expAvgSq: conv(s) });
  }
  if (meta.optimizer.step > 0 && moments.size !== params.specs.length) {
    throw new ClayError('CHECKPOINT_INVALID', `${oPath} holds moments of ${moments.size} of ${params.specs.length} parameters`, { input: oPath });
  }
  return { dir, meta, params, moments };
}
