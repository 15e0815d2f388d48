/**
 * One writer per unit, with real `clay run` processes on one unit (row 0 with `--dates 1`: one unit of
 * 20 chips) against the loopback Planetary Computer, to a folder and to a loopback S3 server. What the
 * tests do between the processes is keyed on their own events: the first is paused (SIGSTOP) once it
 * says `Run:Unit:Start` (its lock is held, its chips begun), so the second meets the lock however loaded
 * the machine. Before locks, the second cleared the first's chips and the first failed with ENOENT.
 * Every output is compared with a single uninterrupted run's (sha256 of every file; manifests without
 * their `run` timings).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import type { RunSummary } from '../../cli/commands/run.ts';
import type { StatusReport } from '../../cli/commands/status.ts';
import { unitLockKey, type LockHolder } from '../../pipeline/run/unit-lock.ts';
import { runCli } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { eventsNamed, startRun, type LiveRun, type LiveRunResult } from '../helpers/live-run.ts';
import { compareDigests, digest } from '../helpers/run-output.ts';
import { startS3, type S3Server } from '../helpers/s3.ts';

const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
let pc: MiniPc;
let s3: S3Server;
let dir: string;
let clean: Map<string, string>;
/** The one unit: its tile and date, from the clean run. */
let unit: { mgrs: string; date: string };
let n = 0;

const args = (out: string, ...more: string[]): string[] => ['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--index', '0', '--dates', '1', '--out', out, ...more];
const unitStarted = (e: { event?: string }): boolean => e.event === 'Run:Unit:Start';

before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  s3 = await startS3();
  dir = await mkdtemp(join(tmpdir(), 'clay-run-locks-'));
  const r = await runCli(args(join(dir, 'clean')));
  assert.equal(r.code, 0, r.stderr);
  clean = await digest(await openStore(join(dir, 'clean')));
  const manifests = [...clean.keys()].filter((k) => k.endsWith('/manifest.json'));
  assert.equal(manifests.length, 1, 'one unit');
  const [, mgrs, date] = manifests[0]!.split('/');
  unit = { mgrs: mgrs!, date: date! };
});

