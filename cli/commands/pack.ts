/**
 * `clay pack`: the kept chips of a chip store into training shards (`model/data/pack.ts`): tar shards of
 * normalised float16 inputs plus a GeoParquet index, which `clay train --data` reads instead of the
 * GeoTIFF chips (found by its `shards.json`). Resumable: run it again after a failure and the complete
 * shards are kept. A progress bar on a TTY, JSON lines otherwise; one summary line at the end.
 */
import type { Command } from 'commander';
import { ClayError } from '../../core/errors.ts';
import { createProgress, type Progress } from '../../core/progress.ts';
import { checkOutput } from '../../core/store/output-check.ts';
import type { PackSummary } from '../../model/data/pack.ts';
import { SHARD_CODECS, type ShardCodec } from '../../model/data/shard-format.ts';
import { createContext, type Context, type GlobalOptions } from '../context.ts';
import { parseInteger, parseNumber } from '../parse.ts';

/** Options of `clay pack`. */
export interface PackCommandOptions {
  data: string;
  out: string;
  shardMb?: number;
  codec?: string;
  seed?: number;
  workers?: number;
  force?: boolean;
}

/** The summary line a TTY shows. */
export function formatPackSummary(s: PackSummary): string {
  return `${s.packed} chip(s) in ${s.shards} shard(s) (${s.made} made, ${s.kept} kept from an earlier run${s.corrupt > 0 ? `, ${s.corrupt} corrupt chips skipped` : ''}) · ` +
    `${(s.bytes / 2 ** 20).toFixed(1)} MiB, codec ${s.codec}, ${s.chipsPerShard} chips per shard · ${(s.ms / 1000).toFixed(1)} s\n  -> ${s.out}/shards.json`;
}

/** Runs `clay pack` with an existing context; resolves with the summary. */
export async function runPack(ctx: Context, o: PackCommandOptions): Promise<PackSummary> {
  const codec = o.codec ?? 'none';
  if (!SHARD_CODECS.includes(codec as ShardCodec)) throw new ClayError('BAD_ARGUMENT', `--codec ${codec} is not one of ${SHARD_CODECS.join(', ')}`, { input: '--codec' });
  await checkOutput(o.out, 'folder');
  const { packShards } = await import('../../model/data/pack.ts');
  let progress: Progress | undefined;
  let total = 0;
  try {
    const summary = await packShards({
      source: o.data, out: o.out, codec: codec as ShardCodec, logger: ctx.logger,
      onPlan: (plan) => {
        total = plan.chips;
      },
      ...(o.shardMb !== undefined ? { shardMb: o.shardMb } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      ...(o.force === true ? { force: true } : {}),
      onChip: () => {
        progress ??= createProgress('pack', total, ctx.logger);
        progress.tick(1);
      },
    });
    progress?.stop();
    ctx.out(ctx.json ? JSON.stringify(summary) : formatPackSummary(summary));
    return summary;
  } finally {
    progress?.stop();
  }
}

/** Registers `clay pack`. */
export function registerPack(program: Command, globals: () => GlobalOptions): void {
  program
    .command('pack')
    .description('pack the kept chips of a chip store into training shards (tar of normalised float16 inputs + a GeoParquet index) that clay train reads at a fraction of the decode cost; resumable')
    .requiredOption('--data <src>', 'chips: a folder, an s3:// prefix or a unit\'s manifest.json (as clay train --data)')
    .requiredOption('--out <dst>', 'the shard set: a folder or an s3:// prefix')
    .option('--shard-mb <n>', 'target shard size in MiB (default 256)', (v) => parseNumber(v, '--shard-mb', 1, 65536))
    .option('--codec <none|deflate>', 'pixels as raw float16 (none, default: the fastest to read) or float16 byte planes DEFLATE-compressed (about half the bytes, about 4x the decode time)')
    .option('--seed <n>', 'seed of the order in which chips are dealt into shards (default 0)', (v) => parseInteger(v, '--seed', 0, 2 ** 32 - 1))
    .option('--workers <n>', 'decode worker threads (default: cores - 1, 1 to 4)', (v) => parseInteger(v, '--workers', 0, 64))
    .option('--force', 'pack again from scratch, removing an earlier pack at --out')
    .action(async (opts: PackCommandOptions) => {
      await runPack(createContext(globals()), opts);
    });
}
