/**
 * A shard set, what `clay pack` writes (a folder or an `s3://` prefix):
 *
 *     pack.json                     the plan: source, its listing's hash, seed, codec, chips per shard
 *     shards/shard-00000.tar ...    the shards (shard-format.ts)
 *     index/shard-00000.parquet ... one GeoParquet index per shard, written after its shard: the shard is
 *                                   complete when its index exists
 *     index.parquet                 every shard's rows, written when all shards are
 *     shards.json                   written last: the set is complete (what `clay train` looks for)
 *
 * Index columns (one row per chip, in shard order): `shard` (the shard's key), `shard_number`, `offset`
 * and `length` (the chip's record in the shard: one ranged read), `id` (the chip's key in the chip store),
 * `mgrs`, `date`, and the chip's footprint as the geometry (OGC:CRS84).
 */
import { createHash } from 'node:crypto';
import { ClayError, errorMessage } from '../../core/errors.ts';
import { columnReader, readGeoParquet, writeGeoParquet } from '../../core/geoparquet.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { ShardCodec } from './shard-format.ts';
import type { ChipRef } from './types.ts';

export const PLAN_KEY = 'pack.json';
export const SET_KEY = 'shards.json';
export const INDEX_KEY = 'index.parquet';
/** Key-value metadata that marks a shard index, and its version. */
const INDEX_VERSION_KEY = 'clay:shard_index_version';
const INDEX_VERSION = '1';

/** The key of shard `n`. */
export function shardKey(n: number): string {
  return `shards/shard-${String(n).padStart(5, '0')}.tar`;
}

/** The key of shard `n`'s own index. */
export function shardIndexKey(n: number): string {
  return `index/shard-${String(n).padStart(5, '0')}.parquet`;
}

/** What a pack is made of: fixed when it starts, checked when it resumes. */
export interface PackPlan {
  format: 'clay-pack-plan';
  version: 1;
  /** The chip store packed (as given). */
  source: string;
  /** sha256 of the listing's keys (one per line, in listing order): another listing is another pack. */
  listingSha256: string;
  chips: number;
  seed: number;
  codec: ShardCodec;
  chipsPerShard: number;
  shards: number;
  /** Chip width and height. */
  size: number;
}

/** `shards.json`: the complete set. */
export interface ShardSetManifest extends Omit<PackPlan, 'format'> {
  format: 'clay-shards';
  /** Chips in the shards (the listing's, less those skipped as corrupt). */
  packed: number;
  /** Chips of the listing that were skipped as corrupt, by their url. */
  skipped: string[];
  /** Bytes of all shards. */
  bytes: number;
  index: string;
}

/** One chip's row in a shard index. */
export interface ShardIndexRow {
  shard: string;
  shardNumber: number;
  offset: number;
  length: number;
  id: string;
  mgrs: string;
  date: string;
  footprint: readonly (readonly [number, number])[];
}

/** sha256 of the keys, one per line. */
export function listingHash(refs: readonly ChipRef[]): string {
  const h = createHash('sha256');
  for (const r of refs) h.update(`${r.key}\n`);
  return h.digest('hex');
}

/** A shard index file. */
export function writeShardIndex(rows: readonly ShardIndexRow[]): Uint8Array {
  return writeGeoParquet({
    columns: [
      { name: 'shard', type: 'utf8', values: rows.map((r) => r.shard) },
      { name: 'shard_number', type: 'int32', values: rows.map((r) => r.shardNumber) },
      { name: 'offset', type: 'float64', values: rows.map((r) => r.offset) },
      { name: 'length', type: 'int32', values: rows.map((r) => r.length) },
      { name: 'id', type: 'utf8', values: rows.map((r) => r.id) },
      { name: 'mgrs', type: 'utf8', values: rows.map((r) => r.mgrs) },
      { name: 'date', type: 'date', values: rows.map((r) => r.date) },
    ],
    geometry: { name: 'geometry', polygons: rows.map((r) => [r.footprint]) },
  }, { compression: 'snappy', metadata: { [INDEX_VERSION_KEY]: INDEX_VERSION } });
}

