/**
 * Store keys: relative, '/'-separated paths that mean the same thing in a folder and in a bucket. Checked
 * once, where a store call enters, so a key can never climb out of the root or alias another key.
 */
import { isPartialName } from '../atomic-file.ts';
import { ClayError } from '../errors.ts';

/**
 * Throws `ClayError('BAD_ARGUMENT')` unless `key` is a valid object key: non-empty, no leading '/', no
 * empty, '.' or '..' segment (so no trailing '/' either), no NUL, and a last segment that is not a
 * temporary name of an interrupted local write (`.x.partial-<pid>-<hex>`), which stores never list.
 */
export function checkKey(key: string): void {
  const why = keyProblem(key);
  if (why) throw new ClayError('BAD_ARGUMENT', `bad store key ${JSON.stringify(key)}: ${why}`, { input: key });
  if (isPartialName(key.slice(key.lastIndexOf('/') + 1))) {
    throw new ClayError('BAD_ARGUMENT', `bad store key ${JSON.stringify(key)}: the name of a temporary file`, { input: key });
  }
}

/**
 * Throws `ClayError('BAD_ARGUMENT')` unless `prefix` is a folder: a valid key followed by '/', or '' (the
 * whole store) when `allowRoot`.
 */
export function checkPrefix(prefix: string, allowRoot: boolean): void {
  if (prefix === '' && allowRoot) return;
  const why = prefix.endsWith('/') ? keyProblem(prefix.slice(0, -1)) : "a prefix is a folder and ends in '/'";
  if (why) throw new ClayError('BAD_ARGUMENT', `bad store prefix ${JSON.stringify(prefix)}: ${why}`, { input: prefix });
}

/** Orders keys as S3 lists them: by their UTF-8 bytes (code point order, not JavaScript's UTF-16 order). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** True when `key` would pass `checkKey`; for filtering keys written by other tools (folder markers, '//'). */
export function isValidKey(key: string): boolean {
  return keyProblem(key) === undefined && !isPartialName(key.slice(key.lastIndexOf('/') + 1));
}

function keyProblem(key: string): string | undefined {
  if (key === '') return 'empty';
  if (key.startsWith('/')) return "starts with '/'";
  if (key.includes('\0')) return 'contains NUL';
  for (const segment of key.split('/')) {
    if (segment === '') return 'has an empty segment';
    if (segment === '.' || segment === '..') return `has a '${segment}' segment`;
  }
  return undefined;
}

/** A byte range must be whole numbers, the length at least 1. */
export function checkRange(where: string, offset: number, length: number): void {
  if (!(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 1)) {
    throw new ClayError('BAD_ARGUMENT', `${where}: byte range offset ${offset}, length ${length} is not whole bytes`, { input: where });
  }
}
