/**
 * The one HTTP layer. Every request the toolkit makes (STAC searches, SAS tokens, COG byte ranges) goes
 * through `HttpClient.request`, which owns: connection reuse (Node's fetch keeps a keep-alive pool per
 * origin), a timeout per attempt, the caller's AbortSignal, gzip (decoded by fetch), and retries.
 *
 * Retries: only for idempotent requests (GET/HEAD, and POSTs the caller marks idempotent, such as STAC
 * searches, which are read-only: Clay v0 dies on one 503 during a search, we do not). Retried: 408, 429,
 * 500, 502, 503, 504, connection resets, timeouts and truncated bodies. Exponential backoff with jitter,
 * `Retry-After` honoured (seconds or HTTP date), a cap on attempts and a deadline on the whole request (every
 * attempt and wait included); the final error keeps the last cause.
 *
 * Bounds against hostile or broken servers: redirects are followed by `http-redirect.ts`'s rules (credential
 * headers never cross to another origin; a POST is never turned into a GET), every decoded body is capped
 * while it streams (`http-body.ts`), and what no retry can fix fails at once: a URL that is not http(s)
 * (HTTP_BAD_URL) and a host name that does not resolve (HTTP_HOST_NOT_FOUND).
 */
import { DEFAULT_MAX_BODY_BYTES, readCapped } from './http-body.ts';
import { isRedirect, nextHop } from './http-redirect.ts';
import { ClayError, errorMessage, isClayError, type ErrorCode } from './errors.ts';
import { silentLogger, type Logger } from './log.ts';
import { redactText, redactUrl } from './redact.ts';

/** Options of an HttpClient. */
export interface HttpClientOptions {
  /** Attempts per request, the first included (default 6). */
  maxAttempts?: number;
  /** First backoff delay in ms (default 250); doubles each retry. */
  baseDelayMs?: number;
  /** Ceiling of one backoff delay in ms, Retry-After included (default 30 000). */
  maxDelayMs?: number;
  /** Timeout of one attempt in ms, body included (default 60 000; the CLI's `--http-timeout` in seconds). */
  timeoutMs?: number;
  /**
   * Deadline of one request in ms, every attempt and backoff wait included (default twice `timeoutMs`, at
   * least 30 000): a server that sends headers and then stalls costs this, not attempts x timeout.
   */
  deadlineMs?: number;
  /** Cap of a decoded response body in bytes (default DEFAULT_MAX_BODY_BYTES, 64 MiB); a range is capped by its length. */
  maxBodyBytes?: number;
  /** Source of jitter in [0, 1) (default Math.random; seed it in tests). */
  random?: () => number;
  /** Headers sent with every request (a User-Agent by default). */
  headers?: Record<string, string>;
  logger?: Logger;
}

/** One request. */
export interface HttpRequest {
  method?: 'GET' | 'POST' | 'HEAD';
  headers?: Record<string, string>;
  /** A JSON body (sent as application/json) or raw text. */
  body?: string;
  signal?: AbortSignal;
  /** The code of the error thrown when the request finally fails (default `HTTP`). */
  errorCode?: ErrorCode;
  /** Whether a POST may be retried (GET/HEAD always are). */
  idempotent?: boolean;
  /** Byte range [offset, offset + length) as a single `Range` header; the reply must be 206 and whole. */
  range?: { offset: number; length: number };
  /** Cap of this response's decoded body in bytes (default the client's `maxBodyBytes`). */
  maxBytes?: number;
  /** The body in a SharedArrayBuffer of its own, for worker threads to read without a copy. */
  shared?: boolean;
}

/** Bytes of an error reply read to quote it in the error (the rest is discarded unread). */
const ERROR_BODY_BYTES = 64 * 1024;

/** A successful response with its whole body read. */
export interface HttpResponse {
  url: string;
  status: number;
  headers: Headers;
  body: Uint8Array;
  /** Attempts it took (1 = no retry). */
  attempts: number;
}

