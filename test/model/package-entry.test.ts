/**
 * The package's two entries, as a user imports them (the built `dist/`, through the package's own name):
 * `clay-pipeline` never loads TensorFlow.js; `clay-pipeline/model` builds a model and embeds with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const root = new URL('../..', import.meta.url);

async function runModule(code: string): Promise<string> {
  const r = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], { cwd: root });
  return r.stdout.trim();
}

test("import 'clay-pipeline' gives the pipeline and the chip stream without loading TensorFlow.js", async () => {
  const out = await runModule(`
    const api = await import('clay-pipeline');
    console.log(JSON.stringify({ runIndex: typeof api.runIndex, chipStream: typeof api.chipStream, tfjs: typeof globalThis._tfengine }));`);
  assert.deepEqual(JSON.parse(out), { runIndex: 'function', chipStream: 'function', tfjs: 'undefined' });
});

test("import 'clay-pipeline/model': a tiny model on the WASM backend embeds a batch (one finite vector of dim per chip)", async () => {
  const out = await runModule(`
    const m = await import('clay-pipeline/model');
    const backend = await m.initBackend({ prefer: 'wasm', log: () => {} });
    const cfg = m.clayConfig('tiny', { imageSize: 64, patchSize: 32 });
    const params = m.initParams(cfg, 1);
    const model = new m.ClayModel(params);
    const rand = (() => { let s = 7; return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648); })();
    const n = 2, px = n * m.NUM_BANDS * 64 * 64;
    const batch = { batch: n, pixels: m.randn(px, rand), latlon: m.randn(n * 2, rand), timestep: m.randn(n * 3, rand) };
    const e = await m.embed(model, batch);
    console.log(JSON.stringify({ backend: backend.choice, length: e.length, dim: cfg.dim, finite: e.every(Number.isFinite), params: m.countParams(cfg) > 0 }));`);
  const r = JSON.parse(out) as { backend: string; length: number; dim: number; finite: boolean; params: boolean };
  assert.equal(r.backend, 'wasm');
  assert.equal(r.length, 2 * r.dim);
  assert.ok(r.finite && r.params);
});
