/**
 * `clay train --engine torch` as a user runs it: the Python engine process is SIGKILLed at a random step
 * after a checkpoint, the run ends with a coded error, and `--resume` ends with weights bit for bit equal to
 * an uninterrupted run (CPU torch is deterministic at a fixed thread count); killing `clay train` itself
 * leaves no engine process behind; `clay embed` and `clay reconstruct` read the torch checkpoint.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledChips } from '../helpers/chips.ts';
import { runCli } from '../helpers/cli.ts';

const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));

const args = (chips: string, out: string, steps: number): string[] => [
  'train', '--data', chips, '--out', out, '--model', 'tiny', '--image-size', '64', '--patch-size', '16', '--batch', '2',
  '--steps', String(steps), '--checkpoint-every', '2', '--seed', '5', '--engine', 'torch', '--device', 'cpu',
];

/** The pids of the processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Runs `clay train`, and once its log shows the checkpoint of step `at`, SIGKILLs `victim` (the engine
 * process, or `clay train` itself). Resolves with the exit code and stderr.
 */
function runAndKill(cli: string[], at: number, victim: 'engine' | 'clay'): Promise<{ code: number | null; stderr: string; engine: number | undefined }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...cli], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let engine: number | undefined;
    let killed = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (killed) return;
      for (const line of stderr.split('\n')) {
        if (!line.includes('"Train:Checkpoint"')) continue;
        const step = (JSON.parse(line) as { step: number }).step;
        if (step !== at) continue;
        killed = true;
        engine = childrenOf(child.pid!).find((p) => readCmdline(p).includes('clay_torch.serve'));
        if (victim === 'engine' && engine !== undefined) process.kill(engine, 'SIGKILL');
        else child.kill('SIGKILL');
        break;
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, engine }));
  });
}

function readCmdline(pid: number): string {
  try {
    return execFileSync('cat', [`/proc/${pid}/cmdline`], { encoding: 'utf8' }).replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

test('clay train --engine torch: SIGKILL of the engine at a random checkpoint, then --resume: the same weights, bit for bit, as an uninterrupted run', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-train-torch-'));
  try {
    const full = await runCli(args(chips, join(dir, 'full'), 8));
    assert.equal(full.code, 0, full.stderr);
    const at = 2 * (1 + Math.floor(Math.random() * 3)); // the checkpoint of step 2, 4 or 6
    const out = join(dir, 'killed');
    const k = await runAndKill(args(chips, out, 8), at, 'engine');
    assert.ok(k.engine !== undefined, 'the engine process was found');
    assert.equal(k.code, 1, k.stderr);
    const errors = k.stderr.split('\n').filter((l) => l.startsWith('error '));
    assert.equal(errors.length, 1, k.stderr);
    assert.match(errors[0]!, /^error ENGINE_FAILED: the torch engine process was killed \(SIGKILL\)/);
    const r = await runCli([...args(chips, out, 8), '--resume']);
    assert.equal(r.code, 0, r.stderr);
    const done = JSON.parse(r.stdout) as { resumedFrom: number; steps: number };
    assert.ok(done.resumedFrom >= at && done.steps === 8, r.stdout);
    for (const f of ['weights.safetensors', 'optimizer.safetensors']) {
      const a = await readFile(join(out, 'checkpoints', 'step-00000008', f));
      const b = await readFile(join(dir, 'full', 'checkpoints', 'step-00000008', f));
      assert.ok(a.equals(b), `${f} after kill + resume equals the uninterrupted run's`);
    }
    // The metrics of the resumed run are those of the uninterrupted one.
    const losses = async (d: string) => (await readFile(join(d, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
    assert.deepEqual(await losses(out), await losses(join(dir, 'full')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('SIGKILL of clay train itself: the engine process does not outlive it', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-train-torch-orphan-'));
  try {
    const k = await runAndKill(args(chips, join(dir, 'run'), 6), 2, 'clay');
    assert.ok(k.engine !== undefined);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && readCmdline(k.engine).includes('clay_torch')) await new Promise((r) => setTimeout(r, 200));
    assert.equal(readCmdline(k.engine), '', `engine ${k.engine} still runs`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('clay embed and clay reconstruct read a checkpoint the torch engine wrote (Clay tiny 512/32)', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-train-torch-embed-'));
  try {
    const out = join(dir, 'run');
    const t = await runCli(['train', '--data', chips, '--out', out, '--model', 'tiny', '--batch', '1', '--steps', '1', '--engine', 'torch', '--device', 'cpu']);
    assert.equal(t.code, 0, t.stderr);
    const e = await runCli(['embed', '--checkpoint', out, '--data', chips, '--out', join(dir, 'emb.parquet'), '--limit', '3'], { CLAY_BACKEND: 'wasm' });
    assert.equal(e.code, 0, e.stderr);
    const done = JSON.parse(e.stdout) as { chips: number; corrupt: number; model: { size: string; imageSize: number } };
    assert.deepEqual([done.chips, done.corrupt, done.model.size, done.model.imageSize], [3, 0, 'tiny', 512]);
    const tif = execFileSync('find', [chips, '-name', '*.tif'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()[0]!;
    const r = await runCli(['reconstruct', '--checkpoint', out, '--chip', tif, '--out', join(dir, 'r.png')], { CLAY_BACKEND: 'wasm' });
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
