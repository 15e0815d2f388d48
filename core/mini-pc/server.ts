/**
 * A miniature Planetary Computer on 127.0.0.1, for tests and the demo: a STAC API (landing page,
 * collections, items, `/search` by POST and GET with PC's paging and pgstac's datetime rules), the SAS
 * token endpoint (container-scoped HMAC tokens; with `requireToken`, blobs answer 403 to a missing,
 * tampered or expired token), blobs with single HTTP ranges (206/416; several ranges get the whole blob,
 * as Azure does), a request log that never holds tokens, and seeded fault injection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { open, stat } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { SearchBody } from '../stac/stac-client.ts';
import { FaultInjector, type FaultKind, type FaultOptions, type Service } from './faults.ts';
import { SasAuthority } from './sas.ts';
import { bodyFromQuery, search } from './search.ts';
import { rewriteHrefs, type Universe, type UniverseItem } from './universe.ts';
import { blobLocation } from '../stac/pc-signer.ts';

/** Options of `startMiniPc`. */
export interface MiniPcOptions {
  universe: Universe;
  /** Blobs need a valid SAS token (default true). */
  requireToken?: boolean;
  /** Lifetime of issued tokens in seconds (default 3600). */
  tokenTtlSeconds?: number;
  /** Clock in ms (default Date.now): move it forward to expire tokens mid-run. */
  now?: () => number;
  faults?: FaultOptions;
  /** Port (default 0: a free one). */
  port?: number;
}

/** One logged request: no query strings, so never a token. */
export interface LoggedRequest {
  service: Service;
  method: string;
  path: string;
  status: number;
  range?: string;
  fault?: FaultKind;
  /** Whether the request carried a SAS signature / a subscription key (never their values). */
  signed: boolean;
  subscriptionKey: boolean;
  bytes: number;
  /** The body of a STAC POST (search bodies carry no secrets). */
  body?: string;
}

/** A running miniature Planetary Computer. */
export interface MiniPc {
  /** Origin, e.g. `http://127.0.0.1:43121`. */
  origin: string;
  stacApi: string;
  sasApi: string;
  requests: LoggedRequest[];
  /** The fault injector: `faults.counts()` are the faults injected so far, by kind and service. */
  faults: FaultInjector;
  /** Sets the lifetime of the SAS tokens issued from now on (seconds). */
  setTokenTtl(seconds: number): void;
  /**
   * While on, the first signed blob request of each container (counted from the call) is answered only
   * once its token has expired by the server's clock, so every container's reads outlive a token whatever
   * the job's speed. Off by default.
   */
  holdFirstBlobUntilExpiry(on: boolean): void;
  close(): Promise<void>;
}

const STAC_PATH = '/api/stac/v1';
const SAS_PATH = '/api/sas/v1';

