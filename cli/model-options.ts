/**
 * What the model commands (`clay embed`, `clay reconstruct`) share: the `--checkpoint` flag and the flags
 * that give the config of a bare safetensors file, and the backend choice logged as a `Model:Backend` event.
 */
import type { Command } from 'commander';
import type { BackendEvent, BackendInfo } from '../model/backend.ts';
import { BACKEND_FLAGS, type BackendFlag } from '../model/backend-flags.ts';
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
  backend?: BackendFlag;
}

const SIZES = Object.keys(MODEL_SIZES) as ModelSize[];

/** The `--backend` flag's help (the same on train, embed and reconstruct). */
export const BACKEND_HELP = `tfjs backend: ${BACKEND_FLAGS.join('|')} (default: CLAY_BACKEND, else auto: node-gpu, node, a GPU's webgpu, wasm, cpu; auto never picks a CPU WebGPU adapter)`;

/** Parses `--backend`. */
export function parseBackend(v: string): BackendFlag {
  return parseChoice(v, BACKEND_FLAGS, '--backend');
}

/** Adds `--checkpoint`, `--model`, `--image-size`, `--patch-size` and `--backend` to a command. */
export function addModelOptions(command: Command): Command {
  return command
    .option('--backend <name>', BACKEND_HELP, parseBackend)
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

/** The `Model:Backend` event as a log line of the context (the adapter and its limits included on webgpu). */
export function logBackend(ctx: Context): (e: BackendEvent) => void {
  return (e) => {
    const { event: _event, ...fields } = e;
    ctx.logger.info('Model:Backend', fields);
  };
}

/**
 * Initialises the tfjs backend (`--backend`, else CLAY_BACKEND, else auto), logging the choice through the
 * context. The backend module (and tfjs) is imported here, so the other commands never load it.
 */
export async function initModelBackend(ctx: Context, backend?: BackendFlag): Promise<BackendInfo> {
  const { initBackend } = await import('../model/backend.ts');
  return initBackend({ ...(backend === undefined ? {} : { prefer: backend }), log: logBackend(ctx) });
}
