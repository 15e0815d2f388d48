/**
 * A few bytes' worth of WebAssembly assembler: enough to build a one-function module that imports a
 * memory (the tfjs WASM backend's) and runs SIMD loops on tensors in place. Used by wasm-adamw.ts and
 * wasm-matmul.ts; opcodes are those of the WebAssembly core 2.0 and fixed-width SIMD specifications.
 */

/** The pieces of the WebAssembly JS API used here (TypeScript's ES2023 lib declares none of it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

interface WasmApi {
  readonly Memory: abstract new (...args: never[]) => WasmMemory;
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
}

function wasmApi(): WasmApi {
  const w: unknown = Reflect.get(globalThis, 'WebAssembly');
  if (typeof w !== 'object' || w === null || !('Memory' in w) || !('Module' in w) || !('Instance' in w)) {
    throw new Error('no WebAssembly in this runtime');
  }
  return w as WasmApi;
}

/** Whether `x` is a WebAssembly.Memory. */
export function isWasmMemory(x: unknown): x is WasmMemory {
  return x instanceof wasmApi().Memory;
}

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32 constants). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

/** Value types. */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

/** Instructions (each returns its bytes). */
export const op = {
  get: (i: number): number[] => [0x20, ...uleb(i)],
  set: (i: number): number[] => [0x21, ...uleb(i)],
  tee: (i: number): number[] => [0x22, ...uleb(i)],
  i32: (v: number): number[] => [0x41, ...sleb(v)],
  i32Add: [0x6a],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  i32GeU: [0x4f],
  /** block and loop with no result; end closes either (and the function). */
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number): number[] => [0x0c, ...uleb(depth)],
  brIf: (depth: number): number[] => [0x0d, ...uleb(depth)],
  /** v128.load / store with a constant byte offset (alignment hint 0: every address works). */
  load: (offset = 0): number[] => [0xfd, 0x00, 0, ...uleb(offset)],
  store: (offset = 0): number[] => [0xfd, 0x0b, 0, ...uleb(offset)],
  /** v128.load32_splat: one float from memory into all four lanes. */
  loadSplat: (offset = 0): number[] => [0xfd, 0x09, 2, ...uleb(offset)],
  zero: [0xfd, 0x0c, ...Array<number>(16).fill(0)],
  splat: [0xfd, 0x13],
  sqrt: [0xfd, ...uleb(0xe3)],
  add: [0xfd, ...uleb(0xe4)],
  sub: [0xfd, ...uleb(0xe5)],
  mul: [0xfd, ...uleb(0xe6)],
  div: [0xfd, ...uleb(0xe7)],
  /** v128.const of four i32 lanes. */
  i32x4Const: (lanes: readonly [number, number, number, number]): number[] => [0xfd, 0x0c, ...lanes.flatMap((v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff])],
  and: [0xfd, ...uleb(0x4e)],
  or: [0xfd, ...uleb(0x50)],
  /** v128.bitselect(a, b, mask): a where mask bits are 1, b elsewhere. */
  bitselect: [0xfd, ...uleb(0x52)],
  i32x4Eq: [0xfd, ...uleb(0x37)],
  i32x4Shl: [0xfd, ...uleb(0xab)],
  i32x4Add: [0xfd, ...uleb(0xae)],
  /** i32x4.extend_low_i16x8_u / extend_high_i16x8_u: four u16 lanes widened. */
  extendLowU16: [0xfd, ...uleb(0xa9)],
  extendHighU16: [0xfd, ...uleb(0xaa)],
  /** f32x4.convert_i32x4_u. */
  convertU32: [0xfd, ...uleb(0xfb)],
} as const;

/** A new WebAssembly memory of `pages` 64 KiB pages (growable). */
export function newMemory(pages: number): WasmMemory & { grow(pages: number): number } {
  const ctor = Reflect.get(wasmApi(), 'Memory') as new (d: { initial: number }) => WasmMemory & { grow(pages: number): number };
  return new ctor({ initial: pages });
}

/** One exported function `name(params) -> ()` with `locals` (count, type) after the params. */
export interface WasmFunction {
  readonly name: string;
  readonly params: readonly number[];
  readonly locals: readonly (readonly [number, number])[];
  readonly code: readonly number[];
}

/** The bytes of a module importing `env.memory` and exporting `fn`. */
export function moduleBytes(fn: WasmFunction): Uint8Array {
  const type = [0x60, ...vec(fn.params.map((t) => [t])), 0];
  const locals = vec(fn.locals.map(([n, t]) => [...uleb(n), t]));
  const body = [...locals, ...fn.code, ...op.end];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([type])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name(fn.name), 0x00, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

const cache = new WeakMap<WasmMemory, Map<string, unknown>>();

/** `fn` compiled against `memory` (once per memory and name); its export as a JS function. */
export function instantiate<F>(memory: WasmMemory, fn: () => WasmFunction, key: string): F {
  let byMem = cache.get(memory);
  if (byMem === undefined) {
    byMem = new Map();
    cache.set(memory, byMem);
  }
  const hit = byMem.get(key);
  if (hit !== undefined) return hit as F;
  const api = wasmApi();
  const def = fn();
  const inst = new api.Instance(new api.Module(moduleBytes(def)), { env: { memory } });
  const f = inst.exports[def.name];
  if (typeof f !== 'function') throw new Error(`wasm module without export ${def.name}`);
  byMem.set(key, f);
  return f as F;
}
