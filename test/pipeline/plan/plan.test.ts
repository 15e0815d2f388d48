import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpClient } from '../../../core/http.ts';
import { StacClient } from '../../../core/stac/stac-client.ts';
import { loadUniverse, type Universe } from '../../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../../core/mini-pc/server.ts';
import { readSampleFile, type SampleRow } from '../../../pipeline/sample-file.ts';
import { plan, type PlanOptions } from '../../../pipeline/plan/plan.ts';
import type { PlanMode, ScenePlan } from '../../../pipeline/plan/plan-types.ts';
import { formatPlanSummary } from '../../../cli/commands/plan.ts';
import { BUNDLED_DIR, bundledCases, type ExpectedDate } from '../../helpers/bundled.ts';
import { square, universeOf } from '../../helpers/items.ts';
import { demJson, s1Json, s2Json } from '../../helpers/pc-json.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5 };

async function withPc<T>(universe: Universe, fn: (pc: MiniPc, run: (row: SampleRow, options?: Omit<PlanOptions, 'stac'>) => Promise<ScenePlan>) => Promise<T>): Promise<T> {
  const pc = await startMiniPc({ universe });
  try {
    return await fn(pc, (row, options = {}) => plan(row, { stac: new StacClient({ url: pc.stacApi, http: new HttpClient(fast) }), ...options }));
  } finally {
    await pc.close();
  }
}

let bundled: Universe | undefined;
const bundledUniverse = async (): Promise<Universe> => (bundled ??= await loadUniverse(BUNDLED_DIR));
const bundledRows = (): Promise<SampleRow[]> => readSampleFile(`${BUNDLED_DIR}mgrs_sample.fgb`);

function selection(p: ScenePlan): ExpectedDate[] {
  return p.dates.map((d) => ({ year: d.year, attempt: d.attempt, s2: d.s2.id, datetime: d.s2.datetime, s1: d.s1.scenes.map((s) => s.id), s1Orbit: d.s1.orbitState, dem: d.dem.map((x) => x.id) }));
}

const searchBodies = (pc: MiniPc): string[] => pc.requests.filter((r) => r.service === 'stac' && r.path.endsWith('/search')).map((r) => r.body ?? '');

test('bundled rows: the selections of default and --compat clay-v0 mode equal the designed cases', async () => {
  const cases = await bundledCases();
  const rows = await bundledRows();
  await withPc(await bundledUniverse(), async (_pc, run) => {
    for (const c of cases.rows) {
      for (const [mode, key] of [['default', 'default'], ['clay-v0', 'compat']] as const) {
        const p = await run(rows[c.index]!, { mode });
        assert.deepEqual(p.years, c.years, `row ${c.index} year order`);
        assert.deepEqual(selection(p), c.expected![key], `row ${c.index} ${mode}`);
        for (const d of p.dates) {
          assert.deepEqual(d.grid.transform, c.grid!.transform, `row ${c.index} grid`);
          assert.deepEqual([d.grid.epsg, d.grid.width, d.grid.height, d.chips.count], [c.grid!.epsg, c.grid!.width, c.grid!.height, c.grid!.chips]);
        }
      }
    }
  });
});

test('row 0: both S2 filters, the Dec 31 edge and an empty year; the search body is Clay\'s', async () => {
  const row0 = (await bundledCases()).rows[0]!;
  const rows = await bundledRows();
  await withPc(await bundledUniverse(), async (pc, run) => {
    const p = await run(rows[0]!);
    const year = (y: number) => p.yearLog.find((r) => r.year === y)!;
    for (const [y, detail] of Object.entries(row0.years_detail!)) {
      assert.deepEqual([...year(Number(y)).candidates].sort(), [...detail.candidates].sort(), `candidates of ${y}`);
      for (const excluded of Object.keys(detail.excluded ?? {})) assert.ok(!year(Number(y)).candidates.includes(excluded), `${excluded} excluded`);
    }
    // 2019 only has items failing one filter each; 2018 has none: both are empty years, and the plan goes on.
    assert.ok(Object.keys(row0.years_detail!['2019']!.excluded!).length === 2);
    assert.equal(year(2019).outcome, 'no candidates');
    assert.equal(year(2018).outcome, 'no candidates');
    assert.equal(year(2020).outcome, 'not needed');
    const s2Search = searchBodies(pc).map((b) => JSON.parse(b) as { filter?: { args: { op: string; args: unknown[] }[] } }).find((b) => JSON.stringify(b).includes('2021-01-01/2021-12-31'))!;
    const ops = Object.fromEntries(s2Search.filter!.args.map((a) => [a.op === '<=' ? `<= ${(a.args[0] as { property: string }).property}` : a.op, a.args[1]]));
    assert.deepEqual(ops['<= eo:cloud_cover'], 50);
    assert.deepEqual(ops['<= s2:nodata_pixel_percentage'], 20);
    assert.equal(ops.anyinteracts, '2021-01-01/2021-12-31');
    assert.equal((ops.s_intersects as { type: string }).type, 'Point');
  });
});

