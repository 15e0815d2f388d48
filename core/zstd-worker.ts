/** A zstd worker thread of `zstd.ts`: compresses the blocks it is sent, replies with them (transferred). */
import { parentPort } from 'node:worker_threads';
import { loadZstd, zstdCompressSync } from './zstd.ts';

if (parentPort === null) throw new Error('zstd-worker.ts runs as a worker thread');
const port = parentPort;
const ready = loadZstd();
port.on('message', (m: { id: number; raw: Uint8Array; level: number }) => {
  void ready.then(() => {
    const c = zstdCompressSync(m.raw, m.level);
    // The codec's output may be a view of a larger buffer: send a buffer of its own.
    const out = c.byteOffset === 0 && c.byteLength === c.buffer.byteLength ? c : c.slice();
    port.postMessage({ id: m.id, out }, [out.buffer as ArrayBuffer]);
  }).catch((err: unknown) => port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) }));
});
