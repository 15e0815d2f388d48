/**
 * An array job on this machine, for the crash tests: K sample rows run as parallel child processes of the
 * CLI (from source), each with `JOB_COMPLETION_INDEX` set as a Kubernetes Indexed Job sets it, optionally
 * SIGKILLed mid-unit at a seeded point that its own events locate; and a watcher that polls the output while they run
 * and reads back every file under a final name, which must be whole (a TIFF whose strips all lie in the
 * file, JSON that parses, Parquet with its magic at both ends). Temporary names (`.{name}.partial-{pid}-{hex}`)
 * are allowed and counted.
 */
import { spawn } from 'node:child_process';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ObjectStore } from '../../core/store/store.ts';
import { runCli } from './cli.ts';
import { isCompleteTiff } from './tiff-check.ts';

const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));

/** A temporary name of an atomic write (written out here rather than imported: the watcher is an oracle). */
const PARTIAL = /^\..+\.partial-\d+-[0-9a-f]+$/;

/** What became of one task of a round. */
export interface TaskOutcome {
  index: number;
  /** Exit code (null when killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The kill point drawn for it (a fraction of the chips the run had to make), if the round kills. */
  killPoint?: number;
  /** Where the run was, by its own events, when it was SIGKILLed. */
  killedAt?: { done: number; total: number; unit: string; unitDone: number; unitChips: number };
  /** Whether it was still running at its kill point and was SIGKILLed. */
  killed: boolean;
  ms: number;
  stderr: string;
}

/** The fields of the run's JSON-line events the kill decision reads. */
interface RunEvent {
  event?: unknown;
  done?: unknown;
  total?: unknown;
  unit?: unknown;
  mgrs?: unknown;
  date?: unknown;
  chips?: unknown;
}

/**
 * Decides, from a run's own events, when to kill it: at the first `Progress:Update` that reports at least
 * `point` of the run's chips made (`done / total`, the chips of the units it does not skip) while the unit
 * being made has some but not all of its chips (`Run:Unit:Start` says how many), so the kill lands mid-unit
 * however slow the machine is. Feed it every stderr line; it answers where the run is when it is time.
 */
export function midUnitKill(point: number): (line: string) => TaskOutcome['killedAt'] {
  let unit = '', unitChips = 0, unitStartDone = 0, done = 0;
  return (line) => {
    let e: RunEvent;
    try {
      e = JSON.parse(line) as RunEvent;
    } catch {
      return undefined;
    }
    if (e.event === 'Run:Unit:Start' && typeof e.chips === 'number') {
      unit = `${String(e.mgrs)} ${String(e.date)}`;
      unitChips = e.chips;
      unitStartDone = done;
      return undefined;
    }
    if (e.event !== 'Progress:Update' || typeof e.done !== 'number' || typeof e.total !== 'number') return undefined;
    done = e.done;
    const unitDone = done - unitStartDone;
    if (e.unit !== unit || unitDone <= 0 || unitDone >= unitChips || done < point * e.total) return undefined;
    return { done, total: e.total, unit, unitDone, unitChips };
  };
}

/**
 * Runs `indices` in parallel, each `clay <args>` with `JOB_COMPLETION_INDEX` set; with `killPoint`, task i
 * is SIGKILLed where `midUnitKill(killPoint(i))` says, unless it has exited by then. Resolves when all have
 * exited.
 */
export async function runRound(indices: readonly number[], args: readonly string[], options: { env?: Record<string, string>; killPoint?: (index: number) => number } = {}): Promise<TaskOutcome[]> {
  return Promise.all(indices.map((index) => new Promise<TaskOutcome>((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
      env: { ...process.env, ...options.env, JOB_COMPLETION_INDEX: String(index) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '', pending = '';
    const killPoint = options.killPoint?.(index);
    const decide = killPoint === undefined ? undefined : midUnitKill(killPoint);
    let killed = false;
    let killedAt: TaskOutcome['killedAt'];
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!decide || killedAt) return;
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        killedAt = decide(line);
        if (!killedAt) continue;
        if (child.exitCode === null && child.signalCode === null) killed = child.kill('SIGKILL');
        break;
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wasKilled = killed && signal === 'SIGKILL';
      resolve({
        index, code, signal, ...(killPoint !== undefined ? { killPoint } : {}), ...(wasKilled && killedAt ? { killedAt } : {}),
        killed: wasKilled, ms: Math.round(performance.now() - started), stderr,
      });
    });
  })));
}