/** The rows of a shard index; SHARDS_INVALID naming `name` for anything else. */
export async function readShardIndex(bytes: Uint8Array, name: string): Promise<ShardIndexRow[]> {
  const fail = (message: string): ClayError => new ClayError('SHARDS_INVALID', `${name}: ${message}`, { input: name });
  let file;
  try {
    file = await readGeoParquet(bytes, { name });
  } catch (err) {
    throw fail(`not a shard index (${errorMessage(err)})`);
  }
  if (file.metadata[INDEX_VERSION_KEY] !== INDEX_VERSION) throw fail(`${INDEX_VERSION_KEY} is ${file.metadata[INDEX_VERSION_KEY] ?? 'missing'}, this reader reads ${INDEX_VERSION}`);
  const { text, float, int } = columnReader(file, fail);
  const [shard, id, mgrs] = ['shard', 'id', 'mgrs'].map(text) as [string[], string[], string[]];
  const dates = file.columns.find((c) => c.name === 'date');
  if (dates?.type !== 'date') throw fail("column 'date' is missing or not a date");
  const [shardNumber, length] = ['shard_number', 'length'].map(int) as [readonly number[], readonly number[]];
  const offset = float('offset');
  return file.geometry.polygons.map((rings, i) => ({
    shard: shard[i]!, shardNumber: shardNumber[i]!, offset: offset[i]!, length: length[i]!, id: id[i]!, mgrs: mgrs[i]!, date: dates.values[i]!,
    footprint: rings[0] ?? [],
  }));
}

/** A complete shard set, opened: its manifest, its store, and one ref per chip (with its span), in shard order. */
export interface ShardSet {
  manifest: ShardSetManifest;
  store: ObjectStore;
  refs: ChipRef[];
  /** Shard number of each ref. */
  shardOf: Uint32Array;
}

/** Whether `source` is a shard set, complete (`shards.json`) or not (`pack.json` alone: opening it says so). */
export async function isShardSet(source: string, env?: NodeJS.ProcessEnv): Promise<boolean> {
  if (source.endsWith('.json')) return false;
  const store = await openStore(source, env ? { env } : {});
  return (await store.exists(SET_KEY)) || (await store.exists(PLAN_KEY));
}

/** Opens a shard set; SHARDS_INVALID when `shards.json` or the index is missing or does not agree. */
export async function openShardSet(source: string, options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<ShardSet> {
  const store = await openStore(source, options.env ? { env: options.env } : {});
  const call = options.signal ? { signal: options.signal } : {};
  const raw = await store.get(SET_KEY, call);
  if (raw === undefined) {
    const partial = await store.exists(PLAN_KEY, call);
    throw new ClayError('SHARDS_INVALID', `${store.url(SET_KEY)} is missing: ${partial ? 'the pack is unfinished (run clay pack again to complete it)' : 'not a shard set'}`, { input: source });
  }
  let manifest: ShardSetManifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(raw)) as ShardSetManifest;
  } catch (err) {
    throw new ClayError('SHARDS_INVALID', `${store.url(SET_KEY)} is not JSON: ${errorMessage(err)}`, { input: store.url(SET_KEY) });
  }
  if (manifest.format !== 'clay-shards' || manifest.version !== 1) throw new ClayError('SHARDS_INVALID', `${store.url(SET_KEY)}: format ${manifest.format} version ${manifest.version}, this reader reads clay-shards 1`, { input: store.url(SET_KEY) });
  const indexBytes = await store.get(manifest.index, call);
  if (indexBytes === undefined) throw new ClayError('SHARDS_INVALID', `${store.url(manifest.index)} is missing`, { input: store.url(manifest.index) });
  const rows = await readShardIndex(indexBytes, store.url(manifest.index));
  if (rows.length !== manifest.packed) throw new ClayError('SHARDS_INVALID', `${store.url(manifest.index)} has ${rows.length} chips, ${store.url(SET_KEY)} says ${manifest.packed}`, { input: store.url(manifest.index) });
  const refs = rows.map((r): ChipRef => ({
    url: `${store.url(r.shard)}#${r.id}`, key: r.id, mgrs: r.mgrs, date: r.date, span: { shard: r.shard, offset: r.offset, length: r.length },
  }));
  return { manifest, store, refs, shardOf: Uint32Array.from(rows, (r) => r.shardNumber) };
}
