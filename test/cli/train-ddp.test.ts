/**
 * `clay train --engine torch --nproc 2` as a user runs it, on CPU ranks (gloo): one `Train:Step` line per
 * step and one metrics file for the whole job, checkpoints written by rank 0; a rank SIGKILLed after a
 * checkpoint ends the run with a coded error naming the rank, and `--resume` ends on the uninterrupted
 * run's weights; SIGKILL of `clay train` itself leaves no rank or torchrun behind; bad layouts are refused.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeSafetensors } from '../../model/safetensors.ts';
import { bundledChips } from '../helpers/chips.ts';
import { runCli } from '../helpers/cli.ts';
import { engineTree, freePort } from '../helpers/procs.ts';

const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));

const args = (chips: string, out: string, steps: number, extra: string[] = []): string[] => [
  'train', '--data', chips, '--out', out, '--model', 'tiny', '--image-size', '64', '--patch-size', '16', '--batch', '1',
  '--steps', String(steps), '--checkpoint-every', '2', '--seed', '5', '--engine', 'torch', '--device', 'cpu', '--nproc', '2', ...extra,
];

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Runs `clay train`; at the checkpoint of step `at` SIGKILLs one rank, or `clay train` itself. */
function runAndKill(cli: string[], at: number, victim: 'rank' | 'clay'): Promise<{ code: number | null; stderr: string; killed: number[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...cli], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let done = false;
    let killed: number[] = [];
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (done) return;
      for (const line of stderr.split('\n')) {
        if (!line.includes('"Train:Checkpoint"') || (JSON.parse(line) as { step: number }).step !== at) continue;
        done = true;
        const tree = engineTree(child.pid!);
        if (victim === 'rank') {
          killed = [Math.max(...tree.ranks)];
          process.kill(killed[0]!, 'SIGKILL');
        } else {
          killed = [...tree.launcher, ...tree.ranks];
          child.kill('SIGKILL');
        }
        break;
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, killed }));
  });
}

test('clay train --nproc 2: one step line per step, one metrics file, rank 0 checkpoints; a rank SIGKILLed, then --resume: the uninterrupted weights', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-train-ddp-'));
  try {
    const full = await runCli(args(chips, join(dir, 'full'), 6));
    assert.equal(full.code, 0, full.stderr);
    const steps = full.stderr.split('\n').filter((l) => l.includes('"Train:Step"')).map((l) => (JSON.parse(l) as { step: number }).step);
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
    const start = JSON.parse(full.stderr.split('\n').find((l) => l.includes('"Train:Start"'))!) as { batch: number; world: number; nproc: number };
    assert.deepEqual([start.batch, start.world, start.nproc], [2, 2, 2], 'a step is world x --batch chips');
    const metrics = (await readFile(join(dir, 'full', 'metrics.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(metrics.length, 6);
    assert.deepEqual(await readdir(join(dir, 'full', 'checkpoints')), ['latest.json', 'step-00000002', 'step-00000004', 'step-00000006']);

    const at = 2 * (1 + Math.floor(Math.random() * 2)); // after the checkpoint of step 2 or 4
    const out = join(dir, 'killed');
    const k = await runAndKill(args(chips, out, 6), at, 'rank');
    assert.equal(k.code, 1, k.stderr);
    const errors = k.stderr.split('\n').filter((l) => l.startsWith('error '));
    assert.equal(errors.length, 1, k.stderr);
    assert.match(errors[0]!, new RegExp(`^error ENGINE_FAILED: torch rank 1 \\(local rank 1, pid ${k.killed[0]}\\) died`));
    const r = await runCli([...args(chips, out, 6), '--resume']);
    assert.equal(r.code, 0, r.stderr);
    const done = JSON.parse(r.stdout) as { resumedFrom: number; steps: number };
    assert.ok(done.resumedFrom >= at && done.steps === 6, r.stdout);
    for (const f of ['weights.safetensors', 'optimizer.safetensors']) {
      const a = await readFile(join(out, 'checkpoints', 'step-00000006', f));
      const b = await readFile(join(dir, 'full', 'checkpoints', 'step-00000006', f));
      assert.ok(a.equals(b), `${f} after a rank's kill + resume equals the uninterrupted run's`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('SIGKILL of clay train --nproc 2: torchrun and its ranks do not outlive it', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-train-ddp-orphan-'));
  try {
    const k = await runAndKill(args(chips, join(dir, 'run'), 8), 2, 'clay');
    assert.equal(k.killed.length, 3, `torchrun and 2 ranks found: ${k.killed.join(', ')}`);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && k.killed.some(alive)) await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(k.killed.filter(alive), [], 'still running');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('two machines (two clay train on loopback, --nnodes 2, one rank each, one shared --out): the machine with rank 0 reports and writes; the weights of one process on the whole batch', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-train-ddp-nodes-'));
  try {
    const port = await freePort();
    const node = (rank: number): string[] => [...args(chips, join(dir, 'shared'), 2), '--nproc', '1', '--nnodes', '2', '--node-rank', String(rank), '--rdzv-endpoint', `127.0.0.1:${port}`, '--rdzv-timeout', '120'];
    const [a, b] = await Promise.all([runCli(node(0)), runCli(node(1))]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const stepLines = (r: { stderr: string }): number => r.stderr.split('\n').filter((l) => l.includes('"Train:Step"')).length;
    assert.deepEqual([stepLines(a) + stepLines(b), Math.min(stepLines(a), stepLines(b))], [2, 0], 'one machine reports the 2 steps');
    assert.ok([a, b].some((r) => r.stderr.includes('"Train:Follower"')));
    assert.equal((await readFile(join(dir, 'shared', 'metrics.jsonl'), 'utf8')).trim().split('\n').length, 2);
    const single = await runCli(['train', '--data', chips, '--out', join(dir, 'single'), '--model', 'tiny', '--image-size', '64', '--patch-size', '16', '--batch', '2', '--steps', '2', '--checkpoint-every', '2', '--seed', '5', '--engine', 'torch', '--device', 'cpu']);
    assert.equal(single.code, 0, single.stderr);
    const w = async (out: string) => decodeSafetensors(await readFile(join(out, 'checkpoints', 'step-00000002', 'weights.safetensors'))).tensors;
    const [x, y] = [await w(join(dir, 'shared')), await w(join(dir, 'single'))];
    let gap = 0;
    x.forEach((t, i) => t.data.forEach((v, j) => (gap = Math.max(gap, Math.abs(v - y[i]!.data[j]!)))));
    assert.ok(gap <= 1e-5, `two machines x batch 1 vs one process x batch 2: weights differ by up to ${gap}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad layouts: refused before anything starts, naming the flag', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-train-ddp-bad-'));
  try {
    const cases: [string[], RegExp][] = [
      [['train', '--data', chips, '--out', join(dir, 'a'), '--nproc', '2'], /^error BAD_ARGUMENT: --nproc is an option of --engine torch/m],
      [args(chips, join(dir, 'b'), 1, ['--nnodes', '2']), /^error BAD_ARGUMENT: --nnodes 2 needs --rdzv-endpoint HOST:PORT/m],
      [args(chips, join(dir, 'c'), 1, ['--nnodes', '2', '--node-rank', '2', '--rdzv-endpoint', 'head:29500']), /^error BAD_ARGUMENT: --node-rank 2 is not below --nnodes 2/m],
    ];
    for (const [cli, want] of cases) {
      const r = await runCli(cli);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, want);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
