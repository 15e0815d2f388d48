/**
 * The tfjs engine: the port's model, AdamW and footprint check in this process, on the tfjs backend
 * `backend.ts` selected. The default engine and the numerical reference.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { currentBackend } from './backend.ts';
import { ClayModel } from './clay.ts';
import { loadCheckpoint, OPTIMIZER_FILE, WEIGHTS_FILE } from './checkpoint.ts';
import type { EngineBatch, EngineOptions, TrainEngine } from './engine.ts';
import { disposeInputs, prepareInputs } from './inputs.ts';
import { maskFromNoise } from './masking.ts';
import { disposeParams, initParams, toTorchLayout, type ClayParams } from './params.ts';
import { encodeSafetensors, type NamedTensor } from './safetensors.ts';
import { Trainer } from './trainer.ts';
import { stateDict } from './weights.ts';

/** Options of the tfjs engine beyond every engine's. */
export interface TfjsEngineOptions extends EngineOptions {
  readonly lr: number;
  /** Memory limit to check the config against (default: the backend's). */
  readonly memoryLimitBytes?: number | null;
}

/** AdamW's moments with PyTorch names (`{param}.exp_avg`, `.exp_avg_sq`) and layouts. */
async function optimizerTensors(params: ClayParams, trainer: Trainer): Promise<NamedTensor[]> {
  const out: NamedTensor[] = [];
  for (const spec of params.specs) {
    const m = trainer.optimizer.moments(spec.name);
    if (m === undefined) continue;
    for (const [suffix, v] of [['exp_avg', m.expAvg], ['exp_avg_sq', m.expAvgSq]] as const) {
      const t = toTorchLayout(spec, v);
      const data = Float32Array.from(await t.data() as Float32Array);
      t.dispose();
      out.push({ name: `${spec.name}.${suffix}`, shape: spec.torchShape, data });
    }
  }
  return out;
}

/** Starts the tfjs engine: fresh parameters from the seed, or the checkpoint's parameters and moments. */
export async function startTfjsEngine(o: TfjsEngineOptions): Promise<TrainEngine> {
  let params: ClayParams;
  let restore: ((t: Trainer) => void) | undefined;
  if (o.start.kind === 'checkpoint') {
    const ck = await loadCheckpoint(o.start.dir);
    params = ck.params;
    const step = o.start.optimizerStep;
    restore = (t) => {
      t.optimizer.restore(step, ck.moments);
      tf.dispose([...ck.moments.values()].flatMap((x) => [x.expAvg, x.expAvgSq]));
    };
  } else {
    params = initParams(o.cfg, o.start.seed);
  }
  let t: Trainer;
  try {
    t = new Trainer(new ClayModel(params), {
      batchSize: o.batch, lr: o.lr,
      ...(o.weightDecay === undefined ? {} : { weightDecay: o.weightDecay }),
      ...(o.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: o.memoryLimitBytes }),
    });
  } catch (err) {
    disposeParams(params);
    throw err;
  }
  restore?.(t);
  const cfg = o.cfg;
  const prepare = (b: EngineBatch) => ({ inputs: prepareInputs(cfg, b.batch), mask: maskFromNoise(cfg, b.batch.batch, b.noise) });
  return {
    name: 'tfjs',
    adamw: { weightDecay: t.optimizer.weightDecay, beta1: t.optimizer.beta1, beta2: t.optimizer.beta2, eps: t.optimizer.eps },
    get optimizerStep() {
      return t.optimizer.step;
    },
    description: { engine: 'tfjs', backend: currentBackend()?.choice ?? tf.getBackend(), footprintMiB: Math.round(t.footprint.peakBytes / 2 ** 20) },
    async step(micro) {
      const mbs = micro.map(prepare);
      try {
        return await t.step(mbs);
      } finally {
        for (const m of mbs) disposeInputs(m.inputs);
      }
    },
    async loss(b) {
      const mb = prepare(b);
      try {
        const loss = tf.tidy(() => t.model.forward(mb.inputs, mb.mask).loss);
        const v = (await loss.data())[0] ?? Number.NaN;
        loss.dispose();
        return v;
      } finally {
        disposeInputs(mb.inputs);
      }
    },
    async writeState(dir, metadata) {
      await writeFile(join(dir, WEIGHTS_FILE), encodeSafetensors(await stateDict(params), metadata));
      await writeFile(join(dir, OPTIMIZER_FILE), encodeSafetensors(await optimizerTensors(params, t), metadata));
    },
    async close() {
      t.dispose();
      t.model.dispose();
      disposeParams(params);
    },
  };
}
