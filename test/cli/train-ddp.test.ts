/**
 * `clay train --engine torch --nproc 2` as a user runs it, on CPU ranks (gloo): one `Train:Step` line per
 * step and one metrics file for the whole job, checkpoints written by rank 0; a rank SIGKILLed after a
 * checkpoint ends the run with a coded error naming the rank, and `--resume` ends on the uninterrupted
 * run's weights; with `--max-restarts` torchrun restarts the ranks and the run rewinds to its last checkpoint
 * and ends on those weights too (one machine, and two, losing the rank that leads), a kill past the last
 * restart ends it; SIGKILL of `clay train` itself leaves no rank or torchrun behind; bad layouts are refused.
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

/** Runs `clay train`; at the checkpoint of each step of `at` SIGKILLs one rank, or `clay train` itself. */
function runAndKill(cli: string[], at: number | number[], victim: 'rank' | 'clay'): Promise<{ code: number | null; stdout: string; stderr: string; killed: number[] }> {
  const when = Array.isArray(at) ? [...at] : [at];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...cli], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    let seen = 0;
    const killed: number[] = [];
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const lines = stderr.split('\n');
      for (; seen < lines.length - 1; seen++) {
        const line = lines[seen]!;
        if (when.length === 0 || !line.includes('"Train:Checkpoint"') || (JSON.parse(line) as { step: number }).step !== when[0]) continue;
        when.shift();
        const tree = engineTree(child.pid!);
        if (victim === 'rank') {
          killed.push(Math.max(...tree.ranks));
          process.kill(killed[killed.length - 1]!, 'SIGKILL');
        } else {
          killed.push(...tree.launcher, ...tree.ranks);
          child.kill('SIGKILL');
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, killed }));
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

    const sameAsFull = async (run: string, what: string): Promise<void> => {
      for (const f of ['weights.safetensors', 'optimizer.safetensors']) {
        const a = await readFile(join(run, 'checkpoints', 'step-00000006', f));
        const b = await readFile(join(dir, 'full', 'checkpoints', 'step-00000006', f));
        assert.ok(a.equals(b), `${f} after ${what} equals the uninterrupted run's`);
      }
    };
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
    await sameAsFull(out, 'a rank\'s kill + resume');

    // --max-restarts 2: torchrun restarts both ranks after each kill, the run rewinds to its last checkpoint
    // and ends on the uninterrupted weights, with the uninterrupted metrics.
    const elastic = join(dir, 'elastic');
    const e = await runAndKill(args(chips, elastic, 6, ['--max-restarts', '2']), [2, 4], 'rank');
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.killed.length, 2);
    const restarts = e.stderr.split('\n').filter((l) => l.includes('"Train:Restart"')).map((l) => JSON.parse(l) as { restart: number; step: number; lost: string });
    assert.deepEqual(restarts.map((x) => [x.restart, x.step]), [[1, 2], [2, 4]], e.stderr);
    assert.match(restarts[0]!.lost, new RegExp(`^torch rank 1 \\(local rank 1, pid ${e.killed[0]}\\) died`));
    assert.deepEqual((({ steps, restarts }) => [steps, restarts])(JSON.parse(e.stdout) as { steps: number; restarts: number }), [6, 2], e.stdout);
    await sameAsFull(elastic, 'two kills under --max-restarts 2');
    assert.equal(await readFile(join(elastic, 'metrics.jsonl'), 'utf8'), await readFile(join(dir, 'full', 'metrics.jsonl'), 'utf8'), 'the redone steps replace their rows');

    // One restart allowed, two kills: the second ends the job, naming the rank.
    const once = await runAndKill(args(chips, join(dir, 'once'), 6, ['--max-restarts', '1']), [2, 4], 'rank');
    assert.equal(once.code, 1, once.stderr);
    const last = once.stderr.split('\n').filter((l) => l.startsWith('error '));
    assert.equal(last.length, 1, once.stderr);
    assert.match(last[0]!, new RegExp(`^error ENGINE_FAILED: torch rank 1 \\(local rank 1, pid ${once.killed[1]}\\) died`));
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

