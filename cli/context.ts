/**
 * What every command shares: the logger, the HTTP client, the STAC client and the signer, built from the
 * global flags and the environment (`CLAY_STAC_API`, `CLAY_SAS_API`, `PC_SDK_SUBSCRIPTION_KEY`, and the retry
 * knobs `CLAY_HTTP_MAX_ATTEMPTS` (default 6) and `CLAY_HTTP_BASE_DELAY_MS` (default 250)).
 */
import { ClayError } from '../core/errors.ts';
import { HttpClient } from '../core/http.ts';
import { createLogger, type Logger, type LogLevel } from '../core/log.ts';
import { PcSigner, PC_SAS_API } from '../core/stac/pc-signer.ts';
import { StacClient } from '../core/stac/stac-client.ts';

/** The Planetary Computer's STAC API, the default endpoint. */
export const PC_STAC_API = 'https://planetarycomputer.microsoft.com/api/stac/v1';

/** Global flags. */
export interface GlobalOptions {
  stacApi?: string;
  sasApi?: string;
  verbose?: boolean;
  logLevel?: LogLevel;
  json?: boolean;
}

/** Clients and settings of one command run. */
export interface Context {
  logger: Logger;
  http: HttpClient;
  stac: StacClient;
  signer: PcSigner;
  /** Write results as JSON (not a TTY, or --json). */
  json: boolean;
  out: (text: string) => void;
}

/** Builds the context of a command from global flags. */
export function createContext(options: GlobalOptions, overrides: { stacApi?: string; sasApi?: string } = {}): Context {
  const logger = createLogger({ level: options.logLevel ?? (options.verbose ? 'debug' : 'info') });
  const http = new HttpClient({
    logger,
    ...envNumber('CLAY_HTTP_MAX_ATTEMPTS', (v) => ({ maxAttempts: v })),
    ...envNumber('CLAY_HTTP_BASE_DELAY_MS', (v) => ({ baseDelayMs: v })),
  });
  const stacApi = overrides.stacApi ?? options.stacApi ?? process.env.CLAY_STAC_API ?? PC_STAC_API;
  const sasApi = overrides.sasApi ?? options.sasApi ?? process.env.CLAY_SAS_API ?? PC_SAS_API;
  return {
    logger,
    http,
    stac: new StacClient({ url: stacApi, http, logger }),
    signer: new PcSigner({ http, sasApi, logger }),
    json: options.json === true || process.stdout.isTTY !== true,
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  };
}

function envNumber<T>(name: string, wrap: (v: number) => T): T | Record<string, never> {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return {};
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new ClayError('BAD_ARGUMENT', `${name} must be a non-negative number, got '${raw}'`, { input: name });
  return wrap(v);
}
