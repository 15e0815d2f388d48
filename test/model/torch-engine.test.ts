/**
 * The torch engine (PyTorch in a Python child process) against the tfjs engine: the same batches (bytes as
 * the child received them), the same losses and weights within float32 tolerance, checkpoints that resume
 * in the other engine, and coded errors when Python or torch is missing. Needs a Python with torch (Debian:
 * python3-torch): without one these tests fail, saying what to install.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../model/backend.ts';
import { readCheckpointMeta } from '../../model/checkpoint.ts';
import { clayConfig } from '../../model/config.ts';
import { openChipTrainData } from '../../model/data/train-data.ts';
import { syntheticTrainData } from '../../model/data/synthetic.ts';
import type { EngineBatch, EngineStart } from '../../model/engine.ts';
import { decodeSafetensors } from '../../model/safetensors.ts';
import { startTorchEngine } from '../../model/torch-engine.ts';
import { trainRun, type TrainData, type TrainRunOptions } from '../../model/train-run.ts';
import { createLogger } from '../../core/log.ts';
import { isClayError } from '../../core/errors.ts';
import { bundledChips } from '../helpers/chips.ts';
import { runCli } from '../helpers/cli.ts';

const quiet = createLogger({ write: () => undefined });
const cfg = clayConfig('tiny', { imageSize: 64, patchSize: 16 });

type Engine = 'tfjs' | 'torch';

function options(out: string, engine: Engine, extra: Partial<TrainRunOptions> = {}): TrainRunOptions {
  return {
    out, model: { size: 'tiny', config: cfg }, batch: 2, lr: 1e-3, seed: 11, checkpointEvery: 2, source: 'synthetic', logger: quiet,
    ...(engine === 'torch' ? { engine: (start: EngineStart) => startTorchEngine({ cfg, batch: 2, start, device: 'cpu', logger: quiet }) } : {}),
    ...extra,
  };
}

const synthetic = (): TrainData => syntheticTrainData({ train: 12, val: 2, size: cfg.imageSize, batch: 2, seed: 5 });

async function weightsOf(dir: string): Promise<Map<string, Float32Array>> {
  return new Map(decodeSafetensors(await readFile(join(dir, 'weights.safetensors'))).tensors.map((t) => [t.name, t.data]));
}

/** max over parameters of ||a - b|| / ||b - init||: how far apart two runs' updates are, relative to the update. */
function updateGap(a: Map<string, Float32Array>, b: Map<string, Float32Array>, init: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [name, wb] of b) {
    const wa = a.get(name)!;
    const w0 = init.get(name)!;
    let d = 0;
    let u = 0;
    for (let i = 0; i < wb.length; i++) {
      d += (wa[i]! - wb[i]!) ** 2;
      u += (wb[i]! - w0[i]!) ** 2;
    }
    if (u > 0) worst = Math.max(worst, Math.sqrt(d / u));
  }
  return worst;
}

