/**
 * `clay embed`'s stage: one embedding per chip, written as GeoParquet.
 *
 * The rule is Clay v0's `predict_step` (src/model_clay.py at 0145e55): the encoder with mask_ratio 0, then
 * the mean over the patch tokens, `embeddings_raw[:, :-2, :].mean(dim=1)`, i.e. the lat/lon and time
 * tokens are excluded (`model/embed.ts`). Columns follow v0's embeddings files: the chip's location
 * (`path`; v0 calls it `source_url`), `mgrs`, `date` (Parquet DATE, as v0's date32) and `embedding`, a
 * fixed-size list of float32 (v0: an Arrow fixed-shape tensor of the same values), plus `geometry`, the chip
 * footprint in OGC:CRS84. Deliberate differences from v0: the footprint is the chip's densified outline
 * (v0: the four corners of its UTM box, reprojected), and all chips go in one file (v0: one per MGRS tile).
 */
import { ClayError } from '../core/errors.ts';
import { writeGeoParquet, type GeoTable } from '../core/geoparquet.ts';
import { openStoreFile } from '../core/store/open-store.ts';
import type { ClayModel } from './clay.ts';
import type { ModelSize } from './config.ts';
import type { ChipBatch, ChipPlace } from './data/types.ts';
import { embed, type EmbedOptions } from './embed.ts';

export { EMBEDDING_RULE } from './config.ts';

/** Key of the file metadata describing how the embeddings were made (JSON, see EmbeddingInfo). */
export const EMBEDDING_METADATA_KEY = 'clay:embedding';

/** Embeddings of chips, in the order they came: row i is `values[i*dim .. (i+1)*dim)`. */
export interface Embeddings {
  readonly dim: number;
  readonly chips: readonly ChipPlace[];
  readonly values: Float32Array;
}

/** Options of `embedChips`. */
export interface EmbedChipsOptions {
  readonly signal?: AbortSignal;
  /** Stop after this many chips (a batch is cut when it crosses the limit). */
  readonly limit?: number;
  /** Called after each batch with the chips done so far and that batch's chips and milliseconds. */
  readonly onBatch?: (progress: { done: number; chips: readonly ChipPlace[]; ms: number }) => void;
  /** Passed to `embed` (chunking to the backend's memory). */
  readonly embed?: EmbedOptions;
}

/** Slices the first `n` samples off a batch (views, no copies). */
function headOf(batch: ChipBatch, n: number): ChipBatch {
  if (n >= batch.batch) return batch;
  const px = batch.pixels.length / batch.batch;
  return {
    batch: n, chips: batch.chips.slice(0, n), pixels: batch.pixels.subarray(0, n * px),
    latlon: batch.latlon.subarray(0, n * 2), timestep: batch.timestep.subarray(0, n * 3),
  };
}

/** BAD_ARGUMENT naming the first chip whose size is not the model's image size. */
function checkChipSizes(model: ClayModel, batch: ChipBatch): void {
  const size = model.cfg.imageSize;
  const chip = batch.chips.find((c) => c.width !== size || c.height !== size);
  if (chip !== undefined) {
    throw new ClayError('BAD_ARGUMENT', `${chip.url} is ${chip.width}x${chip.height} px; the model takes ${size}x${size} (--image-size)`, { input: chip.url });
  }
}

/** Embeds every chip of `batches`, in order (see the file comment for the rule). */
export async function embedChips(model: ClayModel, batches: AsyncIterable<ChipBatch>, options: EmbedChipsOptions = {}): Promise<Embeddings> {
  const dim = model.cfg.dim;
  const limit = options.limit ?? Infinity;
  const chips: ChipPlace[] = [];
  const parts: Float32Array[] = [];
  for await (const whole of batches) {
    if (options.signal?.aborted) throw new ClayError('HTTP_ABORTED', 'embedding aborted', { cause: options.signal.reason });
    const batch = headOf(whole, limit - chips.length);
    if (batch.batch !== batch.chips.length) throw new ClayError('INTERNAL', `a batch of ${batch.batch} samples lists ${batch.chips.length} chips`);
    checkChipSizes(model, batch);
    const started = performance.now();
    parts.push(await embed(model, batch, options.embed));
    chips.push(...batch.chips);
    options.onBatch?.({ done: chips.length, chips: batch.chips, ms: performance.now() - started });
    if (chips.length >= limit) break;
  }
  const values = new Float32Array(chips.length * dim);
  let at = 0;
  for (const p of parts) {
    values.set(p, at);
    at += p.length;
  }
  return { dim, chips, values };
}

/** How a file of embeddings was made (stored as JSON under EMBEDDING_METADATA_KEY). */
export interface EmbeddingInfo {
  readonly rule: string;
  /** The checkpoint path given. */
  readonly checkpoint: string;
  readonly model: { readonly size: string; readonly imageSize: number; readonly patchSize: number; readonly dim: number };
}

/** The embeddings as a GeoTable: path, mgrs, date, embedding, and the footprint as geometry. */
export function embeddingsTable(e: Embeddings): GeoTable {
  if (e.values.length !== e.chips.length * e.dim) {
    throw new ClayError('INTERNAL', `${e.values.length} values for ${e.chips.length} chips of dim ${e.dim}`);
  }
  return {
    columns: [
      { name: 'path', type: 'utf8', values: e.chips.map((c) => c.url) },
      { name: 'mgrs', type: 'utf8', values: e.chips.map((c) => c.mgrs) },
      { name: 'date', type: 'date', values: e.chips.map((c) => c.date) },
      { name: 'embedding', type: 'fixed<float32>', size: e.dim, values: e.values },
    ],
    geometry: { name: 'geometry', polygons: e.chips.map((c) => [c.footprint]) },
  };
}

/**
 * The GeoParquet bytes of embeddings. Snappy: float embeddings barely compress, and snappy is the codec
 * every Parquet reader decodes without plugins.
 */
export function encodeEmbeddings(e: Embeddings, info: EmbeddingInfo): Uint8Array {
  return writeGeoParquet(embeddingsTable(e), { compression: 'snappy', metadata: { [EMBEDDING_METADATA_KEY]: JSON.stringify(info) } });
}

/** Where embeddings go: a path, `file://` URL or `s3://bucket/key`; `exists` says whether it is there already. */
export interface EmbeddingsTarget {
  /** Displayable location. */
  readonly url: string;
  exists(options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Writes atomically (temporary name then rename, or one PUT); resolves with the bytes written. */
  write(bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<number>;
}

/**
 * Opens the output location (BAD_ARGUMENT when it names a folder); `env` holds the S3 settings for
 * `s3://` (default `process.env`). Nothing is written until `write`.
 */
export async function embeddingsTarget(location: string, options: { env?: NodeJS.ProcessEnv } = {}): Promise<EmbeddingsTarget> {
  const { store, key } = await openStoreFile(location, options);
  return {
    url: store.url(key),
    exists: (options = {}) => store.exists(key, options),
    write: (bytes, options = {}) => store.put(key, [bytes], { ...options, contentType: 'application/vnd.apache.parquet' }),
  };
}
