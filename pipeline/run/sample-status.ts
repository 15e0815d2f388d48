/**
 * Where a sample stands in an output (`clay status`): per row, complete, failed, incomplete or not
 * started, read from the output alone (no STAC search: the network is not needed and not used), so a
 * user knows which array-job indices to resubmit.
 *
 * A row is
 * - **complete** when its completion record (`{version}/status/row-N.json`, written by `runIndex` once
 *   every unit is done) names this tile and every unit manifest it lists exists; outputs written before
 *   row records existed count as complete through their merged row index (`{version}/index/row-N.parquet`,
 *   written by `clay run --index N` after the row), whose units' manifests must exist too;
 * - **failed** when it is not complete and a failure record (`row-N.failed.json`) says why;
 * - **incomplete** when some of its units left files (`{version}/{mgrs}/...`) or are locked
 *   (`{version}/locks/{mgrs}/...`, see unit-lock.ts) but it is neither of the above (a killed job, or a
 *   run still going: the detail names the lock holders and when they last refreshed their locks);
 * - **not started** otherwise.
 */
import pLimit from 'p-limit';
import { errorMessage } from '../../core/errors.ts';
import type { ObjectStore, StoreCallOptions } from '../../core/store/store.ts';
import { CHIP_VERSION } from '../chip/chip-file.ts';
import { MANIFEST_NAME } from '../chip/manifest.ts';
import { readChipIndex } from '../index/chip-index.ts';
import type { PlanStatus } from '../plan/plan-types.ts';
import type { SampleRow } from '../sample-file.ts';
import { parseRowDone, parseRowFailed, rowDoneKey, rowFailedKey, type RowFailed } from './row-record.ts';
import { runIndexKey } from './run-index.ts';
import { describeHolder, lockPrefix, parseLockHolder } from './unit-lock.ts';

/** The state of one row in an output. */
export type RowState = 'complete' | 'failed' | 'incomplete' | 'not-started';

/** Every state, in the order reports list them. */
export const ROW_STATES: readonly RowState[] = ['complete', 'failed', 'incomplete', 'not-started'];

/** One row's status. */
export interface RowStatus {
  index: number;
  mgrs: string;
  state: RowState;
  /** Units with a manifest in the output. */
  unitsComplete: number;
  /** Units the row has, when a completion record or row index says (unknown for unfinished rows). */
  unitsPlanned?: number;
  /** The plan's status from the completion record (`no-data` rows are complete with no units). */
  planStatus?: PlanStatus;
  /** Units of the row locked by a run (a run going on, or one that died and left its lock). */
  locks?: { date: string; holder: string; refreshedAgoS: number }[];
  /** For failed rows: the recorded error. */
  failure?: Pick<RowFailed, 'code' | 'message' | 'at'> & { input?: string };
  /** What decided the state, in a few words. */
  detail: string;
}

/** The status of a sample in an output. */
export interface SampleStatus {
  /** The output root (a path or an `s3://` URL). */
  out: string;
  rows: RowStatus[];
  counts: Record<RowState, number>;
  /** Rows to run again: every row that is not complete, ascending. */
  resubmit: number[];
}

/** Options of `sampleStatus`. */
export interface SampleStatusOptions extends StoreCallOptions {
  store: ObjectStore;
  /** Dataset version folder (`02`). */
  version?: string;
  /** Rows looked at in parallel (default 16; each costs a few store requests). */
  concurrency?: number;
}

/** The status of `rows` (sample rows, each with its index) in `options.store`. */
export async function sampleStatus(rows: readonly SampleRow[], options: SampleStatusOptions): Promise<SampleStatus> {
  const limit = pLimit(options.concurrency ?? 16);
  const statuses = await Promise.all(rows.map((row) => limit(() => rowStatus(row, options))));
  const counts: Record<RowState, number> = { complete: 0, failed: 0, incomplete: 0, 'not-started': 0 };
  for (const s of statuses) counts[s.state]++;
  return { out: options.store.root, rows: statuses, counts, resubmit: statuses.filter((s) => s.state !== 'complete').map((s) => s.index) };
}

