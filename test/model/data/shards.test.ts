/**
 * Training shards (`clay pack`'s model/data/pack.ts, shard-format.ts, shard-set.ts) on synthetic chips with
 * float16's edge cases (NaN, overflow to infinity, subnormals, zero) and one corrupt chip: a shard is a tar
 * that `tar` lists; every chip the shard stream yields is bit for bit the one the GeoTIFF stream yields;
 * the epoch order visits every chip once, shard after shard; the tile split is the chips' split; a skip
 * resumes exactly; a pack stopped mid-way resumes to the same bytes; a plan that differs is refused; the
 * float16 kernel equals the table on all 65536 patterns; folders and s3:// both ways.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isClayError } from '../../../core/errors.ts';
import { halfToNumber } from '../../../core/float16.ts';
import { openStore } from '../../../core/store/open-store.ts';
import { chipFileName, DEFAULT_ENCODING, encodeChip, unitPrefix } from '../../../pipeline/chip/chip-file.ts';
import { halfToFloat32 } from '../../../model/data/half-float.ts';
import { listChips } from '../../../model/data/list-chips.ts';
import { shardEpochOrder } from '../../../model/data/order.ts';
import { packShards } from '../../../model/data/pack.ts';
import { openShardSet, SET_KEY, shardIndexKey, shardKey } from '../../../model/data/shard-set.ts';
import { splitByTile } from '../../../model/data/split.ts';
import { chipStream } from '../../../model/data/stream.ts';
import { openChipTrainData } from '../../../model/data/train-data.ts';
import type { ChipBatch } from '../../../model/data/types.ts';
import { createLogger } from '../../../core/log.ts';
import { startS3, type S3Server } from '../../helpers/s3.ts';
import { chipGrid, syntheticPlanes } from './chips.ts';

const SIZE = 64;
const TILES = ['31TGL', '31TGK', '32TLR', '33UUP'];
let dir = '';
let chips = '';
let s3: S3Server;
const logger = createLogger({ level: 'error', pretty: false, write: () => undefined });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clay-shards-'));
  chips = join(dir, 'chips');
  let seed = 1;
  for (const mgrs of TILES) {
    for (const date of ['2021-06-15', '2022-07-01']) {
      for (let chip = 1; chip <= 3; chip++) {
        const key = `${unitPrefix(mgrs, date)}${chipFileName(mgrs, date, chip)}`;
        const planes = syntheticPlanes(SIZE, seed++, true);
        const body = Buffer.concat(await encodeChip(planes, chipGrid(mgrs, chip, SIZE), date, DEFAULT_ENCODING));
        await mkdir(dirname(join(chips, key)), { recursive: true });
        await writeFile(join(chips, key), body);
      }
    }
  }
  // A corrupt chip: a valid name, bytes that are not a TIFF.
  await writeFile(join(chips, unitPrefix('31TGL', '2021-06-15'), chipFileName('31TGL', '2021-06-15', 9)), 'not a tiff');
  s3 = await startS3();
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  await s3.close();
});

/** Every sample of a stream by chip id: pixels, latlon, timestep and place, as one comparable record. */
async function samples(stream: AsyncIterable<ChipBatch>): Promise<Map<string, { pixels: string; rest: string }>> {
  const out = new Map<string, { pixels: string; rest: string }>();
  for await (const b of stream) {
    const per = b.pixels.length / b.batch;
    b.chips.forEach((c, i) => {
      const px = new Uint8Array(b.pixels.buffer, b.pixels.byteOffset + i * per * 4, per * 4);
      const { url: _u, ...place } = c;
      const rest = JSON.stringify({ place, latlon: [...b.latlon.subarray(2 * i, 2 * i + 2)], timestep: [...b.timestep.subarray(3 * i, 3 * i + 3)] });
      out.set(c.key, { pixels: createHash('sha256').update(px).digest('hex'), rest });
    });
  }
  return out;
}

async function shardHashes(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(join(root, 'shards'))).sort()) out[f] = createHash('sha256').update(await readFile(join(root, 'shards', f))).digest('hex');
  return out;
}

test('float16 -> float32: the SIMD kernel equals the table on every bit pattern (NaN stays NaN, 0x7e00 is 0x7fc00000)', () => {
  const all = new Uint16Array(65536 + 7);
  for (let i = 0; i < all.length; i++) all[i] = i & 0xffff;
  const simd = halfToFloat32(all);
  const js = halfToFloat32(all, { simd: false });
  for (let i = 0; i < all.length; i++) {
    const want = halfToNumber(i & 0xffff);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(simd[i]) && Number.isNaN(js[i]), `pattern ${i}`);
    else assert.ok(Object.is(simd[i], want) && Object.is(js[i], want), `pattern ${i.toString(16)}: ${simd[i]} ${js[i]} want ${want}`);
  }
  assert.equal(new Uint32Array(simd.buffer)[0x7e00], 0x7fc00000);
});

