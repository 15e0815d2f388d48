/**
 * Unit locks (pipeline/run/unit-lock.ts) on both stores, a local folder and a loopback S3 server: taken,
 * refused to a second run, released; broken when stale (a gone process on this host, an old refresh, an
 * earlier attempt of the same job task) by exactly one of several racing breakers; a holder that lost its
 * lock notices and does not remove its successor's; waiting; and a server that ignores conditional writes
 * (plain s3rver) is detected. Runs in one process stand for several by taking distinct identities (hosts
 * that are not this one, so only age and job rules apply to them).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isClayError } from '../../../core/errors.ts';
import { createLogger, type Logger } from '../../../core/log.ts';
import { processGone } from '../../../core/process-state.ts';
import { openStore } from '../../../core/store/open-store.ts';
import type { ObjectStore } from '../../../core/store/store.ts';
import {
  lockIdentity, parseLockHolder, staleReason, unitLockKey, UnitLocks, type HeldLock, type LockHolder, type LockIdentity, type UnitRef,
} from '../../../pipeline/run/unit-lock.ts';
import { startS3, type S3Server } from '../../helpers/s3.ts';

const UNIT: UnitRef = { index: 4, mgrs: '31TGL', date: '2021-06-15' };
const KEY = unitLockKey(UNIT.mgrs, UNIT.date);

/** A logger that keeps its events, and calls `on` with each. */
function recorder(on?: (e: Record<string, unknown>) => void): { logger: Logger; events: Record<string, unknown>[] } {
  const events: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', pretty: false, write: (line) => {
    const e = JSON.parse(line) as Record<string, unknown>;
    events.push(e);
    on?.(e);
  } });
  return { logger, events };
}

/** Another run on another host. */
const elsewhere = (name: string, extra: Partial<LockIdentity> = {}): LockIdentity => ({ host: `host-${name}`, pid: 4242, runId: `run-${name}-${Math.random().toString(16).slice(2)}`, ...extra });

/** A lock body written straight into the store, as a run that died would have left it. */
async function plant(store: ObjectStore, holder: Partial<LockHolder>): Promise<void> {
  const body: LockHolder = {
    lockVersion: 1, unit: '02/31TGL/2021-06-15/', row: UNIT.index, host: 'host-dead', pid: 4242, runId: 'run-dead',
    started: new Date().toISOString(), token: 'planted', ...holder,
  };
  assert.ok(await store.create(KEY, new TextEncoder().encode(JSON.stringify(body))));
}

async function holderIn(store: ObjectStore): Promise<LockHolder | undefined> {
  const v = await store.getVersioned(KEY);
  return v && parseLockHolder(v.body);
}