/** What the watcher saw. */
export interface WatchReport {
  polls: number;
  /** Distinct file versions read back under a final name. */
  filesChecked: number;
  /** Distinct temporary names seen. */
  partialNamesSeen: number;
  /** Files seen under a final name that were not whole (must stay empty). */
  halfWritten: string[];
}

/** A running watcher; `stop()` ends it after the poll in progress. */
export interface Watcher {
  stop(): Promise<WatchReport>;
}

/** Whether the bytes of a file named `name` look whole. */
export function looksWhole(name: string, bytes: Uint8Array): boolean {
  if (name.endsWith('.tif')) return isCompleteTiff(bytes);
  if (name.endsWith('.json')) {
    try {
      JSON.parse(new TextDecoder().decode(bytes));
      return true;
    } catch {
      return false;
    }
  }
  if (name.endsWith('.parquet')) {
    const magic = (at: number): string => new TextDecoder().decode(bytes.subarray(at, at + 4));
    return bytes.byteLength >= 12 && magic(0) === 'PAR1' && magic(bytes.byteLength - 4) === 'PAR1';
  }
  return bytes.byteLength > 0;
}

/** Polls `poll` until stopped. */
function watch(poll: (report: WatchReport, seen: Set<string>) => Promise<void>): Watcher {
  const report: WatchReport = { polls: 0, filesChecked: 0, partialNamesSeen: 0, halfWritten: [] };
  const seen = new Set<string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await poll(report, seen);
      report.polls++;
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return report;
    },
  };
}

/**
 * Watches a local folder with plain `readdir`/`readFile` (not the store under test). A file version
 * (inode, size, mtime) is read back once; a file written in place would change and be read again.
 */
export function watchFolder(root: string): Watcher {
  return watch(async (report, seen) => {
    for (const path of await filesUnder(root)) {
      const name = basename(path);
      if (PARTIAL.test(name)) {
        if (!seen.has(path)) report.partialNamesSeen++;
        seen.add(path);
        continue;
      }
      const st = await lstat(path).catch(() => undefined);
      const version = st && `${path}:${st.ino}:${st.size}:${st.mtimeMs}`;
      if (!version || seen.has(version)) continue;
      const bytes = await readFile(path).catch(() => undefined);
      if (!bytes) continue; // removed since listed (a unit being redone)
      seen.add(version);
      report.filesChecked++;
      if (!looksWhole(name, bytes)) report.halfWritten.push(relative(root, path));
    }
  });
}

/** Watches a store through its listing (S3: each object version by key and size is read back once). */
export function watchStore(store: ObjectStore): Watcher {
  return watch(async (report, seen) => {
    const entries: { key: string; size: number }[] = [];
    for await (const e of store.list('')) entries.push(e);
    for (const { key, size } of entries) {
      const version = `${key}:${size}`;
      if (seen.has(version)) continue;
      const bytes = await store.get(key);
      if (!bytes) continue;
      seen.add(version);
      report.filesChecked++;
      if (!looksWhole(key, bytes)) report.halfWritten.push(key);
    }
  });
}

/** Every file under `root` (paths), recursively; folders that vanish while walked are skipped. */
export async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else out.push(join(dir, e.name));
    }
  };
  await walk(root);
  return out.sort();
}

/** The temporary files left under `root`, relative to it. */
export async function partialsUnder(root: string): Promise<string[]> {
  return (await filesUnder(root)).filter((p) => PARTIAL.test(basename(p))).map((p) => relative(root, p));
}

/** Options of `killedArrayJob`. */
export interface KilledArrayJobOptions {
  /** The loopback Planetary Computer. */
  pc: { stacApi: string; sasApi: string };
  sample: string;
  /** Where the clean run goes (its per-row times size the kill windows). */
  clean: string;
  /** Where the killed runs go (a folder or an s3:// URL). */
  out: string;
  env?: Record<string, string>;
  /** The seeded source of the kill moments. */
  random: () => number;
  /** The store of `out` (to tell, after each kill round, which units the kills left unfinished). */
  store: ObjectStore;
  /** Starts the watcher of `out`. */
  watch: () => Watcher;
  /** Rows (default 0, 1, 2). */
  indices?: readonly number[];
  /** Rounds that kill (default 2) before the last, which runs what is left to the end. */
  killRounds?: number;
}

