/**
 * The torch engine: Clay v0's MAE in PyTorch (`engines/torch/clay_torch`), in a Python child process that
 * this file starts, feeds and supervises. The child computes only: this side sends it the initial weights
 * (or the checkpoint's files), each step's micro-batches with their mask noise and the rate, and asks it to
 * write its state into a checkpoint folder; it answers one JSON line per request (the protocol is in
 * `clay_torch/serve.py`). Its failures become ClayErrors with the child's code; a Python traceback goes to
 * the log (`Train:Engine:Traceback`, debug level), never alone to the user.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ClayError, type ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { OPTIMIZER_FILE, WEIGHTS_FILE } from './checkpoint.ts';
import { DEFAULT_ADAMW, EngineRestarted, type AdamWConstants, type EngineBatch, type EngineOptions, type EngineStart, type TrainEngine } from './engine.ts';
import { initStateDict } from './params.ts';
import { encodeSafetensors } from './safetensors.ts';
import type { RankGroup, RankLayout } from './torch-ranks.ts';

const run = promisify(execFile);

/** Where the engine runs. `auto`: CUDA when torch sees a GPU, else the CPU. */
export type TorchDevice = 'cpu' | 'cuda' | 'auto';
/** `bf16`: autocast to bfloat16 on CUDA (parameters, optimizer and loss reduction stay float32). */
export type TorchPrecision = 'fp32' | 'bf16';

/** Options of the torch engine beyond every engine's. */
export interface TorchEngineOptions extends EngineOptions {
  readonly device?: TorchDevice;
  readonly precision?: TorchPrecision;
  /** `torch.compile` the model (torch 2.0+; ignored by older torch, which says so in the description). */
  readonly compile?: boolean;
  /** The Python to run (default: `CLAY_PYTHON`, else the first of `python3`, `/usr/bin/python3` that imports torch). */
  readonly python?: string;
  /** torch's intra-op threads (default torch's own choice). */
  readonly threads?: number;
  /**
   * Data parallel: torchrun's ranks (`torch-ranks.ts`), `batch` chips of every micro-batch each (rank r
   * takes chips [r x batch, (r + 1) x batch) of it: micro-batches are the whole step's, world x batch).
   */
  readonly ranks?: RankLayout;
  readonly logger: Logger;
}

/** The torch engine: a TrainEngine that also keeps what its child received. */
export interface TorchEngine extends TrainEngine {
  /** sha256 of each micro-batch's bytes as the child received them, per step (tests compare engines' data). */
  readonly received: readonly (readonly string[])[];
}

