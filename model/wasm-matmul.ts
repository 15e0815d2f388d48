/**
 * A float32 matrix product C = A B (row-major, no transposes) as a WebAssembly SIMD function on the tfjs
 * WASM backend's memory. Why: the stock WASM BatchMatMul goes through XNNPACK's fully-connected operator,
 * which first packs (transposes and copies) B into a new buffer; in training B is a fresh tensor in almost
 * every product, so that packing is paid every time (a quarter to a half of the product's time at Clay
 * tiny's shapes). This kernel reads B where it lies: per 8-column panel of B and 4 rows of A, eight
 * 4-lane accumulators, one k at a time. Each output is 0 + a0*b0 + a1*b1 + ... summed in k order with
 * separate float32 multiplies and adds, as XNNPACK's SIMD kernels do (they start from a zero bias and do
 * not split k), so the results are the same, bit for bit.
 */
import { I32, V128, instantiate, op, type WasmFunction, type WasmMemory } from './wasm-asm.ts';

const { get, set, i32 } = op;

/**
 * Rows of A (and C) per register block; the block is ROWS x 8 columns, 2*ROWS accumulators. 6 rows (12
 * accumulators) and unrolling k by 2 were both measured slower (V8 spills registers).
 */
const ROWS = 4;

// Params: 0 a, 1 b, 2 c (byte offsets), 3 mR (rows, a multiple of ROWS), 4 n8 (columns, a multiple of 8),
// 5 k, 6 n (row length of B and C). Locals: i32 j, i, the block's first row of A and that plus ka (the
// other rows are constant offsets; ROWS slots kept), ka (byte offset along the rows of A), kEnd, pb (B at row k, column j), rowB (bytes per row of B and C), pc; v128 accumulators, two
// 4-lane pieces of B's row, one A value in all four lanes.
const [A, B, C, M4, N8, K, N] = [0, 1, 2, 3, 4, 5, 6];
const [J, I, PA] = [7, 8, 9];
const [KA, KEND, PB, ROWB, PC] = [0, 1, 2, 3, 4].map((x) => PA + ROWS + x) as [number, number, number, number, number];
const ACC = PC + 1;
const [B0, B1, AV] = [ACC + 2 * ROWS, ACC + 2 * ROWS + 1, ACC + 2 * ROWS + 2];

/**
 * The GEMM for inner dimension `k`: the A rows of a block are k*4 bytes apart, constant offsets of one
 * pointer (one address add per k instead of one per row).
 */
function gemmFunction(k: number): WasmFunction {
  const loopWhileBelow = (x: number, end: number): number[] => [...op.block, ...op.loop, ...get(x), ...get(end), ...op.i32GeU, ...op.brIf(1)];
  const next = (x: number, by: number[]): number[] => [...get(x), ...by, ...op.i32Add, ...set(x), ...op.br(0), ...op.end, ...op.end];
  const code: number[] = [
    ...get(K), ...i32(2), ...op.i32Shl, ...set(KEND),
    ...get(N), ...i32(2), ...op.i32Shl, ...set(ROWB),
    ...loopWhileBelow(J, N8),
    ...i32(0), ...set(I),
    ...loopWhileBelow(I, M4),
    // Row pointer of A: a + i*k*4 (PA + 1 is it plus the k offset).
    ...get(A), ...get(I), ...get(KEND), ...op.i32Mul, ...op.i32Add, ...set(PA),
  ];
  for (let t = 0; t < 2 * ROWS; t++) code.push(...op.zero, ...set(ACC + t));
  code.push(
    ...get(B), ...get(J), ...i32(2), ...op.i32Shl, ...op.i32Add, ...set(PB),
    ...i32(0), ...set(KA),
    ...loopWhileBelow(KA, KEND),
    ...get(PA), ...get(KA), ...op.i32Add, ...set(PA + 1),
  );
  code.push(...get(PB), ...op.load(0), ...set(B0), ...get(PB), ...op.load(16), ...set(B1));
  for (let r = 0; r < ROWS; r++) {
    code.push(...get(PA + 1), ...op.loadSplat(r * k * 4), ...set(AV));
    for (let h = 0; h < 2; h++) {
      const acc = ACC + 2 * r + h;
      code.push(...get(acc), ...get(AV), ...get(h === 0 ? B0 : B1), ...op.mul, ...op.add, ...set(acc));
    }
  }
  code.push(
    ...get(PB), ...get(ROWB), ...op.i32Add, ...set(PB),
    ...next(KA, i32(4)),
    // Store the block at c + i*rowB + j*4, one row of C further per pair of accumulators.
    ...get(C), ...get(I), ...get(ROWB), ...op.i32Mul, ...op.i32Add, ...get(J), ...i32(2), ...op.i32Shl, ...op.i32Add, ...set(PC),
  );
  for (let r = 0; r < ROWS; r++) {
    if (r > 0) code.push(...get(PC), ...get(ROWB), ...op.i32Add, ...set(PC));
    code.push(...get(PC), ...get(ACC + 2 * r), ...op.store(0), ...get(PC), ...get(ACC + 2 * r + 1), ...op.store(16));
  }
  code.push(...next(I, i32(ROWS)), ...next(J, i32(8)));
  return { name: 'gemm', params: Array<number>(7).fill(I32), locals: [[ROWS + 7, I32], [2 * ROWS + 3, V128]], code };
}

