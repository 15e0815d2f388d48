/**
 * Column sums of a row-major float32 matrix (`tf.sum(x, 0)`: bias and LayerNorm parameter gradients) as a
 * WebAssembly SIMD function on the tfjs WASM backend's memory. The stock WASM Sum reduces only innermost
 * axes, so for axis 0 it first transposes the whole matrix. Here four columns are summed at once, down
 * the rows, each column from 0 in row order with float32 adds, as the stock kernel sums a row of the
 * transposed copy: the same results, bit for bit. Columns past a multiple of 4 are summed in JS the same way.
 */
import { I32, V128, instantiate, op, type WasmFunction, type WasmMemory } from './wasm-asm.ts';

const { get, set, i32 } = op;

// Params: 0 src, 1 dst (byte offsets), 2 rows, 3 cols4 (a multiple of 4), 4 rowBytes. Locals: i32 5 j
// (byte offset of the column group), 6 p (pointer down the column), 7 end (src + rows*rowBytes + j);
// v128 8 the running sums.
const [SRC, DST, ROWS, COLS4, ROWB] = [0, 1, 2, 3, 4];
const [J, P, END] = [5, 6, 7];
const ACC = 8;

function colsumFunction(): WasmFunction {
  const code: number[] = [
    ...get(COLS4), ...i32(2), ...op.i32Shl, ...set(COLS4), // columns -> bytes
    ...op.block, ...op.loop,
    ...get(J), ...get(COLS4), ...op.i32GeU, ...op.brIf(1),
    ...op.zero, ...set(ACC),
    ...get(SRC), ...get(J), ...op.i32Add, ...set(P),
    ...get(P), ...get(ROWS), ...get(ROWB), ...op.i32Mul, ...op.i32Add, ...set(END),
    ...op.block, ...op.loop,
    ...get(P), ...get(END), ...op.i32GeU, ...op.brIf(1),
    ...get(ACC), ...get(P), ...op.load(0), ...op.add, ...set(ACC),
    ...get(P), ...get(ROWB), ...op.i32Add, ...set(P), ...op.br(0),
    ...op.end, ...op.end,
    ...get(DST), ...get(J), ...op.i32Add, ...get(ACC), ...op.store(0),
    ...get(J), ...i32(16), ...op.i32Add, ...set(J), ...op.br(0),
    ...op.end, ...op.end,
  ];
  return { name: 'colsum', params: Array<number>(5).fill(I32), locals: [[3, I32], [1, V128]], code };
}

type ColSum = (src: number, dst: number, rows: number, cols4: number, rowBytes: number) => void;

/** dst[j] = sum over i of src[i, j] for src `[rows, cols]` float32 at byte offsets of `memory`. */
export function columnSumsInto(memory: WasmMemory, src: number, dst: number, rows: number, cols: number): void {
  const cols4 = cols - (cols % 4);
  if (cols4 > 0) instantiate<ColSum>(memory, colsumFunction, 'colsum')(src, dst, rows, cols4, cols * 4);
  if (cols4 === cols) return;
  const s = new Float32Array(memory.buffer, src, rows * cols);
  const d = new Float32Array(memory.buffer, dst, cols);
  for (let j = cols4; j < cols; j++) {
    let acc = 0;
    for (let i = 0; i < rows; i++) acc = Math.fround(acc + (s[i * cols + j] as number));
    d[j] = acc;
  }
}
