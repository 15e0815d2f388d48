/**
 * chipStream: a deterministic order per (seed, epoch); `skip` resumes exactly without reading what it
 * skips; a corrupt chip is skipped, counted and named in a warning; an s3:// source gives what the folder
 * gives; decoded-but-unconsumed samples stay under the bound, nothing is read while the consumer pauses;
 * breaking out terminates the workers. Synthetic 32 x 32 chips keep it fast (the reader is tested on real
 * chips in read-chip.test.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isClayError } from '../../../core/errors.ts';
import { createLogger } from '../../../core/log.ts';
import { openStore } from '../../../core/store/open-store.ts';
import { listChips } from '../../../model/data/list-chips.ts';
import { splitByTile } from '../../../model/data/split.ts';
import { chipStream, type ChipStreamOptions } from '../../../model/data/stream.ts';
import type { ChipBatch, ChipRef } from '../../../model/data/types.ts';
import { startS3 } from '../../helpers/s3.ts';
import { syntheticChip } from './chips.ts';

const SIZE = 32;
const CORRUPT = '02/33UVP/2020-01-01/claytile_33UVP_20200101_v02_0001.tif';
let dir: string;
const files = new Map<string, Uint8Array>();
/** Every chip but the corrupt one, sorted. */
let good: ChipRef[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clay-stream-'));
  let seed = 1;
  for (const mgrs of ['31TGL', '55HBU', '10SEG']) {
    for (const date of ['2019-05-01', '2021-06-15']) {
      for (const chip of [1, 2, 4, 9]) {
        const { key, bytes } = await syntheticChip({ mgrs, date, chip, size: SIZE, seed: seed++ });
        files.set(key, bytes);
      }
    }
  }
  // A chip with a valid name whose bytes are cut short.
  files.set(CORRUPT, files.values().next().value!.subarray(0, 3000));
  for (const [key, bytes] of files) {
    await mkdir(join(dir, key, '..'), { recursive: true });
    await writeFile(join(dir, key), bytes);
  }
  good = (await listChips(dir)).filter((r) => r.key !== CORRUPT);
  assert.equal(good.length, 24);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(opts: Partial<ChipStreamOptions> & { batchSize: number }): Promise<{ batches: ChipBatch[]; keys: string[] }> {
  const batches: ChipBatch[] = [];
  for await (const b of chipStream({ refs: good, size: SIZE, workers: 0, ...opts })) batches.push(b);
  return { batches, keys: batches.flatMap((b) => b.chips.map((c) => c.key)) };
}

test('the order is a pure function of (seed, epoch): repeatable, a permutation, different across epochs and seeds', async () => {
  const plain = await collect({ batchSize: 5 });
  assert.deepEqual(plain.keys, good.map((r) => r.key));
  assert.deepEqual(plain.batches.map((b) => b.batch), [5, 5, 5, 5, 4]);
  const e0 = await collect({ batchSize: 5, shuffle: true, seed: 3, epoch: 0 });
  assert.deepEqual((await collect({ batchSize: 4, shuffle: true, seed: 3, epoch: 0, workers: 2 })).keys, e0.keys);
  assert.deepEqual([...e0.keys].sort(), plain.keys);
  assert.notDeepEqual(e0.keys, plain.keys);
  const e1 = await collect({ batchSize: 5, shuffle: true, seed: 3, epoch: 1 });
  assert.notDeepEqual(e1.keys, e0.keys);
  assert.notDeepEqual((await collect({ batchSize: 5, shuffle: true, seed: 4, epoch: 0 })).keys, e0.keys);
  // A shuffle buffer keeps each chip within `buffer` places of its sorted position... ahead of it at most.
  const buffered = await collect({ batchSize: 5, shuffle: true, shuffleBuffer: 4, seed: 3 });
  assert.deepEqual([...buffered.keys].sort(), plain.keys);
  buffered.keys.forEach((k, i) => assert.ok(plain.keys.indexOf(k) < i + 4));
  // dropLast drops the short batch.
  assert.deepEqual((await collect({ batchSize: 5, dropLast: true })).batches.map((b) => b.batch), [5, 5, 5, 5]);
});

test('batches carry v0-normalised pixels, lat/lon and time in batch order; workers and the main thread agree', async () => {
  const inline = await collect({ batchSize: 3, shuffle: true, seed: 9 });
  const workers = await collect({ batchSize: 3, shuffle: true, seed: 9, workers: 2 });
  const b = inline.batches[1]!;
  assert.equal(b.pixels.length, 3 * 13 * SIZE * SIZE);
  assert.equal(b.latlon.length, 6);
  assert.equal(b.timestep.length, 9);
  assert.equal(b.chips.length, 3);
  assert.ok(!('pixels' in b.chips[0]!), 'chips carry places, not pixels');
  assert.deepEqual(workers.batches[1]!.pixels, b.pixels);
  assert.deepEqual(workers.batches[1]!.latlon, b.latlon);
  assert.deepEqual(workers.batches[1]!.timestep, b.timestep);
});

test('skip = k yields exactly the tail of the unskipped epoch, without reading the first k chips', async () => {
  const opts = { batchSize: 4, shuffle: true, seed: 5, epoch: 2 } as const;
  const full = await collect(opts);
  for (const k of [0, 5, 8, 23, 24, 30]) {
    const s = chipStream({ refs: good, size: SIZE, workers: 0, ...opts, skip: k });
    const keys: string[] = [];
    for await (const b of s) keys.push(...b.chips.map((c) => c.key));
    assert.deepEqual(keys, full.keys.slice(k), `skip ${k}`);
    const tailBytes = full.keys.slice(k).reduce((a, key) => a + files.get(key)!.length, 0);
    assert.equal(s.stats.chips, Math.max(0, 24 - k));
    assert.equal(s.stats.bytesRead, tailBytes);
  }
  // Resuming at a batch's resumeAt gives the same later batches, pixels included.
  const at = full.batches[2]!.resumeAt!;
  assert.equal(at, 12);
  const resumed = await collect({ ...opts, skip: at });
  assert.deepEqual(resumed.batches.map((b) => b.pixels), full.batches.slice(3).map((b) => b.pixels));
});

test('a corrupt chip is skipped, counted and named in a warning; the epoch goes on', async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ pretty: false, write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const s = chipStream({ source: dir, size: SIZE, batchSize: 5, workers: 1, logger });
  const keys: string[] = [];
  for await (const b of s) keys.push(...b.chips.map((c) => c.key));
  assert.deepEqual(keys, good.map((r) => r.key));
  assert.equal(s.stats.corrupt, 1);
  assert.deepEqual(s.stats.corruptUrls, [join(dir, CORRUPT)]);
  const warn = lines.filter((l) => l.event === 'Stream:Skip');
  assert.equal(warn.length, 1);
  assert.equal(warn[0]!.chip, join(dir, CORRUPT));
  assert.equal(warn[0]!.code, 'CHIP_CORRUPT');
  assert.equal(s.stats.workers, 0, 'workers terminated at the end');
});