/** Starts a miniature Planetary Computer on 127.0.0.1. */
export async function startMiniPc(options: MiniPcOptions): Promise<MiniPc> {
  const now = options.now ?? Date.now;
  const sas = new SasAuthority(`mini-pc-${Math.random()}`, options.tokenTtlSeconds ?? 3600, now);
  const faults = new FaultInjector(options.faults);
  const requests: LoggedRequest[] = [];
  let items: UniverseItem[] = [];
  let collections: Record<string, unknown>[] = [];
  const state = { origin: '' };
  /** Containers whose first blob request was held, while holding is on (undefined: off). */
  let held: Set<string> | undefined;

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) reply(res, 500, { code: 'InternalServerError', description: String(err) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', state.origin);
    const service: Service = url.pathname.startsWith(STAC_PATH) ? 'stac' : url.pathname.startsWith(SAS_PATH) ? 'sas' : 'blob';
    const body = await readBody(req);
    const entry: LoggedRequest = {
      service, method: req.method ?? 'GET', path: url.pathname, status: 0,
      signed: url.searchParams.has('sig'), subscriptionKey: req.headers['ocp-apim-subscription-key'] !== undefined, bytes: 0,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(service === 'stac' && body ? { body } : {}),
    };
    requests.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    const fault = faults.decide(service, url.pathname, `${req.method} ${url.pathname}?${url.searchParams.get('token') ?? ''} ${req.headers.range ?? ''} ${body}`, { bodiless: req.method === 'HEAD' });
    if (fault) entry.fault = fault;
    const send = (status: number, payload: Uint8Array, headers: Record<string, string>): void => {
      entry.status = status;
      entry.bytes = payload.byteLength;
      if (fault === 'reset') return void req.socket.destroy();
      if (fault === 'truncate') {
        // At least one byte promised and missing, so even an empty reply is visibly cut short.
        res.writeHead(status, { ...headers, 'content-length': String(Math.max(1, payload.byteLength)) });
        res.write(payload.subarray(0, Math.floor(payload.byteLength / 2)));
        return void setImmediate(() => res.destroy());
      }
      res.writeHead(status, { 'content-length': String(payload.byteLength), ...headers });
      res.end(payload);
    };
    if (fault === '500' || fault === '503' || fault === '429') {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault === '429') headers['retry-after'] = String(faults.retryAfterSeconds);
      return send(Number(fault), Buffer.from(JSON.stringify({ code: 'Injected', description: `injected ${fault}` })), headers);
    }
    const json = (status: number, value: unknown): void => {
      let payload: Uint8Array = Buffer.from(JSON.stringify(value));
      const headers: Record<string, string> = { 'content-type': status === 200 && url.pathname.endsWith('/search') ? 'application/geo+json' : 'application/json' };
      if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && payload.byteLength > 1024) {
        payload = gzipSync(payload);
        headers['content-encoding'] = 'gzip';
      }
      send(status, payload, headers);
    };
    if (service === 'stac') return stac(req.method ?? 'GET', url, body, json);
    if (service === 'sas') return token(url, json);
    return blob(req, url, send);
  }

  function stac(method: string, url: URL, body: string, json: (s: number, v: unknown) => void): void {
    const path = url.pathname.slice(STAC_PATH.length).replace(/\/+$/, '');
    const base = `${state.origin}${STAC_PATH}`;
    if (path === '') {
      return json(200, {
        type: 'Catalog', id: 'microsoft-pc', title: 'Miniature Planetary Computer STAC API', stac_version: '1.0.0', description: 'Loopback test universe',
        conformsTo: ['https://api.stacspec.org/v1.0.0-rc.1/core', 'https://api.stacspec.org/v1.0.0-rc.1/item-search', 'https://api.stacspec.org/v1.0.0-rc.1/item-search#filter', 'https://api.stacspec.org/v1.0.0-rc.1/item-search#sort', 'http://www.opengis.net/spec/cql2/1.0/conf/cql2-json'],
        links: [{ rel: 'self', href: base }, { rel: 'search', type: 'application/geo+json', href: `${base}/search`, method: 'GET' }, { rel: 'search', type: 'application/geo+json', href: `${base}/search`, method: 'POST' }, { rel: 'data', href: `${base}/collections` }],
      });
    }
    if (path === '/collections') return json(200, { collections, links: [] });
    const coll = /^\/collections\/([^/]+)(?:\/items\/([^/]+))?$/.exec(path);
    if (coll) {
      const c = collections.find((x) => x.id === coll[1]);
      if (!c) return json(404, { code: 'NotFoundError', description: `No collection with id '${coll[1]}' found!` });
      if (!coll[2]) return json(200, c);
      const it = items.find((x) => x.collection === coll[1] && x.id === coll[2]);
      return it ? json(200, it.json) : json(404, { code: 'NotFoundError', description: `No item with id '${coll[2]}' found!` });
    }
    if (path !== '/search') return json(404, { code: 'NotFoundError', description: `No route for ${url.pathname}` });
    let query: SearchBody;
    try {
      query = method === 'POST' ? (JSON.parse(body || '{}') as SearchBody) : bodyFromQuery(url.searchParams);
      const page = search(items, query);
      const links: Record<string, unknown>[] = [{ rel: 'root', href: base }];
      if (page.nextToken) {
        if (method === 'POST') links.push({ rel: 'next', type: 'application/geo+json', method: 'POST', href: `${base}/search`, body: { ...query, token: page.nextToken } });
        else {
          const next = new URL(url);
          next.searchParams.set('token', page.nextToken);
          links.push({ rel: 'next', type: 'application/geo+json', method: 'GET', href: next.toString() });
        }
      }
      return json(200, { type: 'FeatureCollection', features: page.features.map((f) => f.json), links });
    } catch (err) {
      return json(400, { code: 'BadRequest', description: err instanceof Error ? err.message : String(err) });
    }
  }

  function token(url: URL, json: (s: number, v: unknown) => void): void {
    const parts = url.pathname.slice(`${SAS_PATH}/token/`.length).split('/').filter(Boolean);
    let scope: { account: string; container: string } | undefined;
    if (parts.length === 2) scope = { account: parts[0]!, container: parts[1]! };
    else if (parts.length === 1) scope = containerOfCollection(parts[0]!);
    if (!url.pathname.startsWith(`${SAS_PATH}/token/`) || !scope) return json(404, { code: 'NotFoundError', description: `unknown token scope '${parts.join('/')}'` });
    const issued = sas.issue(scope.account, scope.container);
    return json(200, { 'msft:expiry': issued.expiry.toISOString().replace(/\.\d{3}Z$/, 'Z'), token: issued.token });
  }

  function containerOfCollection(id: string): { account: string; container: string } | undefined {
    const c = collections.find((x) => x.id === id);
    if (c && typeof c['msft:storage_account'] === 'string' && typeof c['msft:container'] === 'string') {
      return { account: c['msft:storage_account'], container: c['msft:container'] };
    }
    const item = items.find((x) => x.collection === id);
    const assets = item?.json.assets as Record<string, { href?: string }> | undefined;
    const href = assets ? Object.values(assets).find((a) => typeof a.href === 'string')?.href : undefined;
    return href ? blobLocation(href, [new URL(state.origin).host]) : undefined;
  }

  async function blob(req: IncomingMessage, url: URL, send: (s: number, p: Uint8Array, h: Record<string, string>) => void): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const xml = (status: number, code: string, message: string): void =>
      send(status, Buffer.from(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`), { 'content-type': 'application/xml' });
    if (parts.length < 3) return xml(400, 'InvalidUri', 'The requested URI does not represent any resource on the server.');
    const [account, container] = [parts[0]!, parts[1]!];
    if (options.requireToken ?? true) {
      const check = sas.verify(account, container, url.searchParams);
      if (!check.ok) return xml(403, 'AuthenticationFailed', `Server failed to authenticate the request (${check.reason}).`);
      const expiry = Date.parse(url.searchParams.get('se') ?? '');
      if (held && !held.has(`${account}/${container}`) && Number.isFinite(expiry)) {
        held.add(`${account}/${container}`);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiry - now()) + 50));
      }
    }
    const data = await readBlob(parts.join('/'));
    if (!data) return xml(404, 'BlobNotFound', 'The specified blob does not exist.');
    const size = data.size;
    const base = { 'accept-ranges': 'bytes', 'content-type': 'image/tiff', etag: `"${size}"` };
    const range = req.headers.range;
    const m = range ? /^bytes=(\d*)-(\d*)$/.exec(range.trim()) : null;
    if (!range || !m || (m[1] === '' && m[2] === '')) {
      // HEAD (Azure's Get Blob Properties): the blob's size as Content-Length, no body.
      if (req.method === 'HEAD') return send(200, new Uint8Array(0), { ...base, 'content-length': String(size) });
      return send(200, await data.read(0, size), base);
    }
    let start: number, end: number;
    if (m[1] === '') {
      start = Math.max(0, size - Number(m[2]));
      end = size - 1;
    } else {
      start = Number(m[1]);
      end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    }
    if (start >= size || start > end) return send(416, new Uint8Array(0), { ...base, 'content-range': `bytes */${size}` });
    return send(206, await data.read(start, end - start + 1), { ...base, 'content-range': `bytes ${start}-${end}/${size}` });
  }

  async function readBlob(key: string): Promise<{ size: number; read(offset: number, length: number): Promise<Uint8Array> } | undefined> {
    const mem = options.universe.blobs?.get(key);
    if (mem) return { size: mem.byteLength, read: async (o, l) => mem.subarray(o, o + l) };
    if (!options.universe.blobDir) return undefined;
    const root = normalize(options.universe.blobDir);
    const file = normalize(join(root, key));
    if (!file.startsWith(root + sep)) return undefined;
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    return {
      size: info.size,
      read: async (offset, length) => {
        const fh = await open(file, 'r');
        try {
          const buf = Buffer.alloc(length);
          await fh.read(buf, 0, length, offset);
          return buf;
        } finally {
          await fh.close();
        }
      },
    };
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  items = options.universe.items.map((it) => ({ ...it, json: rewriteHrefs(it.json, state.origin) }));
  collections = options.universe.collections;
  return {
    origin: state.origin,
    stacApi: `${state.origin}${STAC_PATH}`,
    sasApi: `${state.origin}${SAS_PATH}`,
    requests,
    faults,
    setTokenTtl: (seconds) => {
      sas.ttlSeconds = seconds;
    },
    holdFirstBlobUntilExpiry: (on) => {
      held = on ? new Set() : undefined;
    },
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Re-exported for callers that build universes in memory. */
export type { Universe } from './universe.ts';

/** A JSON reply for a request whose handler threw. */
function reply(res: ServerResponse, status: number, value: unknown): void {
  const payload = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(payload.byteLength) });
  res.end(payload);
}
