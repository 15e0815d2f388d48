/**
 * What `--model` names: one of Clay v0's sizes (tiny, small, medium, large) or a JSON file with a config
 * (every field of ClayConfig, or `"base": "<size>"` plus the fields that differ), at an image and patch
 * size (v0: 512 and 32).
 */
import { readFileSync } from 'node:fs';
import { ClayError, errorMessage } from '../core/errors.ts';
import { MODEL_SIZES, clayConfig, validateConfig, type ClayConfig, type ModelSize } from './config.ts';

/** A named model config. */
export interface ModelSpec {
  /** The size name, or the JSON file's path. */
  readonly size: string;
  readonly config: ClayConfig;
}

function isSize(v: string): v is ModelSize {
  return Object.hasOwn(MODEL_SIZES, v);
}

/** Resolves `--model` (+ `--image-size`, `--patch-size`, `--mask-ratio`) to a validated config. */
export function modelSpec(model: string, sizes: { imageSize?: number; patchSize?: number; maskRatio?: number } = {}): ModelSpec {
  if (isSize(model)) return { size: model, config: clayConfig(model, sizes) };
  if (!model.endsWith('.json')) {
    throw new ClayError('BAD_ARGUMENT', `--model must be one of ${Object.keys(MODEL_SIZES).join(', ')} or a .json config file, got '${model}'`, { input: '--model' });
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(model, 'utf8')) as Record<string, unknown>;
  } catch (cause) {
    throw new ClayError('BAD_ARGUMENT', `cannot read the model config ${model}: ${errorMessage(cause)}`, { input: model, cause });
  }
  const base = typeof raw['base'] === 'string' ? raw['base'] : undefined;
  if (base !== undefined && !isSize(base)) throw new ClayError('BAD_ARGUMENT', `${model}: "base" must be one of ${Object.keys(MODEL_SIZES).join(', ')}`, { input: model });
  const { base: _base, ...fields } = raw;
  const merged = {
    ...(base !== undefined ? clayConfig(base) : { imageSize: 512, patchSize: 32, maskRatio: 0.75 }),
    ...fields,
    ...(sizes.imageSize !== undefined ? { imageSize: sizes.imageSize } : {}),
    ...(sizes.patchSize !== undefined ? { patchSize: sizes.patchSize } : {}),
    ...(sizes.maskRatio !== undefined ? { maskRatio: sizes.maskRatio } : {}),
  } as ClayConfig;
  const known = new Set(Object.keys(clayConfig('tiny')));
  const unknown = Object.keys(merged).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new ClayError('BAD_ARGUMENT', `${model}: unknown config fields ${unknown.join(', ')}`, { input: model });
  const missing = [...known].filter((k) => !(k in merged));
  if (missing.length > 0) throw new ClayError('BAD_ARGUMENT', `${model}: missing config fields ${missing.join(', ')} (or give "base")`, { input: model });
  try {
    return { size: model, config: validateConfig(merged) };
  } catch (cause) {
    throw new ClayError('MODEL_CONFIG', `${model}: ${errorMessage(cause)}`, { input: model, cause });
  }
}
