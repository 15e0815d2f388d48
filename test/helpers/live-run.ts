/**
 * A `clay` process the test steers by its own JSON-line events on stderr: wait for an event (`Run:Unit:Start`:
 * the unit's lock is held and its work begun), then pause it (SIGSTOP), resume it, interrupt or kill it.
 * So what a test does between two processes follows what they did, not the clock, however loaded the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));

/** One JSON-line event. */
export type RunEvent = Record<string, unknown> & { event?: string; level?: string };

/** How a live run ended. */
export interface LiveRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  events: RunEvent[];
}

/** A running `clay` process. */
export interface LiveRun {
  child: ChildProcess;
  pid: number;
  events: RunEvent[];
  /** Resolves with the first event (already seen or to come) that `match` accepts; rejects if the process ends first. */
  waitFor(match: (e: RunEvent) => boolean, what: string): Promise<RunEvent>;
  /** Resolves when the process has exited and its pipes are closed (it is reaped then). */
  done: Promise<LiveRunResult>;
}

/** Starts `clay ...args` from source (pipes: JSON output, JSON-line logs). */
export function startRun(args: readonly string[], env: Record<string, string> = {}): LiveRun {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: RunEvent[] = [];
  const waiters: { match: (e: RunEvent) => boolean; resolve: (e: RunEvent) => void }[] = [];
  let stdout = '', stderr = '', pending = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      let e: RunEvent;
      try {
        e = JSON.parse(line) as RunEvent;
      } catch {
        continue;
      }
      events.push(e);
      for (const w of [...waiters]) {
        if (!w.match(e)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  const done = new Promise<LiveRunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, events }));
  });
  return {
    child,
    pid: child.pid!,
    events,
    done,
    waitFor(match, what) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<RunEvent>((resolve, reject) => {
        waiters.push({ match, resolve });
        void done.then((r) => reject(new Error(`the run ended (code ${r.code}, signal ${r.signal}) before ${what}:\n${r.stderr.slice(-3000)}`)));
      });
    },
  };
}

/** The events named `name`. */
export function eventsNamed(events: readonly RunEvent[], name: string): RunEvent[] {
  return events.filter((e) => e.event === name);
}
