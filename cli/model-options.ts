/**
 * What the model commands (`clay embed`, `clay reconstruct`) share: the `--checkpoint` flag and the flags
 * that give the config of a bare safetensors file, and the backend choice logged as a `Model:Backend` event.
 */
import type { Command } from 'commander';
import type { BackendInfo } from '../model/backend.ts';
import type { InferenceOverrides } from '../model/checkpoint-load.ts';
import { MODEL_SIZES, type ModelSize } from '../model/config.ts';
import type { Context } from './context.ts';
import { parseChoice, parseInteger } from './parse.ts';

/** The model flags as commander parses them. */
export interface ModelFlags {
  checkpoint: string;
  model?: ModelSize;
  imageSize?: number;
  patchSize?: number;
}

const SIZES = Object.keys(MODEL_SIZES) as ModelSize[];

/** Adds `--checkpoint`, `--model`, `--image-size` and `--patch-size` to a command. */
export function addModelOptions(command: Command): Command {
  return command
    .requiredOption('--checkpoint <path>', 'a checkpoint folder (checkpoint.json + weights.safetensors) or a bare .safetensors file with PyTorch state_dict names')
    .option('--model <size>', `bare .safetensors only: ${SIZES.join('|')} (default: read from the tensors' shapes)`, (v) => parseChoice(v, SIZES, '--model'))
    .option('--image-size <px>', "image size in pixels (default: the checkpoint's, or v0's 512)", (v) => parseInteger(v, '--image-size', 1))
    .option('--patch-size <px>', "bare .safetensors only: patch size (default: read from the tensors' shapes)", (v) => parseInteger(v, '--patch-size', 1));
}

/** The config overrides the flags give. */
export function modelOverrides(flags: ModelFlags, maskRatio?: number): InferenceOverrides {
  return {
    ...(flags.model !== undefined ? { size: flags.model } : {}),
    ...(flags.imageSize !== undefined ? { imageSize: flags.imageSize } : {}),
    ...(flags.patchSize !== undefined ? { patchSize: flags.patchSize } : {}),
    ...(maskRatio !== undefined ? { maskRatio } : {}),
  };
}

/** Initialises the tfjs backend (CLAY_BACKEND or the first that loads), logging the choice through the context. */
export async function initModelBackend(ctx: Context): Promise<BackendInfo> {
  const { initBackend } = await import('../model/backend.ts');
  return initBackend({ log: (e) => ctx.logger.info('Model:Backend', { backend: String(e['backend']), tf: String(e['tf']), reason: String(e['reason']) }) });
}
