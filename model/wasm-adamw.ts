/**
 * The fused AdamW update as a tiny WebAssembly SIMD function that runs on the tfjs WASM backend's own
 * memory (it imports the backend's `WebAssembly.Memory`), four floats per instruction. With tensor ops an
 * update is 14 memory-bound passes over every parameter (about 30 ms a step for Clay tiny); this is one.
 * The module is assembled here byte by byte (it is ~200 bytes; no toolchain needed). Every operation is an
 * IEEE float32 add, sub, mul, div or sqrt, in the order of adamw.ts's `tensorUpdate`: the result is bit
 * for bit the same.
 */
import { adamwUpdate, type AdamWConstants } from './adamw.ts';

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
    throw new Error('wasm-adamw: no WebAssembly in this runtime');
  }
  return w as WasmApi;
}

/** Whether `x` is a WebAssembly.Memory. */
export function isWasmMemory(x: unknown): x is WasmMemory {
  return x instanceof wasmApi().Memory;
}

/** Pointers are byte offsets into the backend's memory; float32 arrays of `size` elements. */
export interface AdamWPointers {
  readonly p: number;
  readonly g: number;
  readonly m: number;
  readonly v: number;
  readonly pOut: number;
  readonly mOut: number;
  readonly vOut: number;
}

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

// Opcodes (WebAssembly core 2.0 + fixed-width SIMD).
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const get = (i: number): number[] => [0x20, ...uleb(i)];
const set = (i: number): number[] => [0x21, ...uleb(i)];
const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
const load = (base: number): number[] => [...get(base), ...get(OFF), 0x6a, ...simd(0x00, 0, 0)];
const addr = (base: number): number[] => [...get(base), ...get(OFF), 0x6a];
const store = simd(0x0b, 0, 0);
const [ADD, SUB, MUL, DIV, SQRT, SPLAT] = [simd(0xe4), simd(0xe5), simd(0xe6), simd(0xe7), simd(0xe3), simd(0x13)];

// Locals: params 0-6 pointers, 7 count of 4-float groups, 8-15 the constants; then the byte offset, its
// end, the constants splatted (16 + 2 + k), and g, m' of the current group.
const [P, G, M, V, PO, MO, VO, N] = [0, 1, 2, 3, 4, 5, 6, 7];
const OFF = 16;
const END = 17;
const K = (k: number): number => 18 + k; // b1 ob1 b2 ob2 bc2Sqrt eps decay stepSize
const GI = 26;
const MI = 27;

function body(): number[] {
  const code: number[] = [
    ...get(N), 0x41, 4, 0x74, ...set(END), // end = n << 4
  ];
  for (let k = 0; k < 8; k++) code.push(...get(8 + k), ...SPLAT, ...set(K(k)));
  code.push(
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(OFF), ...get(END), 0x4f, 0x0d, 1, // if off >= end: break
    ...load(G), ...set(GI),
    // m' = m*b1 + g*(1-b1)
    ...addr(MO), ...load(M), ...get(K(0)), ...MUL, ...get(GI), ...get(K(1)), ...MUL, ...ADD, 0x22, MI, ...store,
    // v' = v*b2 + (g*g)*(1-b2); kept on the stack for the denominator after its store
    ...addr(VO), ...load(V), ...get(K(2)), ...MUL, ...get(GI), ...get(GI), ...MUL, ...get(K(3)), ...MUL, ...ADD, 0x22, GI, ...store,
    // p' = p*decay - (m' / (sqrt(v')/bc2Sqrt + eps)) * stepSize   (GI now holds v')
    ...addr(PO), ...load(P), ...get(K(6)), ...MUL,
    ...get(MI), ...get(GI), ...SQRT, ...get(K(4)), ...DIV, ...get(K(5)), ...ADD, ...DIV, ...get(K(7)), ...MUL, ...SUB, ...store,
    ...get(OFF), 0x41, 16, 0x6a, ...set(OFF), 0x0c, 0, // off += 16; continue
    0x0b, 0x0b, 0x0b, // end loop, end block, end function
  );
  const locals = vec([[...uleb(2), I32], [...uleb(10), V128]]);
  const fn = [...locals, ...code];
  return [...uleb(fn.length), ...fn];
}

function moduleBytes(): Uint8Array {
  const type = [0x60, ...vec([...Array(8).fill([I32]), ...Array(8).fill([F32])] as number[][]), 0];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([type])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('adamw'), 0x00, 0]])),
    ...section(10, vec([body()])),
  ]);
}

type Fused = (p: number, g: number, m: number, v: number, po: number, mo: number, vo: number, n: number,
  b1: number, ob1: number, b2: number, ob2: number, bc2Sqrt: number, eps: number, decay: number, stepSize: number) => void;

const compiled = new WeakMap<WasmMemory, Fused>();

function instance(memory: WasmMemory): Fused {
  let f = compiled.get(memory);
  if (f === undefined) {
    const api = wasmApi();
    const inst = new api.Instance(new api.Module(moduleBytes()), { env: { memory } });
    const fn = inst.exports['adamw'];
    if (typeof fn !== 'function') throw new Error('wasm-adamw: no export');
    f = fn as Fused;
    compiled.set(memory, f);
  }
  return f;
}

/**
 * AdamW on `size` floats at the pointers in `memory`: groups of four in SIMD, the remainder (< 4) with
 * adamwUpdate. Pointers must be 4-byte aligned (tfjs's allocations are 16-byte aligned).
 */
export function fusedAdamW(memory: WasmMemory, ptr: AdamWPointers, size: number, c: AdamWConstants): void {
  const n4 = size >>> 2;
  instance(memory)(ptr.p, ptr.g, ptr.m, ptr.v, ptr.pOut, ptr.mOut, ptr.vOut, n4, c.b1, c.ob1, c.b2, c.ob2, c.bc2Sqrt, c.eps, c.decay, c.stepSize);
  const rest = size - 4 * n4;
  if (rest === 0) return;
  const at = (byteOffset: number): Float32Array => new Float32Array(memory.buffer, byteOffset + 16 * n4, rest);
  adamwUpdate(at(ptr.p), at(ptr.g), at(ptr.m), at(ptr.v), at(ptr.pOut), at(ptr.mOut), at(ptr.vOut), c);
}
