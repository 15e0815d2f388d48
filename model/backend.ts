/**
 * The one place that decides which TensorFlow.js backend runs the model. Automatic order:
 * `@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node` (optional; loaded at run time only when
 * installed), then WebGPU on a hardware adapter (model/webgpu.ts: Dawn's binding, optional too), then the
 * WASM backend, then the pure-JS CPU backend. A software WebGPU adapter (lavapipe's llvmpipe) is never
 * chosen automatically: it is correct but about 12x slower than WASM; force it with `webgpu`.
 * `CLAY_BACKEND` (auto | node-gpu | node | webgpu | wasm | cpu), or `prefer`, overrides. The choice is
 * logged as one `Model:Backend` event, with the adapter and its limits on webgpu.
 */
import * as tf from '@tensorflow/tfjs';
import { ClayError } from '../core/errors.ts';
import { BACKEND_FLAGS, isBackendFlag, type BackendChoice, type BackendFlag } from './backend-flags.ts';
import { isWebGpuAdapter, probeWebGpu, type GpuAdapterDescription, type GpuLimits } from './webgpu.ts';

export { BACKEND_FLAGS, isBackendFlag, type BackendChoice, type BackendFlag };

/** What was chosen and why. */
export interface BackendInfo {
  readonly choice: BackendChoice;
  /** tfjs's own backend name ('tensorflow', 'webgpu', 'wasm', 'cpu'). */
  readonly tfName: string;
  readonly reason: 'forced' | 'auto';
  /** Bytes one backend can hold at most (WASM: its 32-bit heap), or null when bounded only by the device. */
  readonly memoryLimitBytes: number | null;
  /** Bytes one tensor may have at most (webgpu: the smaller of maxBufferSize and maxStorageBufferBindingSize), else null. */
  readonly tensorLimitBytes: number | null;
  /** The WebGPU adapter (webgpu only). */
  readonly adapter: GpuAdapterDescription | null;
  readonly limits: GpuLimits | null;
}

/** The WASM heap ceiling: 32-bit addressing, 4 GiB. */
export const WASM_MEMORY_LIMIT_BYTES = 4 * 1024 ** 3;

const ORDER: readonly BackendChoice[] = ['node-gpu', 'node', 'webgpu', 'wasm', 'cpu'];

/**
 * The `Model:Backend` event: backend, tf, reason; on webgpu also the adapter (adapterVendor,
 * adapterArchitecture, adapterDevice, adapterDescription, cpuAdapter) and the limits that bound the model
 * (maxBufferSize, maxStorageBufferBindingSize, in bytes). Flat, so that it is a log line's fields as is.
 */
export type BackendEvent = Record<string, string | number | boolean>;

/** Options for `initBackend`. */
export interface BackendOptions {
  /** Forces a backend, or 'auto' (else `CLAY_BACKEND`, else the automatic order). */
  readonly prefer?: BackendFlag;
  /** Receives the selection event; default: one JSON line on stderr. */
  readonly log?: (event: BackendEvent) => void;
}

/** Memory limit of a backend (see BackendInfo.memoryLimitBytes). */
export function memoryLimitOf(choice: BackendChoice): number | null {
  return choice === 'wasm' ? WASM_MEMORY_LIMIT_BYTES : null;
}

interface Loaded {
  readonly tfName: string;
  readonly adapter: GpuAdapterDescription | null;
  readonly limits: GpuLimits | null;
}

/** Loads one backend: the loaded backend, or why not (a sentence for the error when it was forced). */
async function tryLoad(choice: BackendChoice, auto: boolean): Promise<Loaded | string> {
  const plain = (tfName: string): Loaded => ({ tfName, adapter: null, limits: null });
  try {
    if (choice === 'node-gpu' || choice === 'node') {
      // Optional dependencies, absent in CI: a computed specifier keeps bundlers and tsc from requiring them.
      const spec: string = choice === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      await import(spec);
      return (await tf.setBackend('tensorflow')) ? plain('tensorflow') : `${spec} did not initialise`;
    }
    if (choice === 'webgpu') {
      const probe = await probeWebGpu();
      if (!isWebGpuAdapter(probe)) return `WebGPU is unavailable (${probe.reason}): ${probe.detail}`;
      if (auto && probe.info.isCpu) return `the WebGPU adapter ${probe.info.device || probe.info.architecture} is a CPU adapter (slower than wasm)`;
      await probe.register();
      if (!(await tf.setBackend('webgpu'))) return 'tfjs-webgpu could not create a device on the adapter';
      return { tfName: 'webgpu', adapter: probe.info, limits: probe.limits };
    }
    if (choice === 'wasm') {
      await import('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) return 'the WASM backend did not initialise';
      (await import('./wasm-kernels.ts')).registerWasmKernels();
      return plain('wasm');
    }
    return (await tf.setBackend('cpu')) ? plain('cpu') : 'the cpu backend did not initialise';
  } catch (e) {
    return e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e);
  }
}

let current: BackendInfo | null = null;

/**
 * Selects and initialises the backend (idempotent for the same choice). A forced backend that cannot
 * load is a MODEL_CONFIG error saying why (for webgpu: not installed, Dawn's binary did not load, or no
 * adapter).
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const env = process.env['CLAY_BACKEND'];
  let flag: BackendFlag | undefined = opts.prefer;
  if (flag === undefined && env !== undefined && env !== '') {
    if (!isBackendFlag(env)) throw new ClayError('BAD_ARGUMENT', `CLAY_BACKEND must be one of ${BACKEND_FLAGS.join(', ')}`, { input: env });
    flag = env;
  }
  const forced = flag === undefined || flag === 'auto' ? undefined : flag;
  if (current !== null && (forced === undefined || forced === current.choice)) return current;
  const candidates = forced === undefined ? ORDER : [forced];
  const why: string[] = [];
  for (const choice of candidates) {
    const loaded = await tryLoad(choice, forced === undefined);
    if (typeof loaded === 'string') {
      why.push(`${choice}: ${loaded}`);
      continue;
    }
    await tf.ready();
    // Production mode skips tfjs's per-op debug validation (about 7% of a WASM training step here).
    tf.enableProdMode();
    const limits = loaded.limits;
    current = {
      choice, tfName: loaded.tfName, reason: forced === undefined ? 'auto' : 'forced', memoryLimitBytes: memoryLimitOf(choice),
      tensorLimitBytes: limits === null ? null : Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize),
      adapter: loaded.adapter, limits,
    };
    const log = opts.log ?? ((e: BackendEvent) => process.stderr.write(`${JSON.stringify(e)}\n`));
    const a = loaded.adapter;
    log({
      event: 'Model:Backend', backend: choice, tf: loaded.tfName, reason: current.reason,
      ...(a === null ? {} : {
        adapterVendor: a.vendor, adapterArchitecture: a.architecture, adapterDevice: a.device, adapterDescription: a.description, cpuAdapter: a.isCpu,
      }),
      ...(limits === null ? {} : { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize }),
    });
    return current;
  }
  throw new ClayError('MODEL_CONFIG', `backend ${forced ?? 'auto'} could not be loaded: ${why.join('; ')}`, { input: forced ?? 'auto' });
}

/** The backend chosen by `initBackend`, or null before. */
export function currentBackend(): BackendInfo | null {
  return current;
}
