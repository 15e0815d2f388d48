/**
 * The safetensors format (8-byte little-endian header length, a JSON header of
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the raw little-endian data).
 * Small enough to own: float32 is written; F32, F16, BF16 and F64 are read (returned as float32).
 */
import { ClayError } from '../core/errors.ts';

/** Element types this reader understands. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64';

/** One tensor: name, shape, float32 values (C order). */
export interface NamedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A decoded file: tensors in file order and the string metadata. */
export interface SafetensorsFile {
  readonly tensors: NamedTensor[];
  readonly metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** Encodes float32 tensors (in the given order) with optional string metadata. */
export function encodeSafetensors(tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new ClayError('WEIGHTS_INVALID', `${t.name}: shape does not match data`, { input: t.name });
    if (t.name in header) throw new ClayError('WEIGHTS_INVALID', `duplicate tensor ${t.name}`, { input: t.name });
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // align the data to 8 bytes, as the reference writer
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let pos = 8 + head.length;
  for (const t of tensors) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, pos); // little-endian hosts only (every Node platform today)
    pos += bytes.length;
  }
  return out;
}

function bad(message: string, input?: string): never {
  throw new ClayError('WEIGHTS_INVALID', message, input === undefined ? {} : { input });
}

function isDtype(v: unknown): v is SafetensorsDtype {
  return v === 'F32' || v === 'F16' || v === 'BF16' || v === 'F64';
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f === 0 ? s * Infinity : Number.NaN;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function toFloat32(dtype: SafetensorsDtype, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / BYTES[dtype];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (dtype === 'F32') out[i] = view.getFloat32(i * 4, true);
    else if (dtype === 'F64') out[i] = view.getFloat64(i * 8, true);
    else if (dtype === 'F16') out[i] = halfToFloat(view.getUint16(i * 2, true));
    else out[i] = new Float32Array(new Uint32Array([view.getUint16(i * 2, true) << 16]).buffer)[0] ?? 0;
  }
  return out;
}

/** Decodes a safetensors file, validating the header against the data. */
export function decodeSafetensors(file: Uint8Array): SafetensorsFile {
  if (file.byteLength < 8) bad('file shorter than the safetensors header length');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headLen = Number(view.getBigUint64(0, true));
  if (headLen > file.byteLength - 8 || headLen > 100 * 1024 * 1024) bad(`header length ${headLen} exceeds the file`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(file.subarray(8, 8 + headLen)).toString('utf8'));
  } catch (cause) {
    throw new ClayError('WEIGHTS_INVALID', 'safetensors header is not JSON', { cause });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('safetensors header is not an object');
  const data = file.subarray(8 + headLen);
  const tensors: NamedTensor[] = [];
  const metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof raw === 'object' && raw !== null) {
        for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') metadata[k] = v;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null) bad(`entry ${name} is not an object`, name);
    const e = raw as Record<string, unknown>;
    const dtype = e['dtype'];
    const shape = e['shape'];
    const offs = e['data_offsets'];
    if (!isDtype(dtype)) bad(`${name}: unsupported dtype ${String(dtype)}`, name);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) bad(`${name}: bad shape`, name);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d))) bad(`${name}: bad data_offsets`, name);
    const [begin, end] = offs as [number, number];
    const dims = shape as number[];
    const n = dims.reduce((a, b) => a * b, 1);
    if (begin < 0 || end > data.byteLength || end - begin !== n * BYTES[dtype]) bad(`${name}: data_offsets do not match shape`, name);
    tensors.push({ name, shape: dims, data: toFloat32(dtype, data.subarray(begin, end)) });
  }
  return { tensors, metadata };
}