/** SHA-256 of a micro-batch's bytes in the order the torch engine receives them. */
function digest(m: EngineBatch): string {
  const h = createHash('sha256');
  for (const a of [m.batch.pixels, m.batch.latlon, m.batch.timestep, m.noise]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
}

test('torch and tfjs engines: the torch child trains on byte-identical batches of real chips, same losses within 1e-4', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-engines-'));
  try {
    const sent: Record<Engine, string[]> = { tfjs: [], torch: [] };
    const losses: Record<Engine, number[]> = { tfjs: [], torch: [] };
    let received: readonly (readonly string[])[] = [];
    for (const engine of ['tfjs', 'torch'] as const) {
      const data = await openChipTrainData({ source: chips, batch: 2, seed: 11, valFraction: 0.2, logger: quiet });
      try {
        const r = await trainRun(data, {
          ...options(join(dir, engine), engine, { steps: 3, source: chips }),
          ...(engine === 'torch' ? {
            engine: async (start: EngineStart) => {
              const e = await startTorchEngine({ cfg, batch: 2, start, device: 'cpu', logger: quiet });
              received = e.received;
              return e;
            },
          } : {}),
          onBatches: (_step, micro) => sent[engine].push(...micro.map(digest)),
        });
        losses[engine] = r.losses.map((l) => l.loss);
      } finally {
        await data.close();
      }
    }
    assert.equal(sent.tfjs.length, 3);
    assert.deepEqual(sent.torch, sent.tfjs, 'both engines were given the same batches');
    assert.deepEqual(received.flat(), sent.tfjs, 'the Python child received exactly those bytes');
    losses.torch.forEach((l, i) => assert.ok(Math.abs(l - losses.tfjs[i]!) <= 1e-4 * losses.tfjs[i]!, `step ${i + 1}: torch ${l} vs tfjs ${losses.tfjs[i]}`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('checkpoints move between engines: torch -> tfjs and tfjs -> torch resume to what one engine alone reaches', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  const dir = await mkdtemp(join(tmpdir(), 'clay-engines-resume-'));
  try {
    // Uninterrupted runs of 6 steps on each engine, from the same seed.
    const full: Record<Engine, Map<string, Float32Array>> = { tfjs: new Map(), torch: new Map() };
    for (const e of ['tfjs', 'torch'] as const) {
      const r = await trainRun(synthetic(), options(join(dir, `full-${e}`), e, { steps: 6 }));
      full[e] = await weightsOf(r.checkpoint);
    }
    const init = await weightsOf(join(dir, 'full-tfjs', 'checkpoints', 'step-00000002')); // a reference point for the update size
    // 4 steps on one engine, then --resume to 6 on the other.
    for (const [first, second] of [['torch', 'tfjs'], ['tfjs', 'torch']] as const) {
      const out = join(dir, `${first}-then-${second}`);
      await trainRun(synthetic(), options(out, first, { steps: 4 }));
      const r = await trainRun(synthetic(), options(out, second, { steps: 6, resume: true }));
      assert.equal(r.resumedFrom, 4);
      assert.equal(r.stepsThisRun, 2);
      const meta = await readCheckpointMeta(r.checkpoint);
      assert.deepEqual([meta.step, meta.optimizer.step], [6, 6]);
      const w = await weightsOf(r.checkpoint);
      const gap = updateGap(w, full[second], init);
      assert.ok(gap < 1e-3, `${first} then ${second}: updates differ by ${gap.toExponential(2)} of the update`);
    }
    const gap = updateGap(full.torch, full.tfjs, init);
    assert.ok(gap < 1e-3, `torch vs tfjs over 6 steps: ${gap.toExponential(2)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('no Python with torch: one ENGINE_UNAVAILABLE line saying what to install; --device cuda without CUDA: BAD_ARGUMENT', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-engines-errors-'));
  try {
    const base = ['train', '--data', chips, '--model', 'tiny', '--image-size', '64', '--patch-size', '16', '--steps', '1'];
    const r = await runCli([...base, '--out', join(dir, 'a'), '--engine', 'torch', '--python', join(dir, 'no-such-python')]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('error '));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^error ENGINE_UNAVAILABLE: .*python3-torch/);
    assert.doesNotMatch(r.stderr, /Traceback/);
    const c = await runCli([...base, '--out', join(dir, 'b'), '--engine', 'torch', '--device', 'cuda']);
    assert.equal(c.code, 2, c.stderr);
    assert.match(c.stderr, /^error BAD_ARGUMENT: torch engine \(init\): --device cuda/m);
    assert.doesNotMatch(c.stderr, /Traceback/);
    const f = await runCli([...base, '--out', join(dir, 'c'), '--engine', 'tfjs', '--device', 'cpu']);
    assert.equal(f.code, 2);
    assert.match(f.stderr, /^error BAD_ARGUMENT: --device is an option of --engine torch/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('engine failures are coded: a weights file that does not match is WEIGHTS_INVALID from the child, not a traceback', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  const dir = await mkdtemp(join(tmpdir(), 'clay-engines-bad-'));
  try {
    await trainRun(synthetic(), options(join(dir, 'run'), 'tfjs', { steps: 2 }));
    const other = clayConfig('tiny', { imageSize: 64, patchSize: 32 });
    await assert.rejects(
      startTorchEngine({ cfg: other, batch: 2, start: { kind: 'checkpoint', dir: join(dir, 'run', 'checkpoints', 'step-00000002'), optimizerStep: 2 }, device: 'cpu', logger: quiet }),
      (e: unknown) => isClayError(e, 'WEIGHTS_INVALID') && /size mismatch|shape/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
