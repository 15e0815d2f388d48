/** The local-folder store beyond the shared contract: temporary files, key order on disk, file-system errors. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { partialPath } from '../../../core/atomic-file.ts';
import { isClayError } from '../../../core/errors.ts';
import { LocalStore } from '../../../core/store/local-store.ts';
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
