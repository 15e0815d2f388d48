/**
 * The custom metadata of an `ARROW:schema` entry (what Arrow writers embed in a Parquet footer: a base64
 * Arrow IPC message whose Schema carries key-value metadata). Earlier versions of this toolkit wrote
 * Parquet through arrow-rs and kept their own keys (the chip index version, the embedding description)
 * there; this reads them back so those files stay readable. Only the flatbuffer path to the Schema's
 * `custom_metadata` is decoded.
 */

/** Thrown for bytes that are not an Arrow IPC schema message. */
export class ArrowSchemaError extends Error {}

/** A minimal flatbuffer view: tables, vectors of tables, strings. */
class Flat {
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private u32(at: number): number {
    if (at < 0 || at + 4 > this.bytes.length) throw new ArrowSchemaError(`offset ${at} outside the message`);
    return this.view.getUint32(at, true);
  }

  /** Position of field `i` of the table at `table`, or undefined when absent. */
  field(table: number, i: number): number | undefined {
    const vtable = table - this.view.getInt32(table, true);
    if (vtable < 0 || vtable + 4 > this.bytes.length) throw new ArrowSchemaError('bad vtable');
    const size = this.view.getUint16(vtable, true);
    if (4 + 2 * i >= size) return undefined;
    const off = this.view.getUint16(vtable + 4 + 2 * i, true);
    return off === 0 ? undefined : table + off;
  }

  /** The table or string an offset field at `at` points to. */
  deref(at: number): number {
    return at + this.u32(at);
  }

  /** Elements' positions of the vector an offset field at `at` points to (tables or strings). */
  vector(at: number): number[] {
    const v = this.deref(at);
    const n = this.u32(v);
    return Array.from({ length: n }, (_, k) => this.deref(v + 4 + 4 * k));
  }

  string(at: number): string {
    const len = this.u32(at);
    if (at + 4 + len > this.bytes.length) throw new ArrowSchemaError('string outside the message');
    return new TextDecoder().decode(this.bytes.subarray(at + 4, at + 4 + len));
  }
}

/** The Schema's custom metadata in a base64 `ARROW:schema` value; ArrowSchemaError when it is not one. */
export function arrowSchemaMetadata(base64: string): Map<string, string> {
  const raw = Uint8Array.from(Buffer.from(base64, 'base64'));
  // An IPC message: optional continuation marker 0xFFFFFFFF, the flatbuffer's length, the flatbuffer.
  let start = 0;
  if (raw.length >= 8 && new DataView(raw.buffer).getUint32(0, true) === 0xffffffff) start = 8;
  else if (raw.length >= 4) start = 4;
  const fb = new Flat(raw.subarray(start));
  const out = new Map<string, string>();
  try {
    const message = fb.deref(0);
    // Message: 0 version, 1 header_type (1 = Schema), 2 header.
    const headerType = fb.field(message, 1);
    if (headerType === undefined || raw[start + headerType] !== 1) throw new ArrowSchemaError('not a Schema message');
    const header = fb.field(message, 2);
    if (header === undefined) throw new ArrowSchemaError('no Schema in the message');
    // Schema: 0 endianness, 1 fields, 2 custom_metadata (KeyValue: 0 key, 1 value).
    const metadata = fb.field(fb.deref(header), 2);
    if (metadata === undefined) return out;
    for (const kv of fb.vector(metadata)) {
      const k = fb.field(kv, 0);
      const v = fb.field(kv, 1);
      if (k !== undefined) out.set(fb.string(fb.deref(k)), v === undefined ? '' : fb.string(fb.deref(v)));
    }
  } catch (err) {
    if (err instanceof ArrowSchemaError) throw err;
    throw new ArrowSchemaError(err instanceof Error ? err.message : String(err));
  }
  return out;
}