/**
 * Why an attempt is retried: a retryable HTTP status, a connection reset (refused, or closed before the
 * response headers), a body cut short of its Content-Length or Content-Range, or an attempt past its timeout.
 */
export type RetryCause = '408' | '429' | '500' | '502' | '503' | '504' | 'reset' | 'truncated' | 'timeout';

/** Every retry cause, in the order summaries list them. */
export const RETRY_CAUSES: readonly RetryCause[] = ['500', '502', '503', '504', '408', '429', 'reset', 'truncated', 'timeout'];

/** Counters of one client, for summaries and tests. */
export interface HttpStats {
  requests: number;
  attempts: number;
  retries: number;
  bytes: number;
  /** Retries by cause; causes that never happened are absent. */
  retryReasons: Partial<Record<RetryCause, number>>;
}

/** Request, attempt and retry counts over an interval, every cause listed (zeros included). */
export interface HttpCounts {
  requests: number;
  attempts: number;
  retries: number;
  retriesByCause: Record<RetryCause, number>;
}

/** A copy of `stats` (to measure an interval with `httpCounts(client.stats, before)`). */
export function snapshotStats(stats: HttpStats): HttpStats {
  return { ...stats, retryReasons: { ...stats.retryReasons } };
}

/** The counts of `stats`, or of what happened since `since` (a snapshot of the same client). */
export function httpCounts(stats: HttpStats, since?: HttpStats): HttpCounts {
  const byCause = Object.fromEntries(RETRY_CAUSES.map((c) => [c, (stats.retryReasons[c] ?? 0) - (since?.retryReasons[c] ?? 0)])) as Record<RetryCause, number>;
  return {
    requests: stats.requests - (since?.requests ?? 0),
    attempts: stats.attempts - (since?.attempts ?? 0),
    retries: stats.retries - (since?.retries ?? 0),
    retriesByCause: byCause,
  };
}

/** A request that failed with an HTTP status (after retries, when the status is retryable). */
export class HttpStatusError extends ClayError {
  readonly status: number;
  readonly bodyText: string;
  constructor(code: ErrorCode, url: string, status: number, bodyText: string, attempts: number) {
    super(code, `HTTP ${status} from ${redactUrl(url)}${attempts > 1 ? ` after ${attempts} attempts` : ''}${summarise(bodyText)}`, {
      input: redactUrl(url),
    });
    this.status = status;
    this.bodyText = bodyText;
  }
}

/** The retry cause of a retryable status, undefined for any other. */
function statusCause(status: number): RetryCause | undefined {
  const cause = String(status);
  return RETRY_CAUSES.find((c) => c === cause);
}

/** A transient failure worth another attempt. */
class Transient extends Error {
  constructor(readonly reason: RetryCause, message: string, readonly retryAfterMs?: number, readonly status?: number, readonly bodyText?: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The HTTP client (one per process or per job; share it so connections are reused). */
export class HttpClient {
  readonly stats: HttpStats = { requests: 0, attempts: 0, retries: 0, bytes: 0, retryReasons: {} };
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly maxBodyBytes: number;
  private readonly random: () => number;
  private readonly headers: Record<string, string>;
  private readonly logger: Logger;

  constructor(options: HttpClientOptions = {}) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 6);
    this.baseDelayMs = options.baseDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.deadlineMs = options.deadlineMs ?? Math.max(2 * this.timeoutMs, 30_000);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.random = options.random ?? Math.random;
    this.headers = { 'user-agent': 'clay-pipeline/0.1 (+node)', ...options.headers };
    this.logger = options.logger ?? silentLogger;
  }

