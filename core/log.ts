/**
 * Structured logging. Events are named `Stage:Verb` (`Stac:Search`, `Sas:Token`, `Http:Retry`) and carry
 * fields. Off a TTY each event is one JSON line on stderr; on a TTY events are quiet unless `verbose`
 * (a progress bar owns the screen). Every line passes `redactText`, so a token that slipped into a field
 * is still never printed.
 */
import { redactText } from './redact.ts';

/** Log levels, in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Fields of one event: plain JSON values. */
export type LogFields = Record<string, string | number | boolean | null | undefined | string[] | number[]>;

/** The logger every stage takes (optional; `silentLogger` when absent). */
export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Minimum level written (default `info`). */
  level?: LogLevel;
  /** Where lines go (default: process.stderr). */
  write?: (line: string) => void;
  /** Human-readable lines instead of JSON (default: when the stream is a TTY). */
  pretty?: boolean;
  /** Clock, for tests. */
  now?: () => Date;
}

/** A logger writing JSON lines (or short readable lines on a TTY) with secrets redacted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, event: string, fields: LogFields = {}): void => {
    if (ORDER[level] < min) return;
    let line: string;
    if (pretty) {
      const parts = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`);
      line = `${level === 'info' ? '' : level.toUpperCase() + ' '}${event} ${parts.join(' ')}`.trimEnd();
    } else {
      line = JSON.stringify({ time: now().toISOString(), level, event, ...fields });
    }
    write(redactText(line));
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
  };
}

/** A logger that drops everything (the default of every stage). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
