import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpClient } from '../../../core/http.ts';
import { isClayError } from '../../../core/errors.ts';
import { PcSigner, blobLocation, isSigned } from '../../../core/stac/pc-signer.ts';
import { startMiniPc } from '../../../core/mini-pc/server.ts';
import { createLogger } from '../../../core/log.ts';
import { itemJson, universeOf } from '../../helpers/items.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5, random: () => 0.5 };
const BLOB = new Uint8Array(Array.from({ length: 1000 }, (_, i) => i % 251));

function universe() {
  return universeOf(
    [itemJson('S2_A', 'sentinel-2-l2a', { datetime: '2021-06-15T10:30:21Z' }, { assets: { B02: { href: 'https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/a/B02.tif' } } })],
    { 'sentinel2l2a01/sentinel2-l2/a/B02.tif': BLOB, 'sentinel1euwestrtc/sentinel1-grd-rtc/b/vv.tif': BLOB },
  );
}

test('blob locations: Azure host style, and path style on a configured host only; other hosts are never signed', () => {
  assert.deepEqual(blobLocation('https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/31/T/GL/B02.tif'), { account: 'sentinel2l2a01', container: 'sentinel2-l2' });
  assert.deepEqual(blobLocation('http://127.0.0.1:9000/sentinel2l2a01/sentinel2-l2/x/B02.tif', ['127.0.0.1:9000']), { account: 'sentinel2l2a01', container: 'sentinel2-l2' });
  assert.equal(blobLocation('http://127.0.0.1:9000/sentinel2l2a01/sentinel2-l2/x/B02.tif'), undefined);
  assert.equal(blobLocation('http://127.0.0.1:9001/sentinel2l2a01/sentinel2-l2/x/B02.tif', ['127.0.0.1:9000']), undefined);
  assert.equal(blobLocation('https://evil.example/sentinel2l2a01.blob.core.windows.net/c/x.tif'), undefined);
  assert.equal(blobLocation('https://a.blob.core.windows.net.evil.example/c/x.tif'), undefined);
  assert.equal(blobLocation('file:///a/b/c.tif', ['']), undefined);
  assert.equal(blobLocation('https://example.com/a/b/c.tif'), undefined);
  assert.ok(isSigned('https://a.blob.core.windows.net/c/x.tif?st=1&se=2&sp=rl&sig=abc'));
  assert.ok(!isSigned('https://a.blob.core.windows.net/c/x.tif?foo=1'));
});

test('tokens are cached per collection, sent with the subscription key, and already-signed hrefs are left alone', async () => {
  const pc = await startMiniPc({ universe: universe() });
  try {
    const signer = new PcSigner({ http: new HttpClient(fast), sasApi: pc.sasApi, subscriptionKey: 'key-0123456789abcdef' });
    const href = `${pc.origin}/sentinel2l2a01/sentinel2-l2/a/B02.tif`;
    const a = await signer.sign(href, { collection: 'sentinel-2-l2a' });
    const b = await signer.sign(href, { collection: 'sentinel-2-l2a' });
    assert.equal(a, b);
    assert.ok(isSigned(a));
    assert.equal(signer.stats.tokenRequests, 1);
    assert.equal(signer.stats.cacheHits, 1);
    assert.equal(await signer.sign(a), a);
    const tokenRequests = pc.requests.filter((r) => r.service === 'sas');
    assert.equal(tokenRequests.length, 1);
    assert.equal(tokenRequests[0]!.path, '/api/sas/v1/token/sentinel-2-l2a');
    assert.ok(tokenRequests[0]!.subscriptionKey);
    const res = await new HttpClient(fast).request(a);
    assert.deepEqual(res.body, BLOB);
  } finally {
    await pc.close();
  }
});

test('the blob server refuses missing, tampered, expired and other-container tokens with 403', async () => {
  let clock = Date.parse('2024-01-01T00:00:00Z');
  const pc = await startMiniPc({ universe: universe(), tokenTtlSeconds: 600, now: () => clock });
  try {
    const http = new HttpClient({ ...fast, maxAttempts: 1 });
    const signer = new PcSigner({ http, sasApi: pc.sasApi, now: () => clock });
    const href = `${pc.origin}/sentinel2l2a01/sentinel2-l2/a/B02.tif`;
    const status = async (url: string): Promise<number> => http.request(url).then((r) => r.status, (e: unknown) => (e as { status?: number }).status ?? -1);
    assert.equal(await status(href), 403);
    const signed = await signer.sign(href);
    assert.equal(await status(signed), 200);
    const tampered = new URL(signed);
    tampered.searchParams.set('se', '2099-01-01T00:00:00Z');
    assert.equal(await status(tampered.toString()), 403);
    const otherContainer = signed.replace('sentinel2l2a01/sentinel2-l2', 'sentinel1euwestrtc/sentinel1-grd-rtc').replace('a/B02.tif', 'b/vv.tif');
    assert.equal(await status(otherContainer), 403);
    clock += 601_000;
    assert.equal(await status(signed), 403);
    assert.deepEqual(pc.requests.filter((r) => r.service === 'blob').map((r) => r.status), [403, 200, 403, 403, 403]);
  } finally {
    await pc.close();
  }
});