/** The figures of a killed array job. */
export interface KilledArrayJobFigures {
  indices: number[];
  /** Process runs in all, the clean ones excluded. */
  runs: number;
  kills: number;
  /** Runs that finished before their kill moment. */
  finishedBeforeKill: number;
  /** Per kill round: index, kill point, where the run was when killed, then the units the round left complete and unfinished. */
  rounds: { tasks: { index: number; killPoint: number; outcome: 'killed' | 'finished'; at?: string }[]; completeUnits: number; unfinishedUnits: number }[];
  /** Per row, the clean run's wall time (ms). */
  cleanMs: Record<number, number>;
}

/**
 * A clean run of `indices` (parallel, into `clean`), then the same into `out` with kills at seeded points
 * (10 % to 95 % of the chips each run has to make, mid-unit, read from the run's own events) for
 * `killRounds` rounds, each rerunning the rows killed in the one
 * before, then a last round without kills; `clay status` must then call every row complete. Throws on a
 * run that failed other than by the kill. Resolves with the figures and what the watcher saw.
 */
export async function killedArrayJob(o: KilledArrayJobOptions): Promise<{ figures: KilledArrayJobFigures; watch: WatchReport }> {
  const indices = [...(o.indices ?? [0, 1, 2])];
  const args = (out: string): string[] => ['--stac-api', o.pc.stacApi, '--sas-api', o.pc.sasApi, 'run', '--sample', o.sample, '--out', out, '--allow-no-data'];
  const env = o.env ?? {};
  const cleanMs: Record<number, number> = {};
  for (const t of await runRound(indices, args(o.clean), { env })) {
    if (t.code !== 0) throw new Error(`clean run of row ${t.index} failed (${t.code}): ${t.stderr}`);
    cleanMs[t.index] = t.ms;
  }
  const figures: KilledArrayJobFigures = { indices, runs: 0, kills: 0, finishedBeforeKill: 0, rounds: [], cleanMs };
  const watcher = o.watch();
  let report: WatchReport;
  try {
    let pending = indices;
    for (let r = 0; r < (o.killRounds ?? 2) && pending.length > 0; r++) {
      const points = new Map(pending.map((i) => [i, 0.1 + 0.85 * o.random()]));
      const outcomes = await runRound(pending, args(o.out), { env, killPoint: (i) => points.get(i)! });
      figures.runs += outcomes.length;
      const round: KilledArrayJobFigures['rounds'][number]['tasks'] = [];
      for (const t of outcomes) {
        if (!t.killed && t.code !== 0) throw new Error(`row ${t.index} failed (${t.code}) in kill round ${r + 1}: ${t.stderr}`);
        const at = t.killedAt && `${t.killedAt.unit}: chip ${t.killedAt.unitDone} of ${t.killedAt.unitChips} (${t.killedAt.done}/${t.killedAt.total} of the run)`;
        round.push({ index: t.index, killPoint: Math.round(t.killPoint! * 1000) / 1000, outcome: t.killed ? 'killed' : 'finished', ...(at ? { at } : {}) });
      }
      figures.rounds.push({ tasks: round, ...(await unitStates(o.store)) });
      figures.kills += round.filter((t) => t.outcome === 'killed').length;
      figures.finishedBeforeKill += round.filter((t) => t.outcome === 'finished').length;
      pending = round.filter((t) => t.outcome === 'killed').map((t) => t.index);
    }
    const last = await runRound(pending, args(o.out), { env });
    figures.runs += last.length;
    for (const t of last) if (t.code !== 0) throw new Error(`row ${t.index} failed (${t.code}) in the last round: ${t.stderr}`);
    const status = await runCli(['status', '--sample', o.sample, '--out', o.out], env);
    if (status.code !== 0) throw new Error(`clay status says some row is not complete (${status.code}): ${status.stdout}${status.stderr}`);
  } finally {
    report = await watcher.stop();
  }
  return { figures, watch: report };
}

/** Unit folders (`02/{mgrs}/{date}/`) of a store with a manifest, and those with files but no manifest. */
async function unitStates(store: ObjectStore): Promise<{ completeUnits: number; unfinishedUnits: number }> {
  const units = new Map<string, boolean>();
  for await (const { key } of store.list('')) {
    const m = /^(\d+\/[0-9]{2}[A-Z]{3}\/\d{4}-\d{2}-\d{2})\/(.+)$/.exec(key);
    if (m) units.set(m[1]!, (units.get(m[1]!) ?? false) || m[2] === 'manifest.json');
  }
  const complete = [...units.values()].filter(Boolean).length;
  return { completeUnits: complete, unfinishedUnits: units.size - complete };
}
