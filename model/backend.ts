/**
 * The one place that decides which TensorFlow.js backend runs the model. Order: `@tensorflow/tfjs-node-gpu`,
 * then `@tensorflow/tfjs-node` (optional; loaded at run time only when installed), then the WASM backend,
 * then the pure-JS CPU backend. `CLAY_BACKEND` (node-gpu | node | wasm | cpu) overrides. The choice is
 * logged as one `Model:Backend` event.
 */
import * as tf from '@tensorflow/tfjs';
import { ClayError } from '../core/errors.ts';

/** Backends this package knows; `node` and `node-gpu` both register tfjs's 'tensorflow' backend. */
export type BackendChoice = 'node-gpu' | 'node' | 'wasm' | 'cpu';

/** What was chosen and why. */
export interface BackendInfo {
  readonly choice: BackendChoice;
  /** tfjs's own backend name ('tensorflow', 'wasm', 'cpu'). */
  readonly tfName: string;
  readonly reason: 'forced' | 'auto';
  /** Bytes one backend can hold at most (WASM: its 32-bit heap), or null when bounded only by the machine. */
  readonly memoryLimitBytes: number | null;
}

/** The WASM heap ceiling: 32-bit addressing, 4 GiB. */
export const WASM_MEMORY_LIMIT_BYTES = 4 * 1024 ** 3;

const ORDER: readonly BackendChoice[] = ['node-gpu', 'node', 'wasm', 'cpu'];

/** Options for `initBackend`. */
export interface BackendOptions {
  /** Forces a backend (else `CLAY_BACKEND`, else the first that loads). */
  readonly prefer?: BackendChoice;
  /** Receives the selection event; default: one JSON line on stderr. */
  readonly log?: (event: Record<string, unknown>) => void;
}

function isChoice(v: string): v is BackendChoice {
  return (ORDER as readonly string[]).includes(v);
}

/** Memory limit of a backend (see BackendInfo.memoryLimitBytes). */
export function memoryLimitOf(choice: BackendChoice): number | null {
  return choice === 'wasm' ? WASM_MEMORY_LIMIT_BYTES : null;
}

async function tryLoad(choice: BackendChoice): Promise<string | null> {
  try {
    if (choice === 'node-gpu' || choice === 'node') {
      // Optional dependencies, absent in CI: a computed specifier keeps bundlers and tsc from requiring them.
      const spec: string = choice === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      await import(spec);
      return (await tf.setBackend('tensorflow')) ? 'tensorflow' : null;
    }
    if (choice === 'wasm') {
      await import('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) return null;
      (await import('./wasm-kernels.ts')).registerWasmKernels();
      return 'wasm';
    }
    return (await tf.setBackend('cpu')) ? 'cpu' : null;
  } catch {
    return null;
  }
}

let current: BackendInfo | null = null;

/** Selects and initialises the backend (idempotent for the same choice). */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const env = process.env['CLAY_BACKEND'];
  let forced: BackendChoice | undefined = opts.prefer;
  if (forced === undefined && env !== undefined && env !== '') {
    if (!isChoice(env)) throw new ClayError('BAD_ARGUMENT', `CLAY_BACKEND must be one of ${ORDER.join(', ')}`, { input: env });
    forced = env;
  }
  if (current !== null && (forced === undefined || forced === current.choice)) return current;
  const candidates = forced === undefined ? ORDER : [forced];
  for (const choice of candidates) {
    const tfName = await tryLoad(choice);
    if (tfName === null) continue;
    await tf.ready();
    // Production mode skips tfjs's per-op debug validation (about 7% of a WASM training step here).
    tf.enableProdMode();
    current = { choice, tfName, reason: forced === undefined ? 'auto' : 'forced', memoryLimitBytes: memoryLimitOf(choice) };
    const log = opts.log ?? ((e: Record<string, unknown>) => process.stderr.write(`${JSON.stringify(e)}\n`));
    log({ event: 'Model:Backend', backend: choice, tf: tfName, reason: current.reason });
    return current;
  }
  throw new ClayError('MODEL_CONFIG', `backend ${forced ?? 'any'} could not be loaded`, { input: forced });
}

/** The backend chosen by `initBackend`, or null before. */
export function currentBackend(): BackendInfo | null {
  return current;
}