  /** Sends `req` to `url`, retrying transient failures; resolves with the whole body or throws a ClayError. */
  async request(url: string, req: HttpRequest = {}): Promise<HttpResponse> {
    const method = req.method ?? 'GET';
    const retryable = method !== 'POST' || req.idempotent === true;
    const code = req.errorCode ?? 'HTTP';
    this.stats.requests++;
    checkUrl(url);
    const ends = Date.now() + this.deadlineMs;
    const deadline = AbortSignal.timeout(this.deadlineMs);
    let last: Transient | undefined;
    let tries = 0;
    let pastDeadline = false;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      tries = attempt;
      if (req.signal?.aborted) throw aborted(url, req.signal.reason);
      this.stats.attempts++;
      try {
        const res = await this.once(url, method, req, code, attempt, deadline);
        this.stats.bytes += res.body.byteLength;
        return res;
      } catch (err) {
        if (!(err instanceof Transient)) throw err;
        last = err;
        if (req.signal?.aborted) throw aborted(url, req.signal.reason);
        if (!retryable || attempt === this.maxAttempts) break;
        const delay = this.delay(attempt, err.retryAfterMs);
        // A wait that would end past the deadline is not worth starting.
        if (deadline.aborted || Date.now() + delay >= ends) {
          pastDeadline = true;
          break;
        }
        this.stats.retries++;
        this.stats.retryReasons[err.reason] = (this.stats.retryReasons[err.reason] ?? 0) + 1;
        this.logger.warn('Http:Retry', { url: redactUrl(url), attempt, reason: err.reason, delayMs: Math.round(delay) });
        await sleep(delay, req.signal).catch(() => {
          throw aborted(url, req.signal?.reason);
        });
      }
    }
    const attempts = tries;
    if (last?.status !== undefined) {
      const err = new HttpStatusError(code, url, last.status, last.bodyText ?? '', attempts);
      Object.defineProperty(err, 'cause', { value: last, enumerable: false });
      throw err;
    }
    const within = pastDeadline ? ` within the request's deadline of ${this.deadlineMs} ms` : '';
    throw new ClayError(code, `${method} ${redactUrl(url)} failed after ${attempts} attempt${attempts > 1 ? 's' : ''}${within}: ${last?.message ?? 'unknown error'}`, {
      input: redactUrl(url),
      cause: last,
    });
  }

  /** GETs or POSTs JSON and parses it; the value is `unknown` until a validator narrows it. */
  async json(url: string, req: HttpRequest = {}): Promise<unknown> {
    const headers = { accept: 'application/json', ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}), ...req.headers };
    const res = await this.request(url, { ...req, headers });
    const text = new TextDecoder().decode(res.body);
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw new ClayError(req.errorCode ?? 'HTTP', `invalid JSON from ${redactUrl(url)}: ${errorMessage(cause)}`, { input: redactUrl(url), cause });
    }
  }

  private delay(attempt: number, retryAfterMs: number | undefined): number {
    const exp = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    const jittered = exp / 2 + (exp / 2) * this.random();
    return Math.min(this.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0));
  }

  private async once(url: string, method: string, req: HttpRequest, code: ErrorCode, attempt: number, deadline: AbortSignal): Promise<HttpResponse> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = AbortSignal.any(req.signal ? [req.signal, timeout, deadline] : [timeout, deadline]);
    const timedOut = (): boolean => timeout.aborted || deadline.aborted;
    const headers: Record<string, string> = { ...this.headers, ...req.headers };
    if (req.range) headers.range = `bytes=${req.range.offset}-${req.range.offset + req.range.length - 1}`;
    const res = await this.follow(url, { method, headers, body: req.body }, signal, req.signal, timedOut);
    if (req.range && res.ok && res.status !== 206) {
      await res.body?.cancel().catch(() => undefined);
      throw new ClayError(code, `expected 206 Partial Content for a byte range, got ${res.status} from ${redactUrl(url)}`, { input: redactUrl(url) });
    }
    let body: Uint8Array;
    try {
      body = res.ok
        ? await readCapped(res, url, req.range ? req.range.length : req.maxBytes ?? this.maxBodyBytes, 'throw', req.shared === true)
        : await readCapped(res, url, ERROR_BODY_BYTES, 'truncate');
    } catch (cause) {
      if (isClayError(cause)) throw cause;
      if (req.signal?.aborted) throw aborted(url, req.signal.reason);
      throw new Transient(timedOut() ? 'timeout' : 'truncated', `body cut short: ${causeText(cause)}`, undefined, undefined, undefined, { cause });
    }
    if (!res.ok) {
      const text = new TextDecoder().decode(body.subarray(0, 2048));
      const cause = statusCause(res.status);
      if (cause) {
        throw new Transient(cause, `HTTP ${res.status}`, parseRetryAfter(res.headers.get('retry-after')), res.status, text);
      }
      throw new HttpStatusError(code, url, res.status, text, attempt);
    }
    const declared = res.headers.get('content-length');
    if (declared !== null && method !== 'HEAD' && !res.headers.get('content-encoding') && Number(declared) !== body.byteLength) {
      throw new Transient('truncated', `body has ${body.byteLength} of ${declared} bytes`);
    }
    if (req.range) checkRange(url, res, body, req.range, code);
    return { url, status: res.status, headers: res.headers, body, attempts: attempt };
  }

  /** The response at the end of the redirects `nextHop` allows (its body unread). */
  private async follow(url: string, first: { method: string; headers: Record<string, string>; body: string | undefined }, signal: AbortSignal, callerSignal: AbortSignal | undefined, timedOut: () => boolean): Promise<Response> {
    let hop = { url, ...first };
    for (let n = 0; ; n++) {
      let res: Response;
      try {
        res = await fetch(hop.url, { method: hop.method, headers: hop.headers, body: hop.body, signal, redirect: 'manual' });
      } catch (cause) {
        if (callerSignal?.aborted) throw aborted(url, callerSignal.reason);
        if (errnoOf(cause) === 'ENOTFOUND') {
          throw new ClayError('HTTP_HOST_NOT_FOUND', `${hop.method} ${redactUrl(hop.url)}: host ${new URL(hop.url).hostname} not found`, { input: redactUrl(hop.url), cause });
        }
        throw new Transient(timedOut() ? 'timeout' : 'reset', `${timedOut() ? 'timed out' : 'connection failed'}: ${causeText(cause)}`, undefined, undefined, undefined, { cause });
      }
      const location = res.headers.get('location');
      if (!isRedirect(res.status) || location === null) return res;
      await res.body?.cancel().catch(() => undefined);
      hop = nextHop(hop.url, res.status, location, hop, n);
    }
  }
}

