/**
 * tfjs's WebGPU backend on Dawn's Node binding (`webgpu`, a prebuilt `dawn.node` over Vulkan, Metal or
 * D3D12). Both packages are optional dependencies loaded at run time: an install without them, or where
 * Dawn's binary cannot load, still works on the other backends, and `probeWebGpu` says why this one cannot.
 * Only this file imports them; model/backend.ts decides whether they are used.
 */
import * as tf from '@tensorflow/tfjs';

/** What the adapter says it is (GPUAdapterInfo), plus whether it runs on the CPU. */
export interface GpuAdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /**
   * True for a software adapter (Mesa's lavapipe `llvmpipe`, SwiftShader, Dawn's fallback adapter): WebGPU
   * on CPU cores, correct but slower than the WASM backend.
   */
  readonly isCpu: boolean;
}

/** The adapter limits that bound the model: no single tensor may be larger than either. */
export interface GpuLimits {
  readonly maxBufferSize: number;
  readonly maxStorageBufferBindingSize: number;
}

/** A usable adapter. */
export interface WebGpuAdapter {
  readonly info: GpuAdapterDescription;
  readonly limits: GpuLimits;
  /**
   * Loads tfjs-webgpu and registers its 'webgpu' backend on a device of this adapter (requested with the
   * adapter's limits); once. Not before: `auto` on a CPU adapter never pays for loading it.
   */
  register(): Promise<void>;
}

/** Why WebGPU is not available: the packages are absent, Dawn's binary did not load, or no adapter. */
export interface WebGpuUnavailable {
  readonly reason: 'not-installed' | 'load-failed' | 'no-adapter';
  readonly detail: string;
}

// The few members of the WebGPU objects used here, checked where they enter (no @webgpu/types needed).
interface AdapterLike {
  readonly info?: Record<string, unknown>;
  readonly limits: Record<string, unknown>;
  readonly features: { has(name: string): boolean };
  readonly isFallbackAdapter?: boolean;
  requestDevice(desc: { requiredLimits: Record<string, number>; requiredFeatures: string[] }): Promise<object>;
}
interface GpuLike {
  requestAdapter(opts: { powerPreference: 'high-performance' }): Promise<AdapterLike | null>;
}
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}
type BackendConstructor = new (device: object, adapterInfo?: object) => tf.KernelBackend;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function isDawn(v: unknown): v is DawnModule {
  return isRecord(v) && typeof v['create'] === 'function' && isRecord(v['globals']);
}

function isBackendModule(v: unknown): v is { WebGPUBackend: BackendConstructor } {
  return isRecord(v) && typeof v['WebGPUBackend'] === 'function';
}

function isAdapter(v: unknown): v is AdapterLike {
  return isRecord(v) && isRecord(v['limits']) && isRecord(v['features']) && typeof v['requestDevice'] === 'function';
}

const str = (r: Record<string, unknown> | undefined, k: string): string => (typeof r?.[k] === 'string' ? r[k] : '');
const num = (r: Record<string, unknown>, k: string): number => (typeof r[k] === 'number' ? r[k] : 0);

/** Software rasterisers that present themselves as Vulkan devices. */
const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe/i;

function describe(adapter: AdapterLike): GpuAdapterDescription {
  const info = adapter.info;
  const d = {
    vendor: str(info, 'vendor'), architecture: str(info, 'architecture'), device: str(info, 'device'), description: str(info, 'description'),
  };
  const fallback = info?.['isFallbackAdapter'] === true || adapter.isFallbackAdapter === true;
  return { ...d, isCpu: fallback || SOFTWARE.test(`${d.vendor} ${d.architecture} ${d.device} ${d.description}`) };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] ?? e.name : String(e);
}

