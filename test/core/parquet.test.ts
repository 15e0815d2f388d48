/**
 * The Parquet layer's parts below GeoParquet: Snappy, checked against hyparquet's independent decoder;
 * corrupt input refused with a ParquetError rather than mis-decoded. (Whole files are checked both ways
 * against arrow-rs in geoparquet.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snappyUncompress as hyparquetSnappy } from 'hyparquet';
import { snappyCompress, snappyUncompress, SnappyError } from '../../core/parquet/snappy.ts';
import { ParquetError, readParquet, writeParquet } from '../../core/parquet/parquet.ts';
import { ThriftReader } from '../../core/parquet/thrift.ts';

function inputs(): [string, Uint8Array][] {
  let seed = 12345;
  const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  const text = new TextEncoder().encode('claytile_31TGL_20210615_v02_0001.tif '.repeat(5000));
  const floats = new Uint8Array(Float32Array.from({ length: 40000 }, (_, i) => Math.round(Math.sin(i / 50) * 1000)).buffer);
  return [
    ['empty', new Uint8Array(0)],
    ['one byte', Uint8Array.of(7)],
    ['random 200 kB', Uint8Array.from({ length: 200_000 }, rand)],
    ['repeated text 185 kB', text],
    ['zeros 300 kB (runs across 64 kB blocks)', new Uint8Array(300_000)],
    ['float32 samples', floats],
    ['short repeats', Uint8Array.from({ length: 5000 }, (_, i) => [1, 2, 3, 4, 5, 1, 2, 3][i % 8]!)],
  ];
}

test('Snappy: hyparquet decodes what we compress to the same bytes; we decode it too; repetitive data shrinks', () => {
  for (const [name, input] of inputs()) {
    const packed = snappyCompress(input);
    const theirs = new Uint8Array(input.length);
    hyparquetSnappy(packed, theirs);
    assert.deepEqual(theirs, input, name);
    assert.deepEqual(snappyUncompress(packed, input.length), input, name);
  }
  const text = inputs()[3]![1];
  assert.ok(snappyCompress(text).length < text.length / 10, 'text compresses');
  const random = inputs()[2]![1];
  assert.ok(snappyCompress(random).length < random.length * 1.01, 'random data grows by under 1 %');
});

test('Snappy: truncated or inconsistent input is a SnappyError, never a wrong result', () => {
  const packed = snappyCompress(inputs()[3]![1]);
  assert.throws(() => snappyUncompress(packed.subarray(0, packed.length - 3)), SnappyError);
  assert.throws(() => snappyUncompress(packed, 12), SnappyError);
  // A copy reaching before the start of the output.
  assert.throws(() => snappyUncompress(Uint8Array.of(8, 2 | (3 << 2), 9, 0)), SnappyError);
});

test('Parquet: a damaged page or footer is a ParquetError naming what failed', () => {
  const bytes = writeParquet({
    fields: [{ name: 'n', repetition: 'required', physical: 'INT32' }],
    leaves: [{ slots: 3, data: { physical: 'INT32', values: Int32Array.of(1, 2, 3) } }],
    rows: 3,
    codec: 'snappy',
  });
  assert.deepEqual(readParquet(bytes).leaves[0]!.data.values, Int32Array.of(1, 2, 3));
  const footerLength = new DataView(bytes.buffer).getUint32(bytes.length - 8, true);
  const cutFooter = Uint8Array.from(bytes);
  new DataView(cutFooter.buffer).setUint32(bytes.length - 8, footerLength + 1000, true);
  assert.throws(() => readParquet(cutFooter), (e) => e instanceof ParquetError && /footer length/.test(e.message));
  // The page body starts after its thrift header; its first byte is Snappy's length varint (12 bytes).
  const header = new ThriftReader(bytes, 4);
  header.struct();
  assert.equal(bytes[header.pos], 12);
  const badPage = Uint8Array.from(bytes);
  badPage[header.pos] = 13;
  assert.throws(() => readParquet(badPage), (e) => e instanceof ParquetError && /column n/.test(e.message));
});
