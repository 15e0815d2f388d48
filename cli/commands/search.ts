/** `clay search`: list a collection's items over a sample row's MGRS tile, for a year. */
import type { Command } from 'commander';
import { ClayError } from '../../core/errors.ts';
import { COLLECTIONS } from '../../core/stac/pc-items.ts';
import { readSampleFile, readSampleRow, type SampleRow } from '../../pipeline/sample-file.ts';
import { listItems, type ItemSummary } from '../../pipeline/search/list-items.ts';
import { createContext, type Context, type GlobalOptions } from '../context.ts';
import { formatTable } from '../table.ts';
import { parseInteger } from '../parse.ts';

/** Options of `clay search`. */
export interface SearchOptions {
  sample: string;
  index?: number;
  mgrs?: string;
  year?: number;
  collection: string;
}

/** Resolves the sample row by index or MGRS name. */
export async function resolveRow(options: { sample: string; index?: number; mgrs?: string }): Promise<SampleRow> {
  if (options.mgrs !== undefined) {
    const row = (await readSampleFile(options.sample)).find((r) => r.name === options.mgrs);
    if (!row) throw new ClayError('BAD_ARGUMENT', `MGRS tile ${options.mgrs} is not in ${options.sample}`, { input: options.sample });
    return row;
  }
  return readSampleRow(options.sample, options.index ?? 0);
}

/** Runs the search and prints a table (TTY) or JSON; returns the items. */
export async function runSearch(ctx: Context, options: SearchOptions): Promise<ItemSummary[]> {
  const row = await resolveRow(options);
  const items = await listItems({ stac: ctx.stac, row, collection: options.collection, ...(options.year !== undefined ? { year: options.year } : {}) });
  if (ctx.json) {
    ctx.out(JSON.stringify({ mgrs: row.name, index: row.index, collection: options.collection, year: options.year ?? null, count: items.length, items }));
  } else {
    ctx.out(`${options.collection} over ${row.name} (row ${row.index})${options.year ? ` in ${options.year}` : ''}: ${items.length} item(s)`);
    if (items.length) {
      ctx.out(formatTable(['id', 'datetime', 'cloud %', 'nodata %', 'orbit', 'epsg'], items.map((i) => [
        i.id, i.datetime, i.cloudCover ?? '', i.nodataPercentage ?? '', i.orbitState ?? '', i.epsg ?? '',
      ])));
    }
  }
  return items;
}

/** Registers `clay search`. */
export function registerSearch(program: Command, globals: () => GlobalOptions): void {
  program
    .command('search')
    .description('list the items of a collection over an MGRS tile of the sample file (table on a TTY, JSON otherwise)')
    .requiredOption('--sample <file>', 'MGRS sample file (FlatGeobuf or GeoJSON with a name column)')
    .option('--index <n>', 'sample row (0-based)', (v) => parseInteger(v, '--index', 0))
    .option('--mgrs <name>', 'MGRS tile name instead of --index')
    .option('--year <yyyy>', "one year, as Clay's interval YYYY-01-01/YYYY-12-31", (v) => parseInteger(v, '--year', 1900, 2100))
    .option('--collection <id>', 'STAC collection', COLLECTIONS.s2)
    .action(async (opts: SearchOptions) => {
      await runSearch(createContext(globals()), opts);
    });
}
