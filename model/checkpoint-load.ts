/**
 * A model for inference (`clay embed`, `clay reconstruct`) from a checkpoint path: either a checkpoint
 * folder (`checkpoint.json` naming the config, `weights.safetensors` with PyTorch state_dict names), or a
 * bare `.safetensors` file whose config comes from the caller, or, when the caller names no size, from the
 * tensors' own shapes. Image size cannot be read from weights (the position encodings are fixed sin-cos,
 * not parameters), so a bare file defaults to v0's 512.
 *
 * Errors: CHECKPOINT_MISSING (no such path, or a folder without weights), CHECKPOINT_INVALID (a
 * checkpoint.json that is not JSON or lacks a valid `model`), WEIGHTS_INVALID (a corrupt safetensors file,
 * or tensors that do not match the config: the first mismatching tensor is named with both shapes),
 * BAD_ARGUMENT (a flag that contradicts checkpoint.json).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClayError, errorMessage } from '../core/errors.ts';
import { initBackend } from './backend.ts';
import { ClayModel } from './clay.ts';
import { BAND_GROUPS, MODEL_SIZES, clayConfig, validateConfig, type ClayConfig, type ModelSize } from './config.ts';
import { META_FILE as CHECKPOINT_META, WEIGHTS_FILE as CHECKPOINT_WEIGHTS, resolveCheckpoint } from './checkpoint.ts';
import { disposeParams, paramSpecs, type ClayParams } from './params.ts';
import { decodeSafetensors, type NamedTensor, type SafetensorsFile } from './safetensors.ts';
import { paramsFromStateDict } from './weights.ts';

/** File names inside a checkpoint folder (checkpoint.ts writes them). */
export { WEIGHTS_FILE as CHECKPOINT_WEIGHTS, META_FILE as CHECKPOINT_META } from './checkpoint.ts';

/** The part of `checkpoint.json` inference needs (the trainer's other keys are ignored here). */
export interface CheckpointModelInfo {
  /** A v0 size, or (a trainer checkpoint of a JSON config) the config file's name. */
  readonly size: string;
  /** The full config, as `clay train` records it (`model.config`); absent in the short form. */
  readonly config?: ClayConfig;
  readonly imageSize: number;
  readonly patchSize: number;
}

/** Config choices from flags; with a folder they must agree with its checkpoint.json (imageSize may differ). */
export interface InferenceOverrides {
  readonly size?: ModelSize;
  readonly imageSize?: number;
  readonly patchSize?: number;
  /** Mask ratio for reconstructions; default v0's 0.75. Embeddings never mask. */
  readonly maskRatio?: number;
}

/** A loaded model and where it came from; `dispose` frees the parameters and the model's encodings. */
export interface InferenceModel {
  readonly model: ClayModel;
  readonly cfg: ClayConfig;
  readonly size: string;
  /** `folder` when `checkpoint.json` described the config, `safetensors` for a bare file. */
  readonly kind: 'folder' | 'safetensors';
  /** The weights file read. */
  readonly weightsPath: string;
  dispose(): void;
}

const SIZES = Object.keys(MODEL_SIZES) as ModelSize[];

function isSize(v: unknown): v is ModelSize {
  return typeof v === 'string' && (SIZES as string[]).includes(v);
}

/** Narrows checkpoint.json's `model` (CHECKPOINT_INVALID otherwise). */
export function parseCheckpointModel(text: string, path: string): CheckpointModelInfo {
  const bad = (why: string, cause?: unknown): ClayError =>
    new ClayError('CHECKPOINT_INVALID', `${path}: ${why}`, { input: path, cause });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON (${errorMessage(err)})`, err);
  }
  const model = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['model'] : undefined;
  if (typeof model !== 'object' || model === null) throw bad('no "model" object');
  const m = model as Record<string, unknown>;
  // `clay train`'s form: { size, config: ClayConfig } (model-spec.ts; any config, JSON ones included).
  if (typeof m['config'] === 'object' && m['config'] !== null) {
    let config: ClayConfig;
    try {
      config = validateConfig({ ...clayConfig('tiny'), ...(m['config'] as Partial<ClayConfig>) });
    } catch (err) {
      throw bad(`model.config is not a valid config (${errorMessage(err)})`, err);
    }
    return { size: typeof m['size'] === 'string' ? m['size'] : 'custom', imageSize: config.imageSize, patchSize: config.patchSize, config };
  }
  if (!isSize(m['size'])) throw bad(`model.size must be one of ${SIZES.join(', ')}, got ${JSON.stringify(m['size'])}`);
  for (const k of ['imageSize', 'patchSize'] as const) {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw bad(`model.${k} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return { size: m['size'], imageSize: m['imageSize'] as number, patchSize: m['patchSize'] as number };
}