test('row 0, 2021: past an S2 item without S1, the asymmetric window, the orbit rule, a cross-zone scene, DEM across 6 E', async () => {
  const cases = await bundledCases();
  const row0 = cases.rows[0]!;
  await withPc(await bundledUniverse(), async (_pc, run) => {
    const p = await run((await bundledRows())[0]!);
    const y2021 = p.yearLog.find((r) => r.year === 2021)!;
    assert.deepEqual(y2021.attempts.map((a) => ({ attempt: a.attempt, s2: a.s2, outcome: a.outcome })), row0.years_detail!['2021']!.attempts);
    assert.equal(y2021.attempts[0]!.window, '2021-04-17/2021-04-23');
    const d = p.dates[0]!;
    // Dates, not times: from 3 days before the date's midnight to 3 days after it (pgstac: both ends 00:00Z).
    assert.equal(d.s1.window, '2021-06-12/2021-06-18');
    const wrong = Object.keys(row0.wrongIfChosen!);
    const chosen = p.dates.flatMap((x) => [x.s2.id, ...x.s1.scenes.map((s) => s.id)]);
    for (const id of wrong) assert.ok(!chosen.includes(id), `${id} must not be chosen: ${row0.wrongIfChosen![id]}`);
    const ids = (k: string) => (cases as unknown as { sentinel1: Record<string, { id: string }> }).sentinel1[k]!.id;
    // X covers 100 % but starts 2021-06-18T05:40Z, after the window's end: the search does not return it.
    assert.ok(!d.s1.skipped.some((s) => s.id === ids('X')));
    assert.deepEqual(d.s1.skipped, [{ id: ids('A1'), reason: 'other orbit state' }, { id: ids('D3'), reason: 'bbox already covered' }]);
    const d2 = d.s1.scenes.find((s) => s.id === ids('D2'))!;
    assert.equal(d2.epsg, 32632);
    assert.equal(d.s1.coverage, 1);
    assert.ok(d.bbox[0] < 6 && d.bbox[2] > 6, 'the bbox crosses 6 E');
    assert.deepEqual(d.dem.map((x) => x.id), ['Copernicus_DSM_COG_10_N45_00_E005_00_DEM', 'Copernicus_DSM_COG_10_N45_00_E006_00_DEM']);
    assert.ok(d.dem.every((x) => x.hrefs.data!.endsWith('.tif')));
    assert.ok(d.estimate.total > 0 && d.estimate.total === d.estimate.s2 + d.estimate.s1 + d.estimate.dem);
  });
});

test('row 1 has no data anywhere: a no-data result after one search per year', async () => {
  await withPc(await bundledUniverse(), async (pc, run) => {
    const p = await run((await bundledRows())[1]!);
    assert.equal(p.status, 'no-data');
    assert.match(p.message, /no matching data/);
    assert.deepEqual(p.yearLog.map((y) => y.outcome), Array(7).fill('no candidates'));
    assert.equal(p.totals.stacRequests, 7);
    assert.equal(searchBodies(pc).length, 7);
  });
});

test('row 2: a match on the 20th attempt is kept by default and discarded by --compat clay-v0', async () => {
  const rows = await bundledRows();
  await withPc(await bundledUniverse(), async (_pc, run) => {
    const def = await run(rows[2]!);
    const compat = await run(rows[2]!, { mode: 'clay-v0' });
    const y = (p: ScenePlan) => p.yearLog.find((r) => r.year === 2019)!;
    assert.equal(y(def).outcome, 'chosen');
    assert.equal(def.dates[0]!.attempt, 19);
    assert.deepEqual(y(def).attempts.map((a) => a.outcome), [...Array(19).fill('no S1 within window'), 'chosen']);
    assert.equal(y(compat).outcome, 'no match within the attempt limit');
    assert.deepEqual(y(compat).attempts.map((a) => a.outcome), [...Array(19).fill('no S1 within window'), 'discarded']);
    assert.deepEqual(compat.dates.map((d) => d.year), [2020]);
  });
});

