/** The local-folder store beyond the shared contract: temporary files, key order on disk, file-system errors. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { partialPath } from '../../../core/atomic-file.ts';
import { isClayError } from '../../../core/errors.ts';
import { CLAIM_STALE_MS, LocalStore, claimPath } from '../../../core/store/local-store.ts';
import type { StoreEntry } from '../../../core/store/store.ts';

let dir = '';
let n = 0;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'clay-local-store-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const fresh = (): LocalStore => new LocalStore(join(dir, `t${n++}`));

async function collect(it: AsyncIterable<StoreEntry>): Promise<StoreEntry[]> {
  const out: StoreEntry[] = [];
  for await (const entry of it) out.push(entry);
  return out;
}

test('put leaves exactly the finished file, no temporary sibling', async () => {
  const store = fresh();
  await store.put('a/x.tif', [new Uint8Array([1, 2]), new Uint8Array([3])]);
  assert.deepEqual(await readdir(join(store.root, 'a')), ['x.tif']);
  assert.equal((await stat(join(store.root, 'a/x.tif'))).size, 3);
});

test('conditional calls leave exactly the key on disk; a version names the file, not only its bytes', async () => {
  const store = fresh();
  const v1 = (await store.create('l/u.json', new Uint8Array([1])))!;
  const v2 = (await store.replaceIf('l/u.json', v1, new Uint8Array([2])))!;
  assert.equal(await store.replaceIf('l/u.json', v2, new Uint8Array([2])), v2, 'same bytes: touched in place');
  assert.deepEqual(await readdir(join(store.root, 'l')), ['u.json']);
  assert.equal(await store.replaceIf('l/u.json', v1, new Uint8Array([3])), undefined);
  assert.deepEqual(await readdir(join(store.root, 'l')), ['u.json'], 'a refused swap puts the file back and leaves nothing aside');
  // The same bytes in another file (rewritten by someone else) are another version.
  await store.put('l/u.json', new Uint8Array([2]));
  assert.equal(await store.removeIf('l/u.json', v2), false);
  assert.deepEqual(await readdir(join(store.root, 'l')), ['u.json']);
  const v3 = (await store.getVersioned('l/u.json'))!.version;
  assert.notEqual(v3, v2);
  assert.equal(await store.removeIf('l/u.json', v3), true);
  assert.deepEqual(await readdir(join(store.root, 'l')), []);
});

test('a swap never leaves the key missing: a create running beside 300 replaceIf calls never gets in', async () => {
  // The window that would let a second lock holder in: a replaceIf that moves the old file away before
  // the new one is in place. Here every create must find the key taken.
  const store = fresh();
  let version = (await store.create('w/lock.json', new Uint8Array([0])))!;
  let done = false, creates = 0, missing = 0;
  const prober = (async () => {
    while (!done) {
      creates++;
      if ((await store.create('w/lock.json', new Uint8Array([9]))) !== undefined) missing++;
    }
  })();
  for (let i = 1; i <= 300; i++) version = (await store.replaceIf('w/lock.json', version, new Uint8Array([i % 256, i >> 8])))!;
  done = true;
  await prober;
  assert.ok(creates > 50, `the prober ran (${creates} creates)`);
  assert.equal(missing, 0, `${missing} of ${creates} creates found the key missing`);
  assert.equal((await store.getVersioned('w/lock.json'))!.version, version);
  assert.deepEqual(await readdir(join(store.root, 'w')), ['lock.json'], 'no claim or temporary file left');
});

test('a version\'s claim: held fresh, the swap and the removal are refused; left by a crash (older than the bound), passed', async () => {
  const store = fresh();
  const path = store.url('c/lock.json');
  const v1 = (await store.create('c/lock.json', new Uint8Array([1])))!;
  // Another caller is acting on v1: it holds the claim.
  const claim = claimPath(path, v1);
  await writeFile(claim, '4242\n');
  assert.equal(await store.replaceIf('c/lock.json', v1, new Uint8Array([2])), undefined);
  assert.equal(await store.removeIf('c/lock.json', v1), false);
  assert.deepEqual(await store.get('c/lock.json'), new Uint8Array([1]), 'the file is untouched');
  assert.deepEqual(await collect(store.list('')), [{ key: 'c/lock.json', size: 1 }], 'a claim is never listed');
  // That caller died holding it: past CLAIM_STALE_MS the next generation is used, and both claims go.
  const old = new Date(Date.now() - CLAIM_STALE_MS - 5000);
  await utimes(claim, old, old);
  const v2 = await store.replaceIf('c/lock.json', v1, new Uint8Array([2]));
  assert.ok(v2 !== undefined && v2 !== v1);
  assert.deepEqual(await store.get('c/lock.json'), new Uint8Array([2]));
  assert.deepEqual(await readdir(join(store.root, 'c')), ['lock.json'], 'the stale claim is removed with the new one');
  // The same for removeIf, with two generations of stale claims.
  for (const g of [0, 1]) {
    await writeFile(claimPath(path, v2, g), '4243\n');
    await utimes(claimPath(path, v2, g), old, old);
  }
  assert.equal(await store.removeIf('c/lock.json', v2), true);
  assert.deepEqual(await readdir(join(store.root, 'c')), []);
});

test('the leftover of an interrupted write is not listed, not an object, and goes with removePrefix', async () => {
  const store = fresh();
  await store.put('a/done.tif', new Uint8Array([1]));
  // A writer that died between writing and renaming leaves its temporary sibling behind.
  const leftover = partialPath(store.url('a/x.tif'));
  await writeFile(leftover, new Uint8Array(10));
  assert.deepEqual(await collect(store.list('')), [{ key: 'a/done.tif', size: 1 }]);
  assert.equal(await store.exists('a/x.tif'), false);
  assert.equal(await store.get('a/x.tif'), undefined);
  assert.equal(await store.removePrefix('a/'), 1);
  await assert.rejects(stat(leftover), { code: 'ENOENT' });
  await assert.rejects(stat(join(store.root, 'a')), { code: 'ENOENT' });
});

test('a key named like a temporary file is refused', async () => {
  const store = fresh();
  const name = basename(partialPath(store.url('a/x.tif')));
  await assert.rejects(store.put(`a/${name}`, new Uint8Array([1])), (err) => isClayError(err, 'BAD_ARGUMENT'));
  assert.deepEqual(await collect(store.list('')), []);
});

test('list follows full-key byte order, not folder-by-folder order', async () => {
  const store = fresh();
  for (const key of ['a0', 'a/b/d', 'a-c', 'a/b-c', 'a/b.c', 'a/a']) await store.put(key, new Uint8Array([1]));
  assert.deepEqual((await collect(store.list(''))).map((e) => e.key), ['a-c', 'a/a', 'a/b-c', 'a/b.c', 'a/b/d', 'a0']);
});

test('a key cannot also be a folder on disk: the second put is an IO error', async () => {
  const store = fresh();
  await store.put('a/b', new Uint8Array([1]));
  await assert.rejects(store.put('a/b/c', new Uint8Array([1])), (err) => isClayError(err, 'IO'));
  await store.put('x/y/z', new Uint8Array([1]));
  await assert.rejects(store.put('x/y', new Uint8Array([1])), (err) => isClayError(err, 'IO'));
  assert.deepEqual((await collect(store.list(''))).map((e) => e.key), ['a/b', 'x/y/z']);
});

test('list is lazy: breaking out early is fine and later calls still work', async () => {
  const store = fresh();
  for (const key of ['p/1', 'p/2', 'p/3']) await store.put(key, new Uint8Array([1]));
  for await (const entry of store.list('p/')) {
    assert.equal(entry.key, 'p/1');
    break;
  }
  assert.equal((await collect(store.list('p/'))).length, 3);
});

test('a store whose folder does not exist yet lists nothing and creates it on the first put', async () => {
  const store = new LocalStore(join(dir, `t${n++}`, 'deep', 'er'));
  assert.deepEqual(await collect(store.list('')), []);
  await store.put('k', new Uint8Array([5]));
  assert.deepEqual(await store.get('k'), new Uint8Array([5]));
});

test('a folder that cannot be written is an IO error naming the path', async () => {
  // As root, mode bits do not stop writes: put the store under a regular file instead (ENOTDIR).
  const asRoot = process.getuid?.() === 0;
  let root: string;
  if (asRoot) {
    const file = join(dir, `file${n++}`);
    await writeFile(file, 'not a folder');
    root = join(file, 'store');
  } else {
    root = join(dir, `ro${n++}`);
    await mkdir(root);
    await chmod(root, 0o555);
  }
  const store = new LocalStore(root);
  try {
    await assert.rejects(store.put('a/b.tif', new Uint8Array([1])), (err: unknown) => {
      assert.ok(isClayError(err, 'IO'));
      assert.equal(err.input, join(root, 'a/b.tif'));
      assert.ok(err.message.includes(join(root, 'a/b.tif')));
      assert.ok(err.cause instanceof Error);
      return true;
    });
    assert.deepEqual(await collect(store.list('')), []);
  } finally {
    if (!asRoot) await chmod(root, 0o755);
  }
});

test('listing a folder that cannot be read is an IO error', async () => {
  const store = fresh();
  await store.put('a/b', new Uint8Array([1]));
  // Make a/ unreadable; as root, mode bits do not stop reads, so list through a symlink loop (ELOOP) instead.
  if (process.getuid?.() === 0) {
    await symlink('loop', join(store.root, 'loop'));
    await assert.rejects(collect(store.list('')), (err: unknown) => isClayError(err, 'IO') && err.input === join(store.root, 'loop'));
  } else {
    await chmod(join(store.root, 'a'), 0o000);
    try {
      await assert.rejects(collect(store.list('')), (err: unknown) => isClayError(err, 'IO') && err.input === join(store.root, 'a'));
    } finally {
      await chmod(join(store.root, 'a'), 0o755);
    }
  }
});