/** The status of one row. */
export async function rowStatus(row: SampleRow, options: SampleStatusOptions): Promise<RowStatus> {
  const { store } = options;
  const version = options.version ?? CHIP_VERSION;
  const call = options.signal ? { signal: options.signal } : {};
  const base = { index: row.index, mgrs: row.name };
  const notes: string[] = [];

  const finished = await finishedUnits(row, options, notes);
  if (finished) {
    const present = await countPresent(store, finished.manifests, call);
    if (present === finished.manifests.length) {
      return {
        ...base, state: 'complete', unitsComplete: present, unitsPlanned: finished.manifests.length,
        ...(finished.planStatus ? { planStatus: finished.planStatus } : {}),
        detail: finished.planStatus === 'no-data' ? 'no matching data (nothing to make)' : `${present}/${finished.manifests.length} units (${finished.source})`,
      };
    }
    notes.push(`${finished.manifests.length - present} of ${finished.manifests.length} manifests missing`);
  }

  const failedKey = rowFailedKey(row.index, version);
  const failedBytes = await store.get(failedKey, call);
  let failed: RowFailed | undefined;
  if (failedBytes) {
    try {
      failed = parseRowFailed(failedBytes, store.url(failedKey));
    } catch (err) {
      notes.push(errorMessage(err));
    }
  }

  // Units the row started: manifests and other files under the tile's folder.
  let manifests = 0, files = 0;
  for await (const e of store.list(`${version}/${row.name}/`, call)) {
    files++;
    if (e.key.endsWith(`/${MANIFEST_NAME}`)) manifests++;
  }
  const unitsPlanned = finished ? { unitsPlanned: finished.manifests.length } : {};
  const locks = await rowLocks(store, row.name, version, call);
  const lockNotes = locks.map((l) => `${l.date} locked by ${l.holder}, refreshed ${l.refreshedAgoS} s ago`);
  const withLocks = locks.length > 0 ? { locks } : {};
  if (failed) {
    return {
      ...base, state: 'failed', unitsComplete: manifests, ...unitsPlanned, ...withLocks,
      failure: { code: failed.code, message: failed.message, at: failed.at, ...(failed.input !== undefined ? { input: failed.input } : {}) },
      detail: [`${failed.code}: ${failed.message}`, ...lockNotes, ...notes].join('; '),
    };
  }
  if (files > 0 || locks.length > 0) {
    return { ...base, state: 'incomplete', unitsComplete: manifests, ...unitsPlanned, ...withLocks, detail: [`${manifests} unit(s) with a manifest, ${files} file(s), no completion record`, ...lockNotes, ...notes].join('; ') };
  }
  return { ...base, state: 'not-started', unitsComplete: 0, ...unitsPlanned, detail: ['nothing in the output', ...notes].join('; ') };
}

/**
 * The units a finished row has, from its completion record, else from its merged row index; undefined
 * when the output has neither (or one for another tile: a different sample wrote there).
 */
async function finishedUnits(row: SampleRow, options: SampleStatusOptions, notes: string[]): Promise<{ manifests: string[]; planStatus?: PlanStatus; source: string } | undefined> {
  const { store } = options;
  const version = options.version ?? CHIP_VERSION;
  const call = options.signal ? { signal: options.signal } : {};
  const doneKey = rowDoneKey(row.index, version);
  const doneBytes = await store.get(doneKey, call);
  if (doneBytes) {
    try {
      const done = parseRowDone(doneBytes, store.url(doneKey));
      if (done.mgrs === row.name) return { manifests: done.units.map((u) => u.manifest), planStatus: done.planStatus, source: 'row record' };
      notes.push(`${store.url(doneKey)} is for ${done.mgrs}, not ${row.name}`);
    } catch (err) {
      notes.push(errorMessage(err));
    }
    return undefined;
  }
  const indexKey = runIndexKey([row.index], version);
  const indexBytes = await store.get(indexKey, call);
  if (!indexBytes) return undefined;
  try {
    const chips = await readChipIndex(indexBytes, store.url(indexKey));
    if (chips.some((c) => c.mgrs !== row.name)) {
      notes.push(`${store.url(indexKey)} is not for ${row.name}`);
      return undefined;
    }
    const dates = [...new Set(chips.map((c) => c.date))].sort();
    return { manifests: dates.map((d) => `${version}/${row.name}/${d}/${MANIFEST_NAME}`), source: 'row index' };
  } catch (err) {
    notes.push(errorMessage(err));
    return undefined;
  }
}

/** The unit locks of a tile: which date, who holds it, how long since its last refresh. */
async function rowLocks(store: ObjectStore, mgrs: string, version: string, call: StoreCallOptions): Promise<NonNullable<RowStatus['locks']>> {
  const out: NonNullable<RowStatus['locks']> = [];
  const prefix = lockPrefix(mgrs, version);
  for await (const e of store.list(prefix, call)) {
    const date = e.key.slice(prefix.length).replace(/\.json$/, '');
    const lock = await store.getVersioned(e.key, call);
    if (!lock) continue; // released since the listing
    out.push({ date, holder: describeHolder(parseLockHolder(lock.body)), refreshedAgoS: Math.max(0, Math.round((Date.now() - lock.modified.getTime()) / 1000)) });
  }
  return out;
}

async function countPresent(store: ObjectStore, keys: readonly string[], call: StoreCallOptions): Promise<number> {
  let n = 0;
  for (const k of keys) if (await store.exists(k, call)) n++;
  return n;
}

/**
 * Row indices as a compact `--indices` value: ascending, runs of three or more as ranges
 * (`[3, 7, 12, 13, 14, 15]` → `3,7,12-15`); a run of two stays a list (`4,5`).
 */
export function formatIndices(indices: readonly number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${sorted[i]}-${sorted[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(sorted[k]));
    i = j + 1;
  }
  return parts.join(',');
}
