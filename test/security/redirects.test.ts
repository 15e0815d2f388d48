/**
 * Credentials stay with their origin (issue 27, point 1): which redirects are followed, with which method,
 * body and headers, against hostile servers on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HttpClient } from '../../core/http.ts';
import { isClayError } from '../../core/errors.ts';
import { PcSigner } from '../../core/stac/pc-signer.ts';
import { StacClient } from '../../core/stac/stac-client.ts';
import { itemJson } from '../helpers/items.ts';
import { BUNDLED_DIR, assertBundled } from '../helpers/bundled.ts';
import { runCli } from '../helpers/cli.ts';
import { page, redirect, sendJson, startHostile, type Hostile } from './hostile-server.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5, random: () => 0.5 };
const KEY = 'subscription-key-0123456789';
const TOKEN = { 'msft:expiry': '2099-01-01T00:00:00Z', token: 'st=2024-01-01&se=2099-01-01&sp=rl&sv=2021&sr=c&sig=c2VjcmV0' };

async function using<T>(servers: Promise<Hostile>[], fn: (...s: Hostile[]) => Promise<T>): Promise<T> {
  const started = await Promise.all(servers);
  try {
    return await fn(...started);
  } finally {
    await Promise.all(started.map((s) => s.close()));
  }
}

const hasKey = (s: Hostile): boolean => s.seen.some((r) => r.headers['ocp-apim-subscription-key'] !== undefined);

test('a SAS API that redirects to another origin never gets the subscription key sent there; the same origin keeps it', async () => {
  await using([startHostile((_req, res) => sendJson(res, TOKEN))], async (elsewhere) => {
    await using([startHostile((req, res) => (req.url?.startsWith('/api/sas/v1/') ? redirect(res, 302, `${elsewhere.origin}/token`) : sendJson(res, TOKEN)))], async (sas) => {
      const signer = new PcSigner({ http: new HttpClient(fast), sasApi: `${sas.origin}/api/sas/v1`, subscriptionKey: KEY });
      assert.equal(await signer.token({ collection: 'sentinel-2-l2a' }), TOKEN.token);
      assert.equal(elsewhere.seen.length, 1, 'the redirect was followed');
      assert.ok(!hasKey(elsewhere), 'the key stayed with its origin');
      assert.ok(hasKey(sas), 'the SAS API itself got the key');
    });
  });
  // A redirect within the origin is not a leak: the key goes along.
  await using([startHostile((req, res) => (req.url?.startsWith('/api/sas/v1/') ? redirect(res, 302, '/moved/token') : sendJson(res, TOKEN)))], async (sas) => {
    const signer = new PcSigner({ http: new HttpClient(fast), sasApi: `${sas.origin}/api/sas/v1`, subscriptionKey: KEY });
    await signer.token({ collection: 'sentinel-2-l2a' });
    assert.equal(sas.seen.filter((r) => r.url === '/moved/token' && r.headers['ocp-apim-subscription-key'] === KEY).length, 1);
  });
});

test('a STAC search answered with 301, 302 or 303 is HTTP_REDIRECT: the POST never becomes a GET without its filter', async () => {
  for (const status of [301, 302, 303]) {
    await using([startHostile((req, res) => (req.url === '/api/stac/v1/search' ? redirect(res, status, '/elsewhere/search') : sendJson(res, page([itemJson('X', 'sentinel-2-l2a', {})]))))], async (stac) => {
      const client = new StacClient({ url: `${stac.origin}/api/stac/v1`, http: new HttpClient(fast) });
      await assert.rejects(client.searchAll({ collections: ['sentinel-2-l2a'], limit: 7 }), (err: unknown) => isClayError(err, 'HTTP_REDIRECT'));
      assert.deepEqual(stac.seen.map((r) => `${r.method} ${r.url}`), ['POST /api/stac/v1/search'], `${status}: one POST, no GET, no retry`);
    });
  }
});

test('307 and 308 are followed with the same method and body', async () => {
  for (const status of [307, 308]) {
    await using([startHostile((req, res) => (req.url === '/api/stac/v1/search' ? redirect(res, status, '/v2/search') : sendJson(res, page([itemJson('X', 'sentinel-2-l2a', {})]))))], async (stac) => {
      const client = new StacClient({ url: `${stac.origin}/api/stac/v1`, http: new HttpClient(fast) });
      const body = { collections: ['sentinel-2-l2a'], limit: 7 };
      const items = await client.searchAll(body);
      assert.deepEqual(items.map((i) => i.id), ['X']);
      const moved = stac.seen.find((r) => r.url === '/v2/search');
      assert.equal(moved?.method, 'POST');
      assert.deepEqual(JSON.parse(moved.body), body);
    });
  }
});

test('redirects to another scheme, and redirect loops, are HTTP_REDIRECT and not retried', async () => {
  await using([startHostile((req, res) => (req.url === '/file' ? redirect(res, 302, 'file:///etc/passwd') : req.url === '/ftp' ? redirect(res, 307, 'ftp://127.0.0.1/x') : redirect(res, 302, '/loop')))], async (s) => {
    const http = new HttpClient(fast);
    for (const path of ['/file', '/ftp', '/loop']) {
      await assert.rejects(http.request(`${s.origin}${path}`), (err: unknown) => isClayError(err, 'HTTP_REDIRECT'), path);
    }
    assert.equal(http.stats.retries, 0);
    // The loop: the first request and 5 hops, then no more.
    assert.equal(s.seen.filter((r) => r.url === '/loop').length, 6);
  });
});

test('clay search against a STAC API that answers 302: exit 1, HTTP_REDIRECT, no GET sent', async () => {
  assertBundled();
  await using([startHostile((_req, res) => redirect(res, 302, '/search-as-get'))], async (stac) => {
    const r = await runCli(['--stac-api', `${stac.origin}/api/stac/v1`, 'search', '--sample', join(BUNDLED_DIR, 'mgrs_sample.fgb'), '--index', '0', '--year', '2021']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error HTTP_REDIRECT: /m);
    assert.ok(stac.seen.every((req) => req.method === 'POST'), 'no request was turned into a GET');
  });
});
