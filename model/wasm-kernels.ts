/**
 * Our replacements for four tfjs WASM kernels that the model calls often. The stock WASM `Slice` (and
 * `SplitV`, which slices once per output) reads its whole input into a fresh JS array (`readSync`) on every
 * call, and the stock `GatherV2` copies element by
 * element in C++; both cost more than the data they move (about 10 % of a tiny training step). These copy
 * only the rows they return, straight between views of the WASM heap. Same values, bit for bit: they only
 * move floats. `Identity` (what tfjs runs to keep every tensor a custom gradient saves) shares the input's
 * buffer instead of copying it, as tfjs's CPU backend does: tensors are immutable, and a Variable's
 * `assign` swaps buffers rather than writing into one. Registered by model/backend.ts once the WASM
 * backend is up. Also the fused AdamW update, ADAMW_KERNEL (model/wasm-adamw.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { ADAMW_KERNEL, type AdamWConstants } from './adamw.ts';
import { fusedAdamW } from './wasm-adamw.ts';
import { matmulInto } from './wasm-matmul.ts';
import { columnSumsInto } from './wasm-colsum.ts';
import { isWasmMemory, type WasmMemory } from './wasm-asm.ts';

/** The part of tfjs-backend-wasm's BackendWasm these kernels use (tensors live in its heap). */
interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray;
  incRef(dataId: tf.TensorInfo['dataId']): void;
  getMemoryOffset(dataId: tf.TensorInfo['dataId']): number;
  disposeData(dataId: tf.TensorInfo['dataId'], force?: boolean): boolean;
  readonly wasm: unknown;
}

function isHeapBackend(b: unknown): b is HeapBackend {
  return typeof b === 'object' && b !== null && 'makeOutput' in b && 'typedArrayFromHeap' in b && 'incRef' in b;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Heap views of x and a new output; the output first, since allocating may grow (and move) the heap. */
function views(backend: HeapBackend, x: tf.TensorInfo, outShape: number[]): [tf.TensorInfo, tf.TypedArray, tf.TypedArray] {
  const out = backend.makeOutput(outShape, x.dtype);
  return [out, backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out)];
}

/** Copies the box `begin`/`size` of row-major `src` (shape `shape`) into `dst`, one innermost run at a time. */
export function copyBox(src: tf.TypedArray, shape: readonly number[], begin: readonly number[], size: readonly number[], dst: tf.TypedArray): void {
  const r = shape.length;
  // Merge trailing axes that are taken whole: longer contiguous runs.
  let inner = r - 1;
  while (inner > 0 && begin[inner] === 0 && size[inner] === shape[inner]) inner--;
  const strides = new Array<number>(r).fill(1);
  for (let i = r - 2; i >= 0; i--) strides[i] = (strides[i + 1] ?? 1) * (shape[i + 1] ?? 1);
  const run = (size[inner] ?? 1) * (strides[inner] ?? 1);
  const idx = new Array<number>(inner).fill(0);
  const count = size.slice(0, inner).reduce((a, b) => a * b, 1);
  for (let n = 0, o = 0; n < count; n++, o += run) {
    let off = (begin[inner] ?? 0) * (strides[inner] ?? 1);
    for (let i = 0; i < inner; i++) off += ((begin[i] ?? 0) + (idx[i] ?? 0)) * (strides[i] ?? 1);
    dst.set(src.subarray(off, off + run), o);
    for (let i = inner - 1; i >= 0; i--) {
      idx[i] = (idx[i] ?? 0) + 1;
      if ((idx[i] ?? 0) < (size[i] ?? 1)) break;
      idx[i] = 0;
    }
  }
}

function sliceKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    const { backend } = args;
    if (x === undefined || x.dtype === 'string' || !isHeapBackend(backend)) return fallback(args);
    const [begin = [], size = []] = tf.slice_util.parseSliceParams(x, args.attrs?.['begin'] as number | number[], args.attrs?.['size'] as number | number[]);
    const [out, src, dst] = views(backend, x, size);
    if (dst.length > 0) copyBox(src, x.shape, begin, size, dst);
    return out;
  };
}

function gatherKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x, indices } = args.inputs;
    const { backend } = args;
    const axis = args.attrs?.['axis'];
    const batchDims = args.attrs?.['batchDims'] ?? 0;
    if (x === undefined || indices === undefined || x.dtype === 'string' || indices.dtype !== 'int32' ||
      !isHeapBackend(backend) || (axis !== 0 && axis !== -x.shape.length) || batchDims !== 0 || x.shape.length === 0) {
      return fallback(args);
    }
    const rows = x.shape[0] ?? 0;
    const row = x.shape.slice(1).reduce((a, b) => a * b, 1);
    const [out, src, dst] = views(backend, x, [...indices.shape, ...x.shape.slice(1)]);
    const idx = backend.typedArrayFromHeap(indices);
    for (let j = 0; j < idx.length; j++) {
      const r = idx[j] ?? -1;
      if (!(r >= 0 && r < rows)) throw new RangeError(`GatherV2: the index value ${r} is not in [0, ${rows - 1}]`);
      dst.set(src.subarray(r * row, (r + 1) * row), j * row);
    }
    return out;
  };
}

function splitKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    const { backend } = args;
    if (x === undefined || x.dtype === 'string' || !isHeapBackend(backend)) return fallback(args);
    const axis = tf.util.parseAxisParam(args.attrs?.['axis'] as number | number[], x.shape)[0] ?? 0;
    const sizes = tf.backend_util.prepareSplitSize(x, args.attrs?.['numOrSizeSplits'] as number | number[], axis);
    const begin = x.shape.map(() => 0);
    return sizes.map((n) => {
      const size = x.shape.slice();
      size[axis] = n;
      const [out, src, dst] = views(backend, x, size);
      if (dst.length > 0) copyBox(src, x.shape, begin, size, dst);
      begin[axis] = (begin[axis] ?? 0) + n;
      return out;
    });
  };
}

function matMulKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs;
    const { backend } = args;
    const memory = isHeapBackend(backend) ? memoryOf(backend) : null;
    if (a === undefined || b === undefined || memory === null || !isHeapBackend(backend) || a.dtype !== 'float32' || b.dtype !== 'float32' ||
      args.attrs?.['transposeA'] === true || args.attrs?.['transposeB'] === true || a.shape.length < 2 || b.shape.length < 2) {
      return fallback(args);
    }
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const [m = 0, k = 0] = a.shape.slice(-2);
    const [kb = 0, n = 0] = b.shape.slice(-2);
    // One matrix pair, or a batch of them with the same outer shape (no broadcasting): one product each.
    const count = tf.util.sizeFromShape(outerA);
    if (count !== tf.util.sizeFromShape(outerB) || (count > 1 && !tf.util.arraysEqual(outerA, outerB)) || k !== kb || count * m * k * n === 0) {
      return fallback(args);
    }
    const out = backend.makeOutput([...tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB), m, n], 'float32');
    const held = new Map<number, tf.TensorInfo['dataId']>();
    const scratch = {
      alloc: (floats: number): number => {
        const t = backend.makeOutput([floats], 'float32');
        const o = backend.getMemoryOffset(t.dataId);
        held.set(o, t.dataId);
        return o;
      },
      free: (o: number): void => {
        const id = held.get(o);
        if (id !== undefined) backend.disposeData(id, true);
      },
    };
    const [pa, pb, pc] = [a, b, out].map((t) => backend.getMemoryOffset(t.dataId)) as [number, number, number];
    for (let i = 0; i < count; i++) matmulInto(memory, scratch, pa + 4 * i * m * k, pb + 4 * i * k * n, pc + 4 * i * m * n, m, k, n);
    return out;
  };
}

function sumKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    const { backend } = args;
    const memory = isHeapBackend(backend) ? memoryOf(backend) : null;
    const axis = args.attrs?.['axis'];
    const axes = Array.isArray(axis) ? axis : [axis];
    if (x === undefined || memory === null || !isHeapBackend(backend) || x.dtype !== 'float32' || x.shape.length !== 2 ||
      axes.length !== 1 || (axes[0] !== 0 && axes[0] !== -2) || (x.shape[0] ?? 0) === 0) {
      return fallback(args);
    }
    const [rows = 0, cols = 0] = x.shape;
    const out = backend.makeOutput(args.attrs?.['keepDims'] === true ? [1, cols] : [cols], 'float32');
    columnSumsInto(memory, backend.getMemoryOffset(x.dataId), backend.getMemoryOffset(out.dataId), rows, cols);
    return out;
  };
}

