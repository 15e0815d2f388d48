/**
 * What tests of `clay run` outputs share: a digest of every object of a store (to compare a resumed run
 * with a clean one), and a run of the CLI in a child process that is SIGKILLed in the middle of a unit
 * while a watcher checks that no partial chip is ever visible under a final name.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ObjectStore } from '../../core/store/store.ts';
import { isCompleteTiff } from './tiff-check.ts';

const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));

/** sha256 per key of a store; a manifest is hashed without its `run` section (timings differ by run). */
export async function digest(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of store.list('')) {
    let bytes = (await store.get(e.key))!;
    if (e.key.endsWith('manifest.json')) {
      const { run: _run, ...rest } = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
      bytes = new TextEncoder().encode(JSON.stringify(rest));
    }
    out.set(e.key, createHash('sha256').update(bytes).digest('hex'));
  }
  return out;
}

/** What the watcher of `runAndKill` saw. */
export interface KillOutcome {
  killed: boolean;
  /** Chips read back while the job ran. */
  looks: number;
  /** Chips seen under a final name that were not whole TIFFs (must stay empty). */
  partial: string[];
}

/**
 * Runs the CLI and SIGKILLs it once a unit is complete and the next has a chip on disk (mid-unit), while a
 * watcher checks every visible chip is a whole TIFF. Resolves with what the watcher saw.
 */
export async function runAndKill(cliArgs: string[], store: ObjectStore, env: Record<string, string> = {}): Promise<KillOutcome> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...cliArgs], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const seen: KillOutcome = { killed: false, looks: 0, partial: [] };
  while (!done) {
    const keys: string[] = [];
    for await (const e of store.list('')) keys.push(e.key);
    for (const k of keys.filter((x) => x.endsWith('.tif'))) {
      const bytes = await store.get(k);
      seen.looks++;
      if (bytes && !isCompleteTiff(bytes)) seen.partial.push(k);
    }
    const manifests = keys.filter((k) => k.endsWith('manifest.json')).length;
    const units = new Set(keys.filter((k) => k.endsWith('.tif')).map((k) => k.split('/').slice(0, 3).join('/')));
    if (manifests === 1 && units.size === 2 && !done) {
      child.kill('SIGKILL');
      seen.killed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  await exited;
  return seen;
}

/** How two digests compare: keys compared (their union) and the keys that differ or are missing from one. */
export function compareDigests(actual: Map<string, string>, expected: Map<string, string>): { compared: number; mismatches: string[] } {
  const keys = [...new Set([...actual.keys(), ...expected.keys()])].sort();
  return { compared: keys.length, mismatches: keys.filter((k) => actual.get(k) !== expected.get(k)) };
}
