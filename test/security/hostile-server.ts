/**
 * A hostile HTTP server on 127.0.0.1 for the security tests: each test gives the handler (redirect, stall,
 * gzip bomb, cross-origin links...), the server records every request it sees (method, path with query,
 * headers, body) so tests can assert what reached it and what never did.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

/** One request as the server saw it. */
export interface Seen {
  method: string;
  /** Path and query string. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A running hostile server. */
export interface Hostile {
  /** `http://127.0.0.1:{port}`. */
  origin: string;
  /** `host:port`, as a blob host entry. */
  host: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** What a handler does with a request (its body already read). */
export type Handler = (req: IncomingMessage, res: ServerResponse, body: string, origin: string) => void;

/** Starts a server on 127.0.0.1 that answers with `handler` and records every request. */
export async function startHostile(handler: Handler): Promise<Hostile> {
  const seen: Seen[] = [];
  const state = { origin: '' };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body });
      handler(req, res, body, state.origin);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  state.origin = `http://127.0.0.1:${port}`;
  return {
    origin: state.origin,
    host: `127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Replies with a JSON value. */
export function sendJson(res: ServerResponse, value: unknown, status = 200): void {
  const payload = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(payload.byteLength) });
  res.end(payload);
}

/** Replies with a redirect. */
export function redirect(res: ServerResponse, status: number, location: string): void {
  res.writeHead(status, { location, 'content-length': '0' });
  res.end();
}

/**
 * A gzip body that inflates to `mib` MiB of zeros: one gzip member of 1 MiB of zeros, repeated (a gzip
 * stream may hold many members; decoders inflate them all). 1024 MiB is about 1 MB on the wire.
 */
export function gzipBomb(mib: number): Buffer {
  const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
  return Buffer.concat(Array.from({ length: mib }, () => member));
}

/** A FeatureCollection page of `features` with an optional `rel=next` link. */
export function page(features: Record<string, unknown>[], next?: Record<string, unknown>): Record<string, unknown> {
  return { type: 'FeatureCollection', features, links: next ? [{ rel: 'next', type: 'application/geo+json', ...next }] : [] };
}
