/**
 * Data-parallel torch engine processes: `clay train --engine torch --nproc N` starts PyTorch's own launcher,
 * torchrun (`python3 -m torch.distributed.run`), which starts N ranks of `clay_torch.serve` on this machine
 * (and joins the ranks of other machines through its c10d rendezvous with `--nnodes`). Each rank connects back
 * to a TCP server of this process on loopback (`CLAY_FEED`), announces its rank, and is then fed and asked
 * exactly as the single engine process is (`EngineChannel`); the gradients travel between ranks inside
 * torch.distributed (gloo on CPU, NCCL on GPUs), never through here.
 *
 * Failures: a rank whose connection closes while the group is not closing is the group's failure, named
 * (rank, pid, torchrun's last lines): every request of every rank then rejects with it, and torchrun is
 * stopped (SIGTERM, then SIGKILL) so that no rank waits forever in a collective. Ranks that do not all connect
 * within the rendezvous timeout, or a torchrun that exits first, end the start with the reason. With
 * `maxRestarts` (torchrun's elastic restarts) the loss of a rank is instead an `EngineRestarted` once torchrun
 * has started the next generation of ranks, which connect here as the first did (see `startRanks`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClayError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { EngineRestarted } from './engine.ts';
import { EngineChannel } from './torch-engine.ts';

/** Where and how many ranks: torchrun's settings. */
export interface RankLayout {
  /** Ranks on this machine (torchrun's `--nproc_per_node`). */
  readonly nproc: number;
  /** Machines (default 1: a standalone rendezvous on this machine). */
  readonly nnodes?: number;
  /** This machine's place among them (default 0). */
  readonly nodeRank?: number;
  /** `host:port` of the c10d rendezvous (needed when nnodes > 1). */
  readonly rdzvEndpoint?: string;
  /** Seconds to wait for every rank of every node (default 300). */
  readonly rdzvTimeoutS?: number;
  /** torchrun's elastic restarts of the whole group after a rank fails (default 0: a failure ends the job). */
  readonly maxRestarts?: number;
}

/** One rank as this process sees it. */
export interface RankPeer {
  readonly rank: number;
  readonly localRank: number;
  readonly pid: number;
  readonly channel: EngineChannel;
}

/** The ranks of this machine, sorted by local rank, and the torchrun process that runs them. */
export interface RankGroup {
  readonly world: number;
  /** The current generation's ranks (new ones after each restart). */
  readonly ranks: readonly RankPeer[];
  /** Restarts so far. */
  readonly restarts: number;
  /** Generations so far (1 + restarts): what a request was sent to, for `explain`. */
  readonly generation: number;
  /**
   * The error to report for a failed request: once a rank has died, that rank's death (waiting, a bounded
   * few seconds, for torchrun's report of it), else `err` itself. With restarts left, an `EngineRestarted`
   * once torchrun's next generation of ranks has connected (`generation`: the one the failed request went to).
   */
  explain(err: unknown, generation?: number): Promise<unknown>;
  /** Stops the group: asks each rank to exit, waits for torchrun, kills it after `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

interface Hello {
  rank: number;
  localRank: number;
  worldSize: number;
  pid: number;
}

/**
 * The torchrun arguments for `layout` (torchrun's underscore spellings: torch 1.13 has no others). The
 * ranks' stdout (they print nothing there: replies go over their connection) is redirected into `logDir`
 * and teed: torch 1.13 on Python 3.11 cannot parse the default "0" of those flags (IntFlag no longer
 * iterates its zero member), "1" it can, and newer torch takes the same.
 */
export function torchrunArgs(layout: RankLayout, module: string, logDir: string): string[] {
  const nnodes = layout.nnodes ?? 1;
  const timeout = layout.rdzvTimeoutS ?? 300;
  const args = [
    '-m', 'torch.distributed.run', `--nproc_per_node=${layout.nproc}`, `--nnodes=${nnodes}`, `--max_restarts=${layout.maxRestarts ?? 0}`, '--monitor_interval=1',
    '--redirects=1', '--tee=1', `--log_dir=${logDir}`,
  ];
  if (nnodes === 1 && layout.rdzvEndpoint === undefined) args.push('--standalone');
  else args.push(`--node_rank=${layout.nodeRank ?? 0}`, '--rdzv_backend=c10d', `--rdzv_endpoint=${layout.rdzvEndpoint ?? ''}`, `--rdzv_conf=join_timeout=${timeout}`, '--rdzv_id=clay-train');
  args.push('-m', module);
  return args;
}

/** Checks a layout's numbers; BAD_ARGUMENT naming the flag. */
export function checkLayout(layout: RankLayout): void {
  const int = (flag: string, v: number | undefined, min: number): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new ClayError('BAD_ARGUMENT', `${flag} must be an integer >= ${min}, got ${v}`, { input: flag });
  };
  int('--nproc', layout.nproc, 1);
  int('--nnodes', layout.nnodes, 1);
  int('--node-rank', layout.nodeRank, 0);
  int('--rdzv-timeout', layout.rdzvTimeoutS, 1);
  int('--max-restarts', layout.maxRestarts, 0);
  const nnodes = layout.nnodes ?? 1;
  if ((layout.nodeRank ?? 0) >= nnodes) throw new ClayError('BAD_ARGUMENT', `--node-rank ${layout.nodeRank} is not below --nnodes ${nnodes}`, { input: '--node-rank' });
  if (nnodes > 1 && !/^[^:\s]+:\d{1,5}$/.test(layout.rdzvEndpoint ?? '')) {
    throw new ClayError('BAD_ARGUMENT', `--nnodes ${nnodes} needs --rdzv-endpoint HOST:PORT (the rendezvous every node joins), got ${JSON.stringify(layout.rdzvEndpoint ?? '')}`, { input: '--rdzv-endpoint' });
  }
}

