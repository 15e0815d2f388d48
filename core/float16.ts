/**
 * IEEE 754 binary16 (half precision) rounding, for reproducing arithmetic that Clay v0 did in float16
 * (`torch.float16` tensors, `np.float16` scalars). Node 20 has no `Math.f16round`; these helpers work on
 * float32 bit patterns so the hot path (one call per pixel) is integer arithmetic only. Rounding is to
 * nearest, ties to even, as IEEE and every float16 implementation (numpy, torch, CUDA) do it; values at or
 * above 65520 in magnitude overflow to infinity, NaN stays NaN.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest (ties to even) to the float32 with bit pattern `bits`. */
export function halfBitsFromFloat32Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | (abs > 0x7f800000 ? 0x7e00 : 0x7c00); // NaN (quiet), infinity
  if (abs >= 0x477ff000) return sign | 0x7c00; // >= 65520: overflows to infinity
  if (abs >= 0x38800000) {
    // Normal half (>= 2^-14): rebias the exponent (127 -> 15), drop 13 mantissa bits rounding to even.
    // A carry out of the mantissa correctly bumps the exponent.
    const r = abs - 0x38000000;
    return sign | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
  }
  // Subnormal half or zero: a multiple of 2^-24; scaling a float32 by 2^24 is exact in a double.
  u32[0] = abs;
  const v = f32[0]! * 16777216;
  let t = Math.round(v);
  if (t - v === 0.5 && (t & 1) === 1) t -= 1; // Math.round sends ties up; ties go to even
  return sign | t;
}

/** The bit pattern of `x` rounded to float32 (`Math.fround`). */
export function float32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

/** The value of every binary16 bit pattern, built once on first use. */
let halfValues: Float32Array | undefined;

/** The value of binary16 bit pattern `h` (0..0xffff). */
export function halfToNumber(h: number): number {
  halfValues ??= buildHalfValues();
  return halfValues[h & 0xffff]!;
}

function buildHalfValues(): Float32Array {
  const out = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const man = h & 0x3ff;
    if (exp === 0) out[h] = sign * man * 2 ** -24;
    else if (exp === 31) out[h] = man === 0 ? sign * Infinity : Number.NaN;
    else out[h] = sign * (1024 + man) * 2 ** (exp - 25);
  }
  return out;
}

/**
 * `x` rounded to binary16 through float32, as torch casts a Python float to `torch.float16` (double ->
 * float -> half) and as torch and numpy compute float16 ops (in float32, then rounded). For the exact
 * result of one +, -, * or / of float16 operands the double rounding is harmless (24 >= 2 * 11 + 2 bits).
 */
export function f16round(x: number): number {
  return halfToNumber(halfBitsFromFloat32Bits(float32Bits(x)));
}
