/**
 * Signed byte-range reads of one blob, through the one HTTP layer (retries, abort, keep-alive), re-signing
 * once after a 403 when a signer is given. Every range must come back whole: a short or unsatisfiable
 * range (the blob is shorter than its header says) is COG_CORRUPT, naming the URL without its token.
 */
import { ClayError } from '../../core/errors.ts';
import { HttpStatusError, type HttpClient } from '../../core/http.ts';
import { redactUrl } from '../../core/redact.ts';
import type { PcSigner } from '../../core/stac/pc-signer.ts';

/** Counters shared by the readers of a job (source bytes and requests). */
export interface ReadStats {
  /** Range requests sent (one per coalesced group or header block run). */
  requests: number;
  /** Bytes received. */
  bytesRead: number;
  /** Tiles decoded, their decoded bytes, and the time spent waiting for decodes (ms). */
  tilesDecoded: number;
  bytesDecoded: number;
  decodeMs: number;
}

/** Fresh zeroed counters. */
export function newReadStats(): ReadStats {
  return { requests: 0, bytesRead: 0, tilesDecoded: 0, bytesDecoded: 0, decodeMs: 0 };
}

/** How a blob is reached. */
export interface BlobAccess {
  http: HttpClient;
  /** Signs the href before each read (cached tokens) and re-signs once after a 403; omit for open URLs. */
  signer?: PcSigner;
  /** Collection whose token signs the href (default: the token of the href's account/container). */
  collection?: string;
  stats?: ReadStats;
}

/** Reads byte ranges of one blob. */
export class RangeReader {
  /** The href without any token (safe to log). */
  readonly url: string;
  readonly stats: ReadStats;
  /** The blob size, once a reply has told it. */
  fileSize: number | undefined;
  private readonly href: string;
  private readonly access: BlobAccess;

  constructor(href: string, access: BlobAccess) {
    this.href = href;
    this.url = redactUrl(href);
    this.access = access;
    this.stats = access.stats ?? newReadStats();
  }

  /**
   * Bytes [offset, offset + length). With `allowShort` (header reads), a reply cut by the end of the blob
   * is returned as is; otherwise it is COG_CORRUPT.
   */
  async read(offset: number, length: number, options: { signal?: AbortSignal; allowShort?: boolean } = {}): Promise<Uint8Array> {
    const { http, signer, collection } = this.access;
    const signal = options.signal;
    const get = (url: string) => http.request(url, { range: { offset, length }, ...(signal ? { signal } : {}), errorCode: 'HTTP' });
    let body: Uint8Array;
    let contentRange: string | null;
    try {
      const res = signer
        ? await signer.withSigned(this.href, get, { ...(collection ? { collection } : {}), ...(signal ? { signal } : {}) })
        : await get(this.href);
      body = res.body;
      contentRange = res.headers.get('content-range');
    } catch (err) {
      if (err instanceof HttpStatusError && err.status === 416) {
        throw new ClayError('COG_CORRUPT', `${this.url}: bytes ${offset}..${offset + length - 1} lie past the end of the blob (truncated COG?)`, { input: this.url, cause: err });
      }
      throw err;
    }
    this.stats.requests++;
    this.stats.bytesRead += body.byteLength;
    const total = /\/(\d+)$/.exec(contentRange ?? '');
    if (total) this.fileSize = Number(total[1]);
    if (body.byteLength < length && !options.allowShort) {
      throw new ClayError('COG_CORRUPT', `${this.url}: got ${body.byteLength} of ${length} bytes at ${offset} (truncated COG?)`, { input: this.url });
    }
    return body;
  }
}
