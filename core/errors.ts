/**
 * Tagged errors. Every failure the toolkit reports is a `ClayError` with a stable `code` (tests assert
 * codes, never wording), the input it concerns (a URL without its token, a file path, an item id) and the
 * underlying `cause`. The CLI prints `code: message` on one line and exits non-zero.
 */

/** Every stable error code. Add a code here before throwing it. */
export type ErrorCode =
  | 'STAC_HTTP' // a STAC API request failed after retries
  | 'STAC_INVALID' // a STAC response or item is not what the contract says
  | 'SAS_HTTP' // the SAS token endpoint failed after retries
  | 'HTTP' // any other HTTP request failed after retries
  | 'HTTP_ABORTED' // the caller's AbortSignal fired
  | 'HTTP_BAD_URL' // a URL that cannot be requested: not a URL, or a scheme other than http/https (file:, ftp:)
  | 'HTTP_HOST_NOT_FOUND' // the URL's host name does not resolve (DNS NXDOMAIN; not retried)
  | 'HTTP_REDIRECT' // a redirect not followed: 301/302/303 on a POST, to another scheme, https to http, too many hops
  | 'HTTP_TOO_LARGE' // a response body past its cap (decoded bytes, counted while streaming)
  | 'STAC_CROSS_ORIGIN' // a STAC rel=next link to another origin than the API's (refused unless allowed)
  | 'COG_CORRUPT' // a GeoTIFF could not be parsed or decoded (GDAL could not read it either)
  | 'COG_UNSUPPORTED' // a valid GeoTIFF using a compression or sample type this reader has no decoder for
  | 'CHIP_CORRUPT' // a chip file is not a readable 13-band float32 chip with CRS and date (the stream skips it)
  | 'SHARDS_INVALID' // a shard set (clay pack) that is unfinished, or whose index or manifest is not what it should be
  | 'BAD_ARGUMENT' // a CLI flag or API option is wrong
  | 'BAD_SAMPLE_FILE' // the MGRS sample file is missing or malformed
  | 'BAD_INDEX' // a sample row index is out of range
  | 'NO_S1_MATCH' // no Sentinel-1 within the window (a result when planning, an error only where data is required)
  | 'MODEL_CONFIG' // a model configuration that cannot run on the chosen backend
  | 'WEIGHTS_INVALID' // a safetensors file that does not match the model
  | 'CHECKPOINT_MISSING' // no checkpoint (folder or weights file) at the given path
  | 'CHECKPOINT_INVALID' // a checkpoint that is incomplete, unreadable or does not match the run
  | 'BAD_OUTPUT' // the output location cannot be written at all (read-only, not a folder, full): checked before any work
  | 'IO' // a local or object-store write/read failed
  | 'LOCK_LOST' // a unit's lock was taken over by another run (it judged this one stale) while this run made the unit
  | 'ENGINE_UNAVAILABLE' // a training engine cannot start here (no Python with torch, no engine package)
  | 'ENGINE_FAILED' // the training engine's process died or failed inside
  | 'INTERNAL';

/** Options common to every ClayError. */
export interface ClayErrorOptions {
  /** The input the error concerns: a token-free URL, a file path, an item id. */
  input?: string;
  cause?: unknown;
}

/** Base class of all errors this package throws on purpose. */
export class ClayError extends Error {
  readonly code: ErrorCode;
  readonly input: string | undefined;

  constructor(code: ErrorCode, message: string, options: ClayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClayError';
    this.code = code;
    this.input = options.input;
  }
}

/** True when `err` is a ClayError, optionally of one code. Keeps `cause` (no wrapping). */
export function isClayError(err: unknown, code?: ErrorCode): err is ClayError {
  return err instanceof ClayError && (code === undefined || err.code === code);
}

/** The message of an unknown thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
