/**
 * Training shards: chips already read and normalised, packed for sequential reading (`clay pack`,
 * `model/data/pack.ts`). A shard is a POSIX tar (ustar) file, as WebDataset shards are, so `tar tf` lists
 * it and Python's `tarfile` reads it. Each chip is two members with one key, the chip's position in the
 * shard (`000007`):
 *
 * - `000007.json`: the chip's id (its key in the chip store it was packed from), MGRS tile, date, grid
 *   (EPSG code, geotransform, width, height), centre, footprint, and the model's inputs besides the pixels:
 *   `latlon` and `timestep` exactly as the chip stream yields them (float32 values; JSON numbers give them
 *   back to the bit).
 * - `000007.pixels.f16`: the normalised pixels, `[13, H, W]` float16, little-endian (codec `none`); or
 *   `000007.pixels.f16planes.zlib` (codec `deflate`): the same float16 values as two byte planes (every
 *   value's high byte, then every low byte), zlib-compressed at level 1.
 *
 * The pixels the stream yields today are float16 values already (Clay v0 normalises in float16), so
 * float16 keeps them to the bit. The two members of a chip are adjacent: one ranged read of
 * `[offset, offset + length)` (the index's columns) holds both.
 */
import { deflateSync } from 'node:zlib';
import { ClayError, errorMessage, isClayError } from '../../core/errors.ts';
import { halfBitsFromFloat32Bits } from '../../core/float16.ts';
import type { GeoTransform } from '../../core/grid.ts';
import { inflateNativeSync } from '../../pipeline/read/inflate.ts';
import { NUM_BANDS } from '../config.ts';
import { halfTableBits, halfToFloat32 } from './half-float.ts';
import type { ChipRef, ChipSample } from './types.ts';

/** How the pixels of a chip are stored in a shard. */
export type ShardCodec = 'none' | 'deflate';
export const SHARD_CODECS: readonly ShardCodec[] = ['none', 'deflate'];

/** The pixel member's name suffix for each codec. */
const PIXEL_SUFFIX: Record<ShardCodec, string> = { none: '.pixels.f16', deflate: '.pixels.f16planes.zlib' };

const BLOCK = 512;

/** The json member of a chip. */
export interface ShardChipMeta {
  /** The chip's key in the chip store it came from. */
  id: string;
  mgrs: string;
  date: string;
  epsg: number;
  transform: GeoTransform;
  width: number;
  height: number;
  lon: number;
  lat: number;
  footprint: [number, number][];
  latlon: [number, number];
  timestep: [number, number, number];
  bands: number;
  dtype: 'float16';
  codec: ShardCodec;
}

/** One chip's members, ready to append to a shard, and where its bytes lie within them. */
export interface ShardRecord {
  /** Tar blocks: json header + data + padding, pixels header + data + padding. */
  chunks: Uint8Array[];
  /** Bytes of `chunks` in all (a multiple of 512). */
  length: number;
  meta: ShardChipMeta;
}

/** A ustar header for a regular file of `size` bytes (names up to 100 bytes). */
function tarHeader(name: string, size: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (text: string, at: number, width: number): void => {
    const b = new TextEncoder().encode(text);
    if (b.length > width) throw new ClayError('INTERNAL', `tar field ${JSON.stringify(text)} is longer than ${width} bytes`);
    h.set(b, at);
  };
  const octal = (v: number, at: number, width: number): void => put(`${v.toString(8).padStart(width - 1, '0')}\0`, at, width);
  put(name, 0, 100);
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12); // mtime 0: a shard's bytes depend on its chips only
  put('        ', 148, 8);
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

const padding = (size: number): Uint8Array => new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);

/** The two zero blocks that end a tar file. */
export const TAR_END: Uint8Array = new Uint8Array(2 * BLOCK);

/** The member key of the chip at `position` in its shard. */
export function memberKey(position: number): string {
  return String(position).padStart(6, '0');
}

/**
 * A chip as shard members, its id its key (`sample.key`). `sample.pixels` must hold float16 values (as the
 * chip stream yields them): anything else would not come back to the bit, and is INTERNAL.
 */
export function shardRecord(sample: ChipSample, position: number, codec: ShardCodec): ShardRecord {
  const { pixels } = sample;
  const id = sample.key;
  if (pixels.length !== NUM_BANDS * sample.width * sample.height) throw new ClayError('INTERNAL', `chip ${id}: ${pixels.length} values for ${NUM_BANDS} x ${sample.width} x ${sample.height}`);
  const words = new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.length);
  const n = pixels.length;
  const HALF_BITS = halfTableBits();
  const half = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const h = halfBitsFromFloat32Bits(words[i]!);
    // The inverse must give the same float32 (NaN payloads aside): else the value was not a float16.
    if (HALF_BITS[h] !== words[i] && !Number.isNaN(pixels[i])) throw new ClayError('INTERNAL', `chip ${id}: pixel ${i} (${pixels[i]}) is not a float16 value`);
    half[i] = h;
  }
  let data: Uint8Array;
  if (codec === 'none') {
    data = new Uint8Array(half.buffer);
  } else {
    const planes = new Uint8Array(2 * n);
    for (let i = 0; i < n; i++) {
      const h = half[i]!;
      planes[i] = h >>> 8;
      planes[n + i] = h & 0xff;
    }
    data = deflateSync(planes, { level: 1 });
  }
  const meta: ShardChipMeta = {
    id, mgrs: sample.mgrs, date: sample.date, epsg: sample.epsg, transform: [...sample.transform] as GeoTransform,
    width: sample.width, height: sample.height, lon: sample.lon, lat: sample.lat,
    footprint: sample.footprint.map(([x, y]) => [x, y]), latlon: [sample.latlon[0], sample.latlon[1]],
    timestep: [sample.timestep[0], sample.timestep[1], sample.timestep[2]], bands: NUM_BANDS, dtype: 'float16', codec,
  };
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const key = memberKey(position);
  const chunks = [tarHeader(`${key}.json`, json.length), json, padding(json.length), tarHeader(`${key}${PIXEL_SUFFIX[codec]}`, data.length), data, padding(data.length)];
  return { chunks, length: chunks.reduce((s, c) => s + c.length, 0), meta };
}