test('a token that expires mid-run is refreshed: before expiry by the cache, and once on a 403', async () => {
  let serverClock = Date.parse('2024-01-01T00:00:00Z');
  let clientClock = serverClock;
  const pc = await startMiniPc({ universe: universe(), tokenTtlSeconds: 600, now: () => serverClock });
  try {
    const http = new HttpClient(fast);
    const signer = new PcSigner({ http, sasApi: pc.sasApi, now: () => clientClock, refreshMarginMs: 60_000 });
    const href = `${pc.origin}/sentinel2l2a01/sentinel2-l2/a/B02.tif`;
    const read = (collection?: string) => signer.withSigned(href, (u) => http.request(u, { range: { offset: 10, length: 20 } }), collection ? { collection } : {});
    assert.deepEqual((await read()).body, BLOB.subarray(10, 30));
    // 9.5 minutes later: under a minute left, so the cache refreshes before using it.
    serverClock += 570_000;
    clientClock += 570_000;
    await read();
    assert.equal(signer.stats.tokenRequests, 2);
    assert.equal(signer.stats.refreshesOn403, 0);
    // The server's clock runs ahead of ours (or the token was revoked): a 403, one refresh, success.
    serverClock += 700_000;
    assert.deepEqual((await read()).body, BLOB.subarray(10, 30));
    assert.equal(signer.stats.refreshesOn403, 1);
    assert.equal(signer.stats.tokenRequests, 3);
  } finally {
    await pc.close();
  }
});

test('no token, signature or key ever appears in logs or errors', async () => {
  const lines: string[] = [];
  const logger = createLogger({ write: (l) => lines.push(l), level: 'debug', pretty: false });
  let clock = Date.parse('2024-01-01T00:00:00Z');
  const pc = await startMiniPc({ universe: universe(), tokenTtlSeconds: 600, now: () => clock, faults: { retryAfterSeconds: 0, script: [{ service: 'blob', kind: '503', count: 2 }] } });
  try {
    const http = new HttpClient({ ...fast, maxAttempts: 3, logger });
    const signer = new PcSigner({ http, sasApi: pc.sasApi, logger, subscriptionKey: 'very-secret-subscription-key' });
    const href = `${pc.origin}/sentinel2l2a01/sentinel2-l2/a/B02.tif`;
    const signed = await signer.sign(href);
    await http.request(signed);
    clock += 3_600_000;
    const err = await http.request(signed).catch((e: unknown) => e);
    assert.ok(isClayError(err, 'HTTP'));
    const sig = new URL(signed).searchParams.get('sig')!;
    const text = [...lines, String((err as Error).message), String((err as { input?: string }).input), JSON.stringify(pc.requests)].join('\n');
    assert.ok(lines.some((l) => l.includes('Http:Retry')), 'retries were logged');
    assert.ok(text.includes('B02.tif'), 'the URL itself is logged');
    for (const secret of [sig, encodeURIComponent(sig), 'very-secret-subscription-key', new URL(signed).search.slice(1)]) {
      assert.ok(!text.includes(secret), `secret leaked: ${secret.slice(0, 6)}...`);
    }
  } finally {
    await pc.close();
  }
});

test('a short-lived token is refreshed halfway through its life, not on every request; one stale token is dropped once', async () => {
  let clock = Date.parse('2024-01-01T00:00:00Z');
  const pc = await startMiniPc({ universe: universe(), tokenTtlSeconds: 4, now: () => clock });
  try {
    const http = new HttpClient(fast);
    const signer = new PcSigner({ http, sasApi: pc.sasApi, now: () => clock });
    const href = `${pc.origin}/sentinel2l2a01/sentinel2-l2/a/B02.tif`;
    const first = await signer.sign(href, { collection: 'sentinel-2-l2a' });
    clock += 1500;
    assert.equal(await signer.sign(href, { collection: 'sentinel-2-l2a' }), first);
    clock += 1000; // 2.5 s of 4: past half its life
    const second = await signer.sign(href, { collection: 'sentinel-2-l2a' });
    assert.notEqual(second, first);
    assert.deepEqual(signer.stats.tokenRequestsByScope, { 'sentinel-2-l2a': 2 });
    // Requests that failed with the old token do not drop its successor.
    signer.invalidate(href, 'sentinel-2-l2a', new URL(first).search.slice(1));
    assert.equal(await signer.sign(href, { collection: 'sentinel-2-l2a' }), second);
    assert.equal(signer.stats.tokenRequests, 2);
  } finally {
    await pc.close();
  }
});
