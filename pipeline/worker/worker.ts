/**
 * The pipeline's worker thread (`pool.ts` runs them): the CPU work of a chip that need not be on the main
 * thread. Two requests:
 * - `inflate`: one DEFLATE source tile to its band of pixels (zlib, then `samplesToRaster`: byte order,
 *   predictor, the band out of interleaved pixels), replied as a raster whose buffer is transferred;
 * - `encode`: a whole image (read in place from shared memory) to a TIFF file with `encodeTiff`, hashed,
 *   replied as one transferred buffer and its sha256;
 * - `assess`: Clay v0's chip filter on a chip's planes, read in place from shared memory.
 */
import { createHash } from 'node:crypto';
import { loadZstd } from '../../core/zstd.ts';
import { serveRequests } from '../../core/worker-pool.ts';
import { assessChip } from '../chip/quality.ts';
import { inflateNativeSync } from '../read/inflate.ts';
import type { Raster } from '../read/raster.ts';
import { samplesToRaster } from '../read/tile-decode.ts';
import { encodeTiff } from '../write/tiff-writer.ts';
import type { WorkerReply, WorkerRequest } from './pool.ts';

serveRequests((m: WorkerRequest): { out: WorkerReply; transfer: ArrayBuffer[] } => {
  if (m.op === 'inflate') {
    const raw = inflateNativeSync(m.bytes, m.expected);
    const r = samplesToRaster(raw, m.layout, m.width, m.rows);
    // Send a buffer of the raster's own (a view of a larger one would take the rest along).
    const data = r.data.byteOffset === 0 && r.data.byteLength === r.data.buffer.byteLength ? r.data : r.data.slice();
    const raster = { ...r, data } as Raster;
    return { out: { op: 'inflate', raster }, transfer: [data.buffer as ArrayBuffer] };
  }
  if (m.op === 'assess') return { out: { op: 'assess', quality: assessChip(m.input) }, transfer: [] };
  const chunks = encodeTiff(m.img, m.options);
  const file = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  const hash = createHash('sha256');
  let at = 0;
  for (const c of chunks) {
    file.set(c, at);
    at += c.byteLength;
    hash.update(c);
  }
  return { out: { op: 'encode', file, sha256: hash.digest('hex') }, transfer: [file.buffer] };
}, loadZstd());
