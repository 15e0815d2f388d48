/**
 * Worker-thread side of the chip stream's decode pool: receives a chip's bytes (transferred, not copied),
 * decodes and normalises it with `decodeChip` (or reads a shard record, `decodeShardRecord`), and transfers the pixels back. Failures travel back as a
 * code and a message; the pool turns them into errors again.
 */
import { parentPort } from 'node:worker_threads';
import { errorMessage, isClayError } from '../../core/errors.ts';
import { loadZstd } from '../../core/zstd.ts';
import { decodeAny, type DecodeReply, type DecodeRequest } from './decode-pool.ts';

if (parentPort === null) throw new Error('decode-worker.ts runs in a worker thread');
const port = parentPort;
// ZSTD chips need the codec instantiated in this thread; requests wait for it in order.
const ready = loadZstd();
port.on('message', (req: DecodeRequest) => void ready.then(() => handle(req), () => handle(req)));

function handle(req: DecodeRequest): void {
  const t0 = performance.now();
  let reply: DecodeReply;
  try {
    const sample = decodeAny(req.bytes, req.ref, req.options, req.spare);
    reply = { id: req.id, ok: true, sample, ms: performance.now() - t0 };
    const buf = sample.pixels.buffer;
    port.postMessage(reply, buf instanceof ArrayBuffer ? [buf] : []);
  } catch (err) {
    reply = { id: req.id, ok: false, code: isClayError(err) ? err.code : 'INTERNAL', message: errorMessage(err), ms: performance.now() - t0 };
    port.postMessage(reply);
  }
}
