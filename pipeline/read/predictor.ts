/**
 * TIFF predictors undone in place on the decoded bytes of one tile or strip, as libtiff does: predictor 2
 * (horizontal differencing) adds each sample to the one `samples` values before it as an unsigned integer
 * of the sample's width, whatever the sample format (floats included: libtiff differences their bit
 * patterns, and so does GDAL when it writes them); predictor 3 (floating point) undoes the byte-wise
 * differencing of each row, then gathers the row's byte planes (most significant first) back into samples.
 *
 * The bytes are in the machine's (little-endian) order for predictor 2: the caller swaps a big-endian
 * file's samples first, as libtiff's `swabHorAcc*` do. Predictor 3 reads byte planes, which have no byte
 * order, and leaves little-endian samples, so a big-endian file needs no swap there (libtiff skips its
 * post-decode swab for it too).
 */

/**
 * Undoes predictor `predictor` on `rows` rows of `width` pixels with `samples` interleaved samples per
 * pixel (1 for planar or single-band data), each `sampleBytes` bytes (1, 2, 4 or 8). Predictor 1 is a no-op.
 */
export function undoPredictor(bytes: Uint8Array, predictor: number, sampleBytes: number, width: number, rows: number, samples = 1): void {
  if (predictor === 1) return;
  if (predictor === 2) return undoHorizontal(bytes, sampleBytes, width * samples, rows, samples);
  if (predictor === 3) return undoFloatingPoint(bytes, sampleBytes, width * samples, rows, samples);
  throw new RangeError(`unsupported TIFF predictor ${predictor}`);
}

/** Byte-wise accumulation with a stride of `samples` bytes, then the byte planes gathered into samples. */
function undoFloatingPoint(bytes: Uint8Array, size: number, values: number, rows: number, samples: number): void {
  const rowBytes = values * size;
  const copy = new Uint8Array(rowBytes);
  for (let r = 0; r < rows; r++) {
    const row = bytes.subarray(r * rowBytes, (r + 1) * rowBytes);
    if (samples === 1) {
      let acc = row[0]!;
      for (let i = 1; i < rowBytes; i++) row[i] = acc = (acc + row[i]!) & 0xff;
    } else {
      for (let i = samples; i < rowBytes; i++) row[i] = (row[i]! + row[i - samples]!) & 0xff;
    }
    copy.set(row);
    for (let i = 0; i < values; i++) {
      for (let b = 0; b < size; b++) row[i * size + b] = copy[(size - b - 1) * values + i]!;
    }
  }
}

/** Horizontal differencing undone over rows of `values` samples, `stride` samples apart, as unsigned integers. */
function undoHorizontal(bytes: Uint8Array, size: number, values: number, rows: number, stride: number): void {
  if (size === 1) {
    for (let r = 0; r < rows; r++) {
      const o = r * values;
      for (let i = stride; i < values; i++) bytes[o + i] = (bytes[o + i]! + bytes[o + i - stride]!) & 0xff;
    }
    return;
  }
  if (bytes.byteOffset % size !== 0) throw new RangeError('misaligned tile buffer');
  const n = values * rows;
  if (size === 2) {
    const v = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    if (stride === 1) {
      // One band (every COG the pipeline reads): a running sum, one load a sample instead of two.
      for (let r = 0; r < rows; r++) {
        const o = r * values;
        let acc = v[o]!;
        for (let i = o + 1, end = o + values; i < end; i++) v[i] = acc = (acc + v[i]!) & 0xffff;
      }
      return;
    }
    for (let r = 0; r < rows; r++) {
      const o = r * values;
      for (let i = stride; i < values; i++) v[o + i] = (v[o + i]! + v[o + i - stride]!) & 0xffff;
    }
    return;
  }
  if (size === 4) {
    const v = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    if (stride === 1) {
      for (let r = 0; r < rows; r++) {
        const o = r * values;
        let acc = v[o]!;
        for (let i = o + 1, end = o + values; i < end; i++) v[i] = acc = (acc + v[i]!) >>> 0;
      }
      return;
    }
    for (let r = 0; r < rows; r++) {
      const o = r * values;
      for (let i = stride; i < values; i++) v[o + i] = (v[o + i]! + v[o + i - stride]!) >>> 0;
    }
    return;
  }
  if (size === 8) {
    // 64-bit sums as two 32-bit words (low, high) with the carry, little-endian.
    const v = new Uint32Array(bytes.buffer, bytes.byteOffset, n * 2);
    for (let r = 0; r < rows; r++) {
      const o = r * values;
      for (let i = stride; i < values; i++) {
        const a = 2 * (o + i);
        const b = 2 * (o + i - stride);
        const lo = v[a]! + v[b]!;
        v[a] = lo >>> 0;
        v[a + 1] = (v[a + 1]! + v[b + 1]! + (lo > 0xffffffff ? 1 : 0)) >>> 0;
      }
    }
    return;
  }
  throw new RangeError(`predictor 2 on ${size * 8}-bit samples is not defined`);
}

/** Reverses the bytes of each `size`-byte sample in place (a big-endian file's samples to little-endian). */
export function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  const n = bytes.byteLength - (bytes.byteLength % size);
  for (let i = 0; i < n; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}
