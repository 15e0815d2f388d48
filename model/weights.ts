/**
 * Loading and saving Clay weights as safetensors with PyTorch `state_dict` names and layouts, so weights
 * move both ways between this port and the original. A Lightning checkpoint's `model.` prefix is accepted.
 * Loading is strict, as torch's `load_state_dict(strict=True)`: missing, unexpected or mis-shaped tensors
 * are a WEIGHTS_INVALID error.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { ClayError } from '../core/errors.ts';
import type { ClayConfig } from './config.ts';
import { paramsFromTorch, paramSpecs, toTorchLayout, type ClayParams } from './params.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.ts';

/** The parameters as PyTorch-layout tensors, in state_dict order (read back from the backend, awaited). */
export async function stateDict(params: ClayParams): Promise<NamedTensor[]> {
  const out: NamedTensor[] = [];
  for (const spec of params.specs) {
    const v = params.vars.get(spec.name);
    if (v === undefined) throw new ClayError('WEIGHTS_INVALID', `missing parameter ${spec.name}`, { input: spec.name });
    const t = toTorchLayout(spec, v);
    const data = await t.data();
    t.dispose();
    // A copy: data() may hand out the backend's own array.
    out.push({ name: spec.name, shape: spec.torchShape, data: Float32Array.from(data) });
  }
  return out;
}

/** Parameters from state_dict tensors (strict; `model.` prefix stripped when every name has it). */
export function paramsFromStateDict(cfg: ClayConfig, tensors: readonly NamedTensor[], input?: string): ClayParams {
  const prefixed = tensors.length > 0 && tensors.every((t) => t.name.startsWith('model.'));
  const byName = new Map(tensors.map((t) => [prefixed ? t.name.slice(6) : t.name, t]));
  const specs = paramSpecs(cfg);
  const missing = specs.filter((s) => !byName.has(s.name)).map((s) => s.name);
  const known = new Set(specs.map((s) => s.name));
  const unexpected = [...byName.keys()].filter((n) => !known.has(n));
  if (missing.length > 0 || unexpected.length > 0) {
    throw new ClayError('WEIGHTS_INVALID',
      `state_dict does not match the config: missing [${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}]` +
      ` (${missing.length}), unexpected [${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', ...' : ''}] (${unexpected.length})`,
      input === undefined ? {} : { input });
  }
  for (const s of specs) {
    const t = byName.get(s.name);
    if (t !== undefined && t.shape.join(',') !== s.torchShape.join(',')) {
      throw new ClayError('WEIGHTS_INVALID', `${s.name}: shape [${t.shape.join(',')}], expected [${s.torchShape.join(',')}]`,
        { input: input ?? s.name });
    }
  }
  return paramsFromTorch(cfg, (s) => byName.get(s.name)?.data ?? new Float32Array(0));
}

/** Writes the parameters as a safetensors file (atomically: temporary name, then rename). */
export async function saveWeights(params: ClayParams, path: string, metadata: Record<string, string> = {}): Promise<void> {
  // writeFileAtomic: a hidden temporary sibling, then a rename; failures are IO naming the path.
  await writeFileAtomic(path, encodeSafetensors(await stateDict(params), { format: 'pt', ...metadata }));
}

/** Reads a safetensors file into parameters for `cfg`. */
export async function loadWeights(cfg: ClayConfig, path: string): Promise<ClayParams> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new ClayError('IO', `could not read ${path}`, { input: path, cause });
  }
  return paramsFromStateDict(cfg, decodeSafetensors(bytes).tensors, path);
}
