/**
 * In-memory rasters: a typed array paired with its dtype (a union, so a buffer never travels with a loose
 * string), plus a size. Row-major, one band, pixel (col, row) at `row * width + col`.
 */

/** Pixel data types the reader supports (TIFF SampleFormat 1/2/3 with 8, 16, 32 or 64 bits). */
export type DType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';

/** The typed array of each dtype. */
export interface TypedArrayOf {
  uint8: Uint8Array;
  int8: Int8Array;
  uint16: Uint16Array;
  int16: Int16Array;
  uint32: Uint32Array;
  int32: Int32Array;
  float32: Float32Array;
  float64: Float64Array;
}

/** A typed array of any supported dtype. */
export type AnyTypedArray = TypedArrayOf[DType];

/** A dtype and its buffer. */
export type RasterData = { [K in DType]: { dtype: K; data: TypedArrayOf[K] } }[DType];

/** One band of pixels, row-major. */
export type Raster = RasterData & { width: number; height: number };

/**
 * The decoded tiles (or strips) that cover a window of an image, in place: `rasters[j * across + i]` is the
 * tile whose top-left pixel is (col0 + i * tileWidth, row0 + j * tileHeight), undefined when it is sparse
 * (no data stored: nodata). Each tile raster is `tileWidth` wide; the last strip may have fewer rows.
 */
export interface TileSet {
  dtype: DType;
  col0: number;
  row0: number;
  across: number;
  down: number;
  tileWidth: number;
  tileHeight: number;
  rasters: (Raster | undefined)[];
}

/** Bytes per pixel of a dtype. */
export function bytesPerPixel(dtype: DType): number {
  switch (dtype) {
    case 'uint8': case 'int8': return 1;
    case 'uint16': case 'int16': return 2;
    case 'uint32': case 'int32': case 'float32': return 4;
    case 'float64': return 8;
  }
}

/** A zero-filled raster of `dtype` (then filled with `fill` when given and non-zero). */
export function allocRaster(dtype: DType, width: number, height: number, fill = 0): Raster {
  const n = width * height;
  const r = typedRaster(dtype, n, width, height);
  if (fill !== 0) r.data.fill(fill);
  return r;
}

function typedRaster(dtype: DType, n: number, width: number, height: number): Raster {
  switch (dtype) {
    case 'uint8': return { dtype, data: new Uint8Array(n), width, height };
    case 'int8': return { dtype, data: new Int8Array(n), width, height };
    case 'uint16': return { dtype, data: new Uint16Array(n), width, height };
    case 'int16': return { dtype, data: new Int16Array(n), width, height };
    case 'uint32': return { dtype, data: new Uint32Array(n), width, height };
    case 'int32': return { dtype, data: new Int32Array(n), width, height };
    case 'float32': return { dtype, data: new Float32Array(n), width, height };
    case 'float64': return { dtype, data: new Float64Array(n), width, height };
  }
}

/** `bytes` (little-endian; copied when misaligned) as a raster of `dtype`, width x height pixels. */
export function rasterFromBytes(dtype: DType, bytes: Uint8Array, width: number, height: number): Raster {
  const size = bytesPerPixel(dtype);
  const n = width * height;
  if (bytes.byteLength < n * size) throw new RangeError(`${bytes.byteLength} bytes hold fewer than ${n} ${dtype} pixels`);
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const { buffer, byteOffset } = aligned;
  switch (dtype) {
    case 'uint8': return { dtype, data: new Uint8Array(buffer, byteOffset, n), width, height };
    case 'int8': return { dtype, data: new Int8Array(buffer, byteOffset, n), width, height };
    case 'uint16': return { dtype, data: new Uint16Array(buffer, byteOffset, n), width, height };
    case 'int16': return { dtype, data: new Int16Array(buffer, byteOffset, n), width, height };
    case 'uint32': return { dtype, data: new Uint32Array(buffer, byteOffset, n), width, height };
    case 'int32': return { dtype, data: new Int32Array(buffer, byteOffset, n), width, height };
    case 'float32': return { dtype, data: new Float32Array(buffer, byteOffset, n), width, height };
    case 'float64': return { dtype, data: new Float64Array(buffer, byteOffset, n), width, height };
  }
}

/** The dtype of TIFF SampleFormat (1 uint, 2 int, 3 float) and BitsPerSample, or undefined if unsupported. */
export function dtypeOf(sampleFormat: number, bits: number): DType | undefined {
  const key = `${sampleFormat}:${bits}`;
  const table: Record<string, DType> = {
    '1:8': 'uint8', '2:8': 'int8', '1:16': 'uint16', '2:16': 'int16', '1:32': 'uint32', '2:32': 'int32', '3:32': 'float32', '3:64': 'float64',
  };
  return table[key];
}
