/**
 * Vector files (MGRS grids, landcover statistics, samples): FlatGeobuf or GeoJSON, read and written as
 * GeoJSON FeatureCollections in EPSG:4326. The only file that imports `flatgeobuf`.
 */
import { constants as fsConstants } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';
import { deserialize, serialize } from 'flatgeobuf/lib/mjs/geojson.js';
import type { FeatureCollection, Geometry } from 'geojson';
import { ClayError, errorMessage, type ErrorCode } from './errors.ts';
import { checkFlatGeobuf } from './flatgeobuf-check.ts';

/** A feature with typed-enough properties. */
export interface VectorFeature {
  geometry: Geometry | null;
  properties: Record<string, unknown>;
}

/** The format of a vector file, from its extension. */
export function vectorFormat(path: string): 'fgb' | 'geojson' {
  return /\.fgb$/i.test(path) ? 'fgb' : 'geojson';
}

/**
 * The largest vector file read (MiB): the full MGRS grid as FlatGeobuf is ~60 MB. A bigger file is a
 * mistake (a disk image, /dev/zero) that would otherwise fill memory before anything could say so.
 */
export const MAX_VECTOR_FILE_MB = 1024;

/** Reads every feature of a FlatGeobuf or GeoJSON file; failures are `code` errors naming the file. */
export async function readVectorFile(path: string, code: ErrorCode = 'IO'): Promise<VectorFeature[]> {
  return parseVectorFile(await readInputFile(path, code), path, code);
}

/**
 * The bytes of an input file, which must be a regular file (a FIFO or a device would block or never end)
 * of at most `MAX_VECTOR_FILE_MB`; failures are `code` errors naming the file and the errno.
 */
export async function readInputFile(path: string, code: ErrorCode = 'IO'): Promise<Buffer> {
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once (then fstat says it is not a file).
    const handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new ClayError(code, `cannot read ${path}: not a regular file`, { input: path });
      if (st.size > MAX_VECTOR_FILE_MB * 1024 * 1024) throw new ClayError(code, `cannot read ${path}: ${st.size} bytes, more than ${MAX_VECTOR_FILE_MB} MiB`, { input: path });
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (cause) {
    if (cause instanceof ClayError) throw cause;
    throw new ClayError(code, `cannot read ${path}: ${errorMessage(cause)}`, { input: path, cause });
  }
}

/**
 * Parses the bytes of a FlatGeobuf or GeoJSON file (the format from `name`'s extension: a path or a URL);
 * a malformed file is a `code` error naming `name`.
 */
export async function parseVectorFile(bytes: Uint8Array, name: string, code: ErrorCode = 'IO'): Promise<VectorFeature[]> {
  try {
    if (vectorFormat(name) === 'fgb') {
      const out: VectorFeature[] = [];
      // The library trusts offsets and may never return on a malformed file: check the structure first.
      if (checkFlatGeobuf(bytes).features === 0) return out;
      // A copy at offset 0: a pooled Buffer or an S3 body may be a view into a larger buffer.
      for await (const f of deserialize(new Uint8Array(bytes))) {
        out.push({ geometry: (f.geometry as Geometry | undefined) ?? null, properties: { ...(f.properties as Record<string, unknown> | undefined) } });
      }
      return out;
    }
    const json = JSON.parse(new TextDecoder().decode(bytes)) as { type?: string; features?: { geometry?: Geometry | null; properties?: Record<string, unknown> | null }[] };
    if (json.type !== 'FeatureCollection' || !Array.isArray(json.features)) throw new Error('not a GeoJSON FeatureCollection');
    return json.features.map((f) => ({ geometry: f.geometry ?? null, properties: { ...f.properties } }));
  } catch (cause) {
    throw new ClayError(code, `${name} is not a valid ${vectorFormat(name) === 'fgb' ? 'FlatGeobuf' : 'GeoJSON'} file: ${errorMessage(cause)}`, { input: name, cause });
  }
}

/** Writes features as FlatGeobuf or GeoJSON (by extension), atomically (temporary name, then rename). */
export async function writeVectorFile(path: string, features: VectorFeature[]): Promise<void> {
  const fc: FeatureCollection = {
    type: 'FeatureCollection',
    features: features.map((f) => ({ type: 'Feature', geometry: f.geometry as Geometry, properties: f.properties })),
  };
  const data = vectorFormat(path) === 'fgb' ? serialize(fc, 4326) : Buffer.from(JSON.stringify(fc));
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
