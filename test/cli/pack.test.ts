/**
 * `clay pack` then `clay train --data SHARDS` as users run them, on the bundled sample's chips: the same
 * split and chip counts as training on the GeoTIFF chips; a run SIGKILLed after a checkpoint and resumed
 * ends bit for bit on the uninterrupted run's weights; the torch engine trains from the same shards; bad
 * input (an unknown codec, an unfinished pack) is exit 2 with a coded error.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainSummary } from '../../cli/commands/train.ts';
import type { PackSummary } from '../../model/data/pack.ts';
import { waitForCheckpoint } from '../helpers/checkpoint-wait.ts';
import { runCli } from '../helpers/cli.ts';
import { BUNDLED_CHIPS, bundledChips } from '../helpers/chips.ts';

const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));
const model = ['--model', 'tiny', '--image-size', '128', '--patch-size', '32', '--batch', '2', '--lr', '1e-3', '--seed', '5', '--backend', 'wasm'];
let base = '';
let shards = '';

const last = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'clay-pack-cli-'));
  shards = join(base, 'shards');
  const r = await runCli(['--json', 'pack', '--data', await bundledChips(), '--out', shards, '--shard-mb', '40']);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s = last<PackSummary>(r.stdout);
  const all = Object.values(BUNDLED_CHIPS).reduce((a, b) => a + b, 0);
  assert.deepEqual([s.packed, s.corrupt, s.chipsPerShard], [all, 0, 6]);
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('clay train --data SHARDS: the GeoTIFF run\'s split; SIGKILLed after a checkpoint then --resume: the uninterrupted run\'s weights, bit for bit', async () => {
  const clean = join(base, 'clean');
  const killed = join(base, 'killed');
  const args = (out: string, ...more: string[]): string[] => ['train', '--data', shards, '--out', out, ...model, '--steps', '10', '--checkpoint-every', '3', ...more];
  const a = await runCli(args(clean));
  assert.equal(a.code, 0, a.stderr.slice(-3000));
  const s = last<TrainSummary>(a.stdout);
  assert.deepEqual(s.chips, { train: BUNDLED_CHIPS['31TGL'], val: BUNDLED_CHIPS['31TGK'], corrupt: 0 });
  assert.match(a.stderr, /"event":"Train:Data"[^\n]*"format":"shards"/);
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args(killed)], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code, signal) => resolve(signal === 'SIGKILL' ? -9 : code)));
  let done = false;
  void exited.then(() => (done = true));
  await waitForCheckpoint(killed, 6, () => done);
  child.kill('SIGKILL');
  assert.equal(await exited, -9, 'the run finished before it could be killed');
  const resumed = await runCli(args(killed, '--resume'));
  assert.equal(resumed.code, 0, resumed.stderr.slice(-3000));
  assert.equal(last<TrainSummary>(resumed.stdout).steps, 10);
  for (const f of ['weights.safetensors', 'optimizer.safetensors']) {
    const x = await readFile(join(clean, 'checkpoints', 'step-00000010', f));
    const y = await readFile(join(killed, 'checkpoints', 'step-00000010', f));
    assert.ok(x.equals(y), `${f} differs after kill and resume`);
  }
});

test('clay train --engine torch --data SHARDS: the torch engine trains from the same shards', async () => {
  const out = join(base, 'torch');
  const r = await runCli(['train', '--data', shards, '--out', out, '--model', 'tiny', '--image-size', '64', '--patch-size', '16', '--batch', '2',
    '--steps', '2', '--checkpoint-every', '2', '--seed', '5', '--engine', 'torch', '--device', 'cpu']);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s = last<TrainSummary>(r.stdout);
  assert.equal(s.steps, 2);
  assert.deepEqual(s.chips, { train: BUNDLED_CHIPS['31TGL'], val: BUNDLED_CHIPS['31TGK'], corrupt: 0 });
  assert.ok(Number.isFinite(s.lastLoss));
});

test('bad input: an unknown codec, an unfinished pack: exit 2, a coded error naming it', async () => {
  const bad = await runCli(['pack', '--data', shards, '--out', join(base, 'x'), '--codec', 'lz4']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /error BAD_ARGUMENT: --codec lz4 is not one of none, deflate/);
  const half = join(base, 'half');
  const made = await runCli(['--json', 'pack', '--data', await bundledChips(), '--out', half]);
  assert.equal(made.code, 0, made.stderr.slice(-2000));
  await rm(join(half, 'shards.json'));
  const t = await runCli(['train', '--data', half, '--out', join(base, 'never'), ...model, '--steps', '1']);
  assert.equal(t.code, 2, t.stderr.slice(-2000));
  assert.match(t.stderr, /error SHARDS_INVALID: .*shards\.json is missing: the pack is unfinished/);
});
