/**
 * SAS tokens of the miniature Planetary Computer: container-scoped, HMAC-signed, expiring, shaped like
 * Azure's (`st=..&se=..&sp=rl&sv=..&sr=c&skoid=..&sig=..`). A token for one container does not open another.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The outcome of checking a blob request's query string. */
export type TokenCheck = { ok: true } | { ok: false; reason: 'missing' | 'tampered' | 'expired' | 'wrong-container' | 'not-yet-valid' };

/** Issues and verifies container-scoped tokens with one secret. */
export class SasAuthority {
  /** `ttlSeconds`: lifetime of the tokens issued from now on (settable, to expire tokens mid-run). */
  constructor(private readonly secret: string, public ttlSeconds: number, private readonly now: () => number) {}

  /** A token for account/container, valid from now for ttlSeconds; returns the token and its expiry. */
  issue(account: string, container: string): { token: string; expiry: Date } {
    const start = new Date(Math.floor(this.now() / 1000) * 1000 - 60_000);
    const expiry = new Date(Math.floor(this.now() / 1000) * 1000 + this.ttlSeconds * 1000);
    const st = isoSeconds(start);
    const se = isoSeconds(expiry);
    const params = new URLSearchParams({ st, se, sp: 'rl', sv: '2021-06-08', sr: 'c', skoid: 'c85c15d6-d1ae-42d4-af60-e2ca0f81359b' });
    params.set('sig', this.signature(account, container, st, se));
    return { token: params.toString(), expiry };
  }

  /** Checks the SAS parameters of a blob URL's query for account/container. */
  verify(account: string, container: string, query: URLSearchParams): TokenCheck {
    const sig = query.get('sig');
    const st = query.get('st');
    const se = query.get('se');
    if (!sig || !st || !se) return { ok: false, reason: 'missing' };
    const expected = Buffer.from(this.signature(account, container, st, se));
    const given = Buffer.from(sig);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      // A valid signature for another container is a different failure from a forged one.
      return { ok: false, reason: 'tampered' };
    }
    const now = this.now();
    if (Date.parse(se) <= now) return { ok: false, reason: 'expired' };
    if (Date.parse(st) > now) return { ok: false, reason: 'not-yet-valid' };
    return { ok: true };
  }

  private signature(account: string, container: string, st: string, se: string): string {
    return createHmac('sha256', this.secret).update(`${account}\n${container}\n${st}\n${se}\nrl`).digest('base64');
  }
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
