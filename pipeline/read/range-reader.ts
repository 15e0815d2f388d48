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
  /** Requests that asked again for bytes of the same blob already received in this job, and those bytes. */
  rereads: number;
  rereadBytes: number;
  /** The byte ranges received so far, per blob (its URL without token): what makes a read a re-read. */
  readonly ranges: Map<string, Interval[]>;
}

/** A half-open byte range [start, end). */
type Interval = [number, number];

/** Fresh zeroed counters. */
export function newReadStats(): ReadStats {
  return { requests: 0, bytesRead: 0, tilesDecoded: 0, bytesDecoded: 0, decodeMs: 0, rereads: 0, rereadBytes: 0, ranges: new Map() };
}

/**
 * Adds [start, end) to the sorted, disjoint `list` (merging what touches it) and returns how many of
 * its bytes were in the list already.
 */
export function addInterval(list: Interval[], start: number, end: number): number {
  let overlap = 0;
  let i = 0;
  while (i < list.length && list[i]![1] < start) i++;
  let s = start;
  let e = end;
  let j = i;
  while (j < list.length && list[j]![0] <= end) {
    const [a, b] = list[j]!;
    overlap += Math.max(0, Math.min(b, end) - Math.max(a, start));
    s = Math.min(s, a);
    e = Math.max(e, b);
    j++;
  }
  list.splice(i, j - i, [s, e]);
  return overlap;
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
   * is returned as is; otherwise it is COG_CORRUPT. With `shared`, the bytes are on a SharedArrayBuffer.
   */
  async read(offset: number, length: number, options: { signal?: AbortSignal; allowShort?: boolean; shared?: boolean } = {}): Promise<Uint8Array> {
    const { http, signer, collection } = this.access;
    const signal = options.signal;
    const get = (url: string) => http.request(url, { range: { offset, length }, ...(signal ? { signal } : {}), ...(options.shared ? { shared: true } : {}), errorCode: 'HTTP' });
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
    if (body.byteLength > 0) {
      let seen = this.stats.ranges.get(this.url);
      if (seen === undefined) this.stats.ranges.set(this.url, (seen = []));
      const again = addInterval(seen, offset, offset + body.byteLength);
      if (again > 0) {
        this.stats.rereads++;
        this.stats.rereadBytes += again;
      }
    }
    const total = /\/(\d+)$/.exec(contentRange ?? '');
    if (total) this.fileSize = Number(total[1]);
    if (body.byteLength < length && !options.allowShort) {
      throw new ClayError('COG_CORRUPT', `${this.url}: got ${body.byteLength} of ${length} bytes at ${offset} (truncated COG?)`, { input: this.url });
    }
    return body;
  }
}
