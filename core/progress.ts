/**
 * Progress reporting: a bar on a TTY (cli-progress), `Progress:Update` events otherwise (at most one per
 * 5 % step), so batch logs stay readable and a terminal stays live.
 */
import cliProgress from 'cli-progress';
import type { Logger } from './log.ts';

/** A progress reporter for one task. */
export interface Progress {
  tick(n?: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

/** A progress reporter for `total` steps named `label`. */
export function createProgress(label: string, total: number, logger: Logger, tty = process.stderr.isTTY === true): Progress {
  if (tty) {
    const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} {status}`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { status: '' });
    return {
      tick: (n = 1, fields) => bar.increment(n, { status: fields ? Object.values(fields).join(' ') : '' }),
      stop: () => bar.stop(),
    };
  }
  let done = 0;
  let lastStep = -1;
  return {
    tick: (n = 1, fields) => {
      done += n;
      const step = Math.floor((done / Math.max(1, total)) * 20);
      if (step !== lastStep || done === total) {
        lastStep = step;
        logger.info('Progress:Update', { task: label, done, total, ...fields });
      }
    },
    stop: () => undefined,
  };
}
