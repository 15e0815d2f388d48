/**
 * A range that comes back short because the connection broke is a transient failure, retried and counted
 * (`truncated`), never decoded as a corrupt tile: the server promised more bytes than it sent (Content-Length),
 * or sent a whole Content-Length that is less than its own Content-Range. Only a range the blob itself
 * cannot satisfy (the file is shorter than its header says) is COG_CORRUPT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient, httpCounts } from '../../../core/http.ts';
import { isClayError } from '../../../core/errors.ts';
import { addInterval, RangeReader } from '../../../pipeline/read/range-reader.ts';

const BLOB = new Uint8Array(Array.from({ length: 4096 }, (_, i) => (i * 13) % 251));

/** How one reply goes wrong, or `ok`. */
type Reply = 'ok' | 'cut' | 'short-consistent' | 'reset';

/** Serves BLOB with single ranges; the n-th request is answered as `plan[n]` (then `ok`). */
async function withServer<T>(plan: Reply[], fn: (url: string) => Promise<T>): Promise<T> {
  let n = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const how = plan[n++] ?? 'ok';
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const start = Number(m?.[1] ?? 0);
    const end = Math.min(Number(m?.[2] ?? BLOB.length - 1), BLOB.length - 1);
    if (start >= BLOB.length) {
      res.writeHead(416, { 'content-range': `bytes */${BLOB.length}`, 'content-length': '0' });
      return void res.end();
    }
    const body = BLOB.subarray(start, end + 1);
    const headers = { 'content-range': `bytes ${start}-${end}/${BLOB.length}`, 'content-type': 'image/tiff' };
    if (how === 'reset') return void req.socket.destroy();
    if (how === 'cut') {
      res.writeHead(206, { ...headers, 'content-length': String(body.length) });
      res.write(body.subarray(0, body.length >> 1));
      return void setImmediate(() => res.destroy());
    }
    const sent = how === 'short-consistent' ? body.subarray(0, body.length >> 1) : body;
    res.writeHead(206, { ...headers, 'content-length': String(sent.length) });
    res.end(sent);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/blob.tif`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('a body cut short of its Content-Length, or of its Content-Range, is retried and counted as truncated', async () => {
  await withServer(['cut', 'short-consistent', 'reset'], async (url) => {
    const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 2 });
    const reader = new RangeReader(url, { http });
    assert.deepEqual(await reader.read(1000, 500), BLOB.subarray(1000, 1500));
    const counts = httpCounts(http.stats);
    assert.deepEqual([counts.requests, counts.attempts, counts.retries], [1, 4, 3]);
    assert.deepEqual(counts.retriesByCause, { '500': 0, '502': 0, '503': 0, '504': 0, '408': 0, '429': 0, reset: 1, truncated: 2, timeout: 0 });
    assert.deepEqual([reader.stats.requests, reader.stats.bytesRead, reader.fileSize], [1, 500, BLOB.length]);
  });
});

test('a range cut short on every attempt fails as an HTTP error after the retries, not as a corrupt COG', async () => {
  await withServer(['cut', 'cut', 'cut'], async (url) => {
    const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 });
    const err = await new RangeReader(url, { http }).read(0, 2048).catch((e: unknown) => e);
    assert.ok(isClayError(err, 'HTTP'), String(err));
    assert.equal(httpCounts(http.stats).retriesByCause.truncated, 2);
  });
});

test('a range the blob cannot hold (past its end, or running over it) is COG_CORRUPT, not retried', async () => {
  await withServer([], async (url) => {
    const http = new HttpClient({ baseDelayMs: 1 });
    const reader = new RangeReader(url, { http });
    await assert.rejects(reader.read(5000, 100), (e: unknown) => isClayError(e, 'COG_CORRUPT'));
    await assert.rejects(reader.read(4000, 200), (e: unknown) => isClayError(e, 'COG_CORRUPT'));
    // A header read may run over the end: it gets what there is.
    assert.deepEqual(await reader.read(4000, 200, { allowShort: true }), BLOB.subarray(4000));
    assert.equal(http.stats.retries, 0);
  });
});

test('addInterval: the bytes of a range already in the list, and the list kept sorted and merged', () => {
  const list: [number, number][] = [];
  assert.equal(addInterval(list, 100, 200), 0);
  assert.equal(addInterval(list, 300, 400), 0);
  assert.equal(addInterval(list, 200, 300), 0, 'touching ranges overlap in no byte');
  assert.deepEqual(list, [[100, 400]]);
  assert.equal(addInterval(list, 50, 150), 50);
  assert.equal(addInterval(list, 0, 1000), 350);
  assert.deepEqual(list, [[0, 1000]]);
  assert.equal(addInterval(list, 2000, 2010), 0);
  assert.equal(addInterval(list, 1500, 1600), 0);
  assert.deepEqual(list, [[0, 1000], [1500, 1600], [2000, 2010]]);
  assert.equal(addInterval(list, 990, 2005), 10 + 100 + 5);
  assert.deepEqual(list, [[0, 2010]]);
  // Against a byte map over random ranges.
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  const seen = new Uint8Array(5000);
  const l: [number, number][] = [];
  for (let i = 0; i < 300; i++) {
    const a = rand(4900);
    const b = a + 1 + rand(100);
    let expected = 0;
    for (let k = a; k < b; k++) expected += seen[k]!;
    seen.fill(1, a, b);
    assert.equal(addInterval(l, a, b), expected);
  }
  for (let k = 1; k < l.length; k++) assert.ok(l[k - 1]![1] < l[k]![0]);
});
