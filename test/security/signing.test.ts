/**
 * Tokens go only where they are meant to (issue 27, point 1): SAS tokens only to the configured blob hosts,
 * and STAC paging only on the API's own origin, against hostile servers on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HttpClient } from '../../core/http.ts';
import { isClayError } from '../../core/errors.ts';
import { loadUniverse, universeItem, type Universe } from '../../core/mini-pc/universe.ts';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import { PcSigner } from '../../core/stac/pc-signer.ts';
import { StacClient } from '../../core/stac/stac-client.ts';
import { RangeReader } from '../../pipeline/read/range-reader.ts';
import { itemJson } from '../helpers/items.ts';
import { BUNDLED_DIR, assertBundled } from '../helpers/bundled.ts';
import { runCli } from '../helpers/cli.ts';
import { page, sendJson, startHostile } from './hostile-server.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5, random: () => 0.5 };
const BLOB = new Uint8Array(Array.from({ length: 4096 }, (_, i) => i % 251));

/** A blob server that answers every range and records whether a signature came along. */
function blobHandler(): Parameters<typeof startHostile>[0] {
  return (req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (req.method === 'HEAD' || !m) {
      res.writeHead(200, { 'content-length': String(BLOB.byteLength), 'accept-ranges': 'bytes' });
      return void res.end(req.method === 'HEAD' ? undefined : BLOB);
    }
    const [start, end] = [Number(m[1]), Math.min(Number(m[2]), BLOB.byteLength - 1)];
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${BLOB.byteLength}`, 'content-length': String(end - start + 1) });
    res.end(BLOB.subarray(start, end + 1));
  };
}

const signed = (url: string): boolean => new URL(url, 'http://x').searchParams.has('sig');

test('only hrefs on the configured blob hosts are signed: a loopback href on another origin gets no token', async () => {
  const pc = await startMiniPc({ universe: { collections: [], items: [], blobs: new Map([['acct/cont/x.tif', BLOB]]) } });
  const other = await startHostile(blobHandler());
  try {
    const http = new HttpClient(fast);
    const signer = new PcSigner({ http, sasApi: pc.sasApi });
    // The SAS API's own origin serves its blobs: signed, and the read succeeds against its 403 check.
    const own = await new RangeReader(`${pc.origin}/acct/cont/x.tif`, { http, signer }).read(0, 100);
    assert.deepEqual(own, BLOB.subarray(0, 100));
    assert.ok(pc.requests.some((r) => r.service === 'blob' && r.signed));
    // Any other origin, even on 127.0.0.1 and with three path segments: never a token.
    for (const href of [`${other.origin}/acct/cont/x.tif`, `${other.origin}/sentinel2l2a01/sentinel2-l2/a/b/B02.tif`]) {
      assert.deepEqual(await new RangeReader(href, { http, signer, collection: 'sentinel-2-l2a' }).read(0, 100), BLOB.subarray(0, 100));
    }
    assert.equal(other.seen.length, 2);
    assert.ok(other.seen.every((r) => !signed(r.url)), 'no signature reached the other origin');
    assert.equal(signer.stats.tokenRequests, 1, 'no token was even asked for the other origin');
    // Configured explicitly, that host is signed (path style) and the default ones no longer are.
    const explicit = new PcSigner({ http, sasApi: pc.sasApi, blobHosts: [other.host] });
    assert.ok(signed(await explicit.sign(`${other.origin}/acct/cont/x.tif`)));
    assert.ok(!signed(await explicit.sign(`${pc.origin}/acct/cont/x.tif`)));
    assert.ok(!signed(await explicit.sign('https://acct.blob.core.windows.net/cont/x.tif')));
  } finally {
    await other.close();
    await pc.close();
  }
});

/** The bundled universe with every Azure blob href moved to `origin` (path style), so no longer on the PC's hosts. */
async function hrefsMovedTo(origin: string): Promise<Universe> {
  const universe = await loadUniverse(BUNDLED_DIR);
  const items = universe.items.map((it) => universeItem(JSON.parse(JSON.stringify(it.json).replace(/https:\/\/([a-z0-9]+)\.blob\.core\.windows\.net\//g, `${origin}/$1/`)) as unknown));
  return { ...universe, items };
}

test('clay plan --probe on items whose hrefs point at another host: every HEAD reaches it unsigned', async () => {
  assertBundled();
  const other = await startHostile(blobHandler());
  const pc = await startMiniPc({ universe: await hrefsMovedTo(other.origin) });
  try {
    const r = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'plan', '--sample', join(BUNDLED_DIR, 'mgrs_sample.fgb'), '--index', '0', '--probe']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(other.seen.length > 10, `the probe read the files (${other.seen.length} requests)`);
    assert.ok(other.seen.every((req) => !signed(req.url)), 'no SAS token went to the other host');
    assert.equal(pc.requests.filter((q) => q.service === 'sas').length, 0, 'no token was asked for');
  } finally {
    await pc.close();
    await other.close();
  }
});

test('a next link to another origin is STAC_CROSS_ORIGIN and never requested, unless allowed by nextLinks', async () => {
  const elsewhere = await startHostile((_req, res) => sendJson(res, page([itemJson('B', 'sentinel-2-l2a', {})])));
  const stac = await startHostile((_req, res) => sendJson(res, page([itemJson('A', 'sentinel-2-l2a', {})], {
    href: `${elsewhere.origin}/api/stac/v1/search`, method: 'POST', body: { token: 'next:1' }, merge: true,
  })));
  try {
    const http = new HttpClient(fast);
    const refusing = new StacClient({ url: `${stac.origin}/api/stac/v1`, http });
    await assert.rejects(refusing.searchAll({ collections: ['sentinel-2-l2a'] }), (err: unknown) => isClayError(err, 'STAC_CROSS_ORIGIN'));
    assert.equal(elsewhere.seen.length, 0);
    const allowing = new StacClient({ url: `${stac.origin}/api/stac/v1`, http, nextLinks: 'any-origin' });
    assert.deepEqual((await allowing.searchAll({ collections: ['sentinel-2-l2a'] })).map((i) => i.id), ['A', 'B']);
    assert.equal(elsewhere.seen.length, 1);
  } finally {
    await stac.close();
    await elsewhere.close();
  }
});