test('pack: tar shards that tar lists; every chip bit for bit what the GeoTIFF stream yields; the corrupt chip skipped and named', async () => {
  const out = join(dir, 'packed');
  // 4 chips per shard: 24 good chips + 1 corrupt = 25 in the listing, 7 shards.
  const recordMb = (13 * SIZE * SIZE * 2 + 2048) / 2 ** 20;
  const s = await packShards({ source: chips, out, shardMb: 4 * recordMb + 1e-9, size: SIZE, workers: 1, logger });
  assert.deepEqual([s.chips, s.packed, s.corrupt, s.chipsPerShard, s.shards, s.made], [25, 24, 1, 4, 7, 7]);
  const listed = execFileSync('tar', ['tf', join(out, shardKey(0))], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(listed.length % 2, 0);
  assert.deepEqual(listed.slice(0, 2), ['000000.json', '000000.pixels.f16']);
  const set = await openShardSet(out);
  assert.equal(set.refs.length, 24);
  assert.match(set.manifest.skipped[0] ?? '', /claytile_31TGL_20210615_v02_0009\.tif$/);
  const want = await samples(chipStream({ refs: await listChips(chips), batchSize: 3, size: SIZE, workers: 1, logger }));
  const shardStream = chipStream({ refs: set.refs, store: set.store, batchSize: 5, size: SIZE, workers: 1, logger });
  const got = await samples(shardStream);
  assert.equal(got.size, 24);
  for (const [id, w] of want) assert.deepEqual(got.get(id), w, id);
  // Most chips were decoded into the buffers of chips already stacked into batches, and are still exact.
  assert.ok(shardStream.stats.recycled >= 10, `${shardStream.stats.recycled} of 24 decodes recycled a buffer`);
  // Python's tarfile and numpy would read a member the same way: raw float16 little-endian, [13, H, W].
  const extract = join(dir, 'x');
  await mkdir(extract);
  execFileSync('tar', ['xf', join(out, shardKey(0)), '-C', extract, '000000.json', '000000.pixels.f16']);
  const meta = JSON.parse(await readFile(join(extract, '000000.json'), 'utf8')) as { id: string };
  const raw = await readFile(join(extract, '000000.pixels.f16'));
  const f32 = halfToFloat32(new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2));
  assert.equal(createHash('sha256').update(new Uint8Array(f32.buffer)).digest('hex'), want.get(meta.id)?.pixels);
});

test('codec deflate: fewer bytes, the same chips', async () => {
  const out = join(dir, 'deflate');
  const s = await packShards({ source: chips, out, codec: 'deflate', size: SIZE, workers: 1, logger });
  const none = await openShardSet(join(dir, 'packed'));
  assert.ok(s.bytes < none.manifest.bytes, `${s.bytes} vs ${none.manifest.bytes}`);
  const set = await openShardSet(out);
  const onThread = chipStream({ refs: none.refs, store: none.store, batchSize: 4, size: SIZE, workers: 0 });
  const a = await samples(onThread);
  assert.ok(onThread.stats.recycled >= 10, `${onThread.stats.recycled} decodes on the calling thread recycled a buffer`);
  const b = await samples(chipStream({ refs: set.refs, store: set.store, batchSize: 4, size: SIZE, workers: 1 }));
  assert.deepEqual([...b.entries()].sort(), [...a.entries()].sort());
});

test('shardEpochOrder: every chip once, one shard after another, seeded by (seed, epoch)', () => {
  const shards = Uint32Array.from({ length: 50 }, (_, i) => [3, 0, 7, 1, 2][i % 5]!);
  const a = shardEpochOrder(shards, 5, 0);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  const runs = [...a].map((i) => shards[i]!).filter((s, k, xs) => k === 0 || xs[k - 1] !== s);
  assert.equal(runs.length, 5, 'each shard comes as one run');
  assert.deepEqual(shardEpochOrder(shards, 5, 0), a);
  assert.notDeepEqual(shardEpochOrder(shards, 5, 1), a);
  assert.notDeepEqual(shardEpochOrder(shards, 6, 0), a);
});

test('train data from shards: the chips\' tile split; an epoch visits every training chip once; a skip resumes exactly', async () => {
  const set = await openShardSet(join(dir, 'packed'));
  // The same chips split the same way (the corrupt chip, which a pack leaves out, left out here too).
  const good = (await listChips(chips)).filter((r) => !r.key.endsWith('_0009.tif'));
  const fromChips = splitByTile(good, { valFraction: 0.3, seed: 9 });
  const data = await openChipTrainData({ source: join(dir, 'packed'), batch: 2, seed: 9, valFraction: 0.3, logger, workers: 1 });
  try {
    const fromShards = splitByTile(set.refs, { valFraction: 0.3, seed: 9 });
    assert.deepEqual(fromShards.valTiles, fromChips.valTiles);
    assert.ok(fromShards.valTiles.length > 0);
    assert.deepEqual(fromShards.train.map((r) => r.key).sort(), fromChips.train.map((r) => r.key).sort());
    assert.deepEqual([data.trainCount, data.valCount], [fromChips.train.length, fromChips.val.length]);
    const seen: string[] = [];
    const batches: string[][] = [];
    for await (const b of data.train(0, 0)) {
      seen.push(...b.chips.map((c) => c.key));
      batches.push(b.chips.map((c) => c.key));
    }
    const trainIds = fromShards.train.map((r) => r.key).sort();
    assert.equal(new Set(seen).size, seen.length, 'no chip twice');
    assert.equal(seen.length, trainIds.length - (trainIds.length % 2), 'every chip once (the short last batch dropped)');
    const resumed: string[][] = [];
    const tail = data.train(0, 4);
    for await (const b of tail) resumed.push(b.chips.map((c) => c.key));
    assert.deepEqual(resumed, batches.slice(2));
    const val: string[] = [];
    for await (const b of data.val()) val.push(...b.chips.map((c) => c.key));
    assert.deepEqual(val.sort(), fromShards.val.map((r) => r.key).sort());
  } finally {
    await data.close();
  }
  await assert.rejects(openChipTrainData({ source: join(dir, 'packed'), batch: 2, seed: 9, valFraction: 0.3, logger, shuffleBuffer: 4 }), (e: unknown) => isClayError(e, 'BAD_ARGUMENT'));
});

