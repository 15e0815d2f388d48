/**
 * Planetary Computer signing. Blob assets need a SAS token: `GET {sasApi}/token/{collection}` (or
 * `/token/{account}/{container}`) returns `{"msft:expiry", "token"}`; the token becomes the query string
 * of the href. Tokens are container-scoped and cached per collection or container until `refreshMarginMs`
 * before expiry (the PC SDK refreshes with < 60 s left), or half their lifetime before it when they live
 * less than two margins (a short-lived token is then not fetched again for every request). `withSigned`
 * re-signs once after a 403, for a token that expired or was revoked mid-run (or a server clock ahead of ours). Tokens and the subscription key never reach logs or errors.
 * Only hrefs on the configured blob hosts are signed (as the PC SDK signs only `*.blob.core.windows.net`):
 * a STAC item pointing elsewhere never gets a token.
 */
import { ClayError } from '../errors.ts';
import { HttpStatusError, type HttpClient } from '../http.ts';
import { silentLogger, type Logger } from '../log.ts';
import { redactUrl, registerSecret } from '../redact.ts';

/** The default SAS API of the Planetary Computer. */
export const PC_SAS_API = 'https://planetarycomputer.microsoft.com/api/sas/v1';

/** The Planetary Computer's blob hosts (Azure host style, `{account}.blob.core.windows.net`). */
export const PC_BLOB_HOSTS: readonly string[] = ['*.blob.core.windows.net'];

/** Where a blob lives: storage account and container. */
export interface BlobLocation {
  account: string;
  container: string;
}

/** Options of a PcSigner. */
export interface PcSignerOptions {
  http: HttpClient;
  /** SAS API root (default the Planetary Computer's, or `PC_SAS_API` in the environment). */
  sasApi?: string;
  /** `Ocp-Apim-Subscription-Key` value (default `PC_SDK_SUBSCRIPTION_KEY` from the environment). */
  subscriptionKey?: string;
  /**
   * Hosts whose hrefs are signed; no other href gets a token. `*.example.net` matches `{account}.example.net`
   * (Azure host style: the container is the first path segment); an exact `host` or `host:port` is Azure's
   * path style (`/{account}/{container}/...`, as the storage emulator and the miniature Planetary Computer
   * serve). Default PC_BLOB_HOSTS, plus the SAS API's own host when that is not the Planetary Computer's:
   * a token then only goes back to the server that issued it.
   */
  blobHosts?: readonly string[];
  /** Refresh a cached token when less than this is left (ms, default 60 000). */
  refreshMarginMs?: number;
  /** Clock in ms (default Date.now), for tests. */
  now?: () => number;
  logger?: Logger;
}

interface CachedToken {
  token: string;
  expiry: number;
  /** When to fetch a fresh one (ms, our clock). */
  refreshAt: number;
}

/**
 * Where a blob href points, or undefined when it is not on one of `hosts` (and so is never signed); see
 * `PcSignerOptions.blobHosts` for the two styles. Only http(s) hrefs match.
 */
export function blobLocation(href: string, hosts: readonly string[] = PC_BLOB_HOSTS): BlobLocation | undefined {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  const segments = url.pathname.split('/').filter(Boolean);
  for (const pattern of hosts.map((h) => h.toLowerCase())) {
    if (pattern.startsWith('*.')) {
      const suffix = pattern.slice(1);
      const account = url.hostname.endsWith(suffix) ? url.hostname.slice(0, -suffix.length) : '';
      if (/^[a-z0-9]+$/.test(account) && segments.length >= 2) return { account, container: segments[0]! };
    } else if (url.host === pattern && segments.length >= 3) {
      return { account: segments[0]!, container: segments[1]! };
    }
  }
  return undefined;
}

/** The blob hosts of a signer: the given ones, or the PC's plus the host of a SAS API that is not the PC's. */
function defaultBlobHosts(sasApi: string): readonly string[] {
  if (sasApi === PC_SAS_API) return PC_BLOB_HOSTS;
  try {
    return [...PC_BLOB_HOSTS, new URL(sasApi).host];
  } catch {
    return PC_BLOB_HOSTS;
  }
}

/** True when the href already carries a SAS token (st, se and sp present): such hrefs are left alone. */
export function isSigned(href: string): boolean {
  try {
    const q = new URL(href).searchParams;
    return q.has('st') && q.has('se') && q.has('sp');
  } catch {
    return false;
  }
}

/** Counters of a signer. */
export interface SignerStats {
  tokenRequests: number;
  /** Token requests per scope (a collection id, or `account/container`). */
  tokenRequestsByScope: Record<string, number>;
  cacheHits: number;
  refreshesOn403: number;
}

