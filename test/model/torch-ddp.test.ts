/**
 * Data-parallel torch engine on CPU (gloo): torchrun's ranks, each fed its share of every micro-batch, step
 * as one process does on the whole micro-batch: the same losses and, after steps with a full batch,
 * accumulation and a short batch (a rank without chips), the same weights and moments within fp32
 * tolerance; the chips of an epoch reach the ranks once each, exactly the chips one process trains on; a
 * rank killed mid-run ends the step within a bounded time with an error naming it; a rendezvous that waits
 * for a node that never comes times out with a clear error; the device script's scaling mode runs on CPU ranks.
 * Needs Python with torch (Debian: python3-torch).
 */
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../core/log.ts';
import { isClayError } from '../../core/errors.ts';
import { clayConfig } from '../../model/config.ts';
import type { EngineBatch, EngineStart, TrainEngine } from '../../model/engine.ts';
import { maskNoise } from '../../model/masking.ts';
import { decodeSafetensors } from '../../model/safetensors.ts';
import { findTorchPython, startTorchEngine } from '../../model/torch-engine.ts';
import { openChipTrainData } from '../../model/data/train-data.ts';
import { trainRun } from '../../model/train-run.ts';
import { bundledChips } from '../helpers/chips.ts';
import { engineTree } from '../helpers/procs.ts';

const run = promisify(execFile);
const quiet = createLogger({ write: () => undefined });
const cfg = clayConfig('tiny', { imageSize: 32, patchSize: 16 });
const start: EngineStart = { kind: 'init', seed: 3 };

/** A deterministic micro-batch of `n` chips (values from `seed`) and its mask noise. */
function batchOf(n: number, seed: number): EngineBatch {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const pixels = new Float32Array(n * 13 * cfg.imageSize * cfg.imageSize).map(() => rnd() * 2);
  const latlon = new Float32Array(n * 2).map(() => rnd());
  const timestep = new Float32Array(n * 3).map(() => rnd());
  return { batch: { batch: n, pixels, latlon, timestep }, noise: maskNoise(cfg, n, seed) };
}

async function stateOf(engine: TrainEngine, dir: string): Promise<Map<string, Float32Array>> {
  await engine.writeState(dir, {});
  const out = new Map<string, Float32Array>();
  for (const f of ['weights.safetensors', 'optimizer.safetensors']) {
    for (const t of decodeSafetensors(await readFile(join(dir, f))).tensors) out.set(`${f}:${t.name}`, t.data);
  }
  return out;
}

function maxAbsDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let worst = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  }
  return worst;
}

