/**
 * For the kill-and-resume tests: waits until a training run's `checkpoints/latest.json` names a checkpoint
 * of at least `step` (read by `resolveCheckpoint`, as `--resume` reads it). A checkpoint folder is renamed
 * into place before latest.json points at it, so a kill between the two resumes from the one before:
 * right, but not what those tests assert.
 */
import { resolveCheckpoint } from '../../model/checkpoint.ts';

/** The step latest.json names in `out`, or 0 when there is none yet. */
async function latestStep(out: string): Promise<number> {
  try {
    return Number(/step-(\d{8})$/.exec(await resolveCheckpoint(out))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Polls every 20 ms until latest.json names step >= `step`, or `stopped()` says the run has ended. */
export async function waitForCheckpoint(out: string, step: number, stopped: () => boolean): Promise<void> {
  while (!stopped() && (await latestStep(out)) < step) await new Promise((r) => setTimeout(r, 20));
}