/**
 * Starts torchrun with `python` in `cwd` (the engine package), waits for this machine's ranks to connect,
 * and returns them. ENGINE_FAILED when torchrun exits first or the ranks do not all arrive in time.
 *
 * With `maxRestarts` above 0 torchrun restarts the ranks of every machine when one fails (its elastic
 * restart, which re-runs the rendezvous): the new ranks connect here as the old ones did, and form the next
 * generation of `ranks`. A request to the lost generation then explains itself as `EngineRestarted` once the
 * next one is complete; the last restart's failure, or a next generation that does not come within the
 * rendezvous timeout, is the group's failure as without restarts.
 */
export async function startRanks(o: { python: string; cwd: string; env: NodeJS.ProcessEnv; layout: RankLayout; logger: Logger }): Promise<RankGroup> {
  checkLayout(o.layout);
  const { layout, logger } = o;
  const nnodes = layout.nnodes ?? 1;
  const maxRestarts = layout.maxRestarts ?? 0;
  const timeoutMs = 1000 * (layout.rdzvTimeoutS ?? 300);
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const logDir = await mkdtemp(join(tmpdir(), 'clay-torchrun-'));
  const child: ChildProcess = spawn(o.python, torchrunArgs(layout, 'clay_torch.serve', logDir), {
    cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...o.env, CLAY_FEED: `127.0.0.1:${port}`, OMP_NUM_THREADS: o.env.OMP_NUM_THREADS ?? '1' },
  });
  const tail: string[] = [];
  const keep = (d: Buffer): void => {
    const lines = d.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    for (const line of lines) logger.debug('Train:Engine:Torchrun', { line });
    tail.push(...lines);
    tail.splice(0, Math.max(0, tail.length - 30));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    exited = { code, signal };
    resolve();
  })).then(() => rm(logDir, { recursive: true, force: true }));
  /** torchrun's lines that say what went wrong (its failure report names the rank and exit code). */
  const report = (): string => {
    const useful = tail.filter((l) => /error|exitcode|rank|signal|timeout|failed|Traceback|Exception/i.test(l));
    return (useful.length > 0 ? useful : tail).slice(-6).join(' | ');
  };
  const how = (): string => exited === undefined ? 'is running' : exited.signal ? `was killed (${exited.signal})` : `exited with code ${exited.code}`;

  let closing = false;
  let failure: ClayError | undefined;
  /** The first rank of the current generation to go (its connection closed), once one has. */
  let firstGone: RankPeer | { rank: '?'; localRank: '?'; pid: '?' } | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (graceMs: number): void => {
    if (exited !== undefined || killTimer !== undefined) return;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    killTimer.unref();
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());
  const lost = (): string => `torch rank ${firstGone?.rank ?? '?'} (local rank ${firstGone?.localRank ?? '?'}, pid ${firstGone?.pid ?? '?'}) died: its connection closed`;
  /** The group's failure, once a rank is gone: after torchrun has exited (it reports the rank), or 6 s. */
  const failed = async (): Promise<ClayError | undefined> => {
    if (firstGone === undefined) return undefined;
    if (failure === undefined) {
      await Promise.race([exit, sleep(6000)]);
      failure ??= new ClayError('ENGINE_FAILED', `${lost()}; torchrun ${how()}${report() ? `: ${report()}` : ''}`, { input: `rank ${firstGone?.rank ?? '?'}` });
    }
    return failure;
  };

  /** The generation requests go to (sorted by local rank), and the ranks of the next one as they connect. */
  let current: RankPeer[] = [];
  let forming: RankPeer[] = [];
  let generation = 0;
  let restarts = 0;
  let lastLost = '';
  const formed: (() => void)[] = [];
  const sockets: Socket[] = [];
  let startTimer: NodeJS.Timeout | undefined;
  let started: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  const arrived = new Promise<void>((resolve, reject) => {
    started = { resolve, reject };
  });
  startTimer = setTimeout(() => started?.reject(new ClayError('ENGINE_FAILED',
    `${forming.length} of ${layout.nproc} torch ranks of this machine connected within ${timeoutMs / 1000} s${nnodes > 1 ? ` (the rendezvous at ${layout.rdzvEndpoint} waits for ${nnodes} nodes: is every node started?)` : ''}: ${report() || 'torchrun said nothing'}`,
    { input: layout.rdzvEndpoint ?? 'torchrun' })), timeoutMs);
  void exit.then(() => {
    clearTimeout(startTimer);
    const missing = /RendezvousTimeoutError|timed out|timeout/i.test(tail.join('\n'));
    started?.reject(new ClayError('ENGINE_FAILED', missing
      ? `the torch rendezvous at ${layout.rdzvEndpoint ?? 'this machine'} did not complete within ${timeoutMs / 1000} s (${nnodes} nodes expected: is every node started?): torchrun ${how()}`
      : `torchrun ${how()} before its ${layout.nproc} ranks connected: ${report() || 'no output'}`, { input: layout.rdzvEndpoint ?? 'torchrun' }));
  });
  /** A rank of the current generation is gone: without restarts left, torchrun is stopped in 5 s. */
  const goneFromCurrent = (peer: RankPeer | undefined): void => {
    firstGone ??= peer ?? { rank: '?', localRank: '?', pid: '?' };
    // torchrun notices within its monitor interval and stops (or restarts) the others; if it has not
    // exited in 5 s and cannot restart, it is stopped from here (no rank waits in a collective).
    if (restarts >= maxRestarts) setTimeout(() => stop(3000), 5000).unref();
  };
  const complete = (): void => {
    const next = forming.sort((a, b) => a.localRank - b.localRank);
    forming = [];
    if (generation > 0) {
      // torchrun restarted the ranks (the old generation's loss may not have been seen yet).
      restarts += 1;
      lastLost = firstGone === undefined ? 'torchrun restarted the torch ranks' : lost();
      firstGone = undefined;
      logger.warn('Train:Engine:Restarted', { restart: restarts, maxRestarts, lost: lastLost, ranks: next.map((p) => p.rank), pids: next.map((p) => p.pid) });
    }
    current = next;
    generation += 1;
    for (const f of formed.splice(0)) f();
    if (started !== undefined) {
      clearTimeout(startTimer);
      started.resolve();
      started = undefined;
    }
  };
  server.on('connection', (socket) => {
    socket.setNoDelay(true);
    sockets.push(socket);
    const gone = new Promise<void>((done) => socket.once('close', () => done()));
    let peer: RankPeer | undefined;
    const died = (): ClayError => failure ?? new ClayError('ENGINE_FAILED', `torch rank ${peer?.rank ?? '?'} is gone`, { input: 'torch' });
    const channel = new EngineChannel(socket, socket, gone, died, logger);
    void gone.then(() => {
      if (closing) return;
      if (peer !== undefined && forming.includes(peer)) {
        forming.splice(forming.indexOf(peer), 1); // a rank of a generation that failed as it formed
        return;
      }
      if (peer === undefined || current.includes(peer)) goneFromCurrent(peer);
    });
    void channel.readLine().then((line) => {
      if (line === null) return;
      const h = JSON.parse(line) as Hello;
      peer = { rank: h.rank, localRank: h.localRank, pid: h.pid, channel };
      forming.push(peer);
      if (forming.length === layout.nproc) complete();
    }, () => undefined);
  });
  try {
    await arrived;
  } catch (err) {
    closing = true;
    stop(2000);
    for (const s of sockets) s.destroy();
    server.close();
    await exit;
    throw err;
  }
  // Restarted ranks connect again; without restarts nothing more may.
  if (maxRestarts === 0) server.close();
  const world = layout.nproc * nnodes;
  logger.debug('Train:Engine:Ranks', { world, ranks: current.map((p) => p.rank), pids: current.map((p) => p.pid) });

  /** Resolves when the generation after `g` has formed; false when torchrun exits or the timeout passes first. */
  const nextGeneration = async (g: number): Promise<boolean> => {
    if (generation > g) return true;
    const next = new Promise<true>((resolve) => formed.push(() => resolve(true)));
    const ok = await Promise.race([next, exit.then(() => false as const), sleep(timeoutMs + 30_000).then(() => false as const)]);
    if (!ok && exited === undefined) stop(3000);
    return ok;
  };
  return {
    world,
    get ranks() {
      return current;
    },
    get restarts() {
      return restarts;
    },
    get generation() {
      return generation;
    },
    async explain(err, g = generation) {
      // A failed collective can answer before the dead rank's connection is seen to close.
      const collective = err instanceof ClayError && err.code === 'ENGINE_FAILED';
      for (let i = 0; collective && i < 20 && generation === g && firstGone === undefined && exited === undefined; i++) await sleep(100);
      if (generation > g || (generation === g && firstGone !== undefined && restarts < maxRestarts && failure === undefined && await nextGeneration(g))) {
        return new EngineRestarted(lastLost, restarts, maxRestarts);
      }
      if (firstGone === undefined) return err;
      return (await failed()) ?? err;
    },
    async close(graceMs = 10_000) {
      if (exited === undefined && firstGone === undefined) {
        await Promise.all(current.map((p) => p.channel.request({ op: 'exit' }).catch(() => undefined)));
      }
      closing = true;
      server.close();
      const timer = setTimeout(() => stop(2000), graceMs);
      await exit;
      clearTimeout(timer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      for (const s of sockets) s.destroy();
    },
  };
}