test('STAC requests: counted in the plan, equal to the server log, no identical search twice', async () => {
  const rows = await bundledRows();
  for (const [index, mode] of [[0, 'default'], [0, 'clay-v0'], [2, 'default']] as [number, PlanMode][]) {
    await withPc(await bundledUniverse(), async (pc, run) => {
      const p = await run(rows[index]!, { mode });
      const bodies = searchBodies(pc);
      assert.equal(p.totals.stacRequests, bodies.length, `row ${index} ${mode}`);
      assert.equal(new Set(bodies).size, bodies.length, 'no repeated search');
      assert.match(formatPlanSummary(p), new RegExp(`STAC requests: ${bodies.length} `));
      if (index === 2) {
        // 20 attempts in 2019 from one S2 search, not twenty.
        assert.equal(bodies.filter((b) => b.includes('sentinel-2-l2a') && b.includes('2019-01-01/2019-12-31')).length, 1);
        assert.equal(p.totals.stacRequests, 29);
      }
    });
  }
});

// Small designed universes for the cases the bundled one does not carry.
const tile: SampleRow = { index: 0, name: '31TGL', geometry: square(6, 45.6, 0.4), properties: {} };
const dem = [demJson(5, 45), demJson(6, 45)];

test('out of candidates: the next year by default; --compat clay-v0 stops the row where v0 raised IndexError', async () => {
  const universe = universeOf([
    s2Json('S2_2020_a', '2020-05-01T10:30:00Z', { cloud: 3 }),
    s2Json('S2_2020_b', '2020-06-01T10:30:00Z', { cloud: 9 }),
    s2Json('S2_2021_a', '2021-05-01T10:30:00Z'),
    s1Json('S1_2021', '2021-05-02T05:50:00Z', 'descending'),
    ...dem,
  ]);
  await withPc(universe, async (_pc, run) => {
    const def = await run(tile, { years: [2020, 2021] });
    assert.deepEqual(def.yearLog.map((y) => [y.year, y.outcome, y.attempts.length]), [[2020, 'out of candidates', 2], [2021, 'chosen', 1]]);
    assert.equal(def.status, 'ok');
    const compat = await run(tile, { years: [2020, 2021], mode: 'clay-v0' });
    assert.equal(compat.status, 'stopped');
    assert.deepEqual(compat.yearLog.map((y) => [y.year, y.outcome]), [[2020, 'stopped'], [2021, 'not reached']]);
    assert.match(compat.message, /IndexError/);
    assert.equal(compat.dates.length, 0);
  });
});

test('an S2 item that cannot be used is filtered and the next candidate tried; no DEM is filtered (default) or a v0 stop', async () => {
  const universe = universeOf([
    s2Json('S2_bad', '2021-05-01T10:30:00Z', { cloud: 1, drop: 'B8A' }),
    s2Json('S2_good', '2021-05-11T10:30:00Z', { cloud: 2 }),
    s1Json('S1_a', '2021-05-02T05:50:00Z', 'descending'),
    s1Json('S1_b', '2021-05-12T05:50:00Z', 'descending'),
  ]);
  await withPc(universe, async (_pc, run) => {
    const p = await run(tile, { years: [2021] });
    const attempts = p.yearLog[0]!.attempts;
    assert.equal(attempts[0]!.outcome, 'filtered');
    assert.match(attempts[0]!.reason!, /B8A/);
    // No DEM tile at all in this universe: the second candidate is filtered too, and the year runs out.
    assert.equal(attempts[1]!.outcome, 'filtered');
    assert.match(attempts[1]!.reason!, /DEM/);
    assert.equal(p.status, 'no-data');
    const compat = await run(tile, { years: [2021], mode: 'clay-v0' });
    assert.equal(compat.status, 'stopped');
  });
});

test("--compat clay-v0 looks the chosen item up by datetime in the API's default order, as v0 did", async () => {
  // Two tiles of one datatake share a datetime; the T31 one is less cloudy, v0 takes the T32 one's pixels.
  const when = '2021-05-01T10:30:21.024000Z';
  const universe = universeOf([
    s2Json('S2A_MSIL2A_20210501T103021_R108_T31TGL', when, { cloud: 2 }),
    s2Json('S2A_MSIL2A_20210501T103021_R108_T32TKR', when, { cloud: 30, epsg: 32632, geometry: square(6.3, 45.6, 0.5) }),
    s1Json('S1_a', '2021-05-02T05:50:00Z', 'descending', square(6, 45.6, 1)),
    ...dem, demJson(7, 45),
  ]);
  await withPc(universe, async (_pc, run) => {
    const def = await run(tile, { years: [2021] });
    assert.equal(def.dates[0]!.s2.id, 'S2A_MSIL2A_20210501T103021_R108_T31TGL');
    assert.equal(def.dates[0]!.s2.rankedId, undefined);
    const compat = await run(tile, { years: [2021], mode: 'clay-v0' });
    const d = compat.dates[0]!;
    assert.equal(d.s2.id, 'S2A_MSIL2A_20210501T103021_R108_T32TKR');
    assert.equal(d.s2.rankedId, 'S2A_MSIL2A_20210501T103021_R108_T31TGL');
    assert.equal(d.grid.epsg, 32632);
    // ...with the bbox of the ranked (T31) footprint.
    assert.deepEqual(d.bbox, def.dates[0]!.bbox);
  });
});

