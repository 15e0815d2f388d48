/**
 * Finds the chips to train on: in a local folder, an `s3://bucket/prefix`, or one unit's `manifest.json`.
 *
 * A unit's manifest is written last (`pipeline/chip/manifest.ts`), so a unit without one is unfinished:
 * its chips may be a part of what the unit will hold, or leftovers of a run that died. By default
 * (`mode: 'auto'`), when any manifest exists under the source, only the kept chips that manifests list are
 * returned and units without a manifest are skipped with a `Chips:Incomplete` warning; a source without any
 * manifest (chips copied from elsewhere, Clay v0's own dataset) falls back to every chip file, as v0's
 * datamodule globbed `**\/*.tif`. `mode: 'manifests'` or `'files'` forces one rule.
 *
 * Chip files are recognised by their name (`claytile_{mgrs}_{YYYYMMDD}_v{version}_{NNNN}.tif`), which
 * gives the MGRS tile and date; other `.tif` files are ignored and counted, and so are the hidden temporary
 * names of interrupted writes (the stores never list them anyway). The result is sorted by key (UTF-8 byte
 * order, as S3 lists), so it is the same on every run and every store.
 */
import { dirname } from 'node:path';
import { ClayError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { ObjectStore } from '../../core/store/store.ts';
import { parseChipFileName } from '../../pipeline/chip/chip-file.ts';
import { MANIFEST_NAME, parseManifest } from '../../pipeline/chip/manifest.ts';
import type { ChipRef } from './types.ts';

/** Which chips a listing returns; see the file comment. */
export type ListMode = 'auto' | 'manifests' | 'files';

/** Options of `listChips`. */
export interface ListChipsOptions {
  /** Default `auto`: the manifests' kept chips when there are manifests, every chip file otherwise. */
  mode?: ListMode;
  /** Environment with the S3 settings, for `s3://` sources (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  logger?: Logger;
}

/** The chips of `source` (a folder, `file://` URL, `s3://bucket/prefix`, or a unit's manifest.json), sorted by key. */
export async function listChips(source: string, options: ListChipsOptions = {}): Promise<ChipRef[]> {
  const logger = options.logger ?? silentLogger;
  const call = options.signal ? { signal: options.signal } : {};
  if (source.endsWith(`/${MANIFEST_NAME}`) || source === MANIFEST_NAME) {
    const folder = source === MANIFEST_NAME ? '.' : /^s3:\/\//i.test(source) ? source.slice(0, source.lastIndexOf('/')) : dirname(source);
    const store = await openStore(folder, options.env ? { env: options.env } : {});
    const refs = await manifestChips(store, '', call);
    if (refs === undefined) throw new ClayError('IO', `no manifest at ${source}`, { input: source });
    logger.info('Chips:List', { source, mode: 'manifests', chips: refs.length, units: 1 });
    return sortRefs(refs);
  }
  const store = await openStore(source, options.env ? { env: options.env } : {});
  const tifs = new Map<string, ChipRef>();
  const manifests: string[] = [];
  let ignored = 0;
  for await (const e of store.list('', call)) {
    const name = e.key.slice(e.key.lastIndexOf('/') + 1);
    if (name === MANIFEST_NAME) {
      manifests.push(e.key);
      continue;
    }
    if (!name.endsWith('.tif')) continue;
    const parsed = parseChipFileName(name);
    if (parsed === undefined) ignored++;
    else tifs.set(e.key, { url: store.url(e.key), key: e.key, mgrs: parsed.mgrs, date: parsed.date });
  }
  const mode = options.mode ?? 'auto';
  if (mode === 'files' || (mode === 'auto' && manifests.length === 0)) {
    logger.info('Chips:List', { source, mode: 'files', chips: tifs.size, ignored });
    return sortRefs([...tifs.values()]);
  }
  const refs: ChipRef[] = [];
  const complete = new Set<string>();
  for (const m of manifests) {
    const folder = m.slice(0, m.length - MANIFEST_NAME.length);
    complete.add(folder);
    for (const ref of (await manifestChips(store, folder, call)) ?? []) {
      if (tifs.has(ref.key)) refs.push(ref);
      else logger.warn('Chips:Missing', { chip: ref.url, manifest: store.url(m) });
    }
  }
  const incomplete = new Map<string, number>();
  for (const key of tifs.keys()) {
    const folder = key.slice(0, key.lastIndexOf('/') + 1);
    if (!complete.has(folder)) incomplete.set(folder, (incomplete.get(folder) ?? 0) + 1);
  }
  for (const [folder, chips] of incomplete) {
    const unit = folder === '' ? store.root : store.url(folder.slice(0, -1));
    logger.warn('Chips:Incomplete', { unit, chips, reason: 'no manifest: unfinished unit, skipped' });
  }
  logger.info('Chips:List', { source, mode: 'manifests', chips: refs.length, units: manifests.length, incomplete: incomplete.size, ignored });
  return sortRefs(refs);
}

/** The kept chips of the manifest in `folder` ('' or ending in '/'), or undefined when there is none. */
async function manifestChips(store: ObjectStore, folder: string, call: { signal?: AbortSignal }): Promise<ChipRef[] | undefined> {
  const key = `${folder}${MANIFEST_NAME}`;
  const bytes = await store.get(key, call);
  if (bytes === undefined) return undefined;
  const manifest = parseManifest(bytes, store.url(key));
  const refs: ChipRef[] = [];
  for (const c of manifest.chips) {
    if (c.file === undefined) continue;
    // Keys in a manifest are relative to the run's output root; the chips sit beside their manifest.
    const name = c.file.key.slice(c.file.key.lastIndexOf('/') + 1);
    const parsed = parseChipFileName(name);
    if (parsed === undefined) continue;
    refs.push({ url: store.url(folder + name), key: folder + name, mgrs: parsed.mgrs, date: parsed.date });
  }
  return refs;
}

/** Sorted by key in UTF-8 byte order (compareKeys), each key encoded once. */
function sortRefs(refs: ChipRef[]): ChipRef[] {
  const keyed = refs.map((ref) => ({ ref, bytes: Buffer.from(ref.key, 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  return keyed.map((k) => k.ref);
}
