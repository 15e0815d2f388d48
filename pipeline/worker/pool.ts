/**
 * The pipeline's worker threads: one per core, at most 4, started on demand, idle ones not keeping the
 * process alive. The main thread reads, warps and filters; these decode DEFLATE source tiles and encode
 * and hash whole chip files (`worker.ts`), so a 2-core machine keeps both cores busy.
 */
import { availableParallelism } from 'node:os';
import { ClayError, errorMessage, isClayError } from '../../core/errors.ts';
import { WorkerPool } from '../../core/worker-pool.ts';
import type { ChipQuality, QualityInput } from '../chip/quality.ts';
import type { Raster } from '../read/raster.ts';
import type { SampleLayout } from '../read/tile-decode.ts';
import { checkImage, type TiffImage } from '../write/tiff-raster.ts';
import type { TiffOptions } from '../write/tiff-writer.ts';

export type WorkerRequest =
  | { op: 'inflate'; bytes: Uint8Array; expected: number; layout: SampleLayout; width: number; rows: number }
  | { op: 'encode'; img: TiffImage; options: TiffOptions }
  | { op: 'assess'; input: QualityInput };

export type WorkerReply =
  | { op: 'inflate'; raster: Raster }
  | { op: 'encode'; file: Uint8Array; sha256: string }
  | { op: 'assess'; quality: ChipQuality };

/** An encoded file: one buffer, and its sha256 (hex). */
export interface EncodedFile {
  file: Uint8Array;
  sha256: string;
}

let pool: WorkerPool<WorkerRequest, WorkerReply> | undefined;

function workers(): WorkerPool<WorkerRequest, WorkerReply> {
  pool ??= new WorkerPool(new URL('./worker.ts', import.meta.url), Math.max(1, Math.min(4, availableParallelism())), 'pipeline');
  return pool;
}

/**
 * One DEFLATE tile (`bytes`: its stored bytes, left untouched) to its band of `width` x `rows` pixels, on a
 * worker thread. Bytes on a SharedArrayBuffer are read there in place; others go as a copy (transferred).
 * Errors as `inflateNativeSync` and `samplesToRaster` throw them.
 */
export async function inflateTile(bytes: Uint8Array, expected: number, layout: SampleLayout, width: number, rows: number): Promise<Raster> {
  const shared = bytes.buffer instanceof SharedArrayBuffer;
  const sent = shared ? bytes : bytes.slice();
  // Costs in bytes of output: zlib and zstd both move some hundreds of MB/s.
  const out = await workers().run({ op: 'inflate', bytes: sent, expected, layout, width, rows }, shared ? [] : [sent.buffer as ArrayBuffer], expected);
  if (out.op !== 'inflate') throw new ClayError('INTERNAL', 'pipeline worker: an inflate got another reply');
  return out.raster;
}

/**
 * Encodes `img` and hashes the file on a worker thread. Its raster must live on a SharedArrayBuffer
 * (BAD_ARGUMENT otherwise) and must not change until the promise settles.
 */
export async function encodeTiffShared(img: TiffImage, options: TiffOptions, { signal }: { signal?: AbortSignal } = {}): Promise<EncodedFile> {
  checkImage(img);
  if (!(img.raster.data.buffer instanceof SharedArrayBuffer)) throw new ClayError('BAD_ARGUMENT', 'encodeTiffShared: the raster is not on a SharedArrayBuffer');
  signal?.throwIfAborted();
  const out = await workers().run({ op: 'encode', img, options }, [], img.raster.data.byteLength).catch((err: unknown) => {
    throw isClayError(err) ? err : new ClayError('INTERNAL', errorMessage(err), { cause: err });
  });
  if (out.op !== 'encode') throw new ClayError('INTERNAL', 'pipeline worker: an encode got another reply');
  signal?.throwIfAborted();
  return { file: out.file, sha256: out.sha256 };
}

/**
 * Clay v0's chip filter (`assessChip`) on a worker thread, reading the planes in place: each must live on a
 * SharedArrayBuffer (BAD_ARGUMENT otherwise) and must not change until the promise settles.
 */
export async function assessChipShared(input: QualityInput): Promise<ChipQuality> {
  for (const [name, a] of Object.entries(input)) {
    if (!((a as Float32Array).buffer instanceof SharedArrayBuffer)) throw new ClayError('BAD_ARGUMENT', `assessChipShared: the ${name} plane is not on a SharedArrayBuffer`);
  }
  // Costs in bytes read, as the other requests: five planes of four bytes a pixel.
  const out = await workers().run({ op: 'assess', input }, [], input.b02.length * 20);
  if (out.op !== 'assess') throw new ClayError('INTERNAL', 'pipeline worker: an assess got another reply');
  return out.quality;
}
