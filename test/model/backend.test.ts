import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { isClayError } from '../../core/errors.ts';
import { initBackend, memoryLimitOf, WASM_MEMORY_LIMIT_BYTES } from '../../model/backend.ts';
import { isWebGpuAdapter, probeWebGpu } from '../../model/webgpu.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const probe = "import('./model/backend.ts').then((m) => m.initBackend()).then((b) => console.log(JSON.stringify(b)))";

function runProbe(env: Record<string, string>): { out: string; err: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

test('without tfjs-node the automatic choice is WASM, and the choice is logged', () => {
  const env = { ...process.env };
  delete env['CLAY_BACKEND'];
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', probe], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const info = JSON.parse(out.trim()) as { choice: string; reason: string; memoryLimitBytes: number | null };
  // CI never has @tensorflow/tfjs-node(-gpu); where it is installed this test would see 'node'/'node-gpu'.
  assert.ok(['webgpu', 'wasm', 'node', 'node-gpu'].includes(info.choice));
  assert.equal(info.reason, 'auto');
  if (info.choice === 'wasm') assert.equal(info.memoryLimitBytes, WASM_MEMORY_LIMIT_BYTES);
});

test('auto takes webgpu only on a hardware adapter, never a CPU one (lavapipe); CLAY_BACKEND=auto is the same', async () => {
  const probe = await probeWebGpu();
  const r = runProbe({ CLAY_BACKEND: 'auto' });
  assert.equal(r.status, 0, r.err);
  const info = JSON.parse(r.out.trim()) as { choice: string; reason: string; adapter: unknown };
  assert.equal(info.reason, 'auto');
  if (['node', 'node-gpu'].includes(info.choice)) return; // tfjs-node installed: it comes first
  if (isWebGpuAdapter(probe) && !probe.info.isCpu) {
    assert.equal(info.choice, 'webgpu');
  } else {
    // No adapter, or a software one (CI's lavapipe): WASM, and no adapter in the choice.
    assert.deepEqual([info.choice, info.adapter], ['wasm', null]);
  }
});

test('CLAY_BACKEND overrides the choice; the log line names it', () => {
  const r = runProbe({ CLAY_BACKEND: 'cpu' });
  assert.equal(r.status, 0, r.err);
  const info = JSON.parse(r.out.trim()) as { choice: string; reason: string };
  assert.deepEqual([info.choice, info.reason], ['cpu', 'forced']);
  const log = r.err.split('\n').find((l) => l.includes('Model:Backend'));
  assert.ok(log !== undefined && (JSON.parse(log) as { backend: string }).backend === 'cpu');
});

test('a bad CLAY_BACKEND or an absent optional backend is a ClayError, not a crash', async () => {
  const r = runProbe({ CLAY_BACKEND: 'tpu' });
  assert.notEqual(r.status, 0);
  assert.match(r.err, /BAD_ARGUMENT|CLAY_BACKEND/);
  if (spawnSync(process.execPath, ['-e', "require.resolve('@tensorflow/tfjs-node')"], { cwd: root }).status !== 0) {
    await assert.rejects(initBackend({ prefer: 'node', log: () => {} }), (e) => isClayError(e, 'MODEL_CONFIG'));
  }
  const b = await initBackend({ prefer: 'wasm', log: () => {} });
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(b.memoryLimitBytes, memoryLimitOf('wasm'));
  assert.equal(memoryLimitOf('cpu'), null);
});