test('2 gloo ranks x batch 2 step as one process on batch 4: full batch, accumulation, a short batch; losses and weights within 1e-5', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-ddp-'));
  await Promise.all(['one', 'two'].map((d) => mkdir(join(dir, d))));
  const one = await startTorchEngine({ cfg, batch: 4, start, device: 'cpu', threads: 1, logger: quiet });
  const two = await startTorchEngine({ cfg, batch: 2, start, device: 'cpu', threads: 1, logger: quiet, ranks: { nproc: 2 } });
  try {
    assert.equal(two.description['world'], 2);
    const steps: EngineBatch[][] = [
      [batchOf(4, 1)],
      [batchOf(4, 2), batchOf(4, 3)], // --accumulate 2
      [batchOf(1, 4)], // one chip: rank 1 has none and joins the all-reduce at weight 0
      [batchOf(3, 5), batchOf(4, 6)], // short micro-batch inside an accumulated step
    ];
    for (const [i, micro] of steps.entries()) {
      const a = await one.step(micro, 1e-3);
      const b = await two.step(micro, 1e-3);
      assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(a), `step ${i}: loss ${a} (1 process) vs ${b} (2 ranks)`);
    }
    const va = await one.loss(batchOf(3, 9));
    const vb = await two.loss(batchOf(3, 9));
    assert.ok(Math.abs(va - vb) <= 1e-5 * Math.abs(va), `validation ${va} vs ${vb}`);
    const gap = maxAbsDiff(await stateOf(one, join(dir, 'one')), await stateOf(two, join(dir, 'two')));
    assert.ok(gap <= 1e-5, `weights and moments differ by up to ${gap}`);
    assert.ok(two.optimizerStep === one.optimizerStep && one.optimizerStep === steps.length);
  } finally {
    await one.close();
    await two.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an epoch on 2 ranks: each chip reaches one rank once, the chips one process trains on, and the same weights', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-ddp-epoch-'));
  const c64 = clayConfig('tiny', { imageSize: 64, patchSize: 16 });
  /** Per step, sha256 of each chip's bytes as a rank receives them (pixels, latlon, timestep, noise row). */
  const chipDigests = (micro: readonly EngineBatch[]): string[] => micro.flatMap((m) => {
    const n = m.batch.batch;
    return Array.from({ length: n }, (_, i) => {
      const parts = [m.batch.pixels, m.batch.latlon, m.batch.timestep, m.noise].map((a) => {
        const per = a.length / n;
        return new Uint8Array(a.buffer, a.byteOffset + i * per * 4, per * 4);
      });
      return createHash('sha256').update(Buffer.concat(parts)).digest('hex');
    });
  });
  const run = async (name: string, ranks: number) => {
    const given: string[][] = [];
    let engine: ReturnType<typeof startTorchEngine> | undefined;
    const data = await openChipTrainData({ source: chips, batch: 2, seed: 4, valFraction: 0, logger: quiet, workers: 1 });
    try {
      const r = await trainRun(data, {
        out: join(dir, name), model: { size: 'tiny', config: c64 }, batch: 2, lr: 1e-3, seed: 4, checkpointEvery: 100, epochs: 1, source: chips, logger: quiet,
        engine: (s) => (engine = startTorchEngine({ cfg: c64, batch: 2 / ranks, start: s, device: 'cpu', threads: 1, logger: quiet, ...(ranks > 1 ? { ranks: { nproc: ranks } } : {}) })),
        onBatches: (_step, micro) => given.push(chipDigests(micro)),
      });
      const received = (await engine!).received.map((s) => [...s]);
      return { r, given, received };
    } finally {
      await data.close();
    }
  };
  try {
    const one = await run('one', 1);
    const two = await run('two', 2);
    // 49 training chips, 2 a step: 24 steps, the last chip dropped as the tfjs trainer drops a short batch.
    assert.equal(two.received.length, 24);
    assert.deepEqual(two.given, one.given, 'the same chips, step by step');
    assert.deepEqual(two.received, two.given, 'rank r received chip r of each step, as sent');
    const all = two.received.flat();
    assert.equal(all.length, 48);
    assert.equal(new Set(all).size, 48, 'no chip twice');
    const gap = maxAbsDiff(await weights(join(dir, 'one')), await weights(join(dir, 'two')));
    assert.ok(gap <= 1e-5, `after an epoch the weights differ by up to ${gap}`);
    assert.ok(Math.abs(one.r.losses.at(-1)!.loss - two.r.losses.at(-1)!.loss) <= 1e-5 * one.r.losses.at(-1)!.loss);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

async function weights(out: string): Promise<Map<string, Float32Array>> {
  const latest = JSON.parse(await readFile(join(out, 'checkpoints', 'latest.json'), 'utf8')) as { checkpoint: string };
  const file = join(out, 'checkpoints', latest.checkpoint, 'weights.safetensors');
  return new Map(decodeSafetensors(await readFile(file)).tensors.map((t) => [t.name, t.data]));
}

test('SIGKILL of one rank: the step fails within a bounded time, naming the rank; no rank is left running', async () => {
  const two = await startTorchEngine({ cfg, batch: 1, start, device: 'cpu', threads: 1, logger: quiet, ranks: { nproc: 2 } });
  try {
    await two.step([batchOf(2, 1)], 1e-3);
    const ranks = engineTree(process.pid).ranks;
    assert.equal(ranks.length, 2, `rank processes found: ${ranks.join(', ')}`);
    const victim = Math.max(...ranks);
    process.kill(victim, 'SIGKILL');
    const t0 = performance.now();
    await assert.rejects(two.step([batchOf(2, 2)], 1e-3), (e: unknown) => {
      assert.ok(isClayError(e, 'ENGINE_FAILED'), String(e));
      if (process.env.CLAY_TEST_SHOW === '1') console.log((e as Error).message);
      assert.match((e as Error).message, new RegExp(`torch rank \\d \\(local rank \\d, pid ${victim}\\) died`));
      return true;
    });
    const s = (performance.now() - t0) / 1000;
    assert.ok(s < 30, `the failure took ${s.toFixed(1)} s`);
  } finally {
    await two.close();
  }
  assert.deepEqual(engineTree(process.pid).ranks, [], 'no rank left behind');
});

test('a rendezvous for 2 nodes with 1 started: a clear error once --rdzv-timeout passes', async () => {
  const t0 = performance.now();
  await assert.rejects(
    startTorchEngine({ cfg, batch: 1, start, device: 'cpu', threads: 1, logger: quiet, ranks: { nproc: 1, nnodes: 2, nodeRank: 0, rdzvEndpoint: '127.0.0.1:29531', rdzvTimeoutS: 8 } }),
    (e: unknown) => isClayError(e, 'ENGINE_FAILED') && /rendezvous at 127\.0\.0\.1:29531 .*is every node started/.test((e as Error).message),
  );
  const s = (performance.now() - t0) / 1000;
  assert.ok(s < 60, `gave up after ${s.toFixed(1)} s`);
  assert.deepEqual(engineTree(process.pid).launcher, [], 'torchrun was stopped');
});

test('the device script measures data-parallel scaling: bench/device/torch.sh --nproc 1,2 on CPU ranks (its smoke mode)', async () => {
  const { python } = await findTorchPython();
  const out = await mkdtemp(join(tmpdir(), 'clay-torch-sh-'));
  const script = fileURLToPath(new URL('../../bench/device/torch.sh', import.meta.url));
  try {
    const env = { ...process.env, OUT: out, CLAY_PYTHON: python, CLAY_DEVICE_SMOKE: '1' };
    const { stdout } = await run('bash', [script, '--nproc', '1,2'], { env, timeout: 300_000 });
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { ranks: number[]; chips_per_s: number[]; per_rank_efficiency: number[] };
    assert.deepEqual(summary.ranks, [1, 2]);
    assert.equal(summary.per_rank_efficiency[0], 1);
    assert.ok(summary.chips_per_s.every((c) => c > 0) && summary.per_rank_efficiency[1]! > 0, stdout);
    const rows = (await readFile(join(out, 'torch-bench.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { world: number; chips_per_s: number; chips_per_s_per_rank: number });
    assert.deepEqual(rows.map((r) => r.world), [1, 2], 'rank 0 alone writes each run\'s line');
    assert.ok(Math.abs(rows[1]!.chips_per_s - 2 * rows[1]!.chips_per_s_per_rank) < 1e-9);
    await assert.rejects(run('bash', [script, '--nprocs', '2'], { env }), (e: { code?: number; stderr?: string }) => e.code === 2 && /unknown argument --nprocs/.test(String(e.stderr)));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
