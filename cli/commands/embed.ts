/**
 * `clay embed`: one embedding per chip from a checkpoint, written as GeoParquet (`model/embed-file.ts`).
 * The rule is Clay v0's predict_step: the mean of the encoder's patch tokens without masking, lat/lon and
 * time tokens excluded. Chips come from the chip stream in listing order (no shuffle); a corrupt chip is
 * skipped with a warning and counted. Reruns skip an existing output unless --force. A progress bar on a
 * TTY, JSON lines otherwise; one summary line at the end. Exit 3 when there was no chip to embed (nothing
 * is written then).
 */
import type { Command } from 'commander';
import { createProgress } from '../../core/progress.ts';
import { checkOutput } from '../../core/store/output-check.ts';
import { EMBEDDING_RULE } from '../../model/config.ts';
import type { Embeddings } from '../../model/embed-file.ts';
import { createContext, type Context, type GlobalOptions } from '../context.ts';
import { addModelOptions, initModelBackend, modelOverrides, type ModelFlags } from '../model-options.ts';
import { parseInteger } from '../parse.ts';

/** Options of `clay embed`. */
export interface EmbedCommandOptions extends ModelFlags {
  data: string;
  out: string;
  batch?: number;
  limit?: number;
  force?: boolean;
}

/** The summary (printed as JSON off a TTY). */
export interface EmbedSummary {
  event: 'Embed:Done';
  /** `skipped`: the output existed; `no-data`: no chip to embed, nothing written. */
  status: 'done' | 'skipped' | 'no-data';
  out: string;
  /** Chips embedded (rows written), and chips skipped as corrupt (named in `Stream:Skip` warnings). */
  chips: number;
  corrupt: number;
  dim?: number;
  model?: { size: string; imageSize: number; patchSize: number };
  backend?: string;
  bytes?: number;
  /** Whole command, and the embedding loop alone (reading overlaps it). */
  ms: number;
  embedMs?: number;
  samplesPerSec?: number;
  peakRssMb: number;
}

/** The summary line a TTY shows. */
export function formatEmbedSummary(s: EmbedSummary): string {
  if (s.status === 'skipped') return `${s.out} exists; skipped (--force to redo)`;
  if (s.status === 'no-data') return `no chip to embed${s.corrupt > 0 ? ` (${s.corrupt} corrupt)` : ''}; nothing written`;
  return `${s.chips} chip(s) → ${s.out}: dim ${s.dim}, ${s.corrupt} corrupt skipped · ${(s.bytes! / 1e6).toFixed(2)} MB · ` +
    `${s.samplesPerSec?.toFixed(2)} samples/s on ${s.backend} · ${(s.ms / 1000).toFixed(1)} s · peak RSS ${s.peakRssMb} MB`;
}

/** Runs `clay embed` with an existing context; resolves with the summary. */
export async function runEmbed(ctx: Context, options: EmbedCommandOptions): Promise<EmbedSummary> {
  const started = Date.now();
  // The model modules load tfjs (~50 MB): imported here, so the other commands never pay for them.
  const [{ loadModelForInference }, { listChips }, { chipStream }, { embedChips, embeddingsTarget, encodeEmbeddings }] = await Promise.all([
    import('../../model/checkpoint-load.ts'), import('../../model/data/list-chips.ts'), import('../../model/data/stream.ts'), import('../../model/embed-file.ts'),
  ]);
  const target = await embeddingsTarget(options.out);
  const rss = (): number => Math.round(process.resourceUsage().maxRSS / 1024);
  const finish = (s: EmbedSummary): EmbedSummary => {
    ctx.out(ctx.json ? JSON.stringify(s) : formatEmbedSummary(s));
    return s;
  };
  if (options.force !== true && (await target.exists())) {
    ctx.logger.info('Embed:Skip', { out: target.url, reason: 'exists (use --force to redo)' });
    return finish({ event: 'Embed:Done', status: 'skipped', out: target.url, chips: 0, corrupt: 0, ms: Date.now() - started, peakRssMb: rss() });
  }
  await checkOutput(options.out, 'file');
  const backend = await initModelBackend(ctx, options.backend);
  const loaded = await loadModelForInference(options.checkpoint, modelOverrides(options));
  try {
    const { cfg, model } = loaded;
    const refs = (await listChips(options.data, { logger: ctx.logger })).slice(0, options.limit ?? Infinity);
    const stream = chipStream({ refs, batchSize: options.batch ?? 8, shuffle: false, size: cfg.imageSize, logger: ctx.logger });
    const progress = refs.length > 0 ? createProgress('embed', refs.length, ctx.logger) : undefined;
    const t0 = performance.now();
    let embeddings: Embeddings;
    try {
      embeddings = await embedChips(model, stream, {
        // One sample per forward: ~20 % faster than two on WASM here (bench/embed.ts, tiny 512/32).
        embed: { maxChunk: 1 },
        onBatch: (p) => progress?.tick(p.chips.length, { samplesPerSec: Number((p.done / ((performance.now() - t0) / 1000)).toFixed(2)) }),
      });
    } finally {
      progress?.stop();
      await stream.close();
    }
    const embedMs = performance.now() - t0;
    const corrupt = stream.stats.corrupt;
    const base = { event: 'Embed:Done', out: target.url, corrupt, model: { size: loaded.size, imageSize: cfg.imageSize, patchSize: cfg.patchSize }, backend: backend.choice } as const;
    if (embeddings.chips.length === 0) {
      return finish({ ...base, status: 'no-data', chips: 0, ms: Date.now() - started, peakRssMb: rss() });
    }
    const bytes = encodeEmbeddings(embeddings, { rule: EMBEDDING_RULE, checkpoint: options.checkpoint, model: { ...base.model, dim: cfg.dim } });
    const written = await target.write(bytes);
    return finish({
      ...base, status: 'done', chips: embeddings.chips.length, dim: embeddings.dim, bytes: written, ms: Date.now() - started,
      embedMs: Math.round(embedMs), samplesPerSec: embeddings.chips.length / (embedMs / 1000), peakRssMb: rss(),
    });
  } finally {
    loaded.dispose();
  }
}

/** Registers `clay embed`; `setExit` receives 3 when there was no chip to embed. */
export function registerEmbed(program: Command, globals: () => GlobalOptions, setExit: (code: number) => void): void {
  addModelOptions(program
    .command('embed')
    .description(`one embedding per chip as GeoParquet (path, mgrs, date, geometry, embedding): ${EMBEDDING_RULE}`))
    .requiredOption('--data <src>', 'chips: a folder, an s3:// prefix or a unit\'s manifest.json (manifests decide which chips are complete)')
    .requiredOption('--out <file.parquet>', 'the GeoParquet file (path or s3:// URL), written atomically')
    .option('--batch <n>', 'chips per batch read from the stream (default 8)', (v) => parseInteger(v, '--batch', 1, 1024))
    .option('--limit <n>', 'embed only the first N chips of the listing', (v) => parseInteger(v, '--limit', 1))
    .option('--force', 'redo an existing output')
    .action(async (opts: EmbedCommandOptions) => {
      const summary = await runEmbed(createContext(globals()), opts);
      if (summary.status === 'no-data') setExit(3);
    });
}
