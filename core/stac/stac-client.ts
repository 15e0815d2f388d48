/**
 * STAC API search client: `POST {api}/search` with a CQL2-JSON body, paged through `rel=next` links as an
 * async iterator (POST links re-send their `body`, merged into the original when `merge` is true; GET
 * links are followed as they are). Searches are read-only, so the HTTP layer retries them. A `next` link to
 * another origin than the API's is refused (STAC_CROSS_ORIGIN) unless `nextLinks: 'any-origin'`: a hostile
 * page must not steer the client, its searches and its headers to a host the user never named.
 */
import { ClayError } from '../errors.ts';
import type { HttpClient } from '../http.ts';
import { silentLogger, type Logger } from '../log.ts';
import { redactUrl } from '../redact.ts';
import { asStacItem, type StacItem } from './stac-item.ts';
import type { GeoJsonGeometry } from '../geometry.ts';

/** A CQL2-JSON expression (the subset the pipeline writes). */
export type Cql2 =
  | { op: 'and' | 'or'; args: Cql2[] }
  | { op: 'not'; args: [Cql2] }
  | { op: '=' | '<' | '<=' | '>' | '>=' | '<>'; args: [{ property: string }, string | number | boolean] }
  | { op: 's_intersects'; args: [{ property: 'geometry' }, GeoJsonGeometry] }
  | { op: 'anyinteracts'; args: [{ property: string }, string | { interval: [string, string] }] };

/** GeoJSON geometries (re-exported from core/geometry.ts). */
export type { GeoJsonGeometry } from '../geometry.ts';

/** The body of a STAC item search. */
export interface SearchBody {
  collections?: string[];
  ids?: string[];
  bbox?: [number, number, number, number];
  intersects?: GeoJsonGeometry;
  datetime?: string;
  'filter-lang'?: 'cql2-json';
  filter?: Cql2;
  sortby?: { field: string; direction: 'asc' | 'desc' }[];
  /** Page size (the API's default when absent: 250 on the Planetary Computer). */
  limit?: number;
  /** Paging token, set from `rel=next` links. */
  token?: string;
}

/** Options of a StacClient. */
export interface StacClientOptions {
  /** API root, e.g. `https://planetarycomputer.microsoft.com/api/stac/v1`. */
  url: string;
  http: HttpClient;
  /** Which `rel=next` links are followed: on the API's own origin only (default), or on any origin. */
  nextLinks?: 'same-origin' | 'any-origin';
  logger?: Logger;
}

/** Counters of a StacClient: each page fetched is one request. */
export interface StacStats {
  searches: number;
  pages: number;
  items: number;
}

interface NextLink {
  href: string;
  method: 'GET' | 'POST';
  body?: Record<string, unknown>;
  merge: boolean;
}

/** A STAC API client for item searches. */
export class StacClient {
  readonly url: string;
  readonly stats: StacStats = { searches: 0, pages: 0, items: 0 };
  private readonly http: HttpClient;
  private readonly nextLinks: 'same-origin' | 'any-origin';
  private readonly logger: Logger;

  constructor(options: StacClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.http = options.http;
    this.nextLinks = options.nextLinks ?? 'same-origin';
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Every item matching `body`, page by page, validated as generic STAC items. `onPage` is called once per
   * page requested (one HTTP request, retries aside), so concurrent callers can count their own requests.
   */
  async *search(body: SearchBody, options: { signal?: AbortSignal; onPage?: () => void } = {}): AsyncGenerator<StacItem> {
    this.stats.searches++;
    const started = Date.now();
    let url = `${this.url}/search`;
    let method: 'GET' | 'POST' = 'POST';
    let payload: Record<string, unknown> | undefined = { ...body };
    let count = 0;
    for (let page = 0; ; page++) {
      this.stats.pages++;
      options.onPage?.();
      const json = await this.http.json(url, {
        method,
        body: method === 'POST' ? JSON.stringify(payload) : undefined,
        signal: options.signal,
        errorCode: 'STAC_HTTP',
        idempotent: true,
      });
      const { features, next } = parsePage(json, url);
      for (const feature of features) {
        count++;
        this.stats.items++;
        yield asStacItem(feature, url);
      }
      if (!next || features.length === 0) break;
      if (page > 100_000) throw new ClayError('STAC_INVALID', `paging from ${url} does not end`, { input: url });
      if (this.nextLinks === 'same-origin' && originOf(next.href) !== originOf(this.url)) {
        throw new ClayError('STAC_CROSS_ORIGIN', `the next page of a search on ${this.url} is on another origin (${redactUrl(next.href)}); not followed`, { input: redactUrl(next.href) });
      }
      url = next.href;
      method = next.method;
      payload = next.method === 'POST' ? (next.merge ? { ...payload, ...next.body } : next.body ?? payload) : undefined;
    }
    this.logger.debug('Stac:Search', { url: this.url, collections: body.collections, items: count, ms: Date.now() - started });
  }

  /** All items of a search, in the API's order. */
  async searchAll(body: SearchBody, options: { signal?: AbortSignal } = {}): Promise<StacItem[]> {
    const out: StacItem[] = [];
    for await (const item of this.search(body, options)) out.push(item);
    return out;
  }
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function parsePage(json: unknown, url: string): { features: unknown[]; next: NextLink | undefined } {
  if (!isRecord(json) || !Array.isArray(json.features)) {
    throw new ClayError('STAC_INVALID', `search response from ${url} is not a FeatureCollection with features`, { input: url });
  }
  let next: NextLink | undefined;
  if (Array.isArray(json.links)) {
    for (const link of json.links) {
      if (!isRecord(link) || link.rel !== 'next' || typeof link.href !== 'string') continue;
      const method = link.method === 'POST' ? 'POST' : 'GET';
      const href = URL.canParse(link.href, url) ? new URL(link.href, url).toString() : undefined;
      if (href === undefined) throw new ClayError('STAC_INVALID', `search response from ${url} has a next link that is not a URL`, { input: url });
      next = {
        href,
        method,
        body: isRecord(link.body) ? link.body : undefined,
        merge: link.merge === true,
      };
    }
  }
  return { features: json.features, next };
}

/** True for a non-null, non-array object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
