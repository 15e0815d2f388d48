/**
 * What a lock needs to know about processes on this machine: whether a process id is still running, and
 * which PID namespace ids belong to (two containers on one host may each have a process 12, and only
 * inside one namespace does a pid name one process).
 */
import { readFileSync, readlinkSync } from 'node:fs';

/**
 * True when no process `pid` runs on this machine (or it is a zombie: exited, not yet reaped). False when
 * one does, when it cannot be told (not a positive integer; another user's process answers EPERM, which
 * means it exists). A pid can be reused by an unrelated process: "running" is then a false positive,
 * which errs on the safe side for a lock.
 */
export function processGone(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err instanceof Error && 'code' in err && err.code === 'ESRCH';
  }
  try {
    // Linux: the state letter after the parenthesised command name; Z zombie, X dead.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return false;
  }
}

/** This process's PID namespace (`pid:[4026531836]` on Linux), or undefined where the system has none to show. */
export function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}
