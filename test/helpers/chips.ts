/**
 * Real chips for the model tests: `clay run` on rows 0-2 of the bundled sample (31TGL: 47 chips over three
 * dates; 01KAB: no data; 31TGK: 2 chips), made once and shared by every test file of a run. The folder is
 * built under a partial name and renamed into place, so a test never sees half of it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import { runCli } from './cli.ts';
import { BUNDLED_DIR, assertBundled } from './bundled.ts';

/** Kept chips of rows 0-2 by MGRS tile. */
export const BUNDLED_CHIPS = { '31TGL': 47, '31TGK': 2 } as const;

/** The folder of `clay run --indices 0-2` output for the bundled universe (made on first use). */
export async function bundledChips(): Promise<string> {
  assertBundled();
  const manifest = await readFile(join(BUNDLED_DIR, 'manifest.json'));
  const tag = createHash('sha256').update(manifest).update(await readFile(new URL('../../pipeline/chip/chip-file.ts', import.meta.url))).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `clay-test-chips-${tag}`);
  if (existsSync(join(dir, '02', 'index', 'rows-0-2.parquet')) || existsSync(join(dir, 'done'))) return dir;
  const tmp = `${dir}.partial-${process.pid}`;
  const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  try {
    const r = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', join(BUNDLED_DIR, 'mgrs_sample.fgb'), '--indices', '0-2', '--out', tmp]);
    if (r.code !== 0) throw new Error(`clay run for the test chips failed (${r.code}): ${r.stderr.slice(-2000)}`);
    await (await import('node:fs/promises')).writeFile(join(tmp, 'done'), '');
  } finally {
    await pc.close();
  }
  try {
    await rename(tmp, dir);
  } catch {
    // Another test process finished first: use its folder.
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}
