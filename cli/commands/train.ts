/**
 * `clay train`: Clay v0's masked autoencoder trained on a stream of chips (a local folder, an `s3://`
 * prefix, or chip manifests), never copied to local disk first. AdamW with v0's schedule, gradient
 * accumulation, checkpoints every N steps, `--resume` continuing exactly, validation loss per epoch on
 * whole MGRS tiles held out, a progress bar with loss and samples/s on a TTY and JSON lines otherwise,
 * and `metrics.jsonl` + `loss.svg` in the output folder.
 */
import type { Command } from 'commander';
import { ClayError } from '../../core/errors.ts';
import { createProgress, type Progress } from '../../core/progress.ts';
import { checkOutput } from '../../core/store/output-check.ts';
import type { BackendFlag } from '../../model/backend-flags.ts';
import type { EngineStart } from '../../model/engine.ts';
import type { RankLayout } from '../../model/torch-ranks.ts';
import type { TrainResult } from '../../model/train-run.ts';
import { createContext, type Context, type GlobalOptions } from '../context.ts';
import { BACKEND_HELP, initModelBackend, parseBackend } from '../model-options.ts';
import { parseInteger, parseNumber } from '../parse.ts';

/** Options of `clay train`. */
export interface TrainCommandOptions {
  data: string;
  out: string;
  model: string;
  imageSize?: number;
  patchSize?: number;
  batch: number;
  accumulate: number;
  lr: number;
  weightDecay?: number;
  steps?: number;
  epochs?: number;
  seed: number;
  checkpointEvery: number;
  keep: number;
  resume?: boolean;
  valFraction: number;
  shuffleBuffer?: number;
  prefetch?: number;
  workers?: number;
  backend?: BackendFlag;
  engine?: string;
  device?: string;
  precision?: string;
  compile?: boolean;
  python?: string;
  /** torch engine, data parallel: ranks on this machine (torchrun), `batch` chips each per micro-batch. */
  nproc?: number;
  nnodes?: number;
  nodeRank?: number;
  rdzvEndpoint?: string;
  rdzvTimeout?: number;
  maxRestarts?: number;
}

/** The summary printed at the end (JSON off a TTY). */
export interface TrainSummary {
  event: 'Train:Done';
  out: string;
  checkpoint: string;
  steps: number;
  stepsThisRun: number;
  resumedFrom: number | null;
  restarts: number;
  epochs: number;
  firstLoss: number | null;
  lastLoss: number | null;
  validation: { epoch: number; step: number; loss: number }[];
  samplesPerSec: number;
  chips: { train: number; val: number; corrupt: number };
  ms: number;
  peakRssMb: number;
}

const ENGINES = ['tfjs', 'torch'] as const;
const DEVICES = ['auto', 'cpu', 'cuda'] as const;
const PRECISIONS = ['fp32', 'bf16'] as const;

/** `value` when it is one of `allowed`, else BAD_ARGUMENT naming the flag. */
function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new ClayError('BAD_ARGUMENT', `${flag} must be one of ${allowed.join(', ')}, got '${value}'`, { input: flag });
  return found;
}

/** torchrun's default rendezvous port, for endpoints taken from the environment. */
const RDZV_PORT = 29400;

/**
 * A machine's place in a multi-machine job when the flags do not say: the node index of an AWS Batch
 * multi-node parallel job (AWS_BATCH_JOB_NODE_INDEX; the rendezvous on the main node's address, which the
 * main node itself reaches as localhost) or of a Kubernetes Indexed Job (JOB_COMPLETION_INDEX).
 */
function nodeFromEnvironment(o: TrainCommandOptions, env: NodeJS.ProcessEnv = process.env): { nodeRank?: number; rdzvEndpoint?: string } {
  const index = env.AWS_BATCH_JOB_NODE_INDEX ?? env.JOB_COMPLETION_INDEX;
  const out: { nodeRank?: number; rdzvEndpoint?: string } = {};
  if (o.nodeRank === undefined && index !== undefined) {
    const v = Number(index);
    if (!Number.isInteger(v) || v < 0) throw new ClayError('BAD_ARGUMENT', `node index ${JSON.stringify(index)} from the environment is not a non-negative integer`, { input: 'AWS_BATCH_JOB_NODE_INDEX' });
    out.nodeRank = v;
  }
  const main = env.AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS;
  if (main !== undefined && main !== '') out.rdzvEndpoint = `${main}:${RDZV_PORT}`;
  else if (env.AWS_BATCH_JOB_NODE_INDEX !== undefined && env.AWS_BATCH_JOB_NODE_INDEX === env.AWS_BATCH_JOB_MAIN_NODE_INDEX) out.rdzvEndpoint = `localhost:${RDZV_PORT}`;
  return out;
}

