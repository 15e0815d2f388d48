/**
 * Which redirects the HTTP layer follows, and with what (fetch's own `redirect: 'follow'` turns a POST that
 * meets a 302 into a GET without its body, and forwards every header to wherever the Location points).
 *
 * - 307 and 308 keep the method and the body; 301, 302 and 303 are followed for GET and HEAD only: on a POST
 *   they are an `HTTP_REDIRECT` error, never a silent GET (a STAC search would lose its filter).
 * - Only to http: or https:, never from https: down to http:, at most `MAX_REDIRECTS` hops.
 * - Headers that carry credentials are dropped when the next hop is on another origin (scheme, host, port).
 */
import { ClayError, type ErrorCode } from './errors.ts';
import { redactUrl } from './redact.ts';

/** Hops followed per request before giving up (fetch's own limit is 20). */
export const MAX_REDIRECTS = 5;

/** Header names that carry credentials: they are sent to the origin they were meant for only. */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie)$|key|token|secret|signature|password|session/i;

/** Whether a header name carries credentials (`Ocp-Apim-Subscription-Key`, `Authorization`, ...). */
export function isCredentialHeader(name: string): boolean {
  return CREDENTIAL_HEADER.test(name);
}

/** The redirect statuses. */
export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** The next hop of a redirect. */
export interface NextHop {
  url: string;
  method: string;
  body: string | undefined;
  headers: Record<string, string>;
}

/**
 * The next request after a redirect from `from` (hop number `hop`, 0-based), or an HTTP_REDIRECT error
 * naming why it is not followed. A 3xx without Location is not a redirect (the caller treats it as a status).
 */
export function nextHop(from: string, status: number, location: string, request: { method: string; body: string | undefined; headers: Record<string, string> }, hop: number): NextHop {
  const refuse = (why: string, code: ErrorCode = 'HTTP_REDIRECT'): ClayError =>
    new ClayError(code, `${request.method} ${redactUrl(from)}: HTTP ${status} redirect not followed: ${why}`, { input: redactUrl(from) });
  if (hop >= MAX_REDIRECTS) throw refuse(`more than ${MAX_REDIRECTS} redirects`);
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw refuse('the Location is not a URL');
  }
  const source = new URL(from);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw refuse(`to a ${target.protocol} URL`);
  if (source.protocol === 'https:' && target.protocol === 'http:') throw refuse('from https down to http');
  const keepsMethod = status === 307 || status === 308;
  if (!keepsMethod && request.method === 'POST') throw refuse(`a ${status} would turn the POST into a GET without its body (only 307/308 keep them)`);
  const headers = target.origin === source.origin
    ? request.headers
    : Object.fromEntries(Object.entries(request.headers).filter(([name]) => !isCredentialHeader(name)));
  return { url: target.toString(), method: request.method, body: keepsMethod ? request.body : undefined, headers };
}
