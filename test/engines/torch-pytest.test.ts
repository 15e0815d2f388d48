/**
 * The PyTorch engine's own tests (`engines/torch/tests`, pytest: the model against the golden set exported
 * from Clay v0) run from the README's test command. A machine without a Python that has torch and pytest
 * fails here, saying what to install (Debian: python3-torch python3-pytest libopenblas0-pthread).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { findTorchPython, torchPackageDir } from '../../model/torch-engine.ts';
import { GOLDEN_DIR } from '../model/golden.ts';

const run = promisify(execFile);

test('engines/torch: pytest passes (model, loss, gradients, AdamW and schedule against the golden set)', async () => {
  const { python } = await findTorchPython();
  const pkg = torchPackageDir();
  let out: { stdout: string; stderr: string };
  try {
    out = await run(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests'], { cwd: pkg, env: { ...process.env, CLAY_GOLDEN_DIR: GOLDEN_DIR }, timeout: 600_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    assert.fail(`pytest failed (${python}; needs python3-pytest):\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  const m = /(\d+) passed/.exec(out.stdout);
  assert.ok(m && Number(m[1]) >= 5 && !/failed|error/i.test(out.stdout.split('\n').at(-2) ?? ''), out.stdout);
});