/** The folder holding the `clay_torch` package, from source (`model/`) or from the build (`dist/model/`). */
export function torchPackageDir(): string {
  for (const rel of ['../engines/torch/', '../../engines/torch/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'clay_torch', 'serve.py'))) return dir;
  }
  throw new ClayError('ENGINE_UNAVAILABLE', 'the torch engine\'s Python package (engines/torch/clay_torch) is not installed beside this build', { input: 'engines/torch' });
}

/** The first Python that imports torch and numpy: `python` when given, else CLAY_PYTHON, python3, /usr/bin/python3. */
export async function findTorchPython(python?: string): Promise<{ python: string; torch: string }> {
  const candidates = python !== undefined ? [python] : [...new Set([process.env.CLAY_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c))];
  const tried: string[] = [];
  for (const c of candidates) {
    try {
      const { stdout } = await run(c, ['-c', 'import numpy, torch; print(torch.__version__)'], { timeout: 120_000 });
      return { python: c, torch: stdout.trim() };
    } catch (err) {
      const e = err as { code?: unknown; stderr?: unknown };
      tried.push(`${c}: ${e.code === 'ENOENT' ? 'not found' : /No module named '?(\w+)/.exec(String(e.stderr))?.[0] ?? 'does not import torch'}`);
    }
  }
  throw new ClayError('ENGINE_UNAVAILABLE',
    `--engine torch needs Python 3 with PyTorch and numpy (${tried.join('; ')}): on Debian, apt-get install -y python3-torch python3-numpy libopenblas0-pthread; elsewhere install torch for your Python and set CLAY_PYTHON or --python`,
    { input: python ?? 'python3' });
}

/** A reply of the engine process. */
export interface Reply {
  ok: boolean;
  code?: string;
  message?: string;
  traceback?: string;
  [key: string]: unknown;
}

const KNOWN: ReadonlySet<string> = new Set(['BAD_ARGUMENT', 'MODEL_CONFIG', 'WEIGHTS_INVALID', 'CHECKPOINT_INVALID']);

/** Bytes of a float32 array (no copy). */
const bytesOf = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * One engine process's conversation: requests written to `output` one at a time, a JSON line read back from
 * `input` for each. The child's stdin/stdout for one process; a TCP connection per rank under torchrun
 * (`torch-ranks.ts`).
 */
export class EngineChannel {
  private readonly lines: AsyncIterator<string>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly output: Writable,
    input: Readable,
    /** Settles when the other end is gone (the process exited, the connection closed). */
    private readonly gone: Promise<void>,
    /** The error for a request the other end did not answer. */
    private readonly died: () => ClayError,
    private readonly logger: Logger,
  ) {
    this.lines = createInterface({ input })[Symbol.asyncIterator]();
    output.on('error', () => undefined); // a dead peer: reported through `gone`
  }

  /** Sends one request (JSON + payloads) and resolves with its reply; a coded ClayError when it fails. */
  request(body: Record<string, unknown>, payload: readonly Uint8Array[] = []): Promise<Reply> {
    const next = this.queue.then(() => this.send(body, payload));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The next line the other end sends outside a request (a rank's hello), or null when it is gone. */
  async readLine(): Promise<string | null> {
    try {
      const line = await Promise.race([this.lines.next(), this.gone.then(() => null)]);
      return line === null || line.done === true ? null : line.value;
    } catch {
      // A connection reset by a dead peer: it is gone, as a close says.
      return null;
    }
  }

  private async send(body: Record<string, unknown>, payload: readonly Uint8Array[]): Promise<Reply> {
    const json = Buffer.from(JSON.stringify({ ...body, payload: payload.map((p) => p.byteLength) }));
    const head = Buffer.alloc(4);
    head.writeUInt32LE(json.length, 0);
    for (const part of [head, json, ...payload]) {
      if (this.output.destroyed || this.output.writableEnded) throw this.died();
      if (!this.output.write(part)) {
        await Promise.race([new Promise<void>((resolve) => this.output.once('drain', resolve)), this.gone]);
      }
    }
    const line = await this.readLine();
    if (line === null) {
      await this.gone;
      throw this.died();
    }
    const reply = JSON.parse(line) as Reply;
    if (!reply.ok) {
      if (reply.traceback) this.logger.debug('Train:Engine:Traceback', { op: String(body['op']), traceback: reply.traceback });
      const code: ErrorCode = reply.code !== undefined && KNOWN.has(reply.code) ? (reply.code as ErrorCode) : 'ENGINE_FAILED';
      throw new ClayError(code, `torch engine (${String(body['op'])}): ${reply.message ?? 'failed'}`, { input: 'torch' });
    }
    return reply;
  }
}

/** The child process of one engine and its channel. */
class EngineProcess {
  readonly channel: EngineChannel;
  private readonly stderr: string[] = [];
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exit: Promise<void>;

  constructor(private readonly child: ChildProcessWithoutNullStreams, logger: Logger) {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.stderr.push(...d.split('\n').filter((l) => l.trim() !== ''));
      this.stderr.splice(0, Math.max(0, this.stderr.length - 20));
    });
    this.exit = new Promise((resolve) => child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      resolve();
    }));
    this.channel = new EngineChannel(child.stdin, child.stdout, this.exit, () => this.died(), logger);
  }

  request(body: Record<string, unknown>, payload: readonly Uint8Array[] = []): Promise<Reply> {
    if (this.exited) return Promise.reject(this.died());
    return this.channel.request(body, payload);
  }

  private died(): ClayError {
    const e = this.exited;
    const how = e?.signal ? `was killed (${e.signal})` : `exited with code ${e?.code ?? '?'}`;
    const tail = this.stderr.slice(-3).join(' | ');
    return new ClayError('ENGINE_FAILED', `the torch engine process ${how}${tail ? `: ${tail}` : ''}`, { input: 'torch' });
  }

  /** Asks the child to exit; kills it after 10 s. */
  async close(): Promise<void> {
    if (!this.exited) {
      await this.request({ op: 'exit' }).catch(() => undefined);
      this.child.stdin.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exit;
      clearTimeout(timer);
    }
  }
}