test('two machines (two clay train on loopback, --nnodes 2, one rank each, one shared --out): the machine with rank 0 reports and writes; the weights of one process on the whole batch; --max-restarts survives rank 0\'s loss', async () => {
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-train-ddp-nodes-'));
  try {
    let port = await freePort();
    const node = (out: string, rank: number, extra: string[] = []): string[] => [...args(chips, join(dir, out), 4), '--nproc', '1', '--nnodes', '2', '--node-rank', String(rank), '--rdzv-endpoint', `127.0.0.1:${port}`, '--rdzv-timeout', '120', ...extra];
    const [a, b] = await Promise.all([runCli(node('shared', 0)), runCli(node('shared', 1))]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const stepLines = (r: { stderr: string }): number => r.stderr.split('\n').filter((l) => l.includes('"Train:Step"')).length;
    assert.deepEqual([stepLines(a) + stepLines(b), Math.min(stepLines(a), stepLines(b))], [4, 0], 'one machine reports the 4 steps');
    assert.ok([a, b].some((r) => r.stderr.includes('"Train:Follower"')));
    assert.equal((await readFile(join(dir, 'shared', 'metrics.jsonl'), 'utf8')).trim().split('\n').length, 4);
    const single = await runCli(['train', '--data', chips, '--out', join(dir, 'single'), '--model', 'tiny', '--image-size', '64', '--patch-size', '16', '--batch', '2', '--steps', '2', '--checkpoint-every', '2', '--seed', '5', '--engine', 'torch', '--device', 'cpu']);
    assert.equal(single.code, 0, single.stderr);
    const w = async (out: string) => decodeSafetensors(await readFile(join(out, 'checkpoints', 'step-00000002', 'weights.safetensors'))).tensors;
    const [x, y] = [await w(join(dir, 'shared')), await w(join(dir, 'single'))];
    let gap = 0;
    x.forEach((t, i) => t.data.forEach((v, j) => (gap = Math.max(gap, Math.abs(v - y[i]!.data[j]!)))));
    assert.ok(gap <= 1e-5, `two machines x batch 1 vs one process x batch 2: weights differ by up to ${gap}`);

    // The rank of the machine that leads is SIGKILLed after checkpoint 2: both machines' torchrun restart
    // their ranks through a new rendezvous, both runs rewind to checkpoint 2 of the shared --out, and end on
    // the uninterrupted pair's weights.
    port = await freePort();
    const [p, q] = await Promise.all([0, 1].map((r) => runAndKill(node('elastic', r, ['--max-restarts', '1']), 2, 'rank')));
    assert.equal(p!.code, 0, p!.stderr);
    assert.equal(q!.code, 0, q!.stderr);
    assert.deepEqual([p!.killed.length + q!.killed.length], [1]);
    for (const r of [p!, q!]) assert.match(r.stderr, /"Train:Restart".*"step":2/, 'each machine rewinds to checkpoint 2');
    for (const f of ['weights.safetensors', 'optimizer.safetensors']) {
      const x1 = await readFile(join(dir, 'elastic', 'checkpoints', 'step-00000004', f));
      const y1 = await readFile(join(dir, 'shared', 'checkpoints', 'step-00000004', f));
      assert.ok(x1.equals(y1), `${f}: a restarted pair equals the uninterrupted pair`);
    }
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
      [args(chips, join(dir, 'd'), 1, ['--max-restarts', '-1']), /^error BAD_ARGUMENT: --max-restarts must be an integer >= 0, got '-1'/m],
      [['train', '--data', chips, '--out', join(dir, 'e'), '--max-restarts', '1'], /^error BAD_ARGUMENT: --max-restarts is an option of --engine torch/m],
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
