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
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ClayError, type ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { OPTIMIZER_FILE, WEIGHTS_FILE } from './checkpoint.ts';
import { DEFAULT_ADAMW, type AdamWConstants, type EngineBatch, type EngineOptions, type TrainEngine } from './engine.ts';
import { initStateDict } from './params.ts';
import { encodeSafetensors } from './safetensors.ts';

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
interface Reply {
  ok: boolean;
  code?: string;
  message?: string;
  traceback?: string;
  [key: string]: unknown;
}

const KNOWN: ReadonlySet<string> = new Set(['BAD_ARGUMENT', 'MODEL_CONFIG', 'WEIGHTS_INVALID', 'CHECKPOINT_INVALID']);

/** Bytes of a float32 array (no copy). */
const bytesOf = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The child process and one request at a time. */
class EngineProcess {
  private readonly lines: AsyncIterator<string>;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly stderr: string[] = [];
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exit: Promise<void>;

  constructor(private readonly child: ChildProcessWithoutNullStreams, private readonly logger: Logger) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.stderr.push(...d.split('\n').filter((l) => l.trim() !== ''));
      this.stderr.splice(0, Math.max(0, this.stderr.length - 20));
    });
    child.stdin.on('error', () => undefined); // a dead child: reported through `exit`
    this.exit = new Promise((resolve) => child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      resolve();
    }));
  }

  /** Sends one request (JSON + payloads) and resolves with its reply; a coded ClayError when it fails. */
  request(body: Record<string, unknown>, payload: readonly Uint8Array[] = []): Promise<Reply> {
    const next = this.queue.then(() => this.send(body, payload));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async send(body: Record<string, unknown>, payload: readonly Uint8Array[]): Promise<Reply> {
    if (this.exited) throw this.died();
    const json = Buffer.from(JSON.stringify({ ...body, payload: payload.map((p) => p.byteLength) }));
    const head = Buffer.alloc(4);
    head.writeUInt32LE(json.length, 0);
    for (const part of [head, json, ...payload]) {
      if (!this.child.stdin.write(part)) await new Promise<void>((resolve) => this.child.stdin.once('drain', resolve));
    }
    const line = await Promise.race([this.lines.next(), this.exit.then(() => null)]);
    if (line === null || line.done === true) {
      await this.exit;
      throw this.died();
    }
    const reply = JSON.parse(line.value) as Reply;
    if (!reply.ok) {
      if (reply.traceback) this.logger.debug('Train:Engine:Traceback', { op: String(body['op']), traceback: reply.traceback });
      const code: ErrorCode = reply.code !== undefined && KNOWN.has(reply.code) ? (reply.code as ErrorCode) : 'ENGINE_FAILED';
      throw new ClayError(code, `torch engine (${String(body['op'])}): ${reply.message ?? 'failed'}`, { input: 'torch' });
    }
    return reply;
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
  const tmp = await mkdtemp(join(tmpdir(), 'clay-torch-'));
  let weights: string;
  let optimizer: string | null = null;
  let optimizerStep = 0;
  if (o.start.kind === 'checkpoint') {
    weights = join(o.start.dir, WEIGHTS_FILE);
    optimizer = join(o.start.dir, OPTIMIZER_FILE);
    optimizerStep = o.start.optimizerStep;
  } else {
    // The same initial parameters as the tfjs engine draws from the seed.
    weights = join(tmp, WEIGHTS_FILE);
    await writeFile(weights, encodeSafetensors(initStateDict(o.cfg, o.start.seed), { format: 'pt' }));
  }
  const child = spawn(python, ['-m', 'clay_torch.serve'], {
    cwd: pkg, stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONPATH: [pkg, process.env.PYTHONPATH].filter(Boolean).join(':'), PYTHONUNBUFFERED: '1' },
  });
  const proc = new EngineProcess(child, o.logger);
  let info: Reply;
  try {
    info = await proc.request({
      op: 'init', config: o.cfg, weights, optimizer, optimizerStep, adamw, device: o.device ?? 'auto',
      precision: o.precision ?? 'fp32', compile: o.compile === true, ...(o.threads !== undefined ? { threads: o.threads } : {}),
    });
  } catch (err) {
    await proc.close();
    throw err;
  } finally {
    await rm(tmp, { recursive: true, force: true }); // the child has read the initial weights
  }
  if (info['blas'] === 'reference') {
    o.logger.warn('Train:Engine:SlowBlas', { python, message: 'torch runs on the reference BLAS (about 60x slower): apt-get install -y libopenblas0-pthread' });
  }
  let step = optimizerStep;
  const frames = (micro: readonly EngineBatch[]) => ({
    meta: micro.map((m) => ({ batch: m.batch.batch, imageSize: o.cfg.imageSize })),
    payload: micro.flatMap((m) => [bytesOf(m.batch.pixels), bytesOf(m.batch.latlon), bytesOf(m.batch.timestep), bytesOf(m.noise)]),
  });
  const description: Record<string, string | number | boolean> = { engine: 'torch', python, torch };
  for (const k of ['device', 'gpu', 'blas', 'sdpa', 'bf16', 'compiled', 'threads']) {
    const v = info[k];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') description[k] = v;
  }
  const received: string[][] = [];
  const engine: TorchEngine = {
    name: 'torch',
    adamw,
    get optimizerStep() {
      return step;
    },
    description,
    received,
    async step(micro, lr) {
      const f = frames(micro);
      const r = await proc.request({ op: 'step', lr, micro: f.meta }, f.payload);
      step = Number(r['optimizerStep']);
      received.push(Array.isArray(r['sha256']) ? r['sha256'].map(String) : []);
      return Number(r['loss']);
    },
    async loss(b) {
      const f = frames([b]);
      return Number((await proc.request({ op: 'loss', micro: f.meta }, f.payload))['loss']);
    },
    async writeState(dir, metadata) {
      await proc.request({ op: 'save', dir, metadata });
    },
    async close() {
      await proc.close();
    },
  };
  return engine;
}
