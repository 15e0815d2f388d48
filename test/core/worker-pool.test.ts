import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClayError } from '../../core/errors.ts';
import { WorkerPool } from '../../core/worker-pool.ts';
import type { PoolTestRequest } from '../helpers/pool-worker.ts';

interface Reply {
  value: number;
  thread: number;
  bytes: Float32Array;
}

const workerUrl = new URL('../helpers/pool-worker.ts', import.meta.url);

test('WorkerPool: replies come back to their own requests, spread over at most `size` workers', async () => {
  const pool = new WorkerPool<PoolTestRequest, Reply>(workerUrl, 2, 'test');
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => pool.run({ op: i % 4 === 0 ? 'spin' : 'echo', value: i % 4 === 0 ? 20 : i })));
  replies.forEach((r, i) => {
    const want = i % 4 === 0 ? 20 : i;
    assert.equal(r.value, want);
    // The transferred buffer arrived whole.
    assert.deepEqual([...r.bytes], [want, r.thread]);
  });
  const threads = new Set(replies.map((r) => r.thread));
  assert.equal(threads.size, 2, `40 requests at once used ${threads.size} workers, want both`);
});

test('WorkerPool: a heavy request steers the next ones to the other worker', async () => {
  const pool = new WorkerPool<PoolTestRequest, Reply>(workerUrl, 2, 'test');
  // Start both workers.
  await Promise.all([pool.run({ op: 'echo', value: 0 }), pool.run({ op: 'echo', value: 1 })]);
  const heavy = pool.run({ op: 'spin', value: 400 }, [], 100);
  const light = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.run({ op: 'echo', value: i }, [], 1)));
  const h = await heavy;
  for (const r of light) assert.notEqual(r.thread, h.thread, 'a light request waited behind the heavy one');
});

test('WorkerPool: a handler error rejects that request only, with its message; the worker serves on', async () => {
  const pool = new WorkerPool<PoolTestRequest, Reply>(workerUrl, 1, 'test');
  const [bad, good] = await Promise.allSettled([pool.run({ op: 'throw', value: 5 }), pool.run({ op: 'echo', value: 6 })]);
  assert.equal(bad.status, 'rejected');
  assert.match(String((bad as PromiseRejectedResult).reason), /test worker: cannot take 5/);
  assert.ok(!((bad as PromiseRejectedResult).reason instanceof ClayError), 'a handler error is for the caller to classify');
  assert.equal(good.status, 'fulfilled');
  assert.equal((good as PromiseFulfilledResult<Reply>).value.value, 6);
});

test('WorkerPool: a worker that exits fails its pending requests as INTERNAL, and a new worker takes the next', async () => {
  const pool = new WorkerPool<PoolTestRequest, Reply>(workerUrl, 1, 'test');
  const first = await pool.run({ op: 'echo', value: 1 });
  await assert.rejects(pool.run({ op: 'exit', value: 0 }), (err: unknown) => {
    assert.ok(err instanceof ClayError);
    assert.equal(err.code, 'INTERNAL');
    assert.match(err.message, /test worker stopped: exit code 7/);
    return true;
  });
  const next = await pool.run({ op: 'echo', value: 2 });
  assert.equal(next.value, 2);
  assert.notEqual(next.thread, first.thread);
});