/** The tensors by state_dict name (a Lightning `model.` prefix dropped when every name has it). */
function byName(tensors: readonly NamedTensor[]): Map<string, NamedTensor> {
  const prefixed = tensors.length > 0 && tensors.every((t) => t.name.startsWith('model.'));
  return new Map(tensors.map((t) => [prefixed ? t.name.slice(6) : t.name, t]));
}

/** Number of `prefix.layers.N.` blocks among the names. */
function layerCount(names: Iterable<string>, prefix: string): number {
  let n = 0;
  const re = new RegExp(`^${prefix.replaceAll('.', '\\.')}\\.layers\\.(\\d+)\\.`);
  for (const name of names) {
    const m = re.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/** The size and patch size the tensors' shapes say, or undefined when they match none of v0's sizes. */
export function inferArchitecture(tensors: readonly NamedTensor[]): { size: ModelSize; patchSize: number } | undefined {
  const t = byName(tensors);
  const dim = t.get('encoder.latlon_embedding.weight')?.shape[0];
  const conv = t.get(`encoder.patch_embedding.${BAND_GROUPS[0]!.name}.proj.weight`)?.shape;
  const decDim = t.get('decoder.mask_patch')?.shape[0];
  const depth = layerCount(t.keys(), 'encoder.transformer');
  const decDepth = layerCount(t.keys(), 'decoder.transformer');
  const patchSize = conv?.[2];
  if (patchSize === undefined || conv?.[3] !== patchSize) return undefined;
  const size = SIZES.find((s) => {
    const a = MODEL_SIZES[s];
    return a.dim === dim && a.depth === depth && a.decoderDim === decDim && a.decoderDepth === decDepth;
  });
  return size === undefined ? undefined : { size, patchSize };
}

/**
 * Throws WEIGHTS_INVALID naming the first tensor whose shape differs from the config's (then missing and
 * unexpected names), with what the tensors look like when they match another v0 size.
 */
export function checkTensorsMatch(cfg: ClayConfig, size: string, tensors: readonly NamedTensor[], path: string): void {
  const t = byName(tensors);
  const specs = paramSpecs(cfg);
  const known = new Set(specs.map((s) => s.name));
  const shape = (s: readonly number[]): string => `[${s.join(', ')}]`;
  const problems: string[] = [];
  const wrong = specs.find((s) => {
    const have = t.get(s.name);
    return have !== undefined && have.shape.join(',') !== s.torchShape.join(',');
  });
  if (wrong !== undefined) problems.push(`${wrong.name} has shape ${shape(t.get(wrong.name)!.shape)}, the config needs ${shape(wrong.torchShape)}`);
  const missing = specs.filter((s) => !t.has(s.name)).map((s) => s.name);
  const unexpected = [...t.keys()].filter((n) => !known.has(n));
  if (missing.length > 0) problems.push(`${missing.length} tensor(s) missing (first ${missing[0]})`);
  if (unexpected.length > 0) problems.push(`${unexpected.length} unexpected (first ${unexpected[0]})`);
  if (problems.length === 0) return;
  const seen = inferArchitecture(tensors);
  const hint = seen === undefined ? '' : `; the file looks like --model ${seen.size} --patch-size ${seen.patchSize}`;
  throw new ClayError('WEIGHTS_INVALID',
    `${path} does not match model ${size} at ${cfg.imageSize}/${cfg.patchSize}: ${problems.join('; ')}${hint}`, { input: path });
}

async function readOrMissing(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ClayError('CHECKPOINT_MISSING', `no ${what} at ${path}`, { input: path, cause: err });
    throw new ClayError('IO', `cannot read ${path}: ${errorMessage(err)}`, { input: path, cause: err });
  }
}

/** Where the weights are and the config checkpoint.json gives, for a folder; just the file otherwise. */
async function locate(path: string): Promise<{ weightsPath: string; info?: CheckpointModelInfo }> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (err) {
    throw new ClayError('CHECKPOINT_MISSING', `no checkpoint at ${path}`, { input: path, cause: err });
  }
  if (!isDir) return { weightsPath: path };
  // A `clay train` output folder: its latest checkpoint.
  let dir = path;
  try {
    await stat(join(path, CHECKPOINT_META));
  } catch {
    try {
      dir = await resolveCheckpoint(path);
    } catch {
      // neither: the error below names the missing checkpoint.json
    }
  }
  path = dir;
  const metaPath = join(path, CHECKPOINT_META);
  const meta = await readOrMissing(metaPath, `${CHECKPOINT_META} in the checkpoint folder`);
  const info = parseCheckpointModel(new TextDecoder().decode(meta), metaPath);
  return { weightsPath: join(path, CHECKPOINT_WEIGHTS), info };
}

