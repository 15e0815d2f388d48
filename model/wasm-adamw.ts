/**
 * The fused AdamW update as a tiny WebAssembly SIMD function that runs on the tfjs WASM backend's own
 * memory (it imports the backend's `WebAssembly.Memory`), four floats per instruction. With tensor ops an
 * update is 14 memory-bound passes over every parameter (about 30 ms a step for Clay tiny); this is one.
 * The module is assembled by wasm-asm.ts (it is ~300 bytes; no toolchain needed). Every operation is an
 * IEEE float32 add, sub, mul, div or sqrt, in the order of adamw.ts's `tensorUpdate`: the result is bit
 * for bit the same.
 */
import { adamwUpdate, type AdamWConstants } from './adamw.ts';
import { F32, I32, V128, instantiate, op, type WasmFunction, type WasmMemory } from './wasm-asm.ts';

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

const { get, set, tee, i32, add: ADD, sub: SUB, mul: MUL, div: DIV, sqrt: SQRT, splat: SPLAT } = op;
const load = (base: number): number[] => [...get(base), ...get(OFF), ...op.i32Add, ...op.load()];
const addr = (base: number): number[] => [...get(base), ...get(OFF), ...op.i32Add];
const store = op.store();

// Locals: params 0-6 pointers, 7 count of 4-float groups, 8-15 the constants; then the byte offset, its
// end, the constants splatted (16 + 2 + k), and g, m' of the current group.
const [P, G, M, V, PO, MO, VO, N] = [0, 1, 2, 3, 4, 5, 6, 7];
const OFF = 16;
const END = 17;
const K = (k: number): number => 18 + k; // b1 ob1 b2 ob2 bc2Sqrt eps decay stepSize
const GI = 26;
const MI = 27;

function adamwFunction(): WasmFunction {
  const code: number[] = [...get(N), ...i32(4), ...op.i32Shl, ...set(END)]; // end = n << 4
  for (let k = 0; k < 8; k++) code.push(...get(8 + k), ...SPLAT, ...set(K(k)));
  code.push(
    ...op.block, ...op.loop,
    ...get(OFF), ...get(END), ...op.i32GeU, ...op.brIf(1), // if off >= end: break
    ...load(G), ...set(GI),
    // m' = m*b1 + g*(1-b1)
    ...addr(MO), ...load(M), ...get(K(0)), ...MUL, ...get(GI), ...get(K(1)), ...MUL, ...ADD, ...tee(MI), ...store,
    // v' = v*b2 + (g*g)*(1-b2), into GI (g is not needed any more)
    ...addr(VO), ...load(V), ...get(K(2)), ...MUL, ...get(GI), ...get(GI), ...MUL, ...get(K(3)), ...MUL, ...ADD, ...tee(GI), ...store,
    // p' = p*decay - (m' / (sqrt(v')/bc2Sqrt + eps)) * stepSize
    ...addr(PO), ...load(P), ...get(K(6)), ...MUL,
    ...get(MI), ...get(GI), ...SQRT, ...get(K(4)), ...DIV, ...get(K(5)), ...ADD, ...DIV, ...get(K(7)), ...MUL, ...SUB, ...store,
    ...get(OFF), ...i32(16), ...op.i32Add, ...set(OFF), ...op.br(0), // off += 16; continue
    ...op.end, ...op.end,
  );
  return { name: 'adamw', params: [...Array<number>(8).fill(I32), ...Array<number>(8).fill(F32)], locals: [[2, I32], [10, V128]], code };
}

type Fused = (p: number, g: number, m: number, v: number, po: number, mo: number, vo: number, n: number,
  b1: number, ob1: number, b2: number, ob2: number, bc2Sqrt: number, eps: number, decay: number, stepSize: number) => void;

/**
 * AdamW on `size` floats at the pointers in `memory`: groups of four in SIMD, the remainder (< 4) with
 * adamwUpdate. Pointers must be 4-byte aligned (tfjs's allocations are 16-byte aligned).
 */
export function fusedAdamW(memory: WasmMemory, ptr: AdamWPointers, size: number, c: AdamWConstants): void {
  const n4 = size >>> 2;
  instantiate<Fused>(memory, adamwFunction, 'adamw')(ptr.p, ptr.g, ptr.m, ptr.v, ptr.pOut, ptr.mOut, ptr.vOut, n4, c.b1, c.ob1, c.b2, c.ob2, c.bc2Sqrt, c.eps, c.decay, c.stepSize);
  const rest = size - 4 * n4;
  if (rest === 0) return;
  const at = (byteOffset: number): Float32Array => new Float32Array(memory.buffer, byteOffset + 16 * n4, rest);
  adamwUpdate(at(ptr.p), at(ptr.g), at(ptr.m), at(ptr.v), at(ptr.pOut), at(ptr.mOut), at(ptr.vOut), c);
}
