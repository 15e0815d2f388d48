import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { HttpClient, parseRetryAfter } from '../../core/http.ts';
import { isClayError } from '../../core/errors.ts';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import { universeOf } from '../helpers/items.ts';

const BLOB = new Uint8Array(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256));

async function withBlobServer<T>(faults: Parameters<typeof startMiniPc>[0]['faults'], fn: (url: string) => Promise<T>): Promise<T> {
  const pc = await startMiniPc({ universe: universeOf([], { 'acct/cont/x.tif': BLOB }), requireToken: false, ...(faults ? { faults } : {}) });
  try {
    return await fn(`${pc.origin}/acct/cont/x.tif`);
  } finally {
    await pc.close();
  }
}

test('Retry-After is parsed as seconds or as an HTTP date', () => {
  assert.equal(parseRetryAfter('2'), 2000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 5000);
  assert.equal(parseRetryAfter(null), undefined);
});

test('a 429 with Retry-After waits at least that long before the retry', async () => {
  await withBlobServer({ retryAfterSeconds: 1, script: [{ service: 'blob', kind: '429', count: 1 }] }, async (url) => {
    const http = new HttpClient({ baseDelayMs: 1, random: () => 0 });
    const t0 = performance.now();
    const res = await http.request(url);
    assert.ok(performance.now() - t0 >= 990);
    assert.equal(res.attempts, 2);
    assert.deepEqual(res.body, BLOB);
  });
});

test('single ranges get exactly their bytes; a truncated range body is retried', async () => {
  await withBlobServer({ script: [{ service: 'blob', kind: 'truncate', count: 1 }] }, async (url) => {
    const http = new HttpClient({ baseDelayMs: 1 });
    const res = await http.request(url, { range: { offset: 1000, length: 500 } });
    assert.equal(res.status, 206);
    assert.deepEqual(res.body, BLOB.subarray(1000, 1500));
    assert.equal(res.attempts, 2);
    assert.deepEqual(http.stats.retryReasons, { truncated: 1 });
  });
});

test('shared: the body of a range comes on a SharedArrayBuffer of its own, small or large', async () => {
  await withBlobServer(undefined, async (url) => {
    const http = new HttpClient({ baseDelayMs: 1 });
    for (const [offset, length] of [[10, 20], [0, 4096]] as const) {
      const res = await http.request(url, { range: { offset, length }, shared: true });
      assert.ok(res.body.buffer instanceof SharedArrayBuffer, `${length} bytes`);
      assert.equal(res.body.buffer.byteLength, length);
      assert.deepEqual(new Uint8Array(res.body), BLOB.subarray(offset, offset + length));
      const plain = await http.request(url, { range: { offset, length } });
      assert.ok(!(plain.body.buffer instanceof SharedArrayBuffer));
    }
  });
});

test('a range past the end is a 416, not retried', async () => {
  await withBlobServer(undefined, async (url) => {
    const http = new HttpClient({ baseDelayMs: 1 });
    await assert.rejects(http.request(url, { range: { offset: 5000, length: 10 } }), (err: unknown) => isClayError(err, 'HTTP') && /416/.test(err.message));
    assert.equal(http.stats.attempts, 1);
  });
});

test('random faults at 30 % with a per-request bound: every read succeeds', async () => {
  await withBlobServer({ rate: 0.3, seed: 7, retryAfterSeconds: 0 }, async (url) => {
    const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 4 });
    for (let i = 0; i < 40; i++) {
      const res = await http.request(url, { range: { offset: i * 100, length: 64 } });
      assert.deepEqual(res.body, BLOB.subarray(i * 100, i * 100 + 64));
    }
    assert.ok(http.stats.retries > 0);
    assert.equal(http.stats.requests, 40);
  });
});

test('gzip bodies are decoded; an aborted request stops with HTTP_ABORTED and is not retried', async () => {
  const payload = gzipSync(Buffer.from(JSON.stringify({ hello: 'world'.repeat(300) })));
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(payload.byteLength) });
    res.end(payload);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const http = new HttpClient({ baseDelayMs: 1 });
    assert.deepEqual(await http.json(`${base}/gz`), { hello: 'world'.repeat(300) });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user cancelled')), 50);
    await assert.rejects(http.request(`${base}/slow`, { signal: controller.signal }), (err: unknown) => isClayError(err, 'HTTP_ABORTED'));
    assert.equal(hits, 2);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
