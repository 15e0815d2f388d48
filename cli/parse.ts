/** Flag parsers that turn bad values into BAD_ARGUMENT errors naming the flag. */
import { ClayError } from '../core/errors.ts';

/** An integer flag within [min, max]. */
export function parseInteger(value: string, flag: string, min = -Infinity, max = Infinity): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || n < min || n > max) {
    throw new ClayError('BAD_ARGUMENT', `${flag} must be an integer${Number.isFinite(min) ? ` >= ${min}` : ''}${Number.isFinite(max) ? ` and <= ${max}` : ''}, got '${value}'`, { input: flag });
  }
  return n;
}

/** A number flag within [min, max]. */
export function parseNumber(value: string, flag: string, min = -Infinity, max = Infinity): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new ClayError('BAD_ARGUMENT', `${flag} must be a number in [${min}, ${max}], got '${value}'`, { input: flag });
  }
  return n;
}

/** One of `values` (a string-literal union), else BAD_ARGUMENT naming the flag and the choices. */
export function parseChoice<T extends string>(value: string, values: readonly T[], flag: string): T {
  const found = values.find((v) => v === value);
  if (found === undefined) throw new ClayError('BAD_ARGUMENT', `${flag} must be one of ${values.join(', ')}, got '${value}'`, { input: flag });
  return found;
}
