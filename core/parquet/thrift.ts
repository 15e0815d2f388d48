/**
 * Thrift's compact protocol, the encoding of Parquet's metadata (file footer, page headers): a writer of
 * structs described as field lists (i32, i64, binary, list, struct: what our footers hold), and a reader
 * that returns them as generic values keyed by field id (also bool, i8, i16, double, set, map).
 */

/** Compact protocol type codes. */
export const T = { TRUE: 1, FALSE: 2, I8: 3, I16: 4, I32: 5, I64: 6, DOUBLE: 7, BINARY: 8, LIST: 9, SET: 10, MAP: 11, STRUCT: 12 } as const;

/** A value to write: typed, so the writer knows the wire type. */
export type TValue =
  | { t: 'i32'; v: number }
  | { t: 'i64'; v: number }
  | { t: 'binary'; v: Uint8Array | string }
  | { t: 'struct'; v: TStruct }
  | { t: 'list'; elem: 'i32' | 'binary' | 'struct'; v: readonly (number | string | Uint8Array | TStruct)[] };

/** A struct to write: fields by id (undefined fields are left out, as optional fields are). */
export type TStruct = readonly (readonly [id: number, value: TValue | undefined])[];

export const i32 = (v: number): TValue => ({ t: 'i32', v });
export const i64 = (v: number): TValue => ({ t: 'i64', v });
export const bin = (v: Uint8Array | string): TValue => ({ t: 'binary', v });
export const struct = (v: TStruct): TValue => ({ t: 'struct', v });
export const list = (elem: 'i32' | 'binary' | 'struct', v: readonly (number | string | Uint8Array | TStruct)[]): TValue => ({ t: 'list', elem, v });

/** A growable byte buffer. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Unsigned LEB128 of a non-negative safe integer. */
  varint(n: number): void {
    let v = n;
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  /** Zigzag then varint, for signed integers up to 2^53. */
  zigzag(n: number): void {
    this.varint(n >= 0 ? n * 2 : -n * 2 - 1);
  }

  /** The bytes written (a copy). */
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const encoder = new TextEncoder();

function wireType(v: TValue): number {
  switch (v.t) {
    case 'i32': return T.I32;
    case 'i64': return T.I64;
    case 'binary': return T.BINARY;
    case 'struct': return T.STRUCT;
    case 'list': return T.LIST;
  }
}

function writeBinary(w: ByteWriter, v: Uint8Array | string): void {
  const b = typeof v === 'string' ? encoder.encode(v) : v;
  w.varint(b.length);
  w.bytes(b);
}

/** Writes `s` as a compact-protocol struct (fields in the given order; ids must increase). */
export function writeStruct(w: ByteWriter, s: TStruct): void {
  let last = 0;
  for (const [id, value] of s) {
    if (value === undefined) continue;
    const type = wireType(value);
    const delta = id - last;
    if (delta > 0 && delta <= 15) w.byte((delta << 4) | type);
    else {
      w.byte(type);
      w.zigzag(id);
    }
    last = id;
    switch (value.t) {
      case 'i32': case 'i64': w.zigzag(value.v); break;
      case 'binary': writeBinary(w, value.v); break;
      case 'struct': writeStruct(w, value.v); break;
      case 'list': {
        const elemType = value.elem === 'i32' ? T.I32 : value.elem === 'binary' ? T.BINARY : T.STRUCT;
        const n = value.v.length;
        if (n < 15) w.byte((n << 4) | elemType);
        else {
          w.byte(0xf0 | elemType);
          w.varint(n);
        }
        for (const e of value.v) {
          if (value.elem === 'i32') w.zigzag(e as number);
          else if (value.elem === 'binary') writeBinary(w, e as string | Uint8Array);
          else writeStruct(w, e as TStruct);
        }
        break;
      }
    }
  }
  w.byte(0); // STOP
}

/** Encodes one struct. */
export function encodeStruct(s: TStruct): Uint8Array {
  const w = new ByteWriter();
  writeStruct(w, s);
  return w.result();
}

// ----------------------------------------------------------------------------------------------- read

/** A value read back: numbers (i64 as number, exact up to 2^53), bytes, lists, or structs. */
export type RValue = number | boolean | Uint8Array | RStruct | RValue[];

/** A struct read back: field id to value. */
export type RStruct = Map<number, RValue>;

/** Thrown on malformed input; callers turn it into their own error naming the file. */
export class ThriftError extends Error {}

/** A cursor over bytes that reads compact-protocol values. */
export class ThriftReader {
  pos: number;
  constructor(private readonly bytes: Uint8Array, start = 0, private readonly end = bytes.length) {
    this.pos = start;
  }

  private byte(): number {
    if (this.pos >= this.end) throw new ThriftError(`metadata ends early at byte ${this.pos}`);
    return this.bytes[this.pos++]!;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 0x80;
    }
    throw new ThriftError(`varint too long at byte ${this.pos}`);
  }

  zigzag(): number {
    const n = this.varint();
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  private binary(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.end) throw new ThriftError(`a ${n}-byte string runs past the end at byte ${this.pos}`);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  private value(type: number, depth: number): RValue {
    switch (type) {
      case T.TRUE: return true;
      case T.FALSE: return false;
      case T.I8: return (this.byte() << 24) >> 24;
      case T.I16: case T.I32: case T.I64: return this.zigzag();
      case T.DOUBLE: {
        if (this.pos + 8 > this.end) throw new ThriftError('a double runs past the end');
        const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0, true);
        this.pos += 8;
        return v;
      }
      case T.BINARY: return this.binary();
      case T.LIST: case T.SET: {
        const h = this.byte();
        const n = (h >> 4) === 15 ? this.varint() : h >> 4;
        const elem = h & 0x0f;
        const out: RValue[] = [];
        for (let i = 0; i < n; i++) {
          // Booleans inside collections are one byte each (1 = true).
          if (elem === T.TRUE || elem === T.FALSE) out.push(this.byte() === 1);
          else out.push(this.value(elem, depth + 1));
        }
        return out;
      }
      case T.MAP: {
        const n = this.varint();
        if (n === 0) return [];
        const kv = this.byte();
        const out: RValue[] = [];
        for (let i = 0; i < n; i++) out.push([this.value(kv >> 4, depth + 1), this.value(kv & 0x0f, depth + 1)]);
        return out;
      }
      case T.STRUCT: return this.struct(depth + 1);
      default: throw new ThriftError(`unknown compact type ${type} at byte ${this.pos - 1}`);
    }
  }

  /** Reads a struct (to its STOP byte). */
  struct(depth = 0): RStruct {
    if (depth > 64) throw new ThriftError('structs nested too deep');
    const out: RStruct = new Map();
    let last = 0;
    for (;;) {
      const h = this.byte();
      if (h === 0) return out;
      const type = h & 0x0f;
      const delta = h >> 4;
      const id = delta === 0 ? this.zigzag() : last + delta;
      last = id;
      out.set(id, this.value(type, depth));
    }
  }
}
