/**
 * `--backend` as users pass it (the CLI in a child process): a bad name is BAD_ARGUMENT; webgpu forced
 * where Dawn finds no adapter is MODEL_CONFIG while `auto` falls back to WASM; and `clay train --backend
 * webgpu` SIGKILLed after a checkpoint and resumed ends with the same weights and optimizer state, bit for
 * bit, as an uninterrupted webgpu run. Small model (the golden config's sizes, 64/16): lavapipe is slow.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainSummary } from '../../cli/commands/train.ts';
import { waitForCheckpoint } from '../helpers/checkpoint-wait.ts';
import { runCli } from '../helpers/cli.ts';
import { bundledChips } from '../helpers/chips.ts';
import { webgpuReady } from '../model/webgpu-guard.ts';

const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));
/** A Vulkan loader pointed at a driver that does not exist: Dawn then finds no adapter. */
const NO_VULKAN = { VK_ICD_FILENAMES: '/nonexistent/clay-no-icd.json', VK_DRIVER_FILES: '/nonexistent/clay-no-icd.json' };
const SMALL = { base: 'tiny', dim: 128, depth: 2, heads: 2, dimHead: 64, decoderDim: 64, decoderDepth: 2, decoderHeads: 2, decoderDimHead: 32, imageSize: 64, patchSize: 16 };
let chips: string;
let base: string;
let modelFile: string;

before(async () => {
  chips = await bundledChips();
  base = await mkdtemp(join(tmpdir(), 'clay-webgpu-cli-'));
  modelFile = join(base, 'small.json');
  await writeFile(modelFile, JSON.stringify(SMALL));
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

const codeOf = (stderr: string): string | undefined => /\b([A-Z][A-Z_]+[A-Z]):/.exec(stderr.split('\n').filter((l) => l.trim() !== '').at(-1) ?? '')?.[1];

test('--backend: a name it does not know is BAD_ARGUMENT on train, embed and reconstruct', async () => {
  for (const args of [
    ['train', '--data', chips, '--out', join(base, 'x'), '--backend', 'tpu'],
    ['embed', '--checkpoint', join(base, 'none'), '--data', chips, '--out', join(base, 'x.parquet'), '--backend', 'tpu'],
    ['reconstruct', '--checkpoint', join(base, 'none'), '--chip', join(base, 'none.tif'), '--out', join(base, 'x.png'), '--backend', 'tpu'],
  ]) {
    const r = await runCli(args);
    assert.notEqual(r.code, 0);
    assert.equal(codeOf(r.stderr), 'BAD_ARGUMENT', r.stderr.slice(-500));
  }
});

test('--backend webgpu where Dawn finds no adapter is MODEL_CONFIG; --backend auto there trains on WASM', async () => {
  const out = join(base, 'no-adapter');
  const args = ['train', '--data', chips, '--out', out, '--model', modelFile, '--batch', '2', '--steps', '1'];
  const forced = await runCli([...args, '--backend', 'webgpu'], NO_VULKAN);
  assert.notEqual(forced.code, 0);
  assert.equal(codeOf(forced.stderr), 'MODEL_CONFIG', forced.stderr.slice(-500));
  assert.equal(existsSync(join(out, 'checkpoints')), false);
  const auto = await runCli([...args, '--backend', 'auto'], NO_VULKAN);
  assert.equal(auto.code, 0, auto.stderr.slice(-2000));
  const event = auto.stderr.split('\n').find((l) => l.includes('"Model:Backend"'));
  assert.ok(event !== undefined);
  assert.equal((JSON.parse(event) as { backend: string }).backend, 'wasm');
});

test('clay train --backend webgpu: SIGKILLed after a checkpoint, then --resume: the same weights and optimizer state as an uninterrupted run', async (t) => {
  if (!(await webgpuReady(t))) return;
  const clean = join(base, 'clean');
  const killed = join(base, 'killed');
  const args = (out: string, ...more: string[]): string[] =>
    ['train', '--data', chips, '--out', out, '--model', modelFile, '--batch', '2', '--lr', '1e-3', '--seed', '5', '--steps', '6', '--checkpoint-every', '2', '--backend', 'webgpu', ...more];
  const a = await runCli(args(clean));
  assert.equal(a.code, 0, a.stderr.slice(-3000));
  // The Model:Backend event names the adapter and the limits that bound the model.
  const event = a.stderr.split('\n').find((l) => l.includes('"Model:Backend"'));
  assert.ok(event !== undefined);
  const e = JSON.parse(event) as Record<string, unknown>;
  assert.equal(e['backend'], 'webgpu');
  assert.equal(typeof e['adapterDevice'], 'string');
  assert.equal(typeof e['cpuAdapter'], 'boolean');
  assert.ok(typeof e['maxStorageBufferBindingSize'] === 'number' && e['maxStorageBufferBindingSize'] > 0);
  assert.ok(typeof e['maxBufferSize'] === 'number' && e['maxBufferSize'] > 0);
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args(killed)], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code, signal) => resolve(signal === 'SIGKILL' ? -9 : code)));
  let done = false;
  void exited.then(() => (done = true));
  await waitForCheckpoint(killed, 4, () => done); // latest.json names step 4: kill mid-run
  child.kill('SIGKILL');
  assert.equal(await exited, -9, 'the run finished before it could be killed');
  const resumed = await runCli(args(killed, '--resume'));
  assert.equal(resumed.code, 0, resumed.stderr.slice(-3000));
  const s = JSON.parse(resumed.stdout.trim().split('\n').at(-1) ?? '') as TrainSummary;
  assert.ok(s.resumedFrom !== null && s.resumedFrom >= 4 && s.resumedFrom < 6, `resumed from ${s.resumedFrom}`);
  assert.equal(s.steps, 6);
  for (const f of ['weights.safetensors', 'optimizer.safetensors']) {
    const x = await readFile(join(clean, 'checkpoints', 'step-00000006', f));
    const y = await readFile(join(killed, 'checkpoints', 'step-00000006', f));
    assert.ok(x.equals(y), `${f} differs after kill and resume`);
  }
  assert.equal(await readFile(join(killed, 'metrics.jsonl'), 'utf8'), await readFile(join(clean, 'metrics.jsonl'), 'utf8'));
});
