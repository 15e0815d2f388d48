/**
 * The resume journal of a stats run (`{out}.journal.jsonl`): a settings line, then one JSON line per finished
 * tile (kept or dropped, with its counts), appended as tiles finish. A run that dies loses at most the tiles
 * in flight; the next run reads the journal, skips what it lists and appends the rest. A torn last line (the
 * process died mid-write) is ignored. The output file is written from the journal at the end.
 */
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ClayError, errorMessage } from '../core/errors.ts';
import type { ClassCounts } from './stats-file.ts';

/** Settings that must match for a journal to be resumed. */
export interface StatsSettings {
  collection: string;
  year: number;
  /** GDAL `-ovr` number, or null for full resolution. */
  overview: number | null;
  footprint: 'polygon' | 'bbox';
}

/** Why a tile is not in the stats file (Clay v0's rules). */
export type DropReason = 'no-data' | 'all-water';

/** One finished tile. */
export interface JournalEntry {
  name: string;
  /** Kept in the stats file, or dropped and why. */
  dropped: DropReason | null;
  pixels: ClassCounts;
  /** Distinct non-nodata values (Clay v0's `count`). */
  count: number;
  /** Pixels with a value outside the 11 classes and not nodata (0 in valid WorldCover). */
  other: number;
  /** Nodata pixels inside the footprint (where a COG exists). */
  nodata: number;
  /** WorldCover items read. */
  items: string[];
}

interface Header {
  journal: 'clay-landcover-stats';
  version: 1;
  settings: StatsSettings;
}

/** An open journal: the entries found, and an appender. */
export class StatsJournal {
  readonly path: string;
  readonly entries: Map<string, JournalEntry>;
  private tail: Promise<void> = Promise.resolve();

  private constructor(path: string, entries: Map<string, JournalEntry>) {
    this.path = path;
    this.entries = entries;
  }

  /**
   * Opens (or starts) the journal at `path`. With `force`, an old one is removed first. A journal written
   * with other settings is BAD_ARGUMENT (rerun with --force to start over).
   */
  static async open(path: string, settings: StatsSettings, options: { force?: boolean } = {}): Promise<StatsJournal> {
    if (options.force) await rm(path, { force: true });
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ClayError('IO', `cannot read ${path}: ${errorMessage(err)}`, { input: path, cause: err });
    }
    const entries = new Map<string, JournalEntry>();
    if (text === undefined || text.trim() === '') {
      await mkdir(dirname(path), { recursive: true });
      const header: Header = { journal: 'clay-landcover-stats', version: 1, settings };
      await writeFile(path, `${JSON.stringify(header)}\n`);
      return new StatsJournal(path, entries);
    }
    const lines = text.split('\n');
    let header: Header | undefined;
    try {
      header = JSON.parse(lines[0]!) as Header;
    } catch {
      header = undefined;
    }
    if (header?.journal !== 'clay-landcover-stats') throw new ClayError('BAD_ARGUMENT', `${path} is not a stats journal; remove it or rerun with --force`, { input: path });
    const was = JSON.stringify(header.settings);
    if (was !== JSON.stringify(settings)) {
      throw new ClayError('BAD_ARGUMENT', `${path} was written with other settings (${was}, now ${JSON.stringify(settings)}); rerun with --force to start over`, { input: path });
    }
    for (const line of lines.slice(1)) {
      if (line.trim() === '') continue;
      try {
        const e = JSON.parse(line) as JournalEntry;
        if (typeof e.name === 'string') entries.set(e.name, e);
      } catch {
        // a torn line from a run that died mid-write: that tile is redone
      }
    }
    // Start appends on a fresh line even after a torn one.
    if (!text.endsWith('\n')) await appendFile(path, '\n');
    return new StatsJournal(path, entries);
  }

  /** Records a finished tile (one appended line; appends are serialised, so lines never interleave). */
  add(entry: JournalEntry): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`;
    const write = this.tail.then(async () => {
      try {
        await appendFile(this.path, line);
      } catch (err) {
        throw new ClayError('IO', `cannot append to ${this.path}: ${errorMessage(err)}`, { input: this.path, cause: err });
      }
      this.entries.set(entry.name, entry);
    });
    this.tail = write.catch(() => undefined);
    return write;
  }
}
