/**
 * `clay train` as users run it (the CLI in a child process) on real chips of the bundled sample: the loss
 * falls; a run SIGKILLed after a checkpoint and resumed ends with the same weights and optimizer state as
 * an uninterrupted run, bit for bit; bad input is a coded error that leaves the run folder as it was.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainSummary } from '../../cli/commands/train.ts';
import { waitForCheckpoint } from '../helpers/checkpoint-wait.ts';
import { runCli } from '../helpers/cli.ts';
import { BUNDLED_CHIPS, bundledChips } from '../helpers/chips.ts';

const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));
let chips: string;
// tiny at 128 px (chips centre-cropped), patch 32: fast enough for a test, the real model otherwise.
const model = ['--model', 'tiny', '--image-size', '128', '--patch-size', '32', '--batch', '2', '--lr', '1e-3', '--seed', '5', '--backend', 'wasm'];

before(async () => {
  chips = await bundledChips();
});

function summaryOf(stdout: string): TrainSummary {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as TrainSummary;
}

test('clay train: the loss falls over two epochs; validation on a held-out tile; metrics and loss curve written', async () => {
  const out = await mkdtemp(join(tmpdir(), 'clay-train-cli-'));
  try {
    const r = await runCli(['train', '--data', chips, '--out', out, ...model, '--epochs', '2']);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const s = summaryOf(r.stdout);
    // Whole tiles are held out: 31TGK (2 chips) is the share closest to 20 %.
    assert.deepEqual(s.chips, { train: BUNDLED_CHIPS['31TGL'], val: BUNDLED_CHIPS['31TGK'], corrupt: 0 });
    assert.equal(s.steps, 2 * Math.floor(BUNDLED_CHIPS['31TGL'] / 2));
    assert.equal(s.validation.length, 2);
    const steps = r.stderr.split('\n').filter((l) => l.includes('"Train:Step"')).map((l) => JSON.parse(l) as { step: number; loss: number; samplesPerSec: number });
    assert.equal(steps.length, s.steps);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(steps.slice(0, 5).map((x) => x.loss));
    const last = mean(steps.slice(-5).map((x) => x.loss));
    assert.ok(last < 0.9 * first, `training loss did not fall: ${first} -> ${last}`);
    assert.ok(steps.every((x) => x.samplesPerSec > 0));
    const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(metrics.length, s.steps + 2);
    assert.match(await readFile(join(out, 'loss.svg'), 'utf8'), /<svg[\s\S]*<circle[\s\S]*<circle/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('clay train: SIGKILLed after a checkpoint, then --resume: the same weights and optimizer state as an uninterrupted run', async () => {
  const base = await mkdtemp(join(tmpdir(), 'clay-train-kill-'));
  const clean = join(base, 'clean');
  const killed = join(base, 'killed');
  const args = (out: string, ...more: string[]): string[] => ['train', '--data', chips, '--out', out, ...model, '--steps', '10', '--checkpoint-every', '3', ...more];
  try {
    const a = await runCli(args(clean));
    assert.equal(a.code, 0, a.stderr.slice(-3000));
    // Kill once the step-6 checkpoint is in place (mid-run: steps 7..10 remain).
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args(killed)], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code, signal) => resolve(signal === 'SIGKILL' ? -9 : code)));
    let done = false;
    void exited.then(() => (done = true));
    await waitForCheckpoint(killed, 6, () => done); // latest.json names step 6: kill mid-run
    child.kill('SIGKILL');
    assert.equal(await exited, -9, 'the run finished before it could be killed');
    const resumed = await runCli(args(killed, '--resume'));
    assert.equal(resumed.code, 0, resumed.stderr.slice(-3000));
    const s = summaryOf(resumed.stdout);
    assert.ok(s.resumedFrom !== null && s.resumedFrom >= 6 && s.resumedFrom < 10, `resumed from ${s.resumedFrom}`);
    assert.equal(s.steps, 10);
    for (const f of ['weights.safetensors', 'optimizer.safetensors']) {
      const x = await readFile(join(clean, 'checkpoints', 'step-00000010', f));
      const y = await readFile(join(killed, 'checkpoints', 'step-00000010', f));
      assert.ok(x.equals(y), `${f} differs after kill and resume`);
    }
    assert.equal(await readFile(join(killed, 'metrics.jsonl'), 'utf8'), await readFile(join(clean, 'metrics.jsonl'), 'utf8'));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('clay train: bad input is a coded error, and a finished run folder is left as it was', async () => {
  const out = await mkdtemp(join(tmpdir(), 'clay-train-bad-'));
  try {
    const missing = await runCli(['train', '--data', join(out, 'nowhere'), '--out', join(out, 'run'), ...model, '--steps', '1']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nowhere/);
    const badModel = await runCli(['train', '--data', chips, '--out', join(out, 'run'), '--model', 'huge']);
    assert.notEqual(badModel.code, 0);
    assert.match(badModel.stderr, /BAD_ARGUMENT.*--model/);
    const ok = await runCli(['train', '--data', chips, '--out', join(out, 'run'), ...model, '--steps', '2']);
    assert.equal(ok.code, 0, ok.stderr.slice(-3000));
    const weights = await readFile(join(out, 'run', 'checkpoints', 'step-00000002', 'weights.safetensors'));
    const again = await runCli(['train', '--data', chips, '--out', join(out, 'run'), ...model, '--steps', '4']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /BAD_ARGUMENT.*--resume/);
    const other = await runCli(['train', '--data', chips, '--out', join(out, 'run'), ...model, '--steps', '4', '--resume', '--batch', '1']);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /CHECKPOINT_INVALID.*batch/);
    assert.ok(weights.equals(await readFile(join(out, 'run', 'checkpoints', 'step-00000002', 'weights.safetensors'))));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