/** Starts the engine process and loads its model (fresh weights from the seed, or the checkpoint). */
export async function startTorchEngine(o: TorchEngineOptions): Promise<TorchEngine> {
  const { python, torch } = await findTorchPython(o.python);
  const pkg = torchPackageDir();
  const adamw: AdamWConstants = { ...DEFAULT_ADAMW, ...(o.weightDecay === undefined ? {} : { weightDecay: o.weightDecay }) };
  const env = { ...process.env, PYTHONPATH: [pkg, process.env.PYTHONPATH].filter(Boolean).join(':'), PYTHONUNBUFFERED: '1' };
  const initCommon = {
    op: 'init', config: o.cfg, adamw, device: o.device ?? 'auto',
    precision: o.precision ?? 'fp32', compile: o.compile === true, ...(o.threads !== undefined ? { threads: o.threads } : {}),
  };
  /** The `init` request for `start` (fresh weights are written to a temporary folder, `done` removes it). */
  const initFor = async (start: EngineStart): Promise<{ body: Record<string, unknown>; done: () => Promise<void> }> => {
    if (start.kind === 'checkpoint') {
      return {
        body: { ...initCommon, weights: join(start.dir, WEIGHTS_FILE), optimizer: join(start.dir, OPTIMIZER_FILE), optimizerStep: start.optimizerStep },
        done: () => Promise.resolve(),
      };
    }
    // The same initial parameters as the tfjs engine draws from the seed.
    const tmp = await mkdtemp(join(tmpdir(), 'clay-torch-'));
    const weights = join(tmp, WEIGHTS_FILE);
    await writeFile(weights, encodeSafetensors(initStateDict(o.cfg, start.seed), { format: 'pt' }));
    return { body: { ...initCommon, weights, optimizer: null, optimizerStep: 0 }, done: () => rm(tmp, { recursive: true, force: true }) };
  };
  const optimizerStep = o.start.kind === 'checkpoint' ? o.start.optimizerStep : 0;
  const first = await initFor(o.start);
  const init = first.body;
  // One process on stdin/stdout, or torchrun's ranks (each fed its share of every micro-batch).
  let peers: { rank: number; request: EngineChannel['request'] }[];
  let world = 1;
  let closeAll: () => Promise<void>;
  let group: RankGroup | undefined;
  /** The error to report for a failed request (sent to the ranks' generation `g`). */
  const explain = (err: unknown, g?: number): Promise<unknown> => group === undefined ? Promise.resolve(err) : group.explain(err, g);
  const toPeers = (g: RankGroup) => g.ranks.map((r) => ({ rank: r.rank, request: (body: Record<string, unknown>, payload?: readonly Uint8Array[]) => r.channel.request(body, payload) }));
  let info: Reply;
  try {
    if (o.ranks === undefined) {
      const proc = new EngineProcess(spawn(python, ['-m', 'clay_torch.serve'], { cwd: pkg, stdio: ['pipe', 'pipe', 'pipe'], env }), o.logger);
      peers = [{ rank: 0, request: (body, payload) => proc.request(body, payload) }];
      closeAll = () => proc.close();
      try {
        info = await proc.request(init);
      } catch (err) {
        await proc.close();
        throw err;
      }
    } else {
      const { startRanks } = await import('./torch-ranks.ts');
      const g = await startRanks({ python, cwd: pkg, env, layout: o.ranks, logger: o.logger });
      group = g;
      world = g.world;
      peers = toPeers(g);
      closeAll = () => g.close();
      try {
        info = (await Promise.all(peers.map((p) => p.request(init))))[0]!;
      } catch (err) {
        const why = await explain(err);
        await g.close(2000);
        throw why instanceof EngineRestarted ? new ClayError('ENGINE_FAILED', `the torch ranks failed as they started: ${why.reason}`, { input: 'torch' }) : why;
      }
    }
  } finally {
    await first.done(); // the children have read the initial weights
  }
  if (info['blas'] === 'reference') {
    o.logger.warn('Train:Engine:SlowBlas', { python, message: 'torch runs on the reference BLAS (about 60x slower): apt-get install -y libopenblas0-pthread' });
  }
  let step = optimizerStep;
  const frames = (micro: readonly EngineBatch[]) => ({
    meta: micro.map((m) => ({ batch: m.batch.batch, imageSize: o.cfg.imageSize })),
    payload: micro.flatMap((m) => [bytesOf(m.batch.pixels), bytesOf(m.batch.latlon), bytesOf(m.batch.timestep), bytesOf(m.noise)]),
  });
  /** Rank `rank`'s share of a micro-batch: chips [rank x batch, +batch) of it, and their weight. */
  const share = (m: EngineBatch, rank: number) => {
    const n = m.batch.batch;
    const lo = rank * o.batch;
    const hi = Math.min(lo + o.batch, n);
    const count = Math.max(0, hi - lo);
    // No chip of a short last batch for this rank: one chip at weight 0 (it must join the all-reduce).
    const [a, b] = count > 0 ? [lo, hi] : [0, 1];
    const per = m.batch.pixels.length / n;
    const tokens = m.noise.length / n;
    return {
      meta: { batch: b - a, imageSize: o.cfg.imageSize, weight: count / n },
      payload: [
        bytesOf(m.batch.pixels.subarray(a * per, b * per)), bytesOf(m.batch.latlon.subarray(a * 2, b * 2)),
        bytesOf(m.batch.timestep.subarray(a * 3, b * 3)), bytesOf(m.noise.subarray(a * tokens, b * tokens)),
      ],
    };
  };
  const description: Record<string, string | number | boolean> = { engine: 'torch', python, torch };
  for (const k of ['device', 'gpu', 'blas', 'sdpa', 'bf16', 'compiled', 'threads']) {
    const v = info[k];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') description[k] = v;
  }
  if (o.ranks !== undefined) Object.assign(description, { world, nproc: o.ranks.nproc, nnodes: o.ranks.nnodes ?? 1, nodeRank: o.ranks.nodeRank ?? 0 });
  let rank0 = peers.find((p) => p.rank === 0);
  const onRank0 = (what: string) => {
    if (rank0 === undefined) throw new ClayError('INTERNAL', `torch engine: ${what} is rank 0's, and rank 0 runs on another machine`);
    return rank0;
  };
  const received: string[][] = [];
  const engine: TorchEngine = {
    name: 'torch',
    // After a restart another machine's ranks may hold rank 0 (the rendezvous assigns ranks anew).
    get leads() {
      return rank0 !== undefined;
    },
    adamw,
    get optimizerStep() {
      return step;
    },
    description,
    received,
    async step(micro, lr) {
      let replies: Reply[];
      const g = group?.generation;
      try {
        if (o.ranks === undefined) {
          const f = frames(micro);
          replies = [await peers[0]!.request({ op: 'step', lr, micro: f.meta }, f.payload)];
        } else {
          replies = await Promise.all(peers.map((p) => {
            const parts = micro.map((m) => share(m, p.rank));
            return p.request({ op: 'step', lr, micro: parts.map((x) => x.meta) }, parts.flatMap((x) => x.payload));
          }));
        }
      } catch (err) {
        throw await explain(err, g);
      }
      step = Number(replies[0]!['optimizerStep']);
      received.push(replies.flatMap((r) => (Array.isArray(r['sha256']) ? r['sha256'].map(String) : [])));
      // Every rank replies the all-reduced loss of the whole step.
      return Number(replies[0]!['loss']);
    },
    async loss(b) {
      const f = frames([b]);
      const g = group?.generation;
      try {
        return Number((await onRank0('validation').request({ op: 'loss', micro: f.meta }, f.payload))['loss']);
      } catch (err) {
        throw await explain(err, g);
      }
    },
    async writeState(dir, metadata) {
      const g = group?.generation;
      try {
        await onRank0('writing a checkpoint').request({ op: 'save', dir, metadata });
      } catch (err) {
        throw await explain(err, g);
      }
    },
    ...(o.ranks !== undefined && (o.ranks.maxRestarts ?? 0) > 0 ? {
      async restart(start: EngineStart) {
        if (group === undefined) throw new ClayError('INTERNAL', 'torch engine: restart without ranks');
        const g = group.generation;
        peers = toPeers(group);
        rank0 = peers.find((p) => p.rank === 0);
        const next = await initFor(start);
        try {
          await Promise.all(peers.map((p) => p.request(next.body)));
        } catch (err) {
          throw await explain(err, g);
        } finally {
          await next.done();
        }
        step = start.kind === 'checkpoint' ? start.optimizerStep : 0;
      },
    } : {}),
    async close() {
      await closeAll();
    },
  };
  return engine;
}