after(async () => {
  await pc.close();
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

const summaryOf = (r: LiveRunResult | { stdout: string }): RunSummary => JSON.parse(r.stdout) as RunSummary;

async function status(out: string, env: Record<string, string>): Promise<StatusReport> {
  const r = await runCli(['status', '--sample', sample, '--out', out, '--indices', '0'], env);
  return JSON.parse(r.stdout) as StatusReport;
}

async function assertLikeCleanRun(store: ObjectStore): Promise<void> {
  const { compared, mismatches } = compareDigests(await digest(store), clean);
  assert.ok(compared > 10);
  assert.deepEqual(mismatches, [], 'every file as a single run wrote it, and no lock left');
}

function assertNoErrors(...runs: LiveRunResult[]): void {
  for (const r of runs) {
    assert.doesNotMatch(r.stderr, /ENOENT/);
    assert.deepEqual(r.events.filter((e) => e.level === 'error'), []);
  }
}

/** A lock body as a run on another host writes it. */
function foreignLock(over: Partial<LockHolder> = {}): Uint8Array {
  const holder: LockHolder = {
    lockVersion: 1, unit: `02/${unit.mgrs}/${unit.date}/`, row: 0, host: 'worker-elsewhere', pid: 77, runId: 'run-elsewhere-0001',
    started: new Date().toISOString(), token: 'feedface', ...over,
  };
  return new TextEncoder().encode(JSON.stringify(holder));
}

const outputs = [
  { name: 'folder', out: () => join(dir, `out${n++}`), env: (): Record<string, string> => ({}) },
  { name: 's3', out: () => `s3://${s3.bucket}/out${n++}`, env: (): Record<string, string> => s3.env },
];

for (const o of outputs) {
  describe(`one writer per unit (${o.name})`, () => {
    test('a second run on a unit the first is making: skipped with Run:Locked naming the first, exit 0, status incomplete; the first completes alone', async () => {
      const out = o.out(), env = o.env();
      const first = startRun(args(out), env);
      let second: LiveRunResult;
      try {
        await first.waitFor(unitStarted, 'Run:Unit:Start');
        first.child.kill('SIGSTOP');
        second = await startRun(args(out), env).done;
      } finally {
        first.child.kill('SIGCONT');
      }
      assert.equal(second.code, 0, second.stderr);
      const locked = eventsNamed(second.events, 'Run:Locked');
      assert.equal(locked.length, 1);
      assert.equal(locked[0]!.level, 'warn');
      assert.equal(locked[0]!.date, unit.date);
      assert.match(String(locked[0]!.holder), new RegExp(` pid ${first.pid} \\(run `));
      assert.deepEqual(eventsNamed(second.events, 'Run:Redo'), [], 'nothing of the unit was removed');
      assert.deepEqual(eventsNamed(second.events, 'Run:Unit:Start'), []);
      const s = summaryOf(second);
      assert.deepEqual(s.units, { done: 0, skipped: 0, locked: 1 });
      assert.equal(s.rows[0]!.units[0]!.status, 'locked');
      assert.match(s.rows[0]!.units[0]!.holder ?? '', new RegExp(`pid ${first.pid}`));
      assert.equal(s.index, undefined, 'no merged index without the locked unit');
      // The first is still at it (paused, then resumed): the row is not complete, and the lock is named.
      const during = await status(out, env);
      assert.equal(during.rows[0]!.state, 'incomplete');
      assert.equal(during.rows[0]!.locks?.[0]?.date, unit.date);
      assert.match(during.rows[0]!.detail, new RegExp(`${unit.date} locked by .* pid ${first.pid}`));
      const a = await first.done;
      assert.equal(a.code, 0, a.stderr);
      assert.deepEqual(summaryOf(a).units, { done: 1, skipped: 0, locked: 0 });
      assertNoErrors(a, second);
      assert.equal((await status(out, env)).rows[0]!.state, 'complete');
      await assertLikeCleanRun(await openStore(out, { env }));
    });

    test('two runs started at the same instant: exactly one makes the unit; the other is locked out or finds it complete', async () => {
      const out = o.out(), env = o.env();
      const [a, b] = await Promise.all([startRun(args(out), env).done, startRun(args(out), env).done]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      const made = [a, b].filter((r) => summaryOf(r).units.done === 1);
      assert.equal(made.length, 1, 'one maker');
      const other = made[0] === a ? b : a;
      const u = summaryOf(other).units;
      assert.equal(u.done, 0);
      assert.equal(u.locked + u.skipped, 1);
      if (u.locked === 1) assert.equal(eventsNamed(other.events, 'Run:Locked').length, 1);
      assert.equal(eventsNamed(other.events, 'Run:Redo').length, 0);
      assertNoErrors(a, b);
      assert.equal((await status(out, env)).rows[0]!.state, 'complete');
      await assertLikeCleanRun(await openStore(out, { env }));
    });
  });
}

test('--wait-locked: the second waits (Run:Lock:Wait) while the first makes the unit, then finds it complete', async () => {
  const out = join(dir, `out${n++}`);
  const first = startRun(args(out));
  let second: LiveRun | undefined;
  try {
    await first.waitFor(unitStarted, 'Run:Unit:Start');
    first.child.kill('SIGSTOP');
    second = startRun(args(out, '--wait-locked', '600'));
    const wait = await second.waitFor((e) => e.event === 'Run:Lock:Wait', 'Run:Lock:Wait');
    assert.match(String(wait.holder), new RegExp(`pid ${first.pid}`));
    assert.equal(wait.waitS, 600);
  } finally {
    first.child.kill('SIGCONT');
  }
  const [a, b] = await Promise.all([first.done, second.done]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(summaryOf(a).units, { done: 1, skipped: 0, locked: 0 });
  assert.deepEqual(summaryOf(b).units, { done: 0, skipped: 1, locked: 0 });
  assert.equal(eventsNamed(b.events, 'Run:Skip')[0]?.reason, 'completed by another run');
  assertNoErrors(a, b);
  await assertLikeCleanRun(await openStore(out));
});

test('s3://, --wait-locked: the holder is killed while the other waits; its lock (a gone process of this host) is broken with Run:LockBroken and the unit made', async () => {
  const out = `s3://${s3.bucket}/out${n++}`;
  const first = startRun(args(out), s3.env);
  await first.waitFor(unitStarted, 'Run:Unit:Start');
  first.child.kill('SIGSTOP');
  const second = startRun(args(out, '--wait-locked'), s3.env);
  await second.waitFor((e) => e.event === 'Run:Lock:Wait', 'Run:Lock:Wait');
  first.child.kill('SIGKILL');
  const a = await first.done;
  assert.equal(a.signal, 'SIGKILL');
  const b = await second.done;
  assert.equal(b.code, 0, b.stderr);
  const broken = eventsNamed(b.events, 'Run:LockBroken');
  assert.equal(broken.length, 1);
  assert.equal(broken[0]!.level, 'warn');
  assert.equal(broken[0]!.reason, `process ${first.pid} on this host is gone`);
  assert.deepEqual(summaryOf(b).units, { done: 1, skipped: 0, locked: 0 });
  assertNoErrors(b);
  await assertLikeCleanRun(await openStore(out, { env: s3.env }));
});

test('s3://: an old lock from another host: Run:Locked by default; with --lock-stale 2 --wait-locked it is broken as not refreshed, and the unit made', async () => {
  const out = `s3://${s3.bucket}/out${n++}`;
  const store = await openStore(out, { env: s3.env });
  assert.ok(await store.create(unitLockKey(unit.mgrs, unit.date), foreignLock()));
  const skipped = await runCli(args(out), s3.env);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.deepEqual(summaryOf(skipped).units, { done: 0, skipped: 0, locked: 1 });
  assert.match(skipped.stderr, /"event":"Run:Locked".*"holder":"worker-elsewhere pid 77 \(run run-else\)/);
  const st = await status(out, s3.env);
  assert.equal(st.rows[0]!.state, 'incomplete');
  assert.match(st.rows[0]!.detail, /locked by worker-elsewhere pid 77/);
  // A pid on another host means nothing: only the age of the lock can free the unit.
  const r = startRun(args(out, '--lock-stale', '2', '--wait-locked', '120'), s3.env);
  const b = await r.done;
  assert.equal(b.code, 0, b.stderr);
  const broken = eventsNamed(b.events, 'Run:LockBroken');
  assert.equal(broken.length, 1);
  assert.match(String(broken[0]!.reason), /^not refreshed for \d+ s \(stale after 2 s\)$/);
  assert.match(String(broken[0]!.holder), /^worker-elsewhere pid 77/);
  assert.deepEqual(summaryOf(b).units, { done: 1, skipped: 0, locked: 0 });
  assert.equal((await status(out, s3.env)).rows[0]!.state, 'complete');
  await assertLikeCleanRun(store);
});

test('SIGTERM mid-unit: Run:Interrupted, exit 143, the lock given back; a rerun redoes the unit without breaking a lock', async () => {
  const out = join(dir, `out${n++}`);
  const store = await openStore(out);
  const first = startRun(args(out));
  await first.waitFor(unitStarted, 'Run:Unit:Start');
  assert.equal(await store.exists(unitLockKey(unit.mgrs, unit.date)), true, 'held while the unit is made');
  first.child.kill('SIGTERM');
  const a = await first.done;
  assert.equal(a.code, 143, a.stderr);
  assert.equal(eventsNamed(a.events, 'Run:Interrupted')[0]?.signal, 'SIGTERM');
  assert.equal(await store.exists(unitLockKey(unit.mgrs, unit.date)), false, 'released');
  const rerun = await runCli(args(out));
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.doesNotMatch(rerun.stderr, /Run:LockBroken/);
  assert.deepEqual(summaryOf(rerun).units, { done: 1, skipped: 0, locked: 0 });
  await assertLikeCleanRun(store);
});

test('a holder paused past --lock-stale: its lock is broken as not refreshed; resumed, it stops with LOCK_LOST before committing the unit', async () => {
  const out = join(dir, `out${n++}`);
  const first = startRun(args(out, '--lock-stale', '2'));
  await first.waitFor(unitStarted, 'Run:Unit:Start');
  first.child.kill('SIGSTOP');
  // Same host, a live (stopped) process: only the age of its lock can free the unit.
  const second = startRun(args(out, '--lock-stale', '2', '--wait-locked', '120'));
  try {
    const broken = await second.waitFor((e) => e.event === 'Run:LockBroken', 'Run:LockBroken');
    assert.match(String(broken.reason), /^not refreshed for \d+ s \(stale after 2 s\)$/);
    assert.match(String(broken.holder), new RegExp(`pid ${first.pid} `));
    await second.waitFor(unitStarted, 'Run:Unit:Start');
    second.child.kill('SIGSTOP');
    first.child.kill('SIGCONT');
    const a = await first.done;
    assert.equal(a.code, 1, a.stderr);
    assert.match(a.stderr, /error LOCK_LOST: the lock .* was taken over by .* pid \d+ /);
    assert.equal(eventsNamed(a.events, 'Run:Unit:Done').length, 0, 'the unit was not committed');
  } finally {
    second.child.kill('SIGCONT');
    first.child.kill('SIGCONT');
  }
  const b = await second.done;
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(summaryOf(b).units, { done: 1, skipped: 0, locked: 0 });
  await assertLikeCleanRun(await openStore(out));
});

test('bad lock flags: BAD_ARGUMENT naming the flag, exit 2, nothing written', async () => {
  const out = join(dir, `out${n++}`);
  for (const bad of [['--lock-stale', '0'], ['--lock-stale', 'soon'], ['--wait-locked', '-1'], ['--wait-locked', 'x']]) {
    const r = await runCli(args(out, ...bad));
    assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`error BAD_ARGUMENT: ${bad[0]} must be a number`));
  }
  const left: string[] = [];
  for await (const e of (await openStore(out)).list('')) left.push(e.key);
  assert.deepEqual(left, []);
});
