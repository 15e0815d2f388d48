/**
 * Fault injection for the miniature Planetary Computer: seeded random faults at a rate, and scripted
 * faults ("the next 3 STAC requests get 503"). Random faults are bounded per request: the same request
 * (method, path, range) is never faulted more than `maxPerRequest` times in a row, so a client that
 * retries enough always gets through.
 */
import { mulberry32 } from '../random.ts';

/** The services of the miniature PC. */
export type Service = 'stac' | 'sas' | 'blob';

/**
 * What goes wrong: an HTTP status (429 with `Retry-After`), a connection reset before the reply, or a
 * reply whose body stops short of its Content-Length (the connection then closes).
 */
export type FaultKind = '500' | '503' | '429' | 'reset' | 'truncate';

/** Every fault kind. */
export const FAULT_KINDS: readonly FaultKind[] = ['500', '503', '429', 'reset', 'truncate'];

/** Faults injected so far: in all, by kind, and by service then kind (zeros included). */
export interface FaultCounts {
  total: number;
  byKind: Record<FaultKind, number>;
  byService: Record<Service, Record<FaultKind, number>>;
}

/** A scripted fault: the next `count` requests to `service` (optionally matching `path`) get `kind`. */
export interface ScriptedFault {
  service: Service;
  kind: FaultKind;
  /** How many requests (Infinity: always). */
  count: number;
  /** Only requests whose path contains this. */
  pathIncludes?: string;
}

/** Fault configuration of a server. */
export interface FaultOptions {
  /** Probability of a random fault per request (0..1). */
  rate?: number;
  /** Seed of the random faults. */
  seed?: number;
  kinds?: FaultKind[];
  services?: Service[];
  /** Bound on consecutive random faults of one request (default 2). */
  maxPerRequest?: number;
  script?: ScriptedFault[];
  /** Retry-After seconds sent with 429 (default 1). */
  retryAfterSeconds?: number;
}

/** A seeded PRNG in [0, 1) (mulberry32, from core/random.ts). */
export const seededRandom = mulberry32;

/** Decides, per request, whether and how it fails. */
export class FaultInjector {
  /** Faults injected so far, by kind (kinds never injected are absent). */
  readonly injected: Partial<Record<FaultKind, number>> = {};
  private readonly byService: Record<Service, Partial<Record<FaultKind, number>>> = { stac: {}, sas: {}, blob: {} };
  private random: () => number;
  private readonly streak = new Map<string, number>();
  private script: ScriptedFault[];
  private options: FaultOptions;

  constructor(options: FaultOptions = {}) {
    this.options = options;
    this.random = seededRandom(options.seed ?? 1);
    this.script = (options.script ?? []).map((s) => ({ ...s }));
  }

  /**
   * Starts a new schedule on a running server (same origin, so item hrefs stay the same): new options,
   * reseeded, counts and streaks cleared. `{}` turns faults off.
   */
  reset(options: FaultOptions): void {
    this.options = options;
    this.random = seededRandom(options.seed ?? 1);
    this.script = (options.script ?? []).map((s) => ({ ...s }));
    this.streak.clear();
    for (const k of FAULT_KINDS) delete this.injected[k];
    this.byService.stac = {};
    this.byService.sas = {};
    this.byService.blob = {};
  }

  /** Adds scripted faults at run time. */
  add(fault: ScriptedFault): void {
    this.script.push({ ...fault });
  }

  /**
   * The fault for this request, if any. `key` identifies the request for the per-request bound. A reply
   * without a body (`bodiless`: a HEAD) cannot be cut short: a truncation becomes a reset there.
   */
  decide(service: Service, path: string, key: string, options: { bodiless?: boolean } = {}): FaultKind | undefined {
    const fault = this.pick(service, path, key);
    if (fault === undefined) return undefined;
    const kind = fault === 'truncate' && options.bodiless ? 'reset' : fault;
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
    this.byService[service][kind] = (this.byService[service][kind] ?? 0) + 1;
    return kind;
  }

  /** The counts so far, every service and kind listed. */
  counts(): FaultCounts {
    const full = (c: Partial<Record<FaultKind, number>>): Record<FaultKind, number> => ({ '500': c['500'] ?? 0, '503': c['503'] ?? 0, '429': c['429'] ?? 0, reset: c.reset ?? 0, truncate: c.truncate ?? 0 });
    const byKind = full(this.injected);
    return {
      total: FAULT_KINDS.reduce((n, k) => n + byKind[k], 0),
      byKind,
      byService: { stac: full(this.byService.stac), sas: full(this.byService.sas), blob: full(this.byService.blob) },
    };
  }

  private pick(service: Service, path: string, key: string): FaultKind | undefined {
    const scripted = this.script.find((s) => s.count > 0 && s.service === service && (!s.pathIncludes || path.includes(s.pathIncludes)));
    if (scripted) {
      scripted.count--;
      return scripted.kind;
    }
    const rate = this.options.rate ?? 0;
    if (rate <= 0 || !(this.options.services ?? ['stac', 'sas', 'blob']).includes(service)) return undefined;
    const roll = this.random();
    const kinds = this.options.kinds ?? ['500', '503', '429', 'reset', 'truncate'];
    const pick = kinds[Math.floor(this.random() * kinds.length)]!;
    const streak = this.streak.get(key) ?? 0;
    if (roll >= rate || streak >= (this.options.maxPerRequest ?? 2)) {
      this.streak.delete(key);
      return undefined;
    }
    this.streak.set(key, streak + 1);
    return pick;
  }

  /** Retry-After seconds for 429 replies. */
  get retryAfterSeconds(): number {
    return this.options.retryAfterSeconds ?? 1;
  }
}
