/**
 * One writer per unit. Before a run touches a (mgrs, date) unit (before it clears what an earlier attempt
 * left) it takes the unit's lock, `{version}/locks/{mgrs}/{date}.json`, by a conditional create through
 * the store (local: an exclusive hard link; S3: a PUT with `If-None-Match: *`), and removes it when the
 * unit ends (done, failed, interrupted). The lock's body says who holds it: host, pid (and PID
 * namespace), run id, array-job task, when it was taken.
 *
 * The holder refreshes the lock (its modification time) every tenth of the stale bound, at most every
 * 60 s. A lock that another run finds is **stale**, and broken with a `Run:LockBroken` warning, when
 * - its holder ran on this host (and PID namespace) and that process is gone, or is this very pid
 *   under a run id this process does not have (a restarted container is pid 1 again);
 * - it belongs to an earlier attempt of the same array-job task (same `AWS_BATCH_JOB_ID`, or same
 *   `CLAY_JOB_ID` and row): AWS Batch and Kubernetes Indexed Jobs start an attempt only after the
 *   previous one ended;
 * - or it was not refreshed for the stale bound (`--lock-stale`, default 600 s): the only test across
 *   hosts, where a pid means nothing.
 * Breaking is a compare-and-swap on the version read (`replaceIf`: S3 `If-Match`, locally an exclusive
 * claim on that version, a check, and a rename over the old file), so of two breakers one wins; the release is a
 * `removeIf` of the holder's own version, so a holder that lost its lock never removes its successor's.
 * A holder whose refresh finds another version has lost the lock: its `lost` signal fires and the unit
 * fails with `LOCK_LOST` rather than write beside the new holder.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ClayError, errorMessage } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { pidNamespace, processGone } from '../../core/process-state.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { CHIP_VERSION } from '../chip/chip-file.ts';

/** Seconds without a refresh after which a lock is stale (`--lock-stale`). */
export const DEFAULT_LOCK_STALE_S = 600;
/** Seconds `--wait-locked` waits for a held unit when given no value. */
export const DEFAULT_LOCK_WAIT_S = 3600;

/** The folder of a tile's unit locks, relative to the output root. */
export function lockPrefix(mgrs: string, version = CHIP_VERSION): string {
  return `${version}/locks/${mgrs}/`;
}

/** The lock of one (mgrs, date) unit. */
export function unitLockKey(mgrs: string, date: string, version = CHIP_VERSION): string {
  return `${lockPrefix(mgrs, version)}${date}.json`;
}

/** Who a run is, as its locks say. */
export interface LockIdentity {
  host: string;
  pid: number;
  pidNamespace?: string;
  /** Unique per `clay run` process. */
  runId: string;
  /** The array-job task: `AWS_BATCH_JOB_ID` (one per array child), else `CLAY_JOB_ID`. */
  job?: string;
}

/** The body of a lock. */
export interface LockHolder extends LockIdentity {
  lockVersion: 1;
  /** The unit, as its folder: `02/31TGL/2021-06-15/`. */
  unit: string;
  /** The sample row the unit belongs to. */
  row: number;
  /** When the lock was taken, ISO 8601. */
  started: string;
  /** Random, so every lock body (and so every version) is unique. */
  token: string;
}

/** This process's identity with a fresh run id; the job from `env`. */
export function lockIdentity(env: NodeJS.ProcessEnv = process.env): LockIdentity {
  const ns = pidNamespace();
  const job = env.AWS_BATCH_JOB_ID || env.CLAY_JOB_ID || undefined;
  return { host: hostname(), pid: process.pid, ...(ns ? { pidNamespace: ns } : {}), runId: randomUUID(), ...(job ? { job } : {}) };
}

/** Parses a lock body; undefined when it is not one (the caller judges such a lock by its age alone). */
export function parseLockHolder(bytes: Uint8Array): LockHolder | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const h = v as Partial<Record<keyof LockHolder, unknown>>;
  const str = (x: unknown): x is string => typeof x === 'string';
  if (h.lockVersion !== 1 || !str(h.unit) || !str(h.host) || typeof h.pid !== 'number' || !str(h.runId) || typeof h.row !== 'number' || !str(h.started) || !str(h.token)) return undefined;
  if ((h.pidNamespace !== undefined && !str(h.pidNamespace)) || (h.job !== undefined && !str(h.job))) return undefined;
  return v as LockHolder;
}