/** Makes `navigator.gpu` what tfjs-webgpu checks for (Node 20 has no `navigator`; Node 21+ has one without gpu). */
function exposeGpu(gpu: GpuLike): void {
  const nav: unknown = Reflect.get(globalThis, 'navigator');
  if (isRecord(nav)) {
    if (nav['gpu'] !== gpu) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
}

function unavailable(e: unknown): WebGpuUnavailable {
  const code = isRecord(e) ? e['code'] : undefined;
  const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
  return { reason: missing ? 'not-installed' : 'load-failed', detail: errorText(e) };
}

let bundled: unknown = null;

/**
 * Hands over `@tensorflow/tfjs-backend-webgpu`'s module for a bundle (bench/device/webgpu-bench.ts): a
 * bundler cannot follow the computed import below, and a second copy from disk would bring a second
 * tfjs-core. Import it before calling this and before `initBackend`.
 */
export function provideWebGpuBackendModule(mod: unknown): void {
  bundled = mod;
}

let probed: Promise<WebGpuAdapter | WebGpuUnavailable> | null = null;

/**
 * Loads Dawn and asks it for a high-performance adapter (once per process). Never throws:
 * an unavailable WebGPU is a value saying why.
 */
export function probeWebGpu(): Promise<WebGpuAdapter | WebGpuUnavailable> {
  probed ??= probe();
  return probed;
}

async function probe(): Promise<WebGpuAdapter | WebGpuUnavailable> {
  let dawn: unknown;
  try {
    // An optional dependency: a computed specifier keeps tsc and bundlers from requiring it.
    const dawnSpec: string = 'webgpu';
    dawn = await import(dawnSpec);
  } catch (e) {
    return unavailable(e);
  }
  if (!isDawn(dawn)) return { reason: 'load-failed', detail: 'unexpected exports of the webgpu package' };
  let adapter: unknown;
  let gpu: GpuLike;
  try {
    // Dawn's globals (GPUBufferUsage, GPUMapMode, GPUShaderStage, ...) are what tfjs-webgpu uses by name.
    for (const [k, v] of Object.entries(dawn.globals)) {
      if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
    }
    gpu = dawn.create([]);
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { reason: 'load-failed', detail: errorText(e) };
  }
  if (!isAdapter(adapter)) {
    return { reason: 'no-adapter', detail: 'Dawn found no WebGPU adapter (no Vulkan driver: a GPU driver, or Mesa >= 24 lavapipe for the CPU)' };
  }
  const a = adapter;
  const lim = a.limits;
  const limits: GpuLimits = { maxBufferSize: num(lim, 'maxBufferSize'), maxStorageBufferBindingSize: num(lim, 'maxStorageBufferBindingSize') };
  const info = describe(a);
  let registered = false;
  return {
    info, limits,
    async register() {
      if (registered) return;
      // Imported before navigator.gpu exists, so that it does not register a factory of its own.
      const tfjsSpec: string = '@tensorflow/tfjs-backend-webgpu';
      let backendModule: unknown = bundled;
      try {
        backendModule ??= await import(tfjsSpec);
      } catch (e) {
        const u = unavailable(e);
        throw new Error(`${tfjsSpec}: ${u.reason}: ${u.detail}`);
      }
      if (!isBackendModule(backendModule)) throw new Error(`unexpected exports of ${tfjsSpec}`);
      const Backend = backendModule.WebGPUBackend;
      registered = true;
      exposeGpu(gpu);
      if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
      // As tfjs-webgpu's own factory: the adapter's own maxima for the limits a large model runs into.
      const requiredLimits: Record<string, number> = {};
      for (const k of ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize',
        'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup']) requiredLimits[k] = num(lim, k);
      tf.registerBackend('webgpu', async () => {
        const device = await a.requestDevice({ requiredLimits, requiredFeatures: [] });
        return new Backend(device, isRecord(a.info) ? a.info : undefined);
      }, 0);
    },
  };
}

/** True when `probeWebGpu` found an adapter. */
export function isWebGpuAdapter(v: WebGpuAdapter | WebGpuUnavailable): v is WebGpuAdapter {
  return 'register' in v;
}
