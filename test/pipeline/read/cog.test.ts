import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HttpClient } from '../../../core/http.ts';
import { isClayError } from '../../../core/errors.ts';
import { startMiniPc } from '../../../core/mini-pc/server.ts';
import { asDemItem, asS1Item, asS2Item, asWorldCoverItem } from '../../../core/stac/pc-items.ts';
import { PcSigner } from '../../../core/stac/pc-signer.ts';
import { Cog } from '../../../pipeline/read/cog.ts';
import { newReadStats } from '../../../pipeline/read/range-reader.ts';
import type { Raster } from '../../../pipeline/read/raster.ts';
import { TileCache } from '../../../pipeline/read/tile-cache.ts';
import { universeOf } from '../../helpers/items.ts';
import { designIds, localFile, serveBundled, type Served } from '../warp/oracle.ts';

const run = promisify(execFile);

/** Hrefs of a few bundled COGs: S2 B05 (uint16, predictor 2), S1 vv (float32), DEM (float32, predictor 3, PixelIsPoint). */
async function hrefs(s: Served): Promise<{ b05: string; b02: string; vv: string; dem: string }> {
  const c = await designIds();
  const b = asS2Item(await s.item(c.sentinel2.B!.id));
  return {
    b05: b.assets.B05.href, b02: b.assets.B02.href,
    vv: asS1Item(await s.item(c.sentinel1.D1!.id)).co.href,
    dem: asDemItem(await s.item(c.dem.items[1]!)).data.href,
  };
}

