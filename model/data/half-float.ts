/**
 * float16 -> float32, for training shards: the float32 value of each float16 bit pattern, exactly (what
 * `halfToNumber` gives; a NaN stays NaN, and the quiet NaN 0x7e00, the only one the chip stream makes, is
 * float32's 0x7fc00000 either way). A WebAssembly SIMD loop, eight values at a time, on a memory of its
 * own per thread (shard records decode in the stream's workers); a JS table where SIMD is missing.
 * Lanes: `(h & 0x7fff) << 13` read as a float32 and multiplied by 2^112 re-biases normal numbers and
 * normalises subnormals (WebAssembly keeps subnormals: exact), exponent 31 sets float32's all-ones
 * exponent (infinity, NaN with its payload), then the sign.
 */
import { halfToNumber } from '../../core/float16.ts';
import { I32, V128, instantiate, newMemory, op, type WasmFunction } from '../wasm-asm.ts';

const { get, set, i32 } = op;

// Params: 0 src, 1 dst (byte offsets), 2 count (a multiple of 8). Locals: i32 3 end; v128 4 x.
const [SRC, DST, COUNT, END] = [0, 1, 2, 3];
const X = 4;

const splat4 = (v: number): number[] => op.i32x4Const([v, v, v, v]);

/** Code that turns the four u16 lanes widened in local X into float32 bits, left on the stack. */
function lanes(): number[] {
  return [
    // (x & 0x7fff) << 13 as a float32, times 2^112: normals re-biased, subnormals normalised, exactly
    ...get(X), ...splat4(0x7fff), ...op.and, ...i32(13), ...op.i32x4Shl, ...splat4(0x77800000), ...op.mul,
    // exponent 31 (infinity, NaN): the float32 exponent all ones
    ...get(X), ...splat4(0x7c00), ...op.and, ...splat4(0x7c00), ...op.i32x4Eq, ...splat4(0x7f800000), ...op.and, ...op.or,
    // the sign
    ...get(X), ...splat4(0x8000), ...op.and, ...i32(16), ...op.i32x4Shl, ...op.or,
  ];
}

function halfFunction(): WasmFunction {
  const code: number[] = [
    ...get(SRC), ...get(COUNT), ...op.i32Add, ...get(COUNT), ...op.i32Add, ...set(END), // src + 2 * count
    ...op.block, ...op.loop,
    ...get(SRC), ...get(END), ...op.i32GeU, ...op.brIf(1),
    ...get(DST), ...get(SRC), ...op.load(0), ...op.extendLowU16, ...set(X), ...lanes(), ...op.store(0),
    ...get(DST), ...get(SRC), ...op.load(0), ...op.extendHighU16, ...set(X), ...lanes(), ...op.store(16),
    ...get(SRC), ...i32(16), ...op.i32Add, ...set(SRC),
    ...get(DST), ...i32(32), ...op.i32Add, ...set(DST),
    ...op.br(0),
    ...op.end, ...op.end,
  ];
  return { name: 'half', params: [I32, I32, I32], locals: [[1, I32], [1, V128]], code };
}

type HalfKernel = (src: number, dst: number, count: number) => void;

let memory: ReturnType<typeof newMemory> | undefined;
let kernel: HalfKernel | null | undefined;
let table: Float32Array | undefined;

function jsTable(): Float32Array {
  if (table === undefined) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToNumber(h);
  }
  return table;
}

/** The float32 bits of every float16 bit pattern (the table the JS path reads). */
export function halfTableBits(): Uint32Array {
  const t = jsTable();
  return new Uint32Array(t.buffer, t.byteOffset, t.length);
}

/** The SIMD kernel on this thread's memory, grown to hold `bytes`; null where WebAssembly SIMD is missing. */
function kernelFor(bytes: number): HalfKernel | null {
  if (kernel === null) return null;
  try {
    memory ??= newMemory(1);
    const need = Math.ceil(bytes / 65536) - memory.buffer.byteLength / 65536;
    if (need > 0) memory.grow(need);
    kernel ??= instantiate<HalfKernel>(memory, halfFunction, 'half');
    return kernel;
  } catch {
    kernel = null;
    return null;
  }
}

/**
 * The float32 values of `src`'s float16 bit patterns: written into `options.out` when given (it must have
 * `src.length` values), else into a new Float32Array with a buffer of its own (transferable).
 */
export function halfToFloat32(src: Uint16Array, options: { simd?: boolean; out?: Float32Array } = {}): Float32Array {
  const n = src.length;
  // Every value is written below: no need to zero 4n bytes first (allocUnsafeSlow: a buffer of its own).
  if (options.out !== undefined && options.out.length !== n) throw new RangeError(`halfToFloat32: out has ${options.out.length} values, src ${n}`);
  const out = options.out ?? new Float32Array(Buffer.allocUnsafeSlow(4 * n).buffer, 0, n);
  const n8 = n - (n % 8);
  const dstAt = Math.ceil((2 * n) / 16) * 16;
  const k = options.simd === false || n8 === 0 ? null : kernelFor(dstAt + 4 * n);
  let from = 0;
  if (k !== null && memory !== undefined) {
    new Uint16Array(memory.buffer, 0, n).set(src);
    k(0, dstAt, n8);
    out.set(new Float32Array(memory.buffer, dstAt, n8));
    from = n8;
  }
  const t = jsTable();
  for (let i = from; i < n; i++) out[i] = t[src[i]!]!;
  return out;
}
