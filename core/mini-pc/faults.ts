/**
 * Fault injection for the miniature Planetary Computer: seeded random faults at a rate, and scripted
 * faults ("the next 3 STAC requests get 503"). Random faults are bounded per request: the same request
 * (method, path, range) is never faulted more than `maxPerRequest` times in a row, so a client that
 * retries enough always gets through.
 */
import { mulberry32 } from '../random.ts';

/** The services of the miniature PC. */
export type Service = 'stac' | 'sas' | 'blob';

/** What goes wrong: an HTTP status, a connection reset, or a body cut short. */
export type FaultKind = '500' | '503' | '429' | 'reset' | 'truncate';

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
  /** Faults injected so far, by kind. */
  readonly injected: Record<string, number> = {};
  private readonly random: () => number;
  private readonly streak = new Map<string, number>();
  private readonly script: ScriptedFault[];

  constructor(private readonly options: FaultOptions = {}) {
    this.random = seededRandom(options.seed ?? 1);
    this.script = (options.script ?? []).map((s) => ({ ...s }));
  }

  /** Adds scripted faults at run time. */
  add(fault: ScriptedFault): void {
    this.script.push({ ...fault });
  }

  /** The fault for this request, if any. `key` identifies the request for the per-request bound. */
  decide(service: Service, path: string, key: string): FaultKind | undefined {
    const scripted = this.script.find((s) => s.count > 0 && s.service === service && (!s.pathIncludes || path.includes(s.pathIncludes)));
    if (scripted) {
      scripted.count--;
      return this.count(scripted.kind);
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
    return this.count(pick);
  }

  /** Retry-After seconds for 429 replies. */
  get retryAfterSeconds(): number {
    return this.options.retryAfterSeconds ?? 1;
  }

  private count(kind: FaultKind): FaultKind {
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
    return kind;
  }
}