/** A holder in a few words: `host pid 123 (run 1b2c…) since 2025-01-01T12:00:00Z`. */
export function describeHolder(h: LockHolder | undefined): string {
  return h ? `${h.host} pid ${h.pid} (run ${h.runId.slice(0, 8)}${h.job ? `, job ${h.job}` : ''}) since ${h.started}` : 'an unreadable lock';
}

/** Run ids of the `UnitLocks` of this process: a lock naming this pid under another run id is a dead one's. */
const RUNS_HERE = new Set<string>();

/** How `staleReason` looks at processes: whether a pid on this host is gone, whether a run id is one of this process's. */
export interface ProcessProbes {
  gone: (pid: number) => boolean;
  runsHere: (runId: string) => boolean;
}

const PROBES: ProcessProbes = { gone: processGone, runsHere: (id) => RUNS_HERE.has(id) };

/** Why a lock found in the store may be broken, or undefined when it stands. */
export function staleReason(holder: LockHolder | undefined, ageMs: number, me: LockIdentity, row: number, staleMs: number, probes: ProcessProbes = PROBES): string | undefined {
  const age = `not refreshed for ${Math.round(ageMs / 1000)} s (stale after ${Math.round(staleMs / 1000)} s)`;
  if (!holder) return ageMs > staleMs ? `unreadable, ${age}` : undefined;
  if (holder.runId === me.runId) return undefined;
  if (holder.job !== undefined && holder.job === me.job && holder.row === row) return `an earlier attempt of this array-job task (${holder.job})`;
  const sameNamespace = holder.pidNamespace === undefined || me.pidNamespace === undefined || holder.pidNamespace === me.pidNamespace;
  if (holder.host === me.host && sameNamespace) {
    if (holder.pid === me.pid) {
      if (!probes.runsHere(holder.runId)) return `pid ${holder.pid} on this host is this process now, not the run that took the lock`;
    } else if (probes.gone(holder.pid)) {
      return `process ${holder.pid} on this host is gone`;
    }
  }
  return ageMs > staleMs ? age : undefined;
}

/** What the store's conditional writes are worth, found by `probeConditionalWrites`. */
export interface ConditionalSupport {
  /** A create onto an existing key is refused (If-None-Match on PUT). */
  create: boolean;
  /** A replace of a stale version is refused (If-Match on PUT). */
  replace: boolean;
  /** A remove of a stale version is refused (If-Match on DELETE). */
  remove: boolean;
}

/**
 * Tries the conditional calls on a scratch key (`{version}/locks/.probe-{runId}.json`, removed after):
 * an S3-compatible server that ignores `If-None-Match` / `If-Match` answers 200 where S3 answers 412, and
 * locks on it would not exclude anyone.
 */
export async function probeConditionalWrites(store: ObjectStore, key: string, signal?: AbortSignal): Promise<ConditionalSupport> {
  const call = signal ? { signal } : {};
  const json = (attempt: string): Uint8Array => new TextEncoder().encode(`${JSON.stringify({ probe: attempt, token: randomBytes(8).toString('hex') })}\n`);
  const a = json('create');
  const v1 = await store.create(key, a, call);
  if (v1 === undefined) throw new ClayError('IO', `the lock probe ${store.url(key)} already exists`, { input: store.url(key) });
  try {
    const create = (await store.create(key, json('create again'), call)) === undefined;
    const replace = (await store.replaceIf(key, `"${'0'.repeat(32)}"`, json('replace a stale version'), call)) === undefined;
    const remove = !(await store.removeIf(key, `"${'0'.repeat(32)}"`, call)) && (await store.exists(key, call));
    return { create, replace, remove };
  } finally {
    await store.remove(key, call);
  }
}

/** Settings of a run's unit locks. */
export interface UnitLockSettings {
  store: ObjectStore;
  identity?: LockIdentity;
  /** A lock not refreshed for this long is stale, ms (default 600 s). */
  staleMs?: number;
  /** How long to wait for a unit another run holds, ms (default 0: skip it at once). */
  waitMs?: number;
  /** Between looks while waiting, ms (default a quarter of the stale bound, 0.25 to 2 s). */
  pollMs?: number;
  /** Between refreshes, ms (default a tenth of the stale bound, 0.25 to 60 s). */
  refreshMs?: number;
  version?: string;
  logger?: Logger;
  /** How processes are looked at (tests); default: `processGone` and this process's run ids. */
  probes?: ProcessProbes;
}