/** The config: checkpoint.json's, or the flags', or (bare file, no --model) what the tensors say. */
function resolveConfig(info: CheckpointModelInfo | undefined, o: InferenceOverrides, tensors: readonly NamedTensor[], path: string): { size: string; cfg: ClayConfig } {
  const ratio = o.maskRatio === undefined ? {} : { maskRatio: o.maskRatio };
  if (info?.config !== undefined) {
    if (o.patchSize !== undefined && o.patchSize !== info.patchSize) {
      throw new ClayError('BAD_ARGUMENT', `--patch-size ${o.patchSize} contradicts the checkpoint's ${CHECKPOINT_META} (${info.patchSize})`, { input: '--patch-size' });
    }
    if (o.size !== undefined && o.size !== info.size) {
      throw new ClayError('BAD_ARGUMENT', `--model ${o.size} contradicts the checkpoint's ${CHECKPOINT_META} (${info.size})`, { input: '--model' });
    }
    return { size: info.size, cfg: validateConfig({ ...info.config, ...(o.imageSize !== undefined ? { imageSize: o.imageSize } : {}), ...ratio }) };
  }
  if (info !== undefined) {
    for (const [flag, mine, theirs] of [['--model', o.size, info.size], ['--patch-size', o.patchSize, info.patchSize]] as const) {
      if (mine !== undefined && mine !== theirs) {
        throw new ClayError('BAD_ARGUMENT', `${flag} ${mine} contradicts the checkpoint's ${CHECKPOINT_META} (${theirs})`, { input: flag });
      }
    }
    // The encodings are fixed sin-cos, so a model may run at another image size than it was trained at.
    return { size: info.size, cfg: clayConfig(info.size as ModelSize, { imageSize: o.imageSize ?? info.imageSize, patchSize: info.patchSize, ...ratio }) };
  }
  const seen = o.size === undefined || o.patchSize === undefined ? inferArchitecture(tensors) : undefined;
  const size = o.size ?? seen?.size;
  if (size === undefined) {
    throw new ClayError('WEIGHTS_INVALID', `${path}: the tensors match none of v0's sizes (${SIZES.join(', ')}); is this a Clay v0 state_dict?`, { input: path });
  }
  const patchSize = o.patchSize ?? seen?.patchSize ?? 32;
  return { size, cfg: clayConfig(size, { imageSize: o.imageSize ?? 512, patchSize, ...ratio }) };
}

/**
 * Loads a model for inference from a checkpoint folder or a bare safetensors file (see the file comment),
 * on the current backend (initialised on first use).
 */
export async function loadModelForInference(path: string, overrides: InferenceOverrides = {}): Promise<InferenceModel> {
  const { weightsPath, info } = await locate(path);
  const bytes = await readOrMissing(weightsPath, info === undefined ? 'weights file' : `${CHECKPOINT_WEIGHTS} in the checkpoint folder`);
  let file: SafetensorsFile;
  try {
    file = decodeSafetensors(bytes);
  } catch (err) {
    throw new ClayError('WEIGHTS_INVALID', `${weightsPath}: not a readable safetensors file (${errorMessage(err)})`, { input: weightsPath, cause: err });
  }
  const { size, cfg } = resolveConfig(info, overrides, file.tensors, weightsPath);
  checkTensorsMatch(cfg, size, file.tensors, weightsPath);
  await initBackend();
  const params: ClayParams = paramsFromStateDict(cfg, file.tensors, weightsPath);
  const model = new ClayModel(params);
  return {
    model, cfg, size, kind: info === undefined ? 'safetensors' : 'folder', weightsPath,
    dispose() {
      model.dispose();
      disposeParams(params);
    },
  };
}