type Gemm = (a: number, b: number, c: number, m4: number, n8: number, k: number, n: number) => void;

/** Scratch float32 buffers in the same memory: `alloc` returns a byte offset; `free` takes it back. */
export interface Scratch {
  alloc(floats: number): number;
  free(offset: number): void;
}

/**
 * C = A B for A `[m, k]`, B `[k, n]`, C `[m, n]` at byte offsets of `memory` (4-byte aligned; C apart from
 * A and B). Blocks of 4 rows by 8 columns run in SIMD; a last partial block of columns or rows is run the
 * same way on a zero-padded copy (padding changes no other output) and copied into C.
 */
export function matmulInto(memory: WasmMemory, scratch: Scratch, a: number, b: number, c: number, m: number, k: number, n: number): void {
  const m4 = m - (m % ROWS);
  const n8 = n - (n % 8);
  const gemm = instantiate<Gemm>(memory, () => gemmFunction(k), `gemm-${k}`);
  if (m4 > 0 && n8 > 0) gemm(a, b, c, m4, n8, k, n);
  if (m4 === m && n8 === n) return;
  const f = (offset: number, floats: number): Float32Array => new Float32Array(memory.buffer, offset, floats);
  // Columns n8.. of B, zero-padded to 8: [k, 8].
  const bTail = n8 < n ? scratch.alloc(k * 8) : -1;
  // Rows m4.. of A, zero-padded to ROWS: [ROWS, k]; and a [ROWS, n] result for them.
  const aTail = m4 < m ? scratch.alloc(ROWS * k) : -1;
  const cRows = m4 < m ? scratch.alloc(ROWS * n) : -1;
  const cCols = n8 < n ? scratch.alloc(Math.max(m4, ROWS) * 8) : -1;
  const w = n - n8;
  if (bTail >= 0) {
    const src = f(b, k * n);
    const dst = f(bTail, k * 8).fill(0);
    for (let t = 0; t < k; t++) dst.set(src.subarray(t * n + n8, t * n + n), t * 8);
  }
  if (aTail >= 0) {
    const dst = f(aTail, ROWS * k).fill(0);
    dst.set(f(a + 4 * m4 * k, (m - m4) * k));
  }
  if (bTail >= 0 && m4 > 0) {
    gemm(a, bTail, cCols, m4, 8, k, 8);
    const src = f(cCols, m4 * 8);
    const dst = f(c, m * n);
    for (let i = 0; i < m4; i++) dst.set(src.subarray(i * 8, i * 8 + w), i * n + n8);
  }
  if (aTail >= 0) {
    if (n8 > 0) gemm(aTail, b, cRows, ROWS, n8, k, n);
    if (bTail >= 0) gemm(aTail, bTail, cCols, ROWS, 8, k, 8);
    const rows = f(cRows, ROWS * n);
    const cols = bTail >= 0 ? f(cCols, ROWS * 8) : null;
    const dst = f(c, m * n);
    for (let i = 0; i < m - m4; i++) {
      dst.set(rows.subarray(i * n, i * n + n8), (m4 + i) * n);
      if (cols !== null) dst.set(cols.subarray(i * 8, i * 8 + w), (m4 + i) * n + n8);
    }
  }
  for (const o of [bTail, aTail, cRows, cCols]) if (o >= 0) scratch.free(o);
}
