/**
 * What every command shares: the logger, the HTTP client, the STAC client and the signer, built from the
 * global flags and the environment (`CLAY_STAC_API`, `CLAY_SAS_API`, `PC_SDK_SUBSCRIPTION_KEY`, the retry
 * knobs `CLAY_HTTP_MAX_ATTEMPTS` (default 6) and `CLAY_HTTP_BASE_DELAY_MS` (default 250), the body cap
 * `CLAY_HTTP_MAX_BODY_MB` (default 64) and `CLAY_BLOB_HOSTS`, the comma-separated hosts whose hrefs are
 * signed (default: the Planetary Computer's, plus the SAS API's own host when it is not the PC's)).
 * API roots that are not http(s) URLs are BAD_ARGUMENT (exit 2) before any request.
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
  /** `--http-timeout`: seconds per HTTP attempt. */
  httpTimeout?: number;
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
export function createContext(options: GlobalOptions, overrides: { stacApi?: string; sasApi?: string; blobHosts?: readonly string[] } = {}): Context {
  const logger = createLogger({ level: options.logLevel ?? (options.verbose ? 'debug' : 'info') });
  const http = new HttpClient({
    logger,
    ...envNumber('CLAY_HTTP_MAX_ATTEMPTS', (v) => ({ maxAttempts: v })),
    ...envNumber('CLAY_HTTP_BASE_DELAY_MS', (v) => ({ baseDelayMs: v })),
    ...envNumber('CLAY_HTTP_MAX_BODY_MB', (v) => ({ maxBodyBytes: Math.round(v * 1024 * 1024) })),
    ...(options.httpTimeout !== undefined ? { timeoutMs: options.httpTimeout * 1000 } : {}),
  });
  const stacApi = apiRoot(overrides.stacApi ?? options.stacApi, 'CLAY_STAC_API', '--stac-api', PC_STAC_API);
  const sasApi = apiRoot(overrides.sasApi ?? options.sasApi, 'CLAY_SAS_API', '--sas-api', PC_SAS_API);
  const hostList = process.env.CLAY_BLOB_HOSTS?.split(',').map((h) => h.trim()).filter(Boolean);
  const blobHosts = overrides.blobHosts ?? (hostList?.length ? hostList : undefined);
  return {
    logger,
    http,
    stac: new StacClient({ url: stacApi, http, logger }),
    signer: new PcSigner({ http, sasApi, logger, ...(blobHosts ? { blobHosts } : {}) }),
    json: options.json === true || process.stdout.isTTY !== true,
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  };
}

/** An API root from the flag, else the environment, else the default; BAD_ARGUMENT unless an http(s) URL. */
function apiRoot(flagValue: string | undefined, envName: string, flag: string, fallback: string): string {
  const fromEnv = flagValue === undefined ? process.env[envName] || undefined : undefined;
  const value = flagValue ?? fromEnv ?? fallback;
  const protocol = URL.canParse(value) ? new URL(value).protocol : undefined;
  if (protocol !== 'http:' && protocol !== 'https:') {
    const name = fromEnv !== undefined ? envName : flag;
    throw new ClayError('BAD_ARGUMENT', `${name} must be an http or https URL, got '${value}'`, { input: name });
  }
  return value;
}

function envNumber<T>(name: string, wrap: (v: number) => T): T | Record<string, never> {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return {};
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new ClayError('BAD_ARGUMENT', `${name} must be a non-negative number, got '${raw}'`, { input: name });
  return wrap(v);
}
