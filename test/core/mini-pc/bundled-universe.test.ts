import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpClient } from '../../../core/http.ts';
import { StacClient } from '../../../core/stac/stac-client.ts';
import { PcSigner } from '../../../core/stac/pc-signer.ts';
import { asDemItem, asS1Item, asS2Item, asWorldCoverItem, COLLECTIONS } from '../../../core/stac/pc-items.ts';
import { loadUniverse } from '../../../core/mini-pc/universe.ts';
import { startMiniPc } from '../../../core/mini-pc/server.ts';
import { readSampleFile } from '../../../pipeline/sample-file.ts';
import { s2Query } from '../../../pipeline/search/queries.ts';
import { BUNDLED_DIR, bundledCases } from '../../helpers/bundled.ts';
import { runCli } from '../../helpers/cli.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5 };

test('every bundled item validates as its PC collection type', async () => {
  const universe = await loadUniverse(BUNDLED_DIR);
  const pc = await startMiniPc({ universe });
  try {
    const stac = new StacClient({ url: pc.stacApi, http: new HttpClient(fast) });
    const counts: Record<string, number> = {};
    for (const collection of Object.values(COLLECTIONS)) {
      const items = await stac.searchAll({ collections: [collection], limit: 1000 });
      counts[collection] = items.length;
      for (const item of items) {
        if (collection === COLLECTIONS.s2) assert.ok(asS2Item(item).epsg > 32600);
        if (collection === COLLECTIONS.s1) assert.ok(['ascending', 'descending'].includes(asS1Item(item).orbitState));
        if (collection === COLLECTIONS.dem) assert.equal(asDemItem(item).epsg, 4326);
        if (collection === COLLECTIONS.worldcover) assert.ok(asWorldCoverItem(item).map.href.startsWith(pc.origin));
      }
    }
    for (const c of Object.values(COLLECTIONS)) assert.ok((counts[c] ?? 0) > 0, `${c} has items`);
  } finally {
    await pc.close();
  }
});

test('bundled universe: page size 2 returns every item of every collection exactly once', async () => {
  const universe = await loadUniverse(BUNDLED_DIR);
  const pc = await startMiniPc({ universe });
  try {
    const stac = new StacClient({ url: pc.stacApi, http: new HttpClient(fast) });
    for (const collection of Object.values(COLLECTIONS)) {
      const expected = universe.items.filter((i) => i.collection === collection).map((i) => i.id).sort();
      const paged = (await stac.searchAll({ collections: [collection], limit: 2 })).map((i) => i.id);
      assert.equal(paged.length, expected.length, collection);
      assert.deepEqual([...paged].sort(), expected, collection);
    }
  } finally {
    await pc.close();
  }
});

test("bundled universe: Clay's S2 query per year finds exactly the designed candidates (Dec 31 and filtered items excluded)", async () => {
  const cases = await bundledCases();
  const rows = await readSampleFile(`${BUNDLED_DIR}mgrs_sample.fgb`);
  const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  try {
    const stac = new StacClient({ url: pc.stacApi, http: new HttpClient(fast) });
    const row = cases.rows.find((r) => r.index === 0)!;
    const tile = rows[0]!;
    assert.equal(tile.name, row.name);
    for (const [year, detail] of Object.entries(row.years_detail ?? {})) {
      const got = await stac.searchAll(s2Query(tile.geometry, Number(year)));
      assert.deepEqual(got.map((i) => i.id).sort(), [...detail.candidates].sort(), `year ${year}`);
      for (const excluded of Object.keys(detail.excluded ?? {})) assert.ok(!got.some((i) => i.id === excluded), `${excluded} excluded`);
    }
  } finally {
    await pc.close();
  }
});

test('bundled blobs need tokens; signed range reads return TIFF bytes', async () => {
  const universe = await loadUniverse(BUNDLED_DIR);
  const pc = await startMiniPc({ universe });
  try {
    const http = new HttpClient({ ...fast, maxAttempts: 1 });
    const stac = new StacClient({ url: pc.stacApi, http });
    const signer = new PcSigner({ http, sasApi: pc.sasApi });
    for (const collection of [COLLECTIONS.s2, COLLECTIONS.s1, COLLECTIONS.dem, COLLECTIONS.worldcover]) {
      const [item] = await stac.searchAll({ collections: [collection], limit: 1 });
      const href = Object.values(item!.assets)[0]!.href;
      await assert.rejects(http.request(href, { range: { offset: 0, length: 8 } }), (e: unknown) => (e as { status?: number }).status === 403);
      const res = await http.request(await signer.sign(href, { collection }), { range: { offset: 0, length: 8 } });
      assert.deepEqual([...res.body.subarray(0, 4)], [0x49, 0x49, 0x2a, 0x00], `${collection}: little-endian TIFF`);
    }
  } finally {
    await pc.close();
  }
});

test('clay demo runs on the bundled samples, and no token appears in its captured output', async () => {
  const r = await runCli(['--verbose', 'demo']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const done = JSON.parse(lines[lines.length - 1]!) as { event: string; tokenRequests: number; signedBytesRead: number; items: Record<string, number> };
  assert.equal(done.event, 'Demo:Done');
  assert.ok(done.tokenRequests >= 1);
  assert.equal(done.signedBytesRead, 16384);
  const all = r.stdout + r.stderr;
  assert.ok(all.includes('"event":"Sas:Token"'), 'the run used tokens');
  // No SAS parameter with a value, and no base64 HMAC signature anywhere.
  assert.doesNotMatch(all, /[?&](sig|se|st|skoid)=(?!<redacted>)[^&\s"]+/);
  assert.doesNotMatch(all, /[A-Za-z0-9+/]{43}=/);
});