/** The bytes `gdal_translate -srcwin` reads from the local file (native type, raw). */
async function gdalWindow(file: string, col: number, row: number, width: number, height: number): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'clay-srcwin-'));
  try {
    await run('gdal_translate', ['-q', '-of', 'ENVI', '-srcwin', String(col), String(row), String(width), String(height), file, join(dir, 'w.bin')]);
    return new Uint8Array(await readFile(join(dir, 'w.bin')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const bytesOf = (r: Raster): Uint8Array => new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);

test('Cog.open: grid, dtype and nodata as gdalinfo reports them (PixelIsPoint DEM shifted half a pixel, as GDAL)', async () => {
  const s = await serveBundled();
  try {
    for (const href of Object.values(await hrefs(s))) {
      const cog = await s.open(href);
      const info = JSON.parse((await run('gdalinfo', ['-json', localFile(href)])).stdout) as { size: [number, number]; geoTransform: number[]; bands: { type: string; noDataValue?: number }[] };
      assert.deepEqual([cog.grid.width, cog.grid.height], info.size);
      cog.grid.transform.forEach((v, i) => assert.ok(Math.abs(v - info.geoTransform[i]!) < 1e-12, `${href} transform[${i}]`));
      assert.equal(cog.dtype, info.bands[0]!.type.toLowerCase());
      assert.equal(cog.nodata, info.bands[0]!.noDataValue);
      assert.ok(!cog.url.includes('sig='), 'the url carries no token');
    }
    const dem = await s.open((await hrefs(s)).dem);
    assert.equal(dem.pixelIsPoint, true);
    assert.equal(dem.grid.epsg, 4326);
  } finally {
    await s.close();
  }
});

test('readWindow equals gdal_translate -srcwin: across tile edges, at image edges, for each predictor', async () => {
  const s = await serveBundled();
  try {
    const h = await hrefs(s);
    const cases: [string, number, number, number, number][] = [
      [h.b05, 500, 490, 40, 30], [h.b05, 1270, 1040, 20, 10], [h.dem, 250, 250, 20, 300], [h.vv, 1000, 2000, 50, 60], [h.b02, 0, 0, 512, 512],
    ];
    for (const [href, col, row, width, height] of cases) {
      const cog = await s.open(href);
      const ours = await cog.readWindow({ col, row, width, height });
      assert.deepEqual(bytesOf(ours), await gdalWindow(localFile(href), col, row, width, height), `${href} ${col},${row}`);
    }
    // Outside the image: the fill value.
    const cog = await s.open(h.b05);
    const edge = await cog.readWindow({ col: 1288, row: -1, width: 4, height: 2 }, { fill: 7 });
    assert.deepEqual([...edge.data].filter((_, i) => i !== 4 && i !== 5), [7, 7, 7, 7, 7, 7]);
    assert.notEqual(edge.data[4], 7);
  } finally {
    await s.close();
  }
});

test('a window read asks for exactly the tiles it needs, adjacent tiles coalesced into one request', async () => {
  const s = await serveBundled();
  try {
    const h = await hrefs(s);
    // Header blocks of 4 KiB hold no tile of this file (at 64 KiB the first ones would come with the header).
    const cog = await s.open(h.b05, { cache: new TileCache(0), headerBlockBytes: 4096 });
    const blobRequests = () => s.pc.requests.filter((r) => r.service === 'blob').map((r) => r.range);
    let before = blobRequests().length;
    await cog.readWindow({ col: 600, row: 600, width: 100, height: 100 }); // inside tile (1, 1)
    const t11 = cog.tileByteRange(1, 1);
    assert.deepEqual(blobRequests().slice(before), [`bytes=${t11.offset}-${t11.offset + t11.length - 1}`]);
    before = blobRequests().length;
    await cog.readWindow({ col: 500, row: 600, width: 600, height: 10 }); // tiles (0..2, 1): one row of tiles
    const first = cog.tileByteRange(0, 1);
    const last = cog.tileByteRange(2, 1);
    assert.deepEqual(blobRequests().slice(before), [`bytes=${first.offset}-${last.offset + last.length - 1}`]);
    // Without coalescing: one request per tile.
    const apart = await s.open(h.b05, { cache: new TileCache(0), headerBlockBytes: 4096, coalesce: { maxGapBytes: -1 } });
    before = blobRequests().length;
    await apart.readWindow({ col: 500, row: 600, width: 600, height: 10 });
    assert.equal(blobRequests().length - before, 3);
  } finally {
    await s.close();
  }
});

test('native zlib and geotiff.js decoders give identical pixels (predictors 1, 2 and 3)', async () => {
  const s = await serveBundled();
  try {
    for (const href of Object.values(await hrefs(s))) {
      const a = await s.open(href, { decoder: 'zlib' });
      const b = await s.open(href, { decoder: 'geotiff' });
      const w = { col: 0, row: 0, width: a.grid.width, height: a.grid.height };
      assert.deepEqual(bytesOf(await a.readWindow(w)), bytesOf(await b.readWindow(w)), href);
    }
  } finally {
    await s.close();
  }
});

test('the tile cache bounds decoded memory: a whole band read chip by chip never holds more than the bound', async () => {
  const s = await serveBundled();
  try {
    const h = await hrefs(s);
    const cache = new TileCache<{ byteLength: number; raster: Raster }>(1_200_000); // two 512 x 512 uint16 tiles
    const stats = newReadStats();
    const cog = await s.open(h.b02, { cache, stats });
    const whole = await (await s.open(h.b02)).readWindow({ col: 0, row: 0, width: 2580, height: 2100 });
    for (let row = 0; row + 512 <= 2100; row += 512) {
      for (let col = 0; col + 512 <= 2580; col += 512) {
        const chip = await cog.readWindow({ col, row, width: 512, height: 512 });
        for (let r = 0; r < 512; r += 97) assert.equal(chip.data[r * 512 + r], whole.data[(row + r) * 2580 + col + r]);
      }
    }
    assert.ok(cache.stats.peakBytes <= 1_200_000, `peak ${cache.stats.peakBytes}`);
    assert.equal(stats.tilesDecoded, 20, 'each of the 20 chip tiles decoded once');
  } finally {
    await s.close();
  }
});

test('corrupt or truncated COGs are COG_CORRUPT naming the URL without its token; aborts are HTTP_ABORTED', async () => {
  const s = await serveBundled();
  const real = new Uint8Array(await readFile(localFile((await hrefs(s)).b05)));
  await s.close();
  const tampered = real.slice();
  const probe = await (async () => {
    const p = await startMiniPc({ universe: universeOf([], { 'acct/cont/ok.tif': real }) });
    const http = new HttpClient({ maxAttempts: 1 });
    const cog = await Cog.open(`${p.origin}/acct/cont/ok.tif`, { http, signer: new PcSigner({ http, sasApi: p.sasApi }) });
    const r = cog.tileByteRange(1, 1);
    await p.close();
    return r;
  })();
  for (let i = probe.offset + 20; i < probe.offset + 60; i++) tampered[i] = 0xff - tampered[i]!;
  const blobs = {
    'acct/cont/garbage.tif': new TextEncoder().encode('<Error>not a tiff at all</Error>'.repeat(40)),
    'acct/cont/truncated.tif': real.slice(0, probe.offset + 10),
    'acct/cont/tampered.tif': tampered,
    'acct/cont/ok.tif': real,
  };
  const pc = await startMiniPc({ universe: universeOf([], blobs) });
  try {
    const http = new HttpClient({ maxAttempts: 2, baseDelayMs: 1 });
    const signer = new PcSigner({ http, sasApi: pc.sasApi });
    const url = (name: string) => `${pc.origin}/acct/cont/${name}`;
    const corrupt = (name: string) => (e: unknown) => {
      assert.ok(isClayError(e, 'COG_CORRUPT'), String(e));
      assert.ok(e.message.includes(`/acct/cont/${name}`) && e.input?.includes(name), e.message);
      assert.ok(!/sig=|se=|st=/.test(`${e.message} ${e.input}`), 'no token');
      return true;
    };
    await assert.rejects(Cog.open(url('garbage.tif'), { http, signer }), corrupt('garbage.tif'));
    const truncated = await Cog.open(url('truncated.tif'), { http, signer });
    await assert.rejects(truncated.readWindow({ col: 512, row: 512, width: 10, height: 10 }), corrupt('truncated.tif'));
    const bad = await Cog.open(url('tampered.tif'), { http, signer });
    await assert.rejects(bad.readWindow({ col: 600, row: 600, width: 10, height: 10 }), corrupt('tampered.tif'));
    await assert.doesNotReject(bad.readWindow({ col: 0, row: 0, width: 10, height: 10 }), 'other tiles still read');
    const ok = await Cog.open(url('ok.tif'), { http, signer });
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(ok.readWindow({ col: 0, row: 0, width: 10, height: 10 }, { signal: controller.signal }), (e: unknown) => isClayError(e, 'HTTP_ABORTED'));
    await assert.rejects(Cog.open(url('ok.tif'), { http, signer, signal: controller.signal }), (e: unknown) => isClayError(e, 'HTTP_ABORTED'));
  } finally {
    await pc.close();
  }
});

test('reads go through the HTTP layer: injected 503s, 429s, resets and truncated bodies are retried, pixels unchanged', async () => {
  const s = await serveBundled();
  const real = new Uint8Array(await readFile(localFile((await hrefs(s)).b05)));
  await s.close();
  const blobs = { 'acct/cont/b05.tif': real };
  const window = { col: 100, row: 200, width: 900, height: 700 };
  const read = async (faults: Parameters<typeof startMiniPc>[0]['faults']) => {
    const pc = await startMiniPc({ universe: universeOf([], blobs), ...(faults ? { faults } : {}) });
    try {
      const http = new HttpClient({ maxAttempts: 8, baseDelayMs: 1, maxDelayMs: 5 });
      const cog = await Cog.open(`${pc.origin}/acct/cont/b05.tif`, { http, signer: new PcSigner({ http, sasApi: pc.sasApi }) });
      const raster = await cog.readWindow(window);
      return { bytes: bytesOf(raster), retries: http.stats.retries, reasons: http.stats.retryReasons };
    } finally {
      await pc.close();
    }
  };
  const clean = await read(undefined);
  assert.equal(clean.retries, 0);
  const faulty = await read({ script: [
    { service: 'blob', kind: '503', count: 2 },
    { service: 'blob', kind: 'reset', count: 1 },
    { service: 'blob', kind: 'truncate', count: 1 },
    { service: 'blob', kind: '429', count: 1 },
  ] });
  assert.deepEqual(faulty.bytes, clean.bytes);
  assert.equal(faulty.retries, 5, JSON.stringify(faulty.reasons));
});

test('overview n reads what gdal_translate -ovr n reads: grid, every pixel, and a BAD_ARGUMENT past the last overview', async () => {
  const s = await serveBundled();
  const dir = await mkdtemp(join(tmpdir(), 'clay-ovr-'));
  try {
    const href = asWorldCoverItem(await s.item('ESA_WorldCover_10m_2021_v200_N45E006')).map.href;
    const file = localFile(href);
    const overviews = (JSON.parse((await run('gdalinfo', ['-json', file])).stdout) as { bands: { overviews: { size: [number, number] }[] }[] }).bands[0]!.overviews;
    assert.ok(overviews.length >= 2, 'the bundled WorldCover COG has overviews');
    const stats = newReadStats();
    for (let n = 0; n < overviews.length; n++) {
      const out = join(dir, `ovr${n}.tif`);
      await run('gdal_translate', ['-q', '-ovr', String(n), file, out]);
      const info = JSON.parse((await run('gdalinfo', ['-json', out])).stdout) as { size: [number, number]; geoTransform: number[] };
      const cog = await s.open(href, { overview: n, stats });
      assert.equal(cog.overview, n);
      assert.deepEqual([cog.grid.width, cog.grid.height], info.size, `overview ${n} size`);
      assert.deepEqual([cog.grid.width, cog.grid.height], overviews[n]!.size);
      cog.grid.transform.forEach((v, i) => assert.ok(Math.abs(v - info.geoTransform[i]!) < 1e-12, `overview ${n} transform[${i}]`));
      const ours = await cog.readWindow({ col: 0, row: 0, width: cog.grid.width, height: cog.grid.height });
      assert.deepEqual(bytesOf(ours), await gdalWindow(out, 0, 0, cog.grid.width, cog.grid.height), `overview ${n} pixels`);
    }
    // Reading the smallest overview whole costs a fraction of the file: never the whole blob.
    const size = (await stat(file)).size;
    const small = newReadStats();
    const last = await s.open(href, { overview: overviews.length - 1, stats: small });
    await last.readWindow({ col: 0, row: 0, width: last.grid.width, height: last.grid.height });
    assert.ok(small.bytesRead < size / 4, `${small.bytesRead} bytes read of ${size}`);
    await assert.rejects(s.open(href, { overview: overviews.length }), (e) => isClayError(e, 'BAD_ARGUMENT'));
    // Image 0 is unchanged by the option's existence.
    const full = await s.open(href);
    assert.equal(full.overview, undefined);
    assert.deepEqual([full.grid.width, full.grid.height], (JSON.parse((await run('gdalinfo', ['-json', file])).stdout) as { size: [number, number] }).size);
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('source-bytes cache: a COG opened again, and tiles evicted from the decoded cache, are not read again; without it the re-reads are counted', async () => {
  const s = await serveBundled();
  try {
    const { dem, b02 } = await hrefs(s);
    for (const href of [dem, b02]) {
      const file = localFile(href);
      const info = JSON.parse((await run('gdalinfo', ['-json', file])).stdout) as { size: [number, number] };
      const whole = { col: 0, row: 0, width: info.size[0], height: info.size[1] };
      const expected = await gdalWindow(file, 0, 0, whole.width, whole.height);
      // A decoded cache of 1 byte holds nothing: every read decodes again.
      const tiny = (): TileCache<never> => new TileCache(1) as TileCache<never>;
      const stats = newReadStats();
      const bytesCache = new TileCache<Uint8Array>(64 * 1024 * 1024);
      for (let pass = 0; pass < 3; pass++) {
        const cog = await s.open(href, { stats, bytesCache, cache: tiny() });
        assert.deepEqual(bytesOf(await cog.readWindow(whole)), expected, `${href} pass ${pass}`);
        if (pass === 0) assert.ok(stats.requests > 0);
      }
      const size = (await stat(file)).size;
      assert.deepEqual([stats.rereads, stats.rereadBytes], [0, 0], href);
      assert.ok(stats.bytesRead <= size + 64 * 1024, `${stats.bytesRead} bytes read of a ${size}-byte file over three opens`);
      const bare = newReadStats();
      for (let pass = 0; pass < 2; pass++) {
        const cog = await s.open(href, { stats: bare, cache: tiny() });
        assert.deepEqual(bytesOf(await cog.readWindow(whole)), expected);
      }
      assert.ok(bare.rereads > 0 && bare.rereadBytes >= size / 2, `${bare.rereads} re-reads, ${bare.rereadBytes} bytes, of a ${size}-byte file read twice`);
    }
  } finally {
    await s.close();
  }
});