/** The pid of a process that ran and was reaped: gone. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve(child.pid!));
  });
}

test('processGone: a reaped child is gone; this process and bad pids are not', async () => {
  assert.equal(processGone(await deadPid()), true);
  assert.equal(processGone(process.pid), false);
  for (const pid of [0, -1, 1.5, Number.NaN]) assert.equal(processGone(pid), false);
});

test('staleReason: process rules on this host only, the job rule, then age', () => {
  const me: LockIdentity = { host: 'h', pid: 100, pidNamespace: 'pid:[1]', runId: 'me', job: 'job-7' };
  const h = (over: Partial<LockHolder>): LockHolder => ({ lockVersion: 1, unit: 'u/', row: 3, host: 'h', pid: 200, pidNamespace: 'pid:[1]', runId: 'other', started: '', token: 't', ...over });
  const probes = { gone: (pid: number) => pid === 200, runsHere: (id: string) => id === 'me' || id === 'sibling' };
  const stale = 60_000;
  assert.match(staleReason(h({}), 0, me, 3, stale, probes) ?? '', /process 200 on this host is gone/);
  assert.equal(staleReason(h({ pid: 201 }), 0, me, 3, stale, probes), undefined, 'alive');
  assert.equal(staleReason(h({ host: 'other-host' }), 0, me, 3, stale, probes), undefined, 'a pid on another host means nothing');
  assert.equal(staleReason(h({ pidNamespace: 'pid:[2]' }), 0, me, 3, stale, probes), undefined, 'nor in another PID namespace');
  assert.match(staleReason(h({ pid: 100, runId: 'gone-run' }), 0, me, 3, stale, probes) ?? '', /this process now/);
  assert.equal(staleReason(h({ pid: 100, runId: 'sibling' }), 0, me, 3, stale, probes), undefined, 'another live run of this process');
  assert.equal(staleReason(h({ runId: 'me', pid: 100 }), 10 * stale, me, 3, stale, probes), undefined, 'its own lock');
  assert.match(staleReason(h({ host: 'x', job: 'job-7' }), 0, me, 3, stale, probes) ?? '', /earlier attempt of this array-job task/);
  assert.equal(staleReason(h({ host: 'x', job: 'job-7' }), 0, me, 4, stale, probes), undefined, 'the same job, another row');
  assert.equal(staleReason(h({ host: 'x', job: 'job-8' }), 0, me, 3, stale, probes), undefined);
  assert.match(staleReason(h({ host: 'x' }), stale + 1000, me, 3, stale, probes) ?? '', /not refreshed for 61 s/);
  assert.equal(staleReason(undefined, stale - 1, me, 3, stale, probes), undefined, 'an unreadable lock stands until stale');
  assert.match(staleReason(undefined, stale + 1, me, 3, stale, probes) ?? '', /unreadable/);
});

test('lockIdentity: this host and pid, a fresh run id, the job from AWS_BATCH_JOB_ID else CLAY_JOB_ID', () => {
  const a = lockIdentity({ AWS_BATCH_JOB_ID: 'abc:3', CLAY_JOB_ID: 'k8s' });
  assert.deepEqual([a.host, a.pid, a.job], [hostname(), process.pid, 'abc:3']);
  assert.equal(lockIdentity({ CLAY_JOB_ID: 'k8s' }).job, 'k8s');
  assert.equal(lockIdentity({}).job, undefined);
  assert.notEqual(lockIdentity({}).runId, a.runId);
});

interface Backend { name: string; setup(): Promise<void>; fresh(): Promise<ObjectStore>; teardown(): Promise<void> }
let n = 0;
const backends: Backend[] = [
  (() => {
    let dir = '';
    return {
      name: 'file',
      async setup() { dir = await mkdtemp(join(tmpdir(), 'clay-locks-')); },
      fresh: () => openStore(join(dir, `t${n++}`)),
      async teardown() { await rm(dir, { recursive: true, force: true }); },
    };
  })(),
  (() => {
    let s3: S3Server | undefined;
    return {
      name: 's3',
      async setup() { s3 = await startS3(); },
      fresh: () => openStore(`s3://${s3?.bucket}/locks/t${n++}`, { env: s3?.env ?? {} }),
      async teardown() { await s3?.close(); },
    };
  })(),
];

for (const backend of backends) {
  describe(`unit locks (${backend.name})`, () => {
    before(() => backend.setup());
    after(() => backend.teardown());

    test('taken, refused to a second run naming the holder, released; then the second takes it', async () => {
      const store = await backend.fresh();
      const a = new UnitLocks({ store, identity: elsewhere('a') });
      const b = new UnitLocks({ store, identity: elsewhere('b') });
      assert.deepEqual(await a.support(), { create: true, replace: true, remove: true });
      const got = await a.acquire(UNIT);
      assert.ok('held' in got);
      assert.equal(got.held.url, store.url(KEY));
      const body = await holderIn(store);
      assert.deepEqual([body?.host, body?.runId, body?.row, body?.unit], [a.identity.host, a.identity.runId, 4, '02/31TGL/2021-06-15/']);
      const refused = await b.acquire(UNIT);
      assert.ok('lockedOut' in refused);
      assert.equal(refused.lockedOut.holder?.runId, a.identity.runId);
      assert.equal(refused.lockedOut.waitedMs < 1000, true, 'no wait without --wait-locked');
      await got.held.release();
      assert.equal(await store.exists(KEY), false);
      const again = await b.acquire(UNIT);
      assert.ok('held' in again);
      await again.held.release();
      const left: string[] = [];
      for await (const e of store.list('')) left.push(e.key);
      assert.deepEqual(left, [], 'no lock and no probe object left');
    });

    test('a lock of a process of this host that is gone is broken with Run:LockBroken; the lock is the breaker\'s', async () => {
      const store = await backend.fresh();
      const pid = await deadPid();
      await plant(store, { host: hostname(), pid, runId: 'crashed' });
      const { logger, events } = recorder();
      const locks = new UnitLocks({ store, logger });
      const got = await locks.acquire(UNIT);
      assert.ok('held' in got);
      assert.match(got.held.broke?.reason ?? '', new RegExp(`process ${pid} on this host is gone`));
      const broken = events.find((e) => e.event === 'Run:LockBroken');
      assert.equal(broken?.level, 'warn');
      assert.match(String(broken?.holder), new RegExp(`pid ${pid} \\(run crashed`));
      assert.equal((await holderIn(store))?.runId, locks.identity.runId);
      await got.held.release();
    });

    test('six runs breaking one stale lock at once: exactly one holds it, the others are refused naming it', async () => {
      const store = await backend.fresh();
      await plant(store, { host: hostname(), pid: await deadPid() });
      // Six runs of this process (this host and pid, each its own run id): each sees the dead pid.
      const runs = Array.from({ length: 6 }, () => new UnitLocks({ store }));
      const results = await Promise.all(runs.map((r) => r.acquire(UNIT)));
      const held = results.flatMap((r, i) => ('held' in r ? [i] : []));
      assert.equal(held.length, 1, `holders: ${held.join(', ')}`);
      const winner = runs[held[0]!]!.identity.runId;
      assert.equal((await holderIn(store))?.runId, winner);
      for (const r of results) if ('lockedOut' in r) assert.equal(r.lockedOut.holder?.runId, winner);
      for (const r of results) if ('held' in r) await r.held.release();
    });

    test('an old lock from another host: refused while fresh; broken once not refreshed for --lock-stale (waiting for it)', async () => {
      const store = await backend.fresh();
      await plant(store, { host: 'host-far' });
      const fresh = await new UnitLocks({ store, identity: elsewhere('c'), staleMs: 60_000 }).acquire(UNIT);
      assert.ok('lockedOut' in fresh);
      const { logger, events } = recorder();
      // S3's Last-Modified has whole seconds, so an age read there is up to 1 s more than the true one: the
      // bound leaves room for that and for the look above, so the first look finds the lock fresh.
      const got = await new UnitLocks({ store, identity: elsewhere('d'), staleMs: 3000, waitMs: 30_000, logger }).acquire(UNIT);
      assert.ok('held' in got);
      assert.match(got.held.broke?.reason ?? '', /not refreshed for \d+ s \(stale after 3 s\)/);
      assert.deepEqual(events.map((e) => e.event), ['Run:Lock:Wait', 'Run:LockBroken']);
      await got.held.release();
    });

    test('the holder refreshes its lock, so a live holder never looks stale', async () => {
      const store = await backend.fresh();
      const a = new UnitLocks({ store, identity: elsewhere('e'), staleMs: 1000, refreshMs: 200 });
      const got = await a.acquire(UNIT);
      assert.ok('held' in got);
      const m0 = (await store.getVersioned(KEY))!.modified.getTime();
      let m = m0;
      for (let i = 0; i < 100 && m <= m0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        m = (await store.getVersioned(KEY))!.modified.getTime();
      }
      assert.ok(m > m0, 'the modification time moved');
      // A run that waits 4 s with a 2.5 s stale bound still finds it held: refreshed all along (every 0.2 s;
      // the bound leaves room for S3's whole-second Last-Modified).
      const b = await new UnitLocks({ store, identity: elsewhere('f'), staleMs: 2500, waitMs: 4000 }).acquire(UNIT);
      assert.ok('lockedOut' in b, 'not broken while refreshed');
      assert.ok(b.lockedOut.waitedMs >= 4000);
      await got.held.release();
    });

    test('a holder whose lock was taken over: its lost signal fires with LOCK_LOST, and its release leaves the new lock', async () => {
      const store = await backend.fresh();
      const first = new UnitLocks({ store, identity: elsewhere('g', { job: 'batch-1:4' }), refreshMs: 100 });
      const a = await first.acquire(UNIT);
      assert.ok('held' in a);
      // A later attempt of the same array-job task: the engine only starts it after the first ended.
      const { logger, events } = recorder();
      const b = await new UnitLocks({ store, identity: elsewhere('h', { job: 'batch-1:4' }), logger }).acquire(UNIT);
      assert.ok('held' in b);
      assert.match(b.held.broke?.reason ?? '', /earlier attempt of this array-job task \(batch-1:4\)/);
      assert.equal(events.find((e) => e.event === 'Run:LockBroken')?.level, 'warn');
      // The refresh timer does not keep a process alive (a forgotten lock must not hang one): this wait does.
      const alive = setInterval(() => undefined, 1000);
      const reason = await new Promise<unknown>((resolve) => {
        if (a.held.lost.aborted) resolve(a.held.lost.reason);
        a.held.lost.addEventListener('abort', () => resolve(a.held.lost.reason), { once: true });
      }).finally(() => clearInterval(alive));
      assert.ok(isClayError(reason, 'LOCK_LOST'));
      await a.held.release();
      assert.equal((await holderIn(store))?.host, 'host-h', "the successor's lock stays");
      await b.held.release();
      assert.equal(await store.exists(KEY), false);
    });

    test('--wait-locked: a waiting run takes the lock once the holder releases it; past its bound it is refused', async () => {
      const store = await backend.fresh();
      const a = await new UnitLocks({ store, identity: elsewhere('i') }).acquire(UNIT);
      assert.ok('held' in a);
      const short = await new UnitLocks({ store, identity: elsewhere('j'), waitMs: 300, pollMs: 50 }).acquire(UNIT);
      assert.ok('lockedOut' in short);
      assert.ok(short.lockedOut.waitedMs >= 300);
      let released: Promise<void> | undefined;
      const holder: HeldLock = a.held;
      const { logger } = recorder((e) => {
        if (e.event === 'Run:Lock:Wait') released = holder.release();
      });
      const b = await new UnitLocks({ store, identity: elsewhere('k'), waitMs: 30_000, pollMs: 50, logger }).acquire(UNIT);
      assert.ok(released, 'it waited');
      assert.ok('held' in b);
      assert.equal(b.held.broke, undefined, 'released, not broken');
      await b.held.release();
    });

    test('an abort while waiting rejects with the abort code', async () => {
      const store = await backend.fresh();
      const a = await new UnitLocks({ store, identity: elsewhere('l') }).acquire(UNIT);
      assert.ok('held' in a);
      const controller = new AbortController();
      const { logger } = recorder((e) => {
        if (e.event === 'Run:Lock:Wait') controller.abort();
      });
      await assert.rejects(new UnitLocks({ store, identity: elsewhere('m'), waitMs: 30_000, pollMs: 50, logger }).acquire(UNIT, controller.signal), (err: unknown) => isClayError(err, 'HTTP_ABORTED'));
      await a.held.release();
    });
  });
}

test('a server that ignores conditional writes (plain s3rver): Run:Lock:Degraded; a held lock is still seen before writing', async () => {
  const s3 = await startS3({ conditionalWrites: false });
  try {
    const store = await openStore(`s3://${s3.bucket}/plain`, { env: s3.env });
    const { logger, events } = recorder();
    const a = new UnitLocks({ store, identity: elsewhere('n'), logger });
    assert.deepEqual(await a.support(), { create: false, replace: false, remove: false });
    const degraded = events.find((e) => e.event === 'Run:Lock:Degraded');
    assert.equal(degraded?.level, 'warn');
    assert.deepEqual(degraded?.ignored, ['If-None-Match on PUT', 'If-Match on PUT', 'If-Match on DELETE']);
    const got = await a.acquire(UNIT);
    assert.ok('held' in got);
    const b = await new UnitLocks({ store, identity: elsewhere('o') }).acquire(UNIT);
    assert.ok('lockedOut' in b, 'the check before the write still sees a lock taken earlier');
    await got.held.release();
  } finally {
    await s3.close();
  }
});
