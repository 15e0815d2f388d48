/**
 * `clay run` end to end as users run it (the CLI in a child process) against the loopback Planetary
 * Computer: JSON summary, reruns that skip, --force, bad input; and kill -9 in the middle of a unit, then a
 * rerun: the final tree equals an uninterrupted run's (sha256 of every file; manifests apart from their
 * `run` figures), and a watcher never sees a partial chip under a final name. The same to `s3://` on a
 * loopback S3 server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { RunSummary } from '../../cli/commands/run.ts';
import { runCli } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { startS3, type S3Server } from '../helpers/s3.ts';
import { digest, runAndKill } from '../helpers/run-output.ts';
import { gdalinfo, locationValues } from '../pipeline/chip/gdal.ts';
import { stretchValue } from '../../pipeline/write/preview.ts';

const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
let pc: MiniPc;
let dir: string;
let clean: Map<string, string>;

const args = (out: string, ...more: string[]): string[] => ['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--index', '0', '--out', out, ...more];

before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  dir = await mkdtemp(join(tmpdir(), 'clay-run-'));
  const r = await runCli(args(join(dir, 'clean')));
  assert.equal(r.code, 0, r.stderr);
  clean = await digest(await openStore(join(dir, 'clean')));
});

after(async () => {
  await pc.close();
  await rm(dir, { recursive: true, force: true });
});

test('clay run: a JSON summary; a rerun skips complete units and says so; --force redoes them', async () => {
  assert.equal([...clean.keys()].filter((k) => k.endsWith('.tif')).length, 47);
  assert.ok(clean.has('02/index/row-0.parquet'));
  const again = await runCli(args(join(dir, 'clean')));
  assert.equal(again.code, 0, again.stderr);
  const s = JSON.parse(again.stdout) as RunSummary;
  assert.deepEqual([s.units, s.chips.kept], [{ done: 0, skipped: 3, locked: 0 }, 0]);
  assert.equal((again.stderr.match(/"event":"Run:Skip"/g) ?? []).length, 3);
  assert.deepEqual(await digest(await openStore(join(dir, 'clean'))), clean);
  const forced = await runCli(args(join(dir, 'clean'), '--force'));
  const f = JSON.parse(forced.stdout) as RunSummary;
  assert.deepEqual([f.units, f.chips.kept, f.chips.rejected], [{ done: 3, skipped: 0, locked: 0 }, 47, 13]);
  assert.ok(f.bytesRead > 0 && f.bytesWritten > 0 && f.peakRssMb > 0);
  // The DEM of every date, tiles evicted from the decoded cache, tiles inside the header blocks: no
  // byte range of the row is asked for twice.
  assert.deepEqual([f.http.rereads, f.http.rereadBytes], [0, 0]);
  assert.deepEqual(await digest(await openStore(join(dir, 'clean'))), clean);
  // Without the source-bytes cache and with a decoded cache too small for a tile, ranges are read again,
  // counted, and the chips are the same.
  const starved = await runCli(args(join(dir, 'starved'), '--source-cache-mb', '0', '--cache-mb', '1'));
  assert.equal(starved.code, 0, starved.stderr);
  const st = JSON.parse(starved.stdout) as RunSummary;
  assert.ok(st.http.rereads > 0 && st.http.rereadBytes > 0, `rereads ${st.http.rereads}`);
  assert.ok(st.bytesRead > f.bytesRead, `${st.bytesRead} bytes read starved, ${f.bytesRead} with the caches`);
  const starvedChips = await digest(await openStore(join(dir, 'starved')));
  for (const [k, v] of clean) if (k.endsWith('.tif')) assert.equal(starvedChips.get(k), v, k);
});

test('clay run: bad inputs are coded errors with exit 2 and leave the output alone', async () => {
  const before = await digest(await openStore(join(dir, 'clean')));
  const bad = await runCli(['--stac-api', pc.stacApi, 'run', '--sample', sample, '--index', '9', '--out', join(dir, 'clean')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /error BAD_INDEX/);
  const scheme = await runCli(['--stac-api', pc.stacApi, 'run', '--sample', sample, '--index', '0', '--out', 'ftp://x/y']);
  assert.equal(scheme.code, 2);
  assert.match(scheme.stderr, /error BAD_ARGUMENT/);
  const missing = await runCli(['--stac-api', pc.stacApi, 'run', '--sample', join(dir, 'nope.fgb'), '--out', join(dir, 'clean')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /error BAD_SAMPLE_FILE/);
  const none = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--index', '1', '--out', join(dir, 'none')]);
  assert.equal(none.code, 3, none.stderr);
  assert.deepEqual(await digest(await openStore(join(dir, 'clean'))), before);
});

test('kill -9 mid-unit, rerun: the same files and manifests as an uninterrupted run; no partial chip ever visible', async () => {
  const out = join(dir, 'killed');
  const store = await openStore(out);
  const seen = await runAndKill(args(out), store);
  assert.ok(seen.killed, 'the run was killed mid-unit');
  assert.deepEqual(seen.partial, []);
  assert.ok(seen.looks > 0);
  const rerun = await runCli(args(out));
  assert.equal(rerun.code, 0, rerun.stderr);
  const s = JSON.parse(rerun.stdout) as RunSummary;
  assert.deepEqual(s.units, { done: 2, skipped: 1, locked: 0 });
  // The killed run's lock on the unit it was making: its process is gone, so the rerun breaks it.
  assert.match(rerun.stderr, /"level":"warn","event":"Run:LockBroken".*"reason":"process \d+ on this host is gone"/);
  assert.match(rerun.stderr, /"event":"Run:Redo".*"reason":"incomplete \(no manifest\)"/);
  assert.deepEqual(await digest(store), clean);
  // No temporary file is left behind either.
  const all: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else all.push(relative(out, join(d, e.name)));
    }
  };
  await walk(out);
  assert.deepEqual(all.sort(), [...clean.keys()].sort());
  assert.ok((await stat(join(out, '02/31TGL/2021-06-15/manifest.json'))).size > 0);
});

test('s3:// output on a loopback S3 server: kill -9 mid-unit, rerun: the same objects as the local run', async () => {
  const s3: S3Server = await startS3();
  try {
    const url = `s3://${s3.bucket}/chips`;
    const store = await openStore(url, { env: s3.env });
    const seen = await runAndKill(args(url), store, s3.env);
    assert.ok(seen.killed, 'the run was killed mid-unit');
    assert.deepEqual(seen.partial, []);
    const rerun = await runCli(args(url), s3.env);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual((JSON.parse(rerun.stdout) as RunSummary).units, { done: 2, skipped: 1, locked: 0 });
    assert.match(rerun.stderr, /"event":"Run:LockBroken".*"reason":"process \d+ on this host is gone"/);
    assert.deepEqual(await digest(store), clean);
  } finally {
    await s3.close();
  }
});

test('clay run --previews --stac: an RGB PNG and a STAC item beside each kept chip, a collection of them', async () => {
  const out = join(dir, 'extras');
  const r = await runCli(args(out, '--previews', '--stac'));
  assert.equal(r.code, 0, r.stderr);
  const store = await openStore(out);
  const keys: string[] = [];
  for await (const e of store.list('')) keys.push(e.key);
  const tifs = keys.filter((k) => k.endsWith('.tif'));
  assert.equal(tifs.length, 47);
  for (const t of tifs) {
    assert.ok(keys.includes(t.replace(/\.tif$/, '.png')), `preview of ${t}`);
    assert.ok(keys.includes(t.replace(/\.tif$/, '.json')), `STAC item of ${t}`);
  }
  // GDAL reads the preview: 512 x 512, 3 Byte bands, not blank.
  const png = join(out, tifs[0]!.replace(/\.tif$/, '.png'));
  const info = await gdalinfo(png);
  assert.deepEqual([info.size, info.bands.length, info.bands[0]!.type], [[512, 512], 3, 'Byte']);
  const [v] = await locationValues(png, [[100, 100]], { bands: 3 });
  assert.ok(v!.some((x) => x > 0));
  // The stretch is of reflectance: baseline 04.00 chips (2022-07-05, stored with the +1000 offset, no
  // --harmonize) lose the offset first; baseline 03.xx chips (2021-06-15) have none.
  for (const [date, offset] of [['2022-07-05', 1000], ['2021-06-15', 0]] as const) {
    const tif = tifs.find((t) => t.includes(`/${date}/`))!;
    const points: [number, number][] = [[37, 411], [300, 64]];
    const pixels = await locationValues(join(out, tif), points, { bands: 13 });
    const rgb = await locationValues(join(out, tif.replace(/\.tif$/, '.png')), points, { bands: 3 });
    pixels.forEach((bands, i) => {
      const expected = [bands[2]!, bands[1]!, bands[0]!].map((b) => stretchValue(b, offset));
      assert.deepEqual(rgb[i], expected, `${date} pixel ${points[i]}: ${bands.slice(0, 3)}`);
    });
  }
  const collection = JSON.parse(await readFile(join(out, 'collection.json'), 'utf8')) as { type: string; links: { rel: string; href: string }[] };
  assert.equal(collection.type, 'Collection');
  const items = collection.links.filter((l) => l.rel === 'item');
  assert.equal(items.length, 47);
  const item = JSON.parse(await readFile(join(out, items[0]!.href), 'utf8')) as { assets: { data: { href: string } }; properties: { datetime: string } };
  const chip = join(out, items[0]!.href, '..', item.assets.data.href);
  assert.ok((await stat(chip)).size > 0, `the item's asset ${chip} exists`);
  // The chips themselves are the same bytes as without the extras.
  for (const t of tifs) assert.equal(clean.get(t), createHash('sha256').update((await store.get(t))!).digest('hex'));
});
