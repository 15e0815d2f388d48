/**
 * `clay status`: which sample rows an output holds complete, failed, incomplete or not started, and the
 * `--indices` to resubmit. Reads the output only (a folder or an `s3://` prefix), never the STAC API. A
 * table on a TTY, JSON otherwise; exit 0 when every row looked at is complete, 4 when some must be run
 * again.
 */
import type { Command } from 'commander';
import { openStore } from '../../core/store/open-store.ts';
import { readSampleFile } from '../../pipeline/sample-file.ts';
import { formatIndices, sampleStatus, ROW_STATES, type SampleStatus } from '../../pipeline/run/sample-status.ts';
import { createContext, type GlobalOptions } from '../context.ts';
import { formatTable } from '../table.ts';
import { parseInteger } from '../parse.ts';
import { parseRows } from './plan.ts';

/** Options of `clay status`. */
export interface StatusCommandOptions {
  sample: string;
  out: string;
  indices?: string;
  concurrency?: number;
}

/** What `clay status` prints as JSON: the status, plus the `--indices` value to resubmit ('' when none). */
export interface StatusReport extends SampleStatus {
  event: 'Status';
  indices: string;
}

/** The table and summary a TTY shows. */
export function formatStatus(s: StatusReport): string {
  const table = formatTable(
    ['row', 'mgrs', 'state', 'units', 'detail'],
    s.rows.map((r) => [r.index, r.mgrs, r.state, r.unitsPlanned === undefined ? `${r.unitsComplete}/?` : `${r.unitsComplete}/${r.unitsPlanned}`, r.detail]),
  );
  const counts = ROW_STATES.map((k) => `${s.counts[k]} ${k.replace('-', ' ')}`).join(', ');
  const tail = s.resubmit.length === 0 ? 'nothing to resubmit' : `resubmit: --indices ${s.indices}`;
  return `${table}\n${s.rows.length} row(s) in ${s.out}: ${counts}\n${tail}`;
}

/** Runs `clay status`; resolves with the report. */
export async function runStatus(globals: GlobalOptions, options: StatusCommandOptions): Promise<StatusReport> {
  const ctx = createContext(globals);
  const rows = await readSampleFile(options.sample);
  const wanted = options.indices === undefined ? rows : parseRows(options.indices, rows.length, options.sample, '--indices').map((i) => rows[i]!);
  const store = await openStore(options.out);
  const status = await sampleStatus(wanted, { store, ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}) });
  const report: StatusReport = { event: 'Status', ...status, indices: formatIndices(status.resubmit) };
  ctx.out(ctx.json ? JSON.stringify(report) : formatStatus(report));
  return report;
}

/** Registers `clay status`; `setExit` receives 4 when some row is not complete. */
export function registerStatus(program: Command, globals: () => GlobalOptions, setExit: (code: number) => void): void {
  program
    .command('status')
    .description('which sample rows an output holds complete, failed, incomplete or not started, and the --indices to resubmit (reads the output only; exit 4 when some row is not complete)')
    .requiredOption('--sample <file>', 'MGRS sample file the output was made from')
    .requiredOption('--out <dir|s3://bucket/prefix>', 'the output folder or S3 prefix of the runs (S3: AWS_* environment variables)')
    .option('--indices <spec>', "only these rows: 'all', 'A-B' or 'A,B,...'")
    .option('--concurrency <n>', 'rows checked at once (default 16)', (v) => parseInteger(v, '--concurrency', 1, 256))
    .action(async (opts: StatusCommandOptions) => {
      const report = await runStatus(globals(), opts);
      if (report.resubmit.length > 0) setExit(4);
    });
}
