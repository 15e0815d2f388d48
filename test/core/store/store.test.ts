/**
 * The ObjectStore contract, run against both stores: a local temporary folder and an s3rver bucket on
 * 127.0.0.1. Every test opens a store at a fresh root (a new folder, a new prefix), so tests do not see
 * each other's objects. Store-specific behaviour lives in local-store.test.ts and s3-store.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isClayError, type ErrorCode } from '../../../core/errors.ts';
import { openStore } from '../../../core/store/open-store.ts';
import type { ObjectStore, StoreEntry } from '../../../core/store/store.ts';
import { startS3, type S3Server } from '../../helpers/s3.ts';

interface Backend {
  name: 'file' | 's3';
  setup(): Promise<void>;
  fresh(): Promise<ObjectStore>;
  teardown(): Promise<void>;
}

let n = 0;
const backends: Backend[] = [
  (() => {
    let dir = '';
    return {
      name: 'file' as const,
      async setup() { dir = await mkdtemp(join(tmpdir(), 'clay-store-')); },
      fresh: () => openStore(join(dir, `t${n++}`)),
      async teardown() { await rm(dir, { recursive: true, force: true }); },
    };
  })(),
  (() => {
    let s3: S3Server | undefined;
    return {
      name: 's3' as const,
      async setup() { s3 = await startS3(); },
      fresh: () => openStore(`s3://${s3?.bucket}/runs/t${n++}`, { env: s3?.env ?? {} }),
      async teardown() { await s3?.close(); },
    };
  })(),
];

async function collect(it: AsyncIterable<StoreEntry>): Promise<StoreEntry[]> {
  const out: StoreEntry[] = [];
  for await (const entry of it) out.push(entry);
  return out;
}

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<void> {
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (err: unknown) => isClayError(err, code));
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

const BAD_KEYS = ['', '/a', 'a//b', 'a/', '../a', 'a/../b', '..', '.', 'a/./b', 'a\0b'];
const BAD_PREFIXES = ['a', '/a/', '../', 'a//', 'a/../', './'];

for (const backend of backends) {
  describe(`ObjectStore contract (${backend.name})`, () => {
    before(() => backend.setup());
    after(() => backend.teardown());

    test('kind, root without a trailing slash, url of a key', async () => {
      const store = await backend.fresh();
      assert.equal(store.kind, backend.name);
      assert.ok(!store.root.endsWith('/'));
      assert.equal(store.url('a/b.tif'), `${store.root}/a/b.tif`);
    });

    test('put then get returns the same bytes; put resolves with the byte count', async () => {
      const store = await backend.fresh();
      const body = new Uint8Array(randomBytes(200_000));
      assert.equal(await store.put('x.bin', body, { contentType: 'application/octet-stream' }), body.byteLength);
      assert.deepEqual(await store.get('x.bin'), body);
    });

    test('a chunked body is stored as its concatenation (empty chunks included)', async () => {
      const store = await backend.fresh();
      const chunks = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(randomBytes(70_000)), new Uint8Array([255])];
      assert.equal(await store.put('c.bin', chunks), 70_004);
      assert.deepEqual(await store.get('c.bin'), new Uint8Array(Buffer.concat(chunks)));
      assert.equal(await store.put('empty.bin', []), 0);
      assert.deepEqual(await store.get('empty.bin'), new Uint8Array(0));
    });

    test('put replaces an existing object', async () => {
      const store = await backend.fresh();
      await store.put('k', new Uint8Array([1, 2, 3, 4]));
      await store.put('k', new Uint8Array([9]));
      assert.deepEqual(await store.get('k'), new Uint8Array([9]));
      assert.deepEqual(await collect(store.list('')), [{ key: 'k', size: 1 }]);
    });

    test('getRange: the bytes of one range; a missing key is undefined; a range past the end is IO; a bad range BAD_ARGUMENT', async () => {
      const store = await backend.fresh();
      const body = randomBytes(70_000);
      await store.put('s/shard.tar', body);
      assert.deepEqual(await store.getRange('s/shard.tar', 0, 10), new Uint8Array(body.subarray(0, 10)));
      assert.deepEqual(await store.getRange('s/shard.tar', 65_537, 4463), new Uint8Array(body.subarray(65_537)));
      assert.equal(await store.getRange('s/other.tar', 0, 10), undefined);
      await rejectsWith(store.getRange('s/shard.tar', 69_999, 2), 'IO');
      await rejectsWith(store.getRange('s/shard.tar', 70_000, 1), 'IO');
      await rejectsWith(store.getRange('s/shard.tar', -1, 2), 'BAD_ARGUMENT');
      await rejectsWith(store.getRange('s/shard.tar', 0, 0), 'BAD_ARGUMENT');
      await rejectsWith(store.getRange('s/shard.tar', 0.5, 2), 'BAD_ARGUMENT');
    });

    test('a missing key: get is undefined, exists is false, remove is a no-op', async () => {
      const store = await backend.fresh();
      assert.equal(await store.get('nope.tif'), undefined);
      assert.equal(await store.exists('nope.tif'), false);
      await store.remove('nope/deeper.tif');
      await store.put('there.tif', new Uint8Array([1]));
      assert.equal(await store.exists('there.tif'), true);
    });

    test('nested keys; a folder is not an object', async () => {
      const store = await backend.fresh();
      await store.put('a/b/c/d.tif', new Uint8Array([7, 7]));
      assert.equal(await store.exists('a/b/c/d.tif'), true);
      assert.deepEqual(await store.get('a/b/c/d.tif'), new Uint8Array([7, 7]));
      assert.equal(await store.exists('a/b'), false);
      assert.equal(await store.get('a/b'), undefined);
    });

    test('list: key order, sizes, keys relative to the root, a prefix vs the whole store', async () => {
      const store = await backend.fresh();
      const sizes: Record<string, number> = { 'c/d/e': 0, 'b.tif': 3, 'a/y/z.tif': 2, 'a/x.tif': 1, 'ab/w.tif': 4 };
      for (const [key, size] of Object.entries(sizes)) await store.put(key, new Uint8Array(size));
      const all = await collect(store.list(''));
      assert.deepEqual(all.map((e) => e.key), ['a/x.tif', 'a/y/z.tif', 'ab/w.tif', 'b.tif', 'c/d/e']);
      for (const e of all) assert.equal(e.size, sizes[e.key]);
      assert.deepEqual(await collect(store.list('a/')), [{ key: 'a/x.tif', size: 1 }, { key: 'a/y/z.tif', size: 2 }]);
      assert.deepEqual(await collect(store.list('a/y/')), [{ key: 'a/y/z.tif', size: 2 }]);
      assert.deepEqual(await collect(store.list('none/')), []);
    });

    test('an empty store lists nothing', async () => {
      const store = await backend.fresh();
      assert.deepEqual(await collect(store.list('')), []);
    });

    test('remove deletes one object and leaves the others', async () => {
      const store = await backend.fresh();
      await store.put('d/1', new Uint8Array([1]));
      await store.put('d/2', new Uint8Array([2]));
      await store.remove('d/1');
      assert.equal(await store.exists('d/1'), false);
      assert.deepEqual(await collect(store.list('')), [{ key: 'd/2', size: 1 }]);
    });

    test('removePrefix removes every object under a folder and counts them', async () => {
      const store = await backend.fresh();
      for (const key of ['u/1', 'u/2', 'u/v/3', 'uu/4', 'w/5']) await store.put(key, new Uint8Array([1]));
      assert.equal(await store.removePrefix('u/'), 3);
      assert.deepEqual((await collect(store.list(''))).map((e) => e.key), ['uu/4', 'w/5']);
      assert.equal(await store.removePrefix('u/'), 0);
      assert.equal(await store.removePrefix('never/'), 0);
    });

    test('bad keys and prefixes are BAD_ARGUMENT, and nothing is written', async () => {
      const store = await backend.fresh();
      for (const key of BAD_KEYS) {
        await rejectsWith(store.put(key, new Uint8Array([1])), 'BAD_ARGUMENT');
        await rejectsWith(store.get(key), 'BAD_ARGUMENT');
        await rejectsWith(store.exists(key), 'BAD_ARGUMENT');
        await rejectsWith(store.remove(key), 'BAD_ARGUMENT');
        await rejectsWith(() => store.url(key), 'BAD_ARGUMENT');
      }
      for (const prefix of BAD_PREFIXES) {
        await rejectsWith(collect(store.list(prefix)), 'BAD_ARGUMENT');
        await rejectsWith(store.removePrefix(prefix), 'BAD_ARGUMENT');
      }
      await rejectsWith(store.removePrefix(''), 'BAD_ARGUMENT');
      assert.deepEqual(await collect(store.list('')), []);
    });

    test('create writes only where nothing is: a version the first time, undefined after, the first bytes kept', async () => {
      const store = await backend.fresh();
      const v1 = await store.create('locks/u.json', bytes('first'));
      assert.equal(typeof v1, 'string');
      assert.equal(await store.create('locks/u.json', bytes('second')), undefined);
      assert.deepEqual(await store.get('locks/u.json'), bytes('first'));
      const read = await store.getVersioned('locks/u.json');
      assert.deepEqual(read?.body, bytes('first'));
      assert.equal(read?.version, v1);
      assert.ok(read && Math.abs(read.modified.getTime() - Date.now()) < 10 * 60_000, 'a modification time of today, not a placeholder');
      assert.equal(await store.getVersioned('locks/none.json'), undefined);
      await store.put('plain.json', bytes('x'));
      assert.equal(await store.create('plain.json', bytes('y')), undefined, 'an object written by put counts too');
      assert.deepEqual((await collect(store.list(''))).map((e) => e.key), ['locks/u.json', 'plain.json']);
    });

    test('24 racing creates of one key: exactly one gets a version, and its bytes are the ones stored', async () => {
      const store = await backend.fresh();
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => store.create('race.json', bytes(`writer ${i}`))));
      const winners = results.flatMap((v, i) => (v === undefined ? [] : [i]));
      assert.equal(winners.length, 1, `winners: ${winners.join(', ')}`);
      assert.deepEqual(await store.get('race.json'), bytes(`writer ${winners[0]}`));
      assert.equal((await store.getVersioned('race.json'))?.version, results[winners[0]!]);
    });

    test('replaceIf: the current version swaps the bytes and gives a new version; an old one or a missing key changes nothing', async () => {
      const store = await backend.fresh();
      const v1 = (await store.create('k.json', bytes('one')))!;
      const v2 = await store.replaceIf('k.json', v1, bytes('two'));
      assert.ok(v2 !== undefined && v2 !== v1);
      assert.deepEqual(await store.get('k.json'), bytes('two'));
      assert.equal(await store.replaceIf('k.json', v1, bytes('three')), undefined, 'a stale version is refused');
      assert.deepEqual(await store.get('k.json'), bytes('two'));
      assert.equal(await store.replaceIf('gone.json', v2, bytes('x')), undefined);
      assert.equal(await store.exists('gone.json'), false, 'replaceIf never creates');
      assert.deepEqual((await collect(store.list(''))).map((e) => e.key), ['k.json'], 'no temporary object left');
    });

    test('replaceIf with the same bytes keeps the version and refreshes the modification time', async () => {
      const store = await backend.fresh();
      const v1 = (await store.create('k.json', bytes('same')))!;
      const before = (await store.getVersioned('k.json'))!.modified;
      assert.equal(await store.replaceIf('k.json', v1, bytes('same')), v1);
      const after = (await store.getVersioned('k.json'))!;
      assert.equal(after.version, v1);
      assert.ok(after.modified.getTime() >= before.getTime());
      assert.deepEqual(after.body, bytes('same'));
    });

    test('12 racing replaceIf of one version: exactly one wins and its bytes are stored', async () => {
      const store = await backend.fresh();
      const v1 = (await store.create('cas.json', bytes('start')))!;
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => store.replaceIf('cas.json', v1, bytes(`breaker ${i}`))));
      const winners = results.flatMap((v, i) => (v === undefined ? [] : [i]));
      assert.equal(winners.length, 1, `winners: ${winners.join(', ')}`);
      assert.deepEqual(await store.get('cas.json'), bytes(`breaker ${winners[0]}`));
      assert.deepEqual((await collect(store.list(''))).map((e) => e.key), ['cas.json']);
    });

    test('removeIf: another version leaves the object; its own version removes it, once; racing removers: one wins', async () => {
      const store = await backend.fresh();
      const v1 = (await store.create('r.json', bytes('one')))!;
      const v2 = (await store.replaceIf('r.json', v1, bytes('two')))!;
      assert.equal(await store.removeIf('r.json', v1), false);
      assert.deepEqual(await store.get('r.json'), bytes('two'));
      assert.equal(await store.removeIf('r.json', v2), true);
      assert.equal(await store.exists('r.json'), false);
      assert.equal(await store.removeIf('r.json', v2), false);
      const v3 = (await store.create('r.json', bytes('three')))!;
      const removed = await Promise.all(Array.from({ length: 8 }, () => store.removeIf('r.json', v3)));
      assert.equal(removed.filter(Boolean).length, 1);
      assert.deepEqual(await collect(store.list('')), []);
    });

    test('a create racing a remove-and-create never leaves two writers believing they hold the key', async () => {
      // The lock pattern: holders remove their own version; newcomers create. Each round, every
      // successful create must be followed by the holder's removeIf succeeding, never by another create.
      const store = await backend.fresh();
      let holders = 0, maxHolders = 0;
      const wins = [0, 0, 0, 0];
      const worker = async (id: number): Promise<void> => {
        for (let attempt = 0; wins[id]! < 2 && attempt < 2000; attempt++) {
          const v = await store.create('mutex.json', bytes(`w${id} a${attempt}`));
          if (v === undefined) continue;
          holders++;
          maxHolders = Math.max(maxHolders, holders);
          wins[id]!++;
          await new Promise((r) => setImmediate(r));
          holders--;
          assert.equal(await store.removeIf('mutex.json', v), true, 'the holder removes its own version');
        }
      };
      await Promise.all([0, 1, 2, 3].map(worker));
      assert.equal(maxHolders, 1);
      assert.deepEqual(wins, [2, 2, 2, 2], 'every worker got its turns');
    });

    test('breakers of a stale object racing creators (the lock pattern), 6 racers, 30 rounds: never two winners', async () => {
      // Each racer creates; when the key holds the stale marker it swaps it by replaceIf of the version it
      // read; when the key is missing it creates again. A winner is a racer whose create or replaceIf
      // answered a version. A replaceIf that leaves the key missing for an instant lets a create in: two.
      const store = await backend.fresh();
      for (let round = 0; round < 30; round++) {
        await store.put('stale.json', bytes('stale'));
        const racer = async (id: number): Promise<boolean> => {
          const mine = bytes(`racer ${id} round ${round}`);
          for (let attempt = 0; attempt < 50; attempt++) {
            if ((await store.create('stale.json', mine)) !== undefined) return true;
            const found = await store.getVersioned('stale.json');
            if (found === undefined) continue;
            if (new TextDecoder().decode(found.body) !== 'stale') return false;
            if ((await store.replaceIf('stale.json', found.version, mine)) !== undefined) return true;
          }
          return false;
        };
        const won = await Promise.all(Array.from({ length: 6 }, (_, i) => racer(i)));
        const winners = won.flatMap((w, i) => (w ? [i] : []));
        assert.equal(winners.length, 1, `round ${round}: winners ${winners.join(', ')}`);
        assert.deepEqual(await store.get('stale.json'), bytes(`racer ${winners[0]} round ${round}`));
        assert.deepEqual((await collect(store.list(''))).map((e) => e.key), ['stale.json'], 'no claim or temporary file listed');
      }
    });

    test('conditional calls: bad keys are BAD_ARGUMENT; an aborted signal is the abort code; nothing written', async () => {
      const store = await backend.fresh();
      for (const key of BAD_KEYS) {
        await rejectsWith(store.create(key, bytes('x')), 'BAD_ARGUMENT');
        await rejectsWith(store.getVersioned(key), 'BAD_ARGUMENT');
        await rejectsWith(store.replaceIf(key, 'v', bytes('x')), 'BAD_ARGUMENT');
        await rejectsWith(store.removeIf(key, 'v'), 'BAD_ARGUMENT');
      }
      const v = (await store.create('kept.json', bytes('kept')))!;
      const signal = AbortSignal.abort();
      await rejectsWith(store.create('new.json', bytes('x'), { signal }), 'HTTP_ABORTED');
      await rejectsWith(store.getVersioned('kept.json', { signal }), 'HTTP_ABORTED');
      await rejectsWith(store.replaceIf('kept.json', v, bytes('y'), { signal }), 'HTTP_ABORTED');
      await rejectsWith(store.removeIf('kept.json', v, { signal }), 'HTTP_ABORTED');
      assert.deepEqual(await collect(store.list('')), [{ key: 'kept.json', size: 4 }]);
    });

    test('an aborted signal stops every call with the abort code and writes nothing', async () => {
      const store = await backend.fresh();
      await store.put('kept', new Uint8Array([1]));
      const signal = AbortSignal.abort();
      await rejectsWith(store.put('k', new Uint8Array([1]), { signal }), 'HTTP_ABORTED');
      await rejectsWith(store.get('kept', { signal }), 'HTTP_ABORTED');
      await rejectsWith(store.exists('kept', { signal }), 'HTTP_ABORTED');
      await rejectsWith(store.remove('kept', { signal }), 'HTTP_ABORTED');
      await rejectsWith(collect(store.list('', { signal })), 'HTTP_ABORTED');
      await rejectsWith(store.removePrefix('x/', { signal }), 'HTTP_ABORTED');
      assert.deepEqual(await collect(store.list('')), [{ key: 'kept', size: 1 }]);
    });
  });
}