/** Runs `clay train` with an existing context. */
export async function runTrain(ctx: Context, o: TrainCommandOptions): Promise<TrainSummary> {
  if (o.steps !== undefined && o.epochs !== undefined) throw new ClayError('BAD_ARGUMENT', '--steps and --epochs cannot be combined', { input: '--steps' });
  // Programmatic callers pass the option unparsed: the same check as the flag's.
  if (o.backend !== undefined) parseBackend(o.backend);
  const engine = oneOf('--engine', o.engine, ENGINES, 'tfjs');
  const device = oneOf('--device', o.device, DEVICES, 'auto');
  const precision = oneOf('--precision', o.precision, PRECISIONS, 'fp32');
  if (engine === 'tfjs') {
    for (const [flag, given] of [['--device', o.device], ['--precision', o.precision], ['--compile', o.compile], ['--python', o.python], ['--nproc', o.nproc], ['--nnodes', o.nnodes], ['--node-rank', o.nodeRank], ['--rdzv-endpoint', o.rdzvEndpoint], ['--rdzv-timeout', o.rdzvTimeout], ['--max-restarts', o.maxRestarts]] as const) {
      if (given !== undefined) throw new ClayError('BAD_ARGUMENT', `${flag} is an option of --engine torch`, { input: flag });
    }
  } else if (o.backend !== undefined) {
    throw new ClayError('BAD_ARGUMENT', '--backend is an option of --engine tfjs', { input: '--backend' });
  }
  // The model modules load tfjs (~50 MB): imported here, so the other commands never pay for them.
  const [{ modelSpec }, { openChipTrainData }, { trainRun }] = await Promise.all([
    import('../../model/model-spec.ts'), import('../../model/data/train-data.ts'), import('../../model/train-run.ts'),
  ]);
  const spec = modelSpec(o.model, { ...(o.imageSize !== undefined ? { imageSize: o.imageSize } : {}), ...(o.patchSize !== undefined ? { patchSize: o.patchSize } : {}) });
  if (engine === 'tfjs') await initModelBackend(ctx, o.backend);
  // Data parallel: a step takes world x batch chips of the seeded order, `batch` per rank.
  const distributed = [o.nproc, o.nnodes, o.nodeRank, o.rdzvEndpoint, o.rdzvTimeout, o.maxRestarts].some((v) => v !== undefined);
  const placed = distributed && (o.nnodes ?? 1) > 1 ? nodeFromEnvironment(o) : {};
  const nodeRank = o.nodeRank ?? placed.nodeRank;
  const rdzvEndpoint = o.rdzvEndpoint ?? placed.rdzvEndpoint;
  const layout: RankLayout | undefined = distributed ? {
    nproc: o.nproc ?? 1, ...(o.nnodes !== undefined ? { nnodes: o.nnodes } : {}), ...(nodeRank !== undefined ? { nodeRank } : {}),
    ...(rdzvEndpoint !== undefined ? { rdzvEndpoint } : {}), ...(o.rdzvTimeout !== undefined ? { rdzvTimeoutS: o.rdzvTimeout } : {}),
    ...(o.maxRestarts !== undefined ? { maxRestarts: o.maxRestarts } : {}),
  } : undefined;
  if (layout !== undefined) {
    (await import('../../model/torch-ranks.ts')).checkLayout(layout);
  }
  const world = layout === undefined ? 1 : layout.nproc * (layout.nnodes ?? 1);
  const stepBatch = o.batch * world;
  const startEngine = engine === 'torch' ? await (async () => {
    const { startTorchEngine } = await import('../../model/torch-engine.ts');
    return (start: EngineStart) => startTorchEngine({
      cfg: spec.config, batch: o.batch, start, device, precision, compile: o.compile === true, logger: ctx.logger,
      ...(layout !== undefined ? { ranks: layout } : {}),
      ...(o.python !== undefined ? { python: o.python } : {}),
      ...(o.weightDecay !== undefined ? { weightDecay: o.weightDecay } : {}),
    });
  })() : undefined;
  const data = await openChipTrainData({
    source: o.data, batch: stepBatch, seed: o.seed, valFraction: o.valFraction, logger: ctx.logger,
    ...(o.shuffleBuffer !== undefined ? { shuffleBuffer: o.shuffleBuffer } : {}),
    ...(o.prefetch !== undefined ? { prefetch: o.prefetch } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
  });
  let progress: Progress | undefined;
  let result: TrainResult;
  try {
    await checkOutput(o.out, 'folder');
    result = await trainRun(data, {
      out: o.out, model: spec, batch: stepBatch, accumulate: o.accumulate, lr: o.lr, seed: o.seed,
      checkpointEvery: o.checkpointEvery, keep: o.keep, resume: o.resume === true, source: o.data, logger: ctx.logger,
      ...(startEngine !== undefined ? { engine: startEngine } : {}),
      ...(o.weightDecay !== undefined ? { weightDecay: o.weightDecay } : {}),
      ...(o.steps !== undefined ? { steps: o.steps } : {}),
      ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
      onStep: (e) => {
        progress ??= createProgress('train', e.totalSteps, ctx.logger);
        if (process.stderr.isTTY === true) {
          progress.tick(1, { loss: `loss ${e.loss.toFixed(4)}`, rate: `${e.samplesPerSec.toFixed(2)} samples/s` });
        } else {
          // Off a TTY every step is one JSON line (the progress events would thin them out).
          ctx.logger.info('Train:Step', { step: e.step, of: e.totalSteps, epoch: e.epoch, loss: e.loss, lr: e.lr, samplesPerSec: Number(e.samplesPerSec.toFixed(3)), waitMs: Math.round(e.waitMs) });
        }
      },
    });
  } finally {
    progress?.stop();
    await data.close();
  }
  const summary: TrainSummary = {
    event: 'Train:Done', out: result.out, checkpoint: result.checkpoint, steps: result.steps, stepsThisRun: result.stepsThisRun,
    resumedFrom: result.resumedFrom, restarts: result.restarts, epochs: result.epoch,
    firstLoss: result.losses[0]?.loss ?? null, lastLoss: result.losses.at(-1)?.loss ?? null,
    validation: result.validation.map((v) => ({ epoch: v.epoch, step: v.step, loss: v.loss })),
    samplesPerSec: Number(result.samplesPerSec.toFixed(3)),
    chips: { train: data.trainCount, val: data.valCount, corrupt: data.corrupt() },
    ms: Math.round(result.ms), peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  ctx.out(ctx.json ? JSON.stringify(summary) : formatTrainSummary(summary));
  return summary;
}

/** The summary line a TTY shows. */
export function formatTrainSummary(s: TrainSummary): string {
  const val = s.validation.at(-1);
  return `trained to step ${s.steps}${s.resumedFrom !== null ? ` (resumed at ${s.resumedFrom})` : ''}${s.restarts > 0 ? ` (${s.restarts} restart${s.restarts > 1 ? 's' : ''} from a checkpoint)` : ''} on ${s.chips.train} chips (${s.chips.val} held out${s.chips.corrupt > 0 ? `, ${s.chips.corrupt} corrupt skipped` : ''}) · loss ${s.firstLoss?.toFixed(4) ?? '-'} → ${s.lastLoss?.toFixed(4) ?? '-'}${val ? ` · validation ${val.loss.toFixed(4)}` : ''} · ${s.samplesPerSec} samples/s · ${(s.ms / 1000).toFixed(1)} s · peak RSS ${s.peakRssMb} MB\n  -> ${s.checkpoint}, ${s.out}/metrics.jsonl, ${s.out}/loss.svg`;
}

/** Registers `clay train`. */
export function registerTrain(program: Command, globals: () => GlobalOptions): void {
  program
    .command('train')
    .description("train Clay v0's masked autoencoder on a stream of chips; checkpoints (safetensors, PyTorch names) in --out; --resume continues exactly")
    .requiredOption('--data <dir|s3://bucket/prefix|manifest.json>', 'chips: a folder or S3 prefix of `clay run` output (the kept chips its manifests list), or a unit manifest')
    .requiredOption('--out <dir>', 'output folder: checkpoints/, metrics.jsonl, loss.svg')
    .option('--model <size|config.json>', 'tiny, small (what v0 trained), medium, large, or a JSON config', 'tiny')
    .option('--image-size <n>', 'model image size; chips larger than it are centre-cropped (default 512)', (v) => parseInteger(v, '--image-size', 8))
    .option('--patch-size <n>', 'patch size (default 32)', (v) => parseInteger(v, '--patch-size', 1))
    .option('--batch <n>', 'chips per micro-batch', (v) => parseInteger(v, '--batch', 1), 2)
    .option('--accumulate <n>', 'micro-batches per optimizer step (gradients averaged)', (v) => parseInteger(v, '--accumulate', 1), 1)
    .option('--lr <rate>', "base learning rate (v0: 1e-4; v0's schedule rises to 10x within each cycle)", (v) => parseNumber(v, '--lr', 0, 1), 1e-4)
    .option('--weight-decay <w>', 'AdamW weight decay (v0: 0.05)', (v) => parseNumber(v, '--weight-decay', 0, 1))
    .option('--steps <n>', 'stop after this many optimizer steps in total', (v) => parseInteger(v, '--steps', 1))
    .option('--epochs <n>', 'stop after this many epochs (default 1 when --steps is not given)', (v) => parseInteger(v, '--epochs', 1))
    .option('--seed <n>', 'seed of the initialisation, data order, split and masks', (v) => parseInteger(v, '--seed', 0, 2 ** 32 - 1), 42)
    .option('--checkpoint-every <n>', 'checkpoint every N optimizer steps (and at the end)', (v) => parseInteger(v, '--checkpoint-every', 1), 100)
    .option('--keep <n>', 'checkpoints kept', (v) => parseInteger(v, '--keep', 1), 3)
    .option('--resume', 'continue the run in --out from its latest checkpoint')
    .option('--val-fraction <f>', 'share of MGRS tiles held out for validation (whole tiles)', (v) => parseNumber(v, '--val-fraction', 0, 0.9), 0.2)
    .option('--shuffle-buffer <n>', 'chips in the shuffle buffer', (v) => parseInteger(v, '--shuffle-buffer', 1))
    .option('--prefetch <n>', 'batches read ahead while a step trains', (v) => parseInteger(v, '--prefetch', 0))
    .option('--workers <n>', 'chip decoding threads', (v) => parseInteger(v, '--workers', 1))
    .option('--backend <name>', BACKEND_HELP, parseBackend)
    .option('--engine <name>', 'tfjs (this process, default) or torch (PyTorch in a Python child process: CUDA where there is a GPU)')
    .option('--device <d>', 'torch engine: auto (CUDA when torch sees a GPU), cpu or cuda (default auto)')
    .option('--precision <p>', 'torch engine: fp32, or bf16 (autocast on CUDA) (default fp32)')
    .option('--compile', 'torch engine: torch.compile the model (torch 2.0+)')
    .option('--python <path>', 'torch engine: the Python with torch (default CLAY_PYTHON, else python3, else /usr/bin/python3)')
    .option('--nproc <n>', 'torch engine, data parallel: ranks on this machine, one per GPU (or CPU ranks on gloo); --batch chips each', (v) => parseInteger(v, '--nproc', 1))
    .option('--nnodes <n>', 'torch engine, data parallel: machines (torchrun c10d rendezvous; default 1)', (v) => parseInteger(v, '--nnodes', 1))
    .option('--node-rank <r>', 'torch engine, data parallel: this machine\'s rank among --nnodes (default AWS_BATCH_JOB_NODE_INDEX, else JOB_COMPLETION_INDEX, else 0)', (v) => parseInteger(v, '--node-rank', 0))
    .option('--rdzv-endpoint <host:port>', 'torch engine, data parallel: the rendezvous every machine joins, needed with --nnodes above 1 (default on AWS Batch: the main node, port 29400)')
    .option('--rdzv-timeout <s>', 'torch engine, data parallel: seconds to wait for every rank (default 300)', (v) => parseInteger(v, '--rdzv-timeout', 1))
    .option('--max-restarts <k>', 'torch engine, data parallel: when a rank fails, torchrun restarts every rank up to k times and the run goes on from its last checkpoint (default 0: a failure ends the job)', (v) => parseInteger(v, '--max-restarts', 0))
    .action(async (opts: TrainCommandOptions) => {
      await runTrain(createContext(globals()), opts);
    });
}