/** Which unit, for the events. */
export interface UnitRef {
  index: number;
  mgrs: string;
  date: string;
}

/** A lock this run holds. */
export interface HeldLock {
  /** Where it is (path or s3:// URL). */
  url: string;
  /** The holder it replaced, when it broke a stale lock. */
  broke?: { holder: LockHolder | undefined; reason: string };
  /** Fires (reason: `ClayError('LOCK_LOST')`) when a refresh finds the lock taken over. */
  lost: AbortSignal;
  /**
   * Refreshes the lock now and rejects with `ClayError('LOCK_LOST')` (and fires `lost`) when it is no
   * longer this run's: called before a unit's manifest is written, so a run that was paused past the stale
   * bound (and whose lock was broken meanwhile) never commits a unit another run is making.
   */
  confirm(): Promise<void>;
  /** Stops refreshing and removes the lock if it is still this run's; never throws (a failure is logged). */
  release(): Promise<void>;
}

/** A unit another run holds. */
export interface LockedOut {
  url: string;
  holder: LockHolder | undefined;
  /** Since its last refresh, ms. */
  ageMs: number;
  /** How long this run waited, ms. */
  waitedMs: number;
}

/** A run's unit locks: one identity, one probe of the store, the settings of `--lock-stale` / `--wait-locked`. */
export class UnitLocks {
  readonly identity: LockIdentity;
  readonly #s: Required<Omit<UnitLockSettings, 'identity'>>;
  #support: Promise<ConditionalSupport> | undefined;