/** Signs Planetary Computer asset hrefs with cached SAS tokens. */
export class PcSigner {
  readonly sasApi: string;
  /** The hosts whose hrefs are signed (see `PcSignerOptions.blobHosts`). */
  readonly blobHosts: readonly string[];
  readonly stats: SignerStats = { tokenRequests: 0, tokenRequestsByScope: {}, cacheHits: 0, refreshesOn403: 0 };
  private readonly http: HttpClient;
  private readonly key: string | undefined;
  private readonly marginMs: number;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly cache = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(options: PcSignerOptions) {
    this.http = options.http;
    this.sasApi = (options.sasApi ?? process.env.PC_SAS_API ?? PC_SAS_API).replace(/\/+$/, '');
    this.blobHosts = options.blobHosts ?? defaultBlobHosts(this.sasApi);
    this.key = options.subscriptionKey ?? (process.env.PC_SDK_SUBSCRIPTION_KEY || undefined);
    registerSecret(this.key);
    this.marginMs = options.refreshMarginMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
  }

  /** A valid token for a collection or a blob container, from the cache when fresh enough. */
  async token(scope: { collection: string } | BlobLocation, options: { signal?: AbortSignal } = {}): Promise<string> {
    const path = 'collection' in scope ? scope.collection : `${scope.account}/${scope.container}`;
    const cached = this.cache.get(path);
    if (cached && this.now() < cached.refreshAt) {
      this.stats.cacheHits++;
      return cached.token;
    }
    let inflight = this.pending.get(path);
    if (!inflight) {
      inflight = this.fetchToken(path, options.signal).finally(() => this.pending.delete(path));
      this.pending.set(path, inflight);
    }
    return (await inflight).token;
  }

  /**
   * The href with a token appended. Hrefs outside blob storage, and hrefs already signed, are returned
   * unchanged. With `collection`, the token is asked for by collection; otherwise by account/container.
   */
  async sign(href: string, options: { collection?: string; signal?: AbortSignal } = {}): Promise<string> {
    return (await this.signWith(href, options)).url;
  }

  /**
   * Forgets the cached token of a scope (the next `sign` fetches a new one); with `token`, only when that
   * is still the cached one (several requests failing with one stale token drop it once, not its successor).
   */
  invalidate(href: string, collection?: string, token?: string): void {
    const where = blobLocation(href, this.blobHosts);
    for (const scope of [collection, where ? `${where.account}/${where.container}` : undefined]) {
      if (scope !== undefined && (token === undefined || this.cache.get(scope)?.token === token)) this.cache.delete(scope);
    }
  }

  /**
   * Runs `use` with a signed href; on a 403 (expired or revoked token) it drops the cached token, signs
   * again and retries once. Any other failure, or a second 403, propagates.
   */
  async withSigned<T>(href: string, use: (signed: string) => Promise<T>, options: { collection?: string; signal?: AbortSignal } = {}): Promise<T> {
    const first = await this.signWith(href, options);
    try {
      return await use(first.url);
    } catch (err) {
      if (!(err instanceof HttpStatusError) || err.status !== 403 || first.token === undefined) throw err;
      this.stats.refreshesOn403++;
      this.logger.warn('Sas:Refresh', { url: redactUrl(href), reason: '403' });
      this.invalidate(href, options.collection, first.token);
      return use(await this.sign(href, options));
    }
  }

  /** The signed href and the token it carries (none for hrefs left alone). */
  private async signWith(href: string, options: { collection?: string; signal?: AbortSignal }): Promise<{ url: string; token?: string }> {
    const where = blobLocation(href, this.blobHosts);
    if (!where || isSigned(href)) return { url: href };
    const token = await this.token(options.collection ? { collection: options.collection } : where, options);
    const url = new URL(href);
    for (const [k, v] of new URLSearchParams(token)) url.searchParams.set(k, v);
    return { url: url.toString(), token };
  }

  private async fetchToken(path: string, signal: AbortSignal | undefined): Promise<CachedToken> {
    const url = `${this.sasApi}/token/${path}`;
    const asked = this.now();
    this.stats.tokenRequests++;
    this.stats.tokenRequestsByScope[path] = (this.stats.tokenRequestsByScope[path] ?? 0) + 1;
    const json = await this.http.json(url, {
      signal,
      errorCode: 'SAS_HTTP',
      headers: this.key ? { 'ocp-apim-subscription-key': this.key } : {},
    });
    if (typeof json !== 'object' || json === null) throw new ClayError('SAS_HTTP', `token response from ${url} is not an object`, { input: url });
    const record = json as Record<string, unknown>;
    const token = record.token;
    const expiryText = record['msft:expiry'];
    const expiry = typeof expiryText === 'string' ? Date.parse(expiryText) : NaN;
    if (typeof token !== 'string' || !token || Number.isNaN(expiry)) {
      throw new ClayError('SAS_HTTP', `token response from ${url} lacks 'token' or 'msft:expiry'`, { input: url });
    }
    registerSecret(token);
    registerSecret(new URLSearchParams(token).get('sig') ?? undefined);
    const entry = { token, expiry, refreshAt: expiry - Math.min(this.marginMs, Math.max(0, expiry - asked) / 2) };
    this.cache.set(path, entry);
    this.logger.info('Sas:Token', { scope: path, expiresInS: Math.round((expiry - this.now()) / 1000) });
    return entry;
  }
}
