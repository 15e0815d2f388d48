/** A zstd worker thread of `zstd.ts`: compresses the blocks it is sent, replies with them (transferred). */
import { loadZstd, zstdCompressSync } from './zstd.ts';
import { serveRequests } from './worker-pool.ts';

serveRequests((m: { raw: Uint8Array; level: number }) => {
  const c = zstdCompressSync(m.raw, m.level);
  // The codec's output may be a view of a larger buffer: send a buffer of its own.
  const out = c.byteOffset === 0 && c.byteLength === c.buffer.byteLength ? c : c.slice();
  return { out, transfer: [out.buffer as ArrayBuffer] };
}, loadZstd());