  constructor(settings: UnitLockSettings) {
    const staleMs = settings.staleMs ?? DEFAULT_LOCK_STALE_S * 1000;
    this.identity = settings.identity ?? lockIdentity();
    this.#s = {
      store: settings.store,
      staleMs,
      waitMs: settings.waitMs ?? 0,
      pollMs: settings.pollMs ?? clamp(staleMs / 4, 250, 2000),
      refreshMs: settings.refreshMs ?? clamp(staleMs / 10, 250, 60_000),
      version: settings.version ?? CHIP_VERSION,
      logger: settings.logger ?? silentLogger,
      probes: settings.probes ?? PROBES,
    };
    RUNS_HERE.add(this.identity.runId);
  }

  /** The store's conditional-write support, probed once; a server that ignores the conditions is warned about. */
  support(signal?: AbortSignal): Promise<ConditionalSupport> {
    this.#support ??= probeConditionalWrites(this.#s.store, `${this.#s.version}/locks/.probe-${this.identity.runId}.json`, signal).then((s) => {
      const ignored = [!s.create && 'If-None-Match on PUT', !s.replace && 'If-Match on PUT', !s.remove && 'If-Match on DELETE'].filter((x): x is string => typeof x === 'string');
      if (ignored.length > 0) {
        this.#s.logger.warn('Run:Lock:Degraded', {
          out: this.#s.store.root, ignored,
          message: 'the store ignores conditional writes: unit locks are checked before they are written, so runs that start at the same instant may still both make a unit, and a stale lock broken by two runs at once may be broken twice',
        });
      }
      return s;
    }, (err: unknown) => {
      this.#support = undefined;
      throw err;
    });
    return this.#support;
  }

  /**
   * Takes the lock of `unit` (row `unit.index`): at once when free or stale, else after waiting up to
   * `waitMs` for it to be released or go stale. Resolves with the held lock, or with who holds it.
   */
  async acquire(unit: UnitRef, signal?: AbortSignal): Promise<{ held: HeldLock } | { lockedOut: LockedOut }> {
    const { store, logger, staleMs, waitMs, pollMs } = this.#s;
    const key = unitLockKey(unit.mgrs, unit.date, this.#s.version);
    const url = store.url(key);
    const call = signal ? { signal } : {};
    const support = await this.support(signal);
    const holder: LockHolder = {
      lockVersion: 1, unit: `${this.#s.version}/${unit.mgrs}/${unit.date}/`, row: unit.index, ...this.identity,
      started: new Date().toISOString(), token: randomBytes(8).toString('hex'),
    };
    const body = new TextEncoder().encode(`${JSON.stringify(holder, null, 1)}\n`);
    const fields = { index: unit.index, mgrs: unit.mgrs, date: unit.date, lock: url };
    const t0 = Date.now();
    let waiting = false;
    for (;;) {
      // A store that ignores If-None-Match would let a create overwrite a held lock: look first there.
      const first = support.create ? undefined : await store.getVersioned(key, call);
      const created = first ? undefined : await store.create(key, body, call);
      if (created !== undefined) return { held: this.#held(key, url, body, created, fields) };
      const found = first ?? (await store.getVersioned(key, call));
      if (!found) {
        // Released between the create and the read, or a conditional write in flight (S3's 409): again.
        await pause(20 + Math.random() * 80, url, signal);
        continue;
      }
      const other = parseLockHolder(found.body);
      const ageMs = Date.now() - found.modified.getTime();
      const reason = staleReason(other, ageMs, this.identity, unit.index, staleMs, this.#s.probes);
      if (reason !== undefined) {
        const taken = await store.replaceIf(key, found.version, body, call);
        if (taken !== undefined) {
          logger.warn('Run:LockBroken', { ...fields, holder: describeHolder(other), reason, ageS: Math.round(ageMs / 1000) });
          return { held: this.#held(key, url, body, taken, fields, { holder: other, reason }) };
        }
        continue; // another run changed it first: look again
      }
      const waitedMs = Date.now() - t0;
      if (waitedMs >= waitMs) return { lockedOut: { url, holder: other, ageMs, waitedMs } };
      if (!waiting) {
        waiting = true;
        logger.info('Run:Lock:Wait', { ...fields, holder: describeHolder(other), waitS: Math.round(waitMs / 1000) });
      }
      await pause(Math.min(pollMs, waitMs - waitedMs), url, signal);
    }
  }

  #held(key: string, url: string, body: Uint8Array, version: string, fields: Record<string, string | number>, broke?: HeldLock['broke']): HeldLock {
    const { store, logger, refreshMs } = this.#s;
    const lost = new AbortController();
    let current = version;
    let stopped = false;
    let inFlight: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const refresh = async (strict = false): Promise<void> => {
      try {
        const next = await store.replaceIf(key, current, body);
        if (stopped && !strict) return;
        if (next === undefined) {
          stopped = true;
          const now = await store.getVersioned(key).catch(() => undefined);
          const by = describeHolder(now && parseLockHolder(now.body));
          logger.error('Run:Lock:Lost', { ...fields, holder: by });
          lost.abort(new ClayError('LOCK_LOST', `the lock ${url} was taken over by ${by} while this run made the unit`, { input: url }));
          return;
        }
        current = next;
      } catch (err) {
        // A store hiccup is not a loss: the next refresh tries again, well within the stale bound.
        if (strict) throw err;
        logger.warn('Run:Lock:RefreshFailed', { ...fields, error: errorMessage(err) });
      }
    };
    const schedule = (): void => {
      timer = setTimeout(() => {
        inFlight = refresh().then(() => {
          if (!stopped) schedule();
        });
      }, refreshMs);
      timer.unref();
    };
    schedule();
    return {
      url,
      ...(broke ? { broke } : {}),
      lost: lost.signal,
      confirm: async () => {
        if (!lost.signal.aborted) {
          // After the refresh in flight, if any, so two refreshes never race on one version.
          await inFlight;
          await refresh(true);
        }
        if (lost.signal.aborted) throw lost.signal.reason;
      },
      release: async () => {
        if (stopped && lost.signal.aborted) return;
        stopped = true;
        clearTimeout(timer);
        await inFlight;
        try {
          // No signal: an interrupted run must still give its locks back.
          if (!(await store.removeIf(key, current))) logger.warn('Run:Lock:Lost', { ...fields, message: 'at release the lock was no longer this run\'s' });
        } catch (err) {
          logger.warn('Run:Lock:ReleaseFailed', { ...fields, error: errorMessage(err) });
        }
      },
    };
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Waits `ms`; an abort rejects with the toolkit's abort code. */
function pause(ms: number, url: string, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (): void => reject(new ClayError('HTTP_ABORTED', `waiting for the lock ${url} aborted`, { input: url, cause: signal?.reason }));
    if (signal?.aborted) return fail();
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      fail();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