/** Throws HTTP_BAD_URL for a URL that no retry can fetch: not a URL, or not http/https (file:, ftp:). */
function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ClayError('HTTP_BAD_URL', `'${redactUrl(url)}' is not a URL`, { input: redactUrl(url) });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ClayError('HTTP_BAD_URL', `${redactUrl(url)}: only http and https URLs are fetched, not ${parsed.protocol}`, { input: redactUrl(url) });
  }
}

/** The errno code (`ENOTFOUND`, `ECONNREFUSED`, ...) somewhere in an error's cause chain. */
function errnoOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ('code' in e && typeof e.code === 'string' && e.code.startsWith('E')) return e.code;
  }
  return undefined;
}

function checkRange(url: string, res: Response, body: Uint8Array, range: { offset: number; length: number }, code: ErrorCode): void {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  if (!m || Number(m[1]) !== range.offset) {
    throw new ClayError(code, `unexpected Content-Range '${res.headers.get('content-range')}' from ${redactUrl(url)}`, { input: redactUrl(url) });
  }
  const expected = Number(m[2]) - Number(m[1]) + 1;
  if (body.byteLength !== expected) throw new Transient('truncated', `range body has ${body.byteLength} of ${expected} bytes`);
}

/** Milliseconds from a Retry-After header (delta-seconds or HTTP date), if any. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function aborted(url: string, reason: unknown): ClayError {
  return new ClayError('HTTP_ABORTED', `request to ${redactUrl(url)} aborted`, { input: redactUrl(url), cause: reason });
}

function causeText(err: unknown): string {
  const inner = err instanceof Error && err.cause instanceof Error ? `${err.message} (${err.cause.message})` : errorMessage(err);
  return inner;
}

function summarise(body: string): string {
  const t = body.replace(/\s+/g, ' ').trim();
  return t ? `: ${redactText(t.slice(0, 200))}` : '';
}

/** Resolves after `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