test('an API that ignores sortby: the plan notices the unsorted page and ranks every candidate itself', async () => {
  const { createServer } = await import('node:http');
  const universe = universeOf([
    s2Json('S2_cloudy', '2021-07-01T10:30:00Z', { cloud: 40 }),
    s2Json('S2_clear', '2021-05-01T10:30:00Z', { cloud: 2 }),
    s2Json('S2_mid', '2021-06-01T10:30:00Z', { cloud: 20 }),
    s1Json('S1_clear', '2021-05-02T05:50:00Z', 'descending'),
    s1Json('S1_cloudy', '2021-07-02T05:50:00Z', 'descending'),
    ...dem,
  ]);
  const pc = await startMiniPc({ universe });
  // A real HTTP proxy in front of the miniature PC that drops `sortby` (and `limit`) from search bodies.
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const stripped = body ? JSON.stringify({ ...(JSON.parse(body) as object), sortby: undefined, limit: undefined }) : undefined;
      void fetch(`${pc.origin}${req.url ?? '/'}`, { method: req.method ?? 'GET', ...(stripped ? { body: stripped, headers: { 'content-type': 'application/json' } } : {}) })
        .then(async (r) => { res.writeHead(r.status, { 'content-type': 'application/json' }); res.end(Buffer.from(await r.arrayBuffer())); });
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as { port: number }).port;
  try {
    const events: string[] = [];
    const logger = { debug: () => {}, info: () => {}, warn: (e: string) => void events.push(e), error: () => {} };
    const stac = new StacClient({ url: `http://127.0.0.1:${port}/api/stac/v1`, http: new HttpClient(fast) });
    const p = await plan(tile, { stac, years: [2021], logger });
    assert.deepEqual(events, ['Plan:Unsorted']);
    assert.deepEqual(p.yearLog[0]!.candidates, ['S2_clear', 'S2_mid', 'S2_cloudy']);
    assert.equal(p.dates[0]!.s2.id, 'S2_clear');
  } finally {
    proxy.close();
    await pc.close();
  }
});

test('probeSizes: one signed HEAD per source file gives its size; compressed bytes = size x share read', async () => {
  const { probeSizes } = await import('../../../pipeline/plan/probe-sizes.ts');
  const { PcSigner } = await import('../../../core/stac/pc-signer.ts');
  const { stat } = await import('node:fs/promises');
  const rows = await bundledRows();
  await withPc(await bundledUniverse(), async (pc, run) => {
    const planned = await run(rows[0]!);
    const http = new HttpClient(fast);
    const probed = await probeSizes(planned, { http, signer: new PcSigner({ http, sasApi: pc.sasApi }) });
    const files = probed.dates.flatMap((d) => d.estimate.files);
    const distinct = new Set(files.map((f) => f.href));
    const heads = pc.requests.filter((r) => r.method === 'HEAD');
    assert.equal(heads.length, distinct.size, 'one HEAD per distinct file');
    assert.ok(heads.every((r) => r.signed && r.status === 200));
    for (const f of files) {
      const onDisk = await stat(`${BUNDLED_DIR}blobs${new URL(f.href).pathname}`);
      assert.equal(f.size, onDisk.size, f.href);
    }
    // Row 0's chips cover 2560 x 2048 of the 2580 x 2100 grid.
    const b02 = probed.dates[0]!.estimate.files.find((f) => f.href.includes('B02'))!;
    assert.ok(Math.abs(b02.share - (2560 * 2048) / (2580 * 2100)) < 1e-12);
    for (const d of probed.dates) {
      assert.equal(d.estimate.compressed, Math.round(d.estimate.files.reduce((n, f) => n + f.size! * f.share, 0)));
      assert.ok(d.estimate.compressed! < d.estimate.total);
    }
    assert.equal(probed.totals.compressedBytes, probed.dates.reduce((n, d) => n + d.estimate.compressed!, 0));
    assert.equal(planned.dates[0]!.estimate.compressed, undefined, 'the input plan is left as it was');
  });
});