function identityKernel(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    const { backend } = args;
    if (x === undefined || x.dtype === 'string' || !isHeapBackend(backend)) return fallback(args);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/** The backend's WebAssembly.Memory (emscripten exports it as `asm.memory`), or null. */
function memoryOf(backend: HeapBackend): WasmMemory | null {
  const w = backend.wasm;
  const asm = typeof w === 'object' && w !== null && 'asm' in w ? w.asm : null;
  const mem = typeof asm === 'object' && asm !== null && 'memory' in asm ? asm.memory : null;
  return isWasmMemory(mem) ? mem : null;
}

const CONSTANT_NAMES = ['b1', 'ob1', 'b2', 'ob2', 'bc2Sqrt', 'eps', 'decay', 'stepSize'] as const;

function adamwConstants(attr: unknown): AdamWConstants {
  const rec: Partial<Record<string, unknown>> = typeof attr === 'object' && attr !== null ? { ...attr } : {};
  const num = (k: (typeof CONSTANT_NAMES)[number]): number => {
    const v = rec[k];
    if (typeof v !== 'number') throw new TypeError(`${ADAMW_KERNEL}: attribute c.${k} must be a number`);
    return v;
  };
  return {
    b1: num('b1'), ob1: num('ob1'), b2: num('b2'), ob2: num('ob2'),
    bc2Sqrt: num('bc2Sqrt'), eps: num('eps'), decay: num('decay'), stepSize: num('stepSize'),
  };
}

/** AdamW on one parameter (see ADAMW_KERNEL): inputs p, g, m, v; outputs new p, m, v. */
function adamwKernel(args: KernelArgs): tf.TensorInfo[] {
  const { p, g, m, v } = args.inputs;
  const { backend } = args;
  const memory = isHeapBackend(backend) ? memoryOf(backend) : null;
  if (p === undefined || g === undefined || m === undefined || v === undefined || !isHeapBackend(backend) || memory === null) {
    throw new TypeError(`${ADAMW_KERNEL} needs inputs p, g, m, v on the WASM backend`);
  }
  const size = tf.util.sizeFromShape(p.shape);
  for (const t of [g, m, v]) {
    if (t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== size) throw new TypeError(`${ADAMW_KERNEL}: inputs must be float32 of one size`);
  }
  const c = adamwConstants(args.attrs?.['c']);
  const [pOut, mOut, vOut] = [p, m, v].map((t) => backend.makeOutput(t.shape, 'float32')) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
  const at = (t: tf.TensorInfo): number => backend.getMemoryOffset(t.dataId);
  fusedAdamW(memory, { p: at(p), g: at(g), m: at(m), v: at(v), pOut: at(pOut), mOut: at(mOut), vOut: at(vOut) }, size, c);
  return [pOut, mOut, vOut];
}

const REPLACEMENTS: readonly [string, (fallback: tf.KernelFunc) => tf.KernelFunc][] = [
  ['Slice', sliceKernel],
  ['GatherV2', gatherKernel],
  ['SplitV', splitKernel],
  ['Identity', identityKernel],
  ['BatchMatMul', matMulKernel],
  ['Sum', sumKernel],
];

const ours = new WeakSet<tf.KernelFunc>();
const stock = new Map<string, tf.KernelFunc>();

/** The stock WASM kernel we replaced under `name` (for comparisons), or undefined. */
export function stockWasmKernel(name: string): tf.KernelFunc | undefined {
  return stock.get(name);
}

/** Whether the WASM kernel `name` is currently one of ours. */
export function isOurWasmKernel(name: string): boolean {
  const k = tf.getKernel(name, 'wasm');
  return k !== undefined && ours.has(k.kernelFunc);
}

/**
 * Replaces the WASM backend's Slice, GatherV2, SplitV and Identity with ours (the stock ones stay as
 * fallbacks) and adds the fused AdamW (ADAMW_KERNEL). Idempotent.
 */
export function registerWasmKernels(): void {
  for (const [name, make] of REPLACEMENTS) {
    const current = tf.getKernel(name, 'wasm');
    if (current === undefined || ours.has(current.kernelFunc)) continue;
    stock.set(name, current.kernelFunc);
    const kernelFunc = make(current.kernelFunc);
    ours.add(kernelFunc);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...current, kernelFunc });
  }
  const backend = tf.findBackend('wasm');
  if (tf.getKernel(ADAMW_KERNEL, 'wasm') === undefined && isHeapBackend(backend) && memoryOf(backend) !== null) {
    tf.registerKernel({ kernelName: ADAMW_KERNEL, backendName: 'wasm', kernelFunc: adamwKernel });
  }
}
