/**
 * `clay demo`: the main job on the bundled samples, with no internet. It starts the miniature Planetary
 * Computer on 127.0.0.1 and runs the whole system against it: the searches for sample row 0 (Sentinel-2
 * per year, Sentinel-1, DEM), a signed ranged read of one asset, the scene plan of row 0; `clay run` for
 * rows 0-2 (chips, manifests, chip indexes in `{out}/chips`); `clay train` of a tiny model for a few steps
 * on those chips, streamed (`{out}/train`: checkpoints, metrics, loss curve); `clay embed` of every chip
 * with the trained weights (`{out}/embeddings.parquet`); and `clay reconstruct` of one chip
 * (`{out}/reconstruction.png`). `--out` defaults to `./clay-demo`.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import { COLLECTIONS } from '../../core/stac/pc-items.ts';
import { createProgress } from '../../core/progress.ts';
import { createContext, type GlobalOptions } from '../context.ts';
import { samplesDir } from '../samples.ts';
import { readSampleRow } from '../../pipeline/sample-file.ts';
import { plan } from '../../pipeline/plan/plan.ts';
import { formatRunSummary, runRun } from './run.ts';
import { formatTrainSummary, runTrain } from './train.ts';
import { formatEmbedSummary, runEmbed } from './embed.ts';
import { formatReconstructSummary, runReconstruct } from './reconstruct.ts';
import { listChips } from '../../model/data/list-chips.ts';
import { parseInteger } from '../parse.ts';
import { runSearch } from './search.ts';

/** Registers `clay demo`. */
export function registerDemo(program: Command, globals: () => GlobalOptions): void {
  program
    .command('demo')
    .description('run the main job on the bundled miniature universe, served on 127.0.0.1')
    .option('--data <dir>', 'generated universe folder (default: data-samples/generated)')
    .option('--out <dir>', 'output folder: chips/, train/, embeddings.parquet, reconstruction.png', 'clay-demo')
    .option('--train-steps <n>', 'optimizer steps of the tiny model (0: make the chips only)', (v) => parseInteger(v, '--train-steps', 0), 6)
    .action(async (opts: { data?: string; out: string; trainSteps: number }) => {
      const dir = samplesDir(opts.data);
      const pc = await startMiniPc({ universe: await loadUniverse(dir) });
      try {
        // Its blobs are served path-style from its own origin: the only host whose hrefs get its tokens.
        const ctx = createContext(globals(), { stacApi: pc.stacApi, sasApi: pc.sasApi, blobHosts: [new URL(pc.origin).host] });
        const started = Date.now();
        const sample = join(dir, 'mgrs_sample.fgb');
        const collections = [COLLECTIONS.s2, COLLECTIONS.s1, COLLECTIONS.dem];
        const progress = createProgress('demo', collections.length + 3, ctx.logger);
        const counts: Record<string, number> = {};
        let firstS2Href: string | undefined;
        for (const collection of collections) {
          const items = await runSearch(ctx, { sample, index: 0, collection });
          counts[collection] = items.length;
          if (collection === COLLECTIONS.s2 && items[0]) {
            const got = await ctx.stac.searchAll({ collections: [collection], ids: [items[0].id] });
            firstS2Href = got[0]?.assets.B02?.href;
          }
          progress.tick(1, { collection });
        }
        let headerBytes = 0;
        if (firstS2Href) {
          const res = await ctx.signer.withSigned(firstS2Href, (url) => ctx.http.request(url, { range: { offset: 0, length: 16384 } }), { collection: COLLECTIONS.s2 });
          headerBytes = res.body.byteLength;
        }
        progress.tick(1, { step: 'signed read' });
        const scenePlan = await plan(await readSampleRow(sample, 0), { stac: ctx.stac, logger: ctx.logger });
        progress.tick(1, { step: 'plan' });
        progress.stop();
        const quiet = { ...ctx, out: () => undefined };
        const chipsOut = join(opts.out, 'chips');
        const run = await runRun(quiet, { sample, indices: '0-2', out: chipsOut });
        let model: { train: ReturnType<typeof formatTrainSummary>; embed: string; reconstruct: string } | undefined;
        let modelSummary: Record<string, unknown> | undefined;
        if (opts.trainSteps > 0) {
          // Tiny at v0's 512/32, batch 2, streamed from the chips just made; then every chip embedded and one reconstructed.
          const trainOut = join(opts.out, 'train');
          const train = await runTrain(quiet, {
            data: chipsOut, out: trainOut, model: 'tiny', batch: 2, accumulate: 1, lr: 5e-4, steps: opts.trainSteps, seed: 42,
            checkpointEvery: opts.trainSteps, keep: 1, resume: true, valFraction: 0.2,
          });
          const embed = await runEmbed(quiet, { checkpoint: trainOut, data: chipsOut, out: join(opts.out, 'embeddings.parquet'), force: true });
          const first = (await listChips(chipsOut))[0];
          const recon = first === undefined ? undefined
            : await runReconstruct(quiet, { checkpoint: trainOut, chip: first.url, out: join(opts.out, 'reconstruction.png'), seed: 1, force: true });
          model = { train: formatTrainSummary(train), embed: formatEmbedSummary(embed), reconstruct: recon ? formatReconstructSummary(recon) : '-' };
          modelSummary = {
            train: { steps: train.steps, firstLoss: train.firstLoss, lastLoss: train.lastLoss, chips: train.chips, checkpoint: train.checkpoint, samplesPerSec: train.samplesPerSec },
            embed: { out: embed.out, chips: embed.chips, dim: embed.dim ?? null },
            reconstruct: recon ? { out: recon.out, chip: recon.chip, loss: recon.loss ?? null } : null,
          };
        }
        const planned = { dates: scenePlan.dates.map((d) => d.date), chips: scenePlan.totals.chips, estimatedBytes: scenePlan.totals.estimatedBytes };
        const summary = {
          event: 'Demo:Done', stacApi: pc.stacApi, items: counts, plan: planned,
          stacRequests: pc.requests.filter((r) => r.service === 'stac').length,
          tokenRequests: ctx.signer.stats.tokenRequests, signedBytesRead: headerBytes,
          chips: { out: run.out, index: run.index, units: run.units, kept: run.chips.kept, rejected: run.chips.rejected, byReason: run.chips.byReason, bytesWritten: run.bytesWritten },
          ...(modelSummary ? { model: modelSummary } : {}),
          ms: Date.now() - started,
        };
        ctx.out(ctx.json ? JSON.stringify(summary) : `done: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}; ${summary.stacRequests} STAC requests, ${summary.tokenRequests} SAS token(s), ${headerBytes} bytes read from a signed COG; plan of row 0: ${planned.dates.join(', ')} (${planned.chips} chips before filtering)\nchips: ${formatRunSummary(run)}\n  -> ${run.out}/02/{mgrs}/{date}/claytile_*.tif, a manifest.json and chips.parquet per date; the run's index: ${run.index ?? '-'}${model ? `\ntrain: ${model.train}\nembed: ${model.embed}\nreconstruct: ${model.reconstruct}` : ''}\n${summary.ms} ms`);
      } finally {
        await pc.close();
      }
    });
}
