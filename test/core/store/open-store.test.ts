/** openStore: which location strings open which store, and which are refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isClayError } from '../../../core/errors.ts';
import { openStore, openStoreFile } from '../../../core/store/open-store.ts';

const env = { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' };

test('a path or a file:// URL opens a local store at an absolute root', async () => {
  const dir = join(tmpdir(), 'clay-open-store', 'out');
  for (const location of [dir, `${dir}/`, pathToFileURL(dir).href]) {
    const store = await openStore(location);
    assert.equal(store.kind, 'file');
    assert.equal(store.root, dir);
  }
  const relative = await openStore('some/out');
  assert.equal(relative.root, resolve('some/out'));
});

test('s3://bucket[/prefix] opens an S3 store; the root has no trailing slash', async () => {
  const cases: [string, string][] = [
    ['s3://my-bucket', 's3://my-bucket'],
    ['s3://my-bucket/', 's3://my-bucket'],
    ['s3://my-bucket/chips/v1', 's3://my-bucket/chips/v1'],
    ['s3://my-bucket/chips/v1/', 's3://my-bucket/chips/v1'],
  ];
  for (const [location, root] of cases) {
    const store = await openStore(location, { env });
    assert.equal(store.kind, 's3');
    assert.equal(store.root, root);
    assert.equal(store.url('a/b.tif'), `${root}/a/b.tif`);
  }
});

test('anything else is BAD_ARGUMENT naming the location', async () => {
  const bad = [
    '', '   ', 'http://example.org/out', 'https://bucket.s3.amazonaws.com/x', 'gs://bucket/x', 's3://', 's3:///prefix', 's3:/bucket/x',
    's3://a/x', 's3://bucket/a//b', 's3://bucket/../x', 's3://bucket/a/./b', 's3://bu?ket/x', 'file://remote-host/x',
  ];
  for (const location of bad) {
    await assert.rejects(openStore(location, { env }), (err: unknown) => isClayError(err, 'BAD_ARGUMENT') && err.input === location, location);
  }
});

test('openStoreFile: a file location is a key in the store of its folder; folders are BAD_ARGUMENT', async () => {
  const dir = join(tmpdir(), 'clay-open-store', 'out');
  for (const location of [join(dir, 'e.parquet'), pathToFileURL(join(dir, 'e.parquet')).href]) {
    const { store, key } = await openStoreFile(location);
    assert.deepEqual([store.kind, store.root, key, store.url(key)], ['file', dir, 'e.parquet', join(dir, 'e.parquet')]);
  }
  const rel = await openStoreFile('e.parquet');
  assert.equal(rel.store.url(rel.key), resolve('e.parquet'));
  const s3 = await openStoreFile('s3://my-bucket/runs/1/e.parquet', { env });
  assert.deepEqual([s3.store.kind, s3.store.root, s3.key, s3.store.url(s3.key)], ['s3', 's3://my-bucket/runs/1', 'e.parquet', 's3://my-bucket/runs/1/e.parquet']);
  const top = await openStoreFile('s3://my-bucket/e.parquet', { env });
  assert.equal(top.store.url(top.key), 's3://my-bucket/e.parquet');
  for (const location of ['s3://my-bucket', 's3://my-bucket/', `${dir}/`, '']) {
    await assert.rejects(openStoreFile(location, { env }), (e) => isClayError(e, 'BAD_ARGUMENT'), location);
  }
});