test('an s3:// source streams the same batches as the folder (loopback S3)', async () => {
  const s3 = await startS3();
  try {
    const url = `s3://${s3.bucket}/chips`;
    const store = await openStore(url, { env: s3.env });
    for (const [key, bytes] of files) await store.put(key, bytes);
    const opts = { batchSize: 4, shuffle: true, seed: 1, size: SIZE, workers: 1 } as const;
    const local: ChipBatch[] = [];
    for await (const b of chipStream({ ...opts, source: dir })) local.push(b);
    const remote: ChipBatch[] = [];
    const s = chipStream({ ...opts, source: url, env: s3.env });
    for await (const b of s) remote.push(b);
    assert.deepEqual(remote.map((b) => b.chips.map((c) => c.key)), local.map((b) => b.chips.map((c) => c.key)));
    assert.deepEqual(remote.map((b) => b.pixels), local.map((b) => b.pixels));
    assert.equal(remote[0]!.chips[0]!.url, `${url}/${remote[0]!.chips[0]!.key}`);
    assert.deepEqual(s.stats.corruptUrls, [`${url}/${CORRUPT}`]);
  } finally {
    await s3.close();
  }
});

test('backpressure: decoded-but-unconsumed samples stay within the bound; nothing is read while the consumer pauses', async () => {
  const s = chipStream({ refs: good, size: SIZE, batchSize: 2, prefetch: 1, workers: 2, inFlight: 4 });
  assert.equal(s.stats.bound, 4);
  let n = 0;
  for await (const b of s) {
    n += b.batch;
    assert.ok(s.stats.buffered <= s.stats.bound, `buffered ${s.stats.buffered}`);
    if (n === 4) {
      // The consumer stops pulling: the prefetch fills, then reading stops.
      for (let i = 0; i < 1000 && s.stats.inFlight > 0; i++) await sleep(10);
      assert.equal(s.stats.inFlight, 0);
      const seen = s.stats.chips + s.stats.corrupt;
      assert.ok(seen - s.stats.delivered <= s.stats.bound, `${seen - s.stats.delivered} read ahead`);
      await sleep(200);
      assert.equal(s.stats.chips + s.stats.corrupt, seen);
    } else {
      await sleep(20); // a slow consumer
    }
  }
  assert.equal(n, 24);
  assert.ok(s.stats.peakBuffered <= s.stats.bound, `peak ${s.stats.peakBuffered} > bound ${s.stats.bound}`);
  assert.ok(s.stats.waitMs >= 0 && s.stats.decodeMs > 0);
});

