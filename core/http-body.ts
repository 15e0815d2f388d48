/**
 * Reading a response body under a cap. fetch decodes gzip/deflate/br itself, so the bytes counted here are
 * decoded bytes, counted chunk by chunk as they stream: a gzip bomb (1 MB on the wire, 1 GiB inflated) is
 * stopped at the cap, its stream cancelled, with no more than the cap (and a chunk) ever held.
 */
import { ClayError } from './errors.ts';
import { redactUrl } from './redact.ts';

/**
 * Default cap of a decoded body, in bytes (64 MiB). The largest real STAC page, 1000 Sentinel-2 L2A items
 * (the Planetary Computer's maximum `limit`) of some 10-15 KB of JSON each, is around 15 MB; COG range reads
 * are capped by the range asked for instead.
 */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * The whole body of `res`, at most `max` decoded bytes. Past the cap: `over: 'throw'` cancels the stream
 * and throws HTTP_TOO_LARGE; `over: 'truncate'` (error bodies, read only to quote them) keeps the first
 * `max` bytes. A declared Content-Length past the cap (uncoded bodies) fails before a byte is read.
 * `shared`: the body comes in a SharedArrayBuffer of its own (worker threads then read it in place).
 */
export async function readCapped(res: Response, url: string, max: number, over: 'throw' | 'truncate', shared = false): Promise<Uint8Array> {
  const tooLarge = (what: string): ClayError =>
    new ClayError('HTTP_TOO_LARGE', `the body of ${redactUrl(url)} ${what}, past the cap of ${max} bytes`, { input: redactUrl(url) });
  const declared = res.headers.get('content-length');
  if (over === 'throw' && declared !== null && !res.headers.get('content-encoding') && Number(declared) > max) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(`declares ${declared} bytes`);
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.byteLength > max) {
      await reader.cancel().catch(() => undefined);
      if (over === 'throw') throw tooLarge(`has ${total + value.byteLength} decoded bytes and more`);
      chunks.push(value.subarray(0, max - total));
      total = max;
      break;
    }
    chunks.push(value);
    total += value.byteLength;
  }
  if (chunks.length === 1 && !shared) return chunks[0]!;
  const out = new Uint8Array(shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
