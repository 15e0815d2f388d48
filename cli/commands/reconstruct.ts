/**
 * `clay reconstruct`: one chip through the masked autoencoder of a checkpoint, drawn as a PNG of three
 * panels: the input RGB (B04 B03 B02, reflectance 0..3000 as the chip previews), the masked input (masked
 * patches grey) and the reconstruction (the decoder's output on every patch, as the MAE paper's figures;
 * `--visible input` pastes the input on the visible ones). Reruns skip an existing picture unless --force.
 */
import type { Command } from 'commander';
import { loadZstd } from '../../core/zstd.ts';
import { ClayError } from '../../core/errors.ts';
import { openStoreFile } from '../../core/store/open-store.ts';
import { parseChipFileName } from '../../pipeline/chip/chip-file.ts';
import { decodeChip } from '../../model/data/read-chip.ts';
import type { ChipSample } from '../../model/data/types.ts';
import type { VisiblePatches } from '../../model/reconstruct.ts';
import { createContext, type Context, type GlobalOptions } from '../context.ts';
import { addModelOptions, initModelBackend, modelOverrides, type ModelFlags } from '../model-options.ts';
import { parseChoice, parseInteger, parseNumber } from '../parse.ts';

/** Options of `clay reconstruct`. */
export interface ReconstructCommandOptions extends ModelFlags {
  chip: string;
  out: string;
  seed?: number;
  maskRatio?: number;
  visible?: VisiblePatches;
  force?: boolean;
}

/** The summary (printed as JSON off a TTY). */
export interface ReconstructSummary {
  event: 'Reconstruct:Done';
  status: 'done' | 'skipped';
  chip: string;
  out: string;
  model?: { size: string; imageSize: number; patchSize: number; maskRatio: number };
  seed?: number;
  /** v0's loss of this chip under this mask. */
  loss?: number;
  maskedPatches?: number;
  patches?: number;
  bytes?: number;
  ms: number;
}

/** Reads and decodes one chip (a path, file:// or s3:// URL); its name must be a chip's, as `clay run` writes. */
export async function readChip(location: string): Promise<ChipSample> {
  const { store, key } = await openStoreFile(location);
  const name = key.slice(key.lastIndexOf('/') + 1);
  const parsed = parseChipFileName(name);
  const url = store.url(key);
  if (parsed === undefined) {
    throw new ClayError('CHIP_CORRUPT', `${url}: not a chip name (claytile_{mgrs}_{YYYYMMDD}_v{version}_{NNNN}.tif)`, { input: url });
  }
  const bytes = await store.get(key);
  if (bytes === undefined) throw new ClayError('BAD_ARGUMENT', `no chip at ${url}`, { input: url });
  await loadZstd();
  return decodeChip(bytes, { url, key: name, mgrs: parsed.mgrs, date: parsed.date });
}

/** Runs `clay reconstruct` with an existing context; resolves with the summary. */
export async function runReconstruct(ctx: Context, options: ReconstructCommandOptions): Promise<ReconstructSummary> {
  const started = Date.now();
  const { store, key } = await openStoreFile(options.out);
  const out = store.url(key);
  let summary: ReconstructSummary;
  if (options.force !== true && (await store.exists(key))) {
    ctx.logger.info('Reconstruct:Skip', { out, reason: 'exists (use --force to redo)' });
    summary = { event: 'Reconstruct:Done', status: 'skipped', chip: options.chip, out, ms: Date.now() - started };
  } else {
    // The model modules load tfjs (~50 MB): imported here, so the other commands never pay for them.
    const [{ loadModelForInference }, { reconstructionPicture }] = await Promise.all([import('../../model/checkpoint-load.ts'), import('../../model/reconstruct.ts')]);
    await initModelBackend(ctx, options.backend);
    const loaded = await loadModelForInference(options.checkpoint, modelOverrides(options, options.maskRatio));
    try {
      const chip = await readChip(options.chip);
      const seed = options.seed ?? 0;
      const picture = await reconstructionPicture(loaded.model, chip, { seed, visible: options.visible ?? 'model' });
      const bytes = await store.put(key, [picture.png], { contentType: 'image/png' });
      const { cfg } = loaded;
      summary = {
        event: 'Reconstruct:Done', status: 'done', chip: chip.url, out,
        model: { size: loaded.size, imageSize: cfg.imageSize, patchSize: cfg.patchSize, maskRatio: cfg.maskRatio },
        seed, loss: picture.loss, maskedPatches: picture.maskedPatches, patches: picture.patches, bytes, ms: Date.now() - started,
      };
    } finally {
      loaded.dispose();
    }
  }
  ctx.out(ctx.json ? JSON.stringify(summary) : formatReconstructSummary(summary));
  return summary;
}

/** The summary line a TTY shows. */
export function formatReconstructSummary(s: ReconstructSummary): string {
  if (s.status === 'skipped') return `${s.out} exists; skipped (--force to redo)`;
  return `${s.chip} → ${s.out}: ${s.maskedPatches}/${s.patches} rgb patches masked (seed ${s.seed}), loss ${s.loss?.toFixed(4)} · ${(s.ms / 1000).toFixed(1)} s`;
}

/** Registers `clay reconstruct`. */
export function registerReconstruct(program: Command, globals: () => GlobalOptions): void {
  addModelOptions(program
    .command('reconstruct')
    .description('a picture of a chip\'s RGB, the masked input and the masked autoencoder\'s reconstruction, side by side (PNG)'))
    .requiredOption('--chip <file>', 'a chip GeoTIFF as `clay run` writes it (path, file:// or s3:// URL)')
    .requiredOption('--out <file.png>', 'the picture (path or s3:// URL), written atomically')
    .option('--seed <n>', 'seed of the random mask (default 0)', (v) => parseInteger(v, '--seed', 0))
    .option('--mask-ratio <r>', "share of the tokens masked, in [0, 1) (default: v0's 0.75)", (v) => parseNumber(v, '--mask-ratio', 0, 0.999999))
    .option('--visible <what>', "reconstruction panel on visible patches: 'model' (the decoder's output, as MAE figures; default) or 'input' (pasted)",
      (v) => parseChoice(v, ['model', 'input'] as const, '--visible'))
    .option('--force', 'redo an existing picture')
    .action(async (opts: ReconstructCommandOptions) => {
      await runReconstruct(createContext(globals()), opts);
    });
}