test('break out of the loop: reads stop and the workers are terminated; an aborted signal ends the stream', async () => {
  const s = chipStream({ refs: good, size: SIZE, batchSize: 2, prefetch: 3, workers: 2 });
  for await (const b of s) {
    assert.equal(b.batch, 2);
    assert.ok(s.stats.workers >= 1);
    break;
  }
  assert.equal(s.stats.workers, 0);
  const chips = s.stats.chips;
  await sleep(100);
  assert.equal(s.stats.chips, chips);
  assert.deepEqual(await s.next(), { done: true, value: undefined });
  // A second iteration of the same stream is refused: one stream is one epoch.
  assert.throws(() => s[Symbol.asyncIterator](), (e: unknown) => isClayError(e, 'BAD_ARGUMENT'));
  const ctl = new AbortController();
  const aborted = chipStream({ refs: good, size: SIZE, batchSize: 2, workers: 1, signal: ctl.signal });
  await aborted.next();
  ctl.abort();
  await assert.rejects(aborted.next(), (e: unknown) => isClayError(e, 'HTTP_ABORTED'));
  assert.equal(aborted.stats.workers, 0);
});

test('a stream over the training side of a split never yields a validation tile', async () => {
  const { train, valTiles } = splitByTile(good, { seed: 2, valFraction: 0.34 });
  assert.equal(valTiles.length, 1);
  const keys: string[] = [];
  for await (const b of chipStream({ refs: train, size: SIZE, batchSize: 4, shuffle: true, workers: 0 })) keys.push(...b.chips.map((c) => c.mgrs));
  assert.equal(keys.length, 16);
  assert.ok(keys.every((m) => !valTiles.includes(m)));
});

test('a stream dropped without close() does not keep the process alive (idle workers are unref()ed)', async () => {
  // In a child process, so that a hang is a failed assertion instead of a stuck test run.
  const script = `
    import { chipStream } from ${JSON.stringify(new URL('../../../model/data/stream.ts', import.meta.url).href)};
    import { listChips } from ${JSON.stringify(new URL('../../../model/data/list-chips.ts', import.meta.url).href)};
    const refs = (await listChips(${JSON.stringify(dir)})).filter((r) => !r.key.endsWith('33UVP_20200101_v02_0001.tif'));
    const s = chipStream({ refs, size: ${SIZE}, batchSize: 2, prefetch: 1, workers: 1 });
    await s.next();
    process.stdout.write('pulled one batch');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  assert.equal(out, 'pulled one batch');
  assert.deepEqual([code, signal], [0, null], 'the process exits by itself');
});

test('close() while a reply is on its way: the process waits for the workers and exits 0 (it exited 13, close() unsettled)', async () => {
  // The worker's reply is queued while the main thread is blocked; close() then terminates the worker and
  // the queued reply arrives after: it used to unref() the worker, and the event loop drained before 'exit'.
  const script = `
    import { readFile } from 'node:fs/promises';
    import { DecodePool } from ${JSON.stringify(new URL('../../../model/data/decode-pool.ts', import.meta.url).href)};
    import { listChips } from ${JSON.stringify(new URL('../../../model/data/list-chips.ts', import.meta.url).href)};
    const ref = (await listChips(${JSON.stringify(dir)})).find((r) => !r.key.endsWith('33UVP_20200101_v02_0001.tif'));
    const bytes = await readFile(ref.url);
    const pool = new DecodePool(1, { size: ${SIZE} });
    await pool.decode(new Uint8Array(bytes), ref);
    const pending = pool.decode(new Uint8Array(bytes), ref).then(() => 'decoded', (e) => e.message);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
    await pool.close();
    process.stdout.write('closed: ' + (await pending));`;
  for (let i = 0; i < 2; i++) {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(timer);
    assert.equal(out, 'closed: decode pool closed');
    assert.deepEqual([code, signal], [0, null], 'close() settles and the process exits 0');
  }
});
