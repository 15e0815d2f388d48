/**
 * A row's outcome, recorded in the output beside the chips so `clay status` can tell, without the
 * network, which sample rows an array job finished: `{version}/status/row-{N}.json` when every unit of
 * the row is complete (a no-data row included: it has nothing to do), `{version}/status/row-{N}.failed.json`
 * when the row stopped on an error (its code and message). Both are single atomic writes through the
 * store; a success removes the failure record. A killed process records nothing: its row shows as started
 * (unit folders) or not started.
 */
import { ClayError, errorMessage, isClayError, type ErrorCode } from '../../core/errors.ts';
import { redactText } from '../../core/redact.ts';
import type { ObjectStore, StoreCallOptions } from '../../core/store/store.ts';
import { CHIP_VERSION } from '../chip/chip-file.ts';
import type { PlanStatus } from '../plan/plan-types.ts';

/** The folder of row records, relative to the output root. */
export function rowStatusPrefix(version = CHIP_VERSION): string {
  return `${version}/status/`;
}

/** Where the completion record of row `index` goes. */
export function rowDoneKey(index: number, version = CHIP_VERSION): string {
  return `${rowStatusPrefix(version)}row-${index}.json`;
}

/** Where the failure record of row `index` goes. */
export function rowFailedKey(index: number, version = CHIP_VERSION): string {
  return `${rowStatusPrefix(version)}row-${index}.failed.json`;
}

/**
 * A finished row: its plan's status and the manifest of every unit. A function of the inputs (no clock),
 * so a killed-and-resumed row writes the same bytes as an uninterrupted one.
 */
export interface RowDone {
  recordVersion: 1;
  index: number;
  mgrs: string;
  /** `no-data` rows finish with no units. */
  planStatus: PlanStatus;
  units: { date: string; manifest: string }[];
}

/** A row that stopped on an error. */
export interface RowFailed {
  recordVersion: 1;
  index: number;
  mgrs: string;
  /** The error's stable code (`INTERNAL` for an unexpected exception). */
  code: ErrorCode;
  /** One line, tokens redacted. */
  message: string;
  /** The input the error concerns, when it names one. */
  input?: string;
  /** When it failed, ISO 8601. */
  at: string;
}

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(`${JSON.stringify(value, null, 1)}\n`);

/** Records row `done` as complete and removes an earlier failure record of the row. */
export async function recordRowDone(store: ObjectStore, done: Omit<RowDone, 'recordVersion'>, options: StoreCallOptions & { version?: string } = {}): Promise<void> {
  const call = options.signal ? { signal: options.signal } : {};
  const record: RowDone = { recordVersion: 1, ...done };
  await store.put(rowDoneKey(done.index, options.version), [encode(record)], { contentType: 'application/json', ...call });
  await store.remove(rowFailedKey(done.index, options.version), call);
}

/**
 * Records that row `index` (tile `mgrs`) failed with `err`. The completion record of an earlier run, if
 * any, stays: `clay status` still checks its manifests, which a failed `--force` rerun may have removed.
 */
export async function recordRowFailure(store: ObjectStore, row: { index: number; mgrs: string }, err: unknown, options: StoreCallOptions & { version?: string; now?: () => Date } = {}): Promise<void> {
  const record: RowFailed = {
    recordVersion: 1,
    index: row.index,
    mgrs: row.mgrs,
    code: isClayError(err) ? err.code : 'INTERNAL',
    message: redactText(errorMessage(err)).split('\n')[0] ?? '',
    ...(isClayError(err) && err.input !== undefined ? { input: redactText(err.input) } : {}),
    at: (options.now ?? (() => new Date()))().toISOString(),
  };
  await store.put(rowFailedKey(row.index, options.version), [encode(record)], { contentType: 'application/json', ...(options.signal ? { signal: options.signal } : {}) });
}

/** Parses a completion record; anything else is `ClayError('IO')` naming `where`. */
export function parseRowDone(bytes: Uint8Array, where: string): RowDone {
  const v = parseJson(bytes, where) as Partial<RowDone>;
  const unitsOk = Array.isArray(v.units) && v.units.every((u: unknown) => typeof u === 'object' && u !== null && typeof (u as { date?: unknown }).date === 'string' && typeof (u as { manifest?: unknown }).manifest === 'string');
  if (v.recordVersion !== 1 || typeof v.index !== 'number' || typeof v.mgrs !== 'string' || typeof v.planStatus !== 'string' || !unitsOk) {
    throw new ClayError('IO', `${where} is not a clay row record (version 1)`, { input: where });
  }
  return v as RowDone;
}

/** Parses a failure record; anything else is `ClayError('IO')` naming `where`. */
export function parseRowFailed(bytes: Uint8Array, where: string): RowFailed {
  const v = parseJson(bytes, where) as Partial<RowFailed>;
  if (v.recordVersion !== 1 || typeof v.index !== 'number' || typeof v.code !== 'string' || typeof v.message !== 'string') {
    throw new ClayError('IO', `${where} is not a clay row failure record (version 1)`, { input: where });
  }
  return v as RowFailed;
}

function parseJson(bytes: Uint8Array, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new ClayError('IO', `${where} is not JSON`, { input: where, cause });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ClayError('IO', `${where} is not a JSON object`, { input: where });
  return value as Record<string, unknown>;
}