test('pack resumes: a pack stopped mid-way keeps its complete shards and ends with the same bytes; another plan is refused unless --force', async () => {
  const out = join(dir, 'resume');
  const opts = { source: chips, out, shardMb: 0.3, size: SIZE, workers: 1, logger };
  const first = await packShards(opts);
  const hashes = await shardHashes(out);
  // As if killed while making shard 2: its index (and the set's) not written yet.
  const store = await openStore(out);
  for (const key of [shardIndexKey(2), SET_KEY, 'index.parquet']) await store.remove(key);
  await assert.rejects(openShardSet(out), (e: unknown) => isClayError(e, 'SHARDS_INVALID') && /unfinished/.test((e as Error).message));
  const again = await packShards(opts);
  assert.deepEqual([again.made, again.kept, again.packed], [1, first.shards - 1, first.packed]);
  assert.deepEqual(await shardHashes(out), hashes);
  const done = await packShards(opts);
  assert.equal(done.made, 0, 'a complete pack is kept whole');
  await assert.rejects(packShards({ ...opts, seed: 3 }), (e: unknown) => isClayError(e, 'BAD_ARGUMENT') && /--force/.test((e as Error).message));
  const forced = await packShards({ ...opts, seed: 3, force: true });
  assert.equal(forced.made, forced.shards);
  assert.notDeepEqual(await shardHashes(out), hashes);
  // A plan that is not one, or shards with no plan: refused (their index parts are not this pack's), and
  // the shards stay; --force packs again from scratch.
  const before = await shardHashes(out);
  await writeFile(join(out, 'pack.json'), '{"format": "clay-pack-plan", "vers');
  await assert.rejects(packShards({ ...opts, seed: 3 }), (e: unknown) => isClayError(e, 'BAD_ARGUMENT') && /pack\.json is not JSON.*--force/.test((e as Error).message));
  await rm(join(out, 'pack.json'));
  await assert.rejects(packShards({ ...opts, seed: 3 }), (e: unknown) => isClayError(e, 'BAD_ARGUMENT') && /index\/shard-00000\.parquet is there but no pack\.json/.test((e as Error).message));
  assert.deepEqual(await shardHashes(out), before);
  const remade = await packShards({ ...opts, seed: 3, force: true });
  assert.equal(remade.made, remade.shards);
  assert.deepEqual(await shardHashes(out), before, 'the same plan packed again gives the same bytes');
});

test('s3 both ways: chips in a bucket packed into a folder, and a folder packed into a bucket, read back the same', async () => {
  const bucketChips = await openStore(`s3://${s3.bucket}/chips`, { env: s3.env });
  for (const r of await listChips(chips, { mode: 'files' })) await bucketChips.put(r.key, await readFile(r.url));
  const fromS3 = join(dir, 'from-s3');
  const a = await packShards({ source: bucketChips.root, out: fromS3, size: SIZE, workers: 1, logger, env: s3.env });
  assert.equal(a.packed, 24);
  assert.deepEqual(await shardHashes(fromS3), await shardHashes(join(dir, 'packed')).then(async () => {
    // The default shard size puts all 25 in one shard: compare with a folder pack of the same plan.
    await packShards({ source: chips, out: join(dir, 'same-plan'), size: SIZE, workers: 1, logger });
    return shardHashes(join(dir, 'same-plan'));
  }));
  const toS3 = `s3://${s3.bucket}/shards`;
  await packShards({ source: chips, out: toS3, size: SIZE, workers: 1, logger, env: s3.env });
  const set = await openShardSet(toS3, { env: s3.env });
  const local = await openShardSet(fromS3);
  const x = await samples(chipStream({ refs: set.refs, store: set.store, batchSize: 4, size: SIZE, workers: 1 }));
  const y = await samples(chipStream({ refs: local.refs, store: local.store, batchSize: 4, size: SIZE, workers: 1 }));
  assert.deepEqual([...x.entries()].sort(), [...y.entries()].sort());
});