function corrupt(ref: ChipRef, why: string, cause?: unknown): ClayError {
  return new ClayError('CHIP_CORRUPT', `chip ${ref.url}: ${why}`, { input: ref.url, ...(cause === undefined ? {} : { cause }) });
}

/** A tar member header read back: its name, size and where its data starts. */
interface Member {
  name: string;
  size: number;
  data: number;
  next: number;
}

function readMember(bytes: Uint8Array, at: number, ref: ChipRef): Member {
  if (at + BLOCK > bytes.length) throw corrupt(ref, `record ends inside a tar header (${bytes.length} bytes, header at ${at})`);
  const h = bytes.subarray(at, at + BLOCK);
  const text = (from: number, width: number): string => {
    const f = h.subarray(from, from + width);
    const end = f.indexOf(0);
    return new TextDecoder().decode(end < 0 ? f : f.subarray(0, end));
  };
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  const stored = Number.parseInt(text(148, 8).trim(), 8);
  if (stored !== sum) throw corrupt(ref, `tar header at ${at} has checksum ${stored}, its bytes sum to ${sum}`);
  const size = Number.parseInt(text(124, 12).trim(), 8);
  if (!Number.isSafeInteger(size) || size < 0) throw corrupt(ref, `tar header at ${at} has no size`);
  const data = at + BLOCK;
  const next = data + size + ((BLOCK - (size % BLOCK)) % BLOCK);
  if (data + size > bytes.length) throw corrupt(ref, `member ${text(0, 100)} (${size} bytes at ${data}) runs past the record's ${bytes.length} bytes`);
  return { name: text(0, 100), size, data, next };
}

/**
 * The chip in one record's bytes (`[offset, offset + length)` of its shard), as the chip stream yields it.
 * `out`: a spare buffer for the pixels (the decode pool recycles batch-stacked ones); used when it holds
 * exactly the chip's float32 values, else a new one is allocated.
 */
export function decodeShardRecord(bytes: Uint8Array, ref: ChipRef, out?: ArrayBuffer): ChipSample {
  try {
    const jm = readMember(bytes, 0, ref);
    if (!jm.name.endsWith('.json')) throw corrupt(ref, `first member ${jm.name} is not the chip's .json`);
    const key = jm.name.slice(0, -'.json'.length);
    let meta: ShardChipMeta;
    try {
      meta = JSON.parse(new TextDecoder().decode(bytes.subarray(jm.data, jm.data + jm.size))) as ShardChipMeta;
    } catch (err) {
      throw corrupt(ref, `${jm.name} is not JSON: ${errorMessage(err)}`, err);
    }
    if (meta.id !== ref.key) throw corrupt(ref, `${jm.name} holds chip ${JSON.stringify(meta.id)}, the index says ${JSON.stringify(ref.key)}`);
    if (meta.bands !== NUM_BANDS || meta.dtype !== 'float16' || !SHARD_CODECS.includes(meta.codec)) throw corrupt(ref, `${jm.name}: ${meta.bands} bands of ${meta.dtype}, codec ${meta.codec}`);
    const pm = readMember(bytes, jm.next, ref);
    if (pm.name !== `${key}${PIXEL_SUFFIX[meta.codec]}`) throw corrupt(ref, `pixel member ${pm.name}, expected ${key}${PIXEL_SUFFIX[meta.codec]}`);
    const n = NUM_BANDS * meta.width * meta.height;
    const stored = bytes.subarray(pm.data, pm.data + pm.size);
    const into = out !== undefined && out.byteLength === 4 * n ? { out: new Float32Array(out) } : {};
    let pixels: Float32Array;
    if (meta.codec === 'none') {
      if (stored.length !== 2 * n) throw corrupt(ref, `${pm.name} holds ${stored.length} bytes, expected ${2 * n}`);
      // A Uint16Array view needs an even offset: a copy when the record's buffer is odd.
      const own = stored.byteOffset % 2 === 0 ? stored : stored.slice();
      pixels = halfToFloat32(new Uint16Array(own.buffer, own.byteOffset, n), into);
    } else {
      let planes: Uint8Array;
      try {
        planes = inflateNativeSync(stored, 2 * n);
      } catch (err) {
        throw corrupt(ref, `${pm.name} does not inflate: ${errorMessage(err)}`, err);
      }
      if (planes.length !== 2 * n) throw corrupt(ref, `${pm.name} inflates to ${planes.length} bytes, expected ${2 * n}`);
      const half = new Uint16Array(n);
      for (let i = 0; i < n; i++) half[i] = (planes[i]! << 8) | planes[n + i]!;
      pixels = halfToFloat32(half, into);
    }
    return {
      url: ref.url, key: ref.key, mgrs: meta.mgrs, date: meta.date, epsg: meta.epsg, transform: meta.transform,
      width: meta.width, height: meta.height, lon: meta.lon, lat: meta.lat, footprint: meta.footprint,
      pixels, latlon: meta.latlon, timestep: meta.timestep,
    };
  } catch (err) {
    if (isClayError(err, 'CHIP_CORRUPT')) throw err;
    throw corrupt(ref, errorMessage(err), err);
  }
}
