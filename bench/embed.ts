/**
 * Embedding benchmark: samples/s of `embed()` on an in-memory batch (per chunk size) and of `embedChips`
 * fed by the chip stream from real chips (what `clay embed` runs), for one model size at 512/32 with seeded
 * random weights (speed does not depend on the values). The ratio stream/in-memory says how much reading
 * and decoding cost the model. Chips: `--data DIR`, or `clay run` row 0, one date, from the bundled
 * universe on 127.0.0.1 (16 chips).
 *
 *   node --import tsx bench/embed.ts [--model tiny] [--data DIR] [--samples 8] [--batch 8] [--backend wasm]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startMiniPc } from '../core/mini-pc/server.ts';
import { loadUniverse } from '../core/mini-pc/universe.ts';
import { initBackend, type BackendChoice } from '../model/backend.ts';
import { ClayModel } from '../model/clay.ts';
import { clayConfig, type ModelSize } from '../model/config.ts';
import { listChips } from '../model/data/list-chips.ts';
import { chipStream } from '../model/data/stream.ts';
import { embed } from '../model/embed.ts';
import { embedChips } from '../model/embed-file.ts';
import { disposeParams, initParams, mulberry32, randn } from '../model/params.ts';
import { BUNDLED_DIR } from '../test/helpers/bundled.ts';

const run = promisify(execFile);
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};

const size = arg('model', 'tiny') as ModelSize;
const samples = Number(arg('samples', '8'));
const backend = await initBackend({ prefer: arg('backend', 'wasm') as BackendChoice, log: () => {} });
const cfg = clayConfig(size);
const params = initParams(cfg, 1);
const model = new ClayModel(params);
console.log(`${size} ${cfg.imageSize}/${cfg.patchSize} on ${backend.choice}`);

const rand = mulberry32(7);
const batch = { batch: samples, pixels: randn(samples * 13 * cfg.imageSize ** 2, rand), latlon: randn(samples * 2, rand), timestep: randn(samples * 3, rand) };
await embed(model, { ...batch, batch: 1, pixels: batch.pixels.subarray(0, 13 * cfg.imageSize ** 2), latlon: batch.latlon.subarray(0, 2), timestep: batch.timestep.subarray(0, 3) }); // warm-up
let best = 0;
for (const chunk of [1, 2, 1, 2]) {
  const t0 = performance.now();
  await embed(model, batch, { maxChunk: chunk });
  const rate = samples / ((performance.now() - t0) / 1000);
  best = Math.max(best, rate);
  console.log(`in-memory, chunk ${chunk}: ${rate.toFixed(2)} samples/s (${(1000 / rate).toFixed(0)} ms/sample)`);
}

let dir: string | undefined;
let data = arg('data', '');
if (data === '') {
  dir = await mkdtemp(join(tmpdir(), 'clay-bench-embed-'));
  const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  const cli = fileURLToPath(new URL('../cli/run.ts', import.meta.url));
  await run(process.execPath, ['--import', 'tsx', cli, '--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', join(BUNDLED_DIR, 'mgrs_sample.fgb'), '--index', '0', '--dates', '1', '--out', dir]);
  await pc.close();
  data = dir;
}
const refs = await listChips(data);
const stream = chipStream({ refs, batchSize: Number(arg('batch', '8')), shuffle: false, size: cfg.imageSize });
const t0 = performance.now();
const e = await embedChips(model, stream);
const secs = (performance.now() - t0) / 1000;
const rate = e.chips.length / secs;
console.log(`stream-fed (${e.chips.length} chips, consumer waited ${(stream.stats.waitMs / 1000).toFixed(1)} s): ${rate.toFixed(2)} samples/s; ratio to in-memory ${(rate / best).toFixed(2)}`);
console.log(`peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
model.dispose();
disposeParams(params);
if (dir !== undefined) await rm(dir, { recursive: true, force: true });
