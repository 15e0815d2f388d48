/**
 * Turns a plan's uncompressed byte estimate into the compressed bytes the chips will fetch: one signed HEAD
 * per source file (its size), times the share of the file under the chips. Costs a request per file and
 * one SAS token per container; no pixels are read.
 */
import pLimit from 'p-limit';
import { ClayError } from '../../core/errors.ts';
import type { HttpClient } from '../../core/http.ts';
import type { PcSigner } from '../../core/stac/pc-signer.ts';
import type { ScenePlan } from './plan-types.ts';

/** Options of `probeSizes`. */
export interface ProbeOptions {
  http: HttpClient;
  signer: PcSigner;
  /** HEAD requests at once (8). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** The plan with `size` on every file read and `compressed` on every date's estimate (a new object). */
export async function probeSizes(plan: ScenePlan, options: ProbeOptions): Promise<ScenePlan> {
  const limit = pLimit(options.concurrency ?? 8);
  const sizes = new Map<string, Promise<number>>();
  const signal = options.signal ? { signal: options.signal } : {};
  const sizeOf = (href: string, collection: string): Promise<number> => {
    let got = sizes.get(href);
    if (!got) {
      got = limit(async () => {
        const res = await options.signer.withSigned(href, (url) => options.http.request(url, { method: 'HEAD', errorCode: 'HTTP', ...signal }), { collection, ...signal });
        const size = Number(res.headers.get('content-length'));
        if (!Number.isFinite(size) || size <= 0) throw new ClayError('HTTP', `HEAD ${href} gave no Content-Length`, { input: href });
        return size;
      });
      sizes.set(href, got);
    }
    return got;
  };
  const dates = await Promise.all(plan.dates.map(async (d) => {
    const files = await Promise.all(d.estimate.files.map(async (f) => ({ ...f, size: await sizeOf(f.href, f.collection) })));
    const compressed = Math.round(files.reduce((n, f) => n + f.size * f.share, 0));
    return { ...d, estimate: { ...d.estimate, files, compressed } };
  }));
  return { ...plan, dates, totals: { ...plan.totals, compressedBytes: dates.reduce((n, d) => n + d.estimate.compressed, 0) } };
}
