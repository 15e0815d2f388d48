/**
 * The local-folder `ObjectStore`: a key is a file path under the root. Writes go through `writeFileAtomic`
 * (a hidden `.{name}.partial-{pid}-{hex}` sibling, flushed, then renamed), so a finished-looking file is
 * finished and listings skip the leftovers of a writer that died.
 */
import type { Dirent } from 'node:fs';
import { readFile, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isPartialName, writeFileAtomic } from '../atomic-file.ts';
import { ClayError, errorMessage } from '../errors.ts';
import { checkKey, checkPrefix, compareKeys } from './keys.ts';
import type { ObjectStore, StoreCallOptions, StoreEntry } from './store.ts';

/** Node's system error codes that mean "no such object" when reading. */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

/** An `ObjectStore` over a local folder; the folder is created by the first `put`. */
export class LocalStore implements ObjectStore {
  readonly kind = 'file';
  /** Absolute path of the folder, without a trailing separator. */
  readonly root: string;

  /** `root` is resolved against the current directory. */
  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The absolute path of `key`. */
  url(key: string): string {
    checkKey(key);
    return join(this.root, key);
  }

  async put(key: string, body: Uint8Array | readonly Uint8Array[], options: StoreCallOptions & { contentType?: string } = {}): Promise<number> {
    // contentType has no meaning in a folder; the file name's extension says it.
    return writeFileAtomic(this.url(key), body, { durable: true, ...(options.signal ? { signal: options.signal } : {}) });
  }

  async get(key: string, options: StoreCallOptions = {}): Promise<Uint8Array | undefined> {
    const path = this.url(key);
    try {
      const buf = await readFile(path, options.signal ? { signal: options.signal } : {});
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (err) {
      if (MISSING.has(errnoCode(err))) return undefined;
      throw failure('read', path, err, options.signal);
    }
  }

  async exists(key: string, options: StoreCallOptions = {}): Promise<boolean> {
    const path = this.url(key);
    checkAbort(path, options.signal);
    try {
      return (await stat(path)).isFile();
    } catch (err) {
      if (MISSING.has(errnoCode(err))) return false;
      throw failure('check', path, err);
    }
  }

  /** A bad prefix is reported by the first `next()`, like every other failure of the listing. */
  async *list(prefix: string, options: StoreCallOptions = {}): AsyncGenerator<StoreEntry> {
    checkPrefix(prefix, true);
    yield* walk(join(this.root, prefix), prefix, options.signal);
  }

  async remove(key: string, options: StoreCallOptions = {}): Promise<void> {
    const path = this.url(key);
    checkAbort(path, options.signal);
    try {
      await unlink(path);
    } catch (err) {
      if (!MISSING.has(errnoCode(err))) throw failure('remove', path, err);
    }
  }

  async removePrefix(prefix: string, options: StoreCallOptions = {}): Promise<number> {
    checkPrefix(prefix, false);
    const dir = join(this.root, prefix);
    let count = 0;
    for await (const _ of walk(dir, prefix, options.signal)) count++;
    checkAbort(dir, options.signal);
    try {
      // The whole tree goes, temporary files of interrupted writes included.
      await rm(dir, { recursive: true, force: true });
    } catch (err) {
      throw failure('remove', dir, err);
    }
    return count;
  }
}

/**
 * Yields the finished files under `dir` in key order, lazily. Siblings are sorted with a '/' appended to
 * folder names, which makes a depth-first walk produce exactly the order of the full key strings.
 */
async function* walk(dir: string, keyPrefix: string, signal: AbortSignal | undefined): AsyncGenerator<StoreEntry> {
  checkAbort(dir, signal);
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return;
    throw failure('list', dir, err);
  }
  const named = entries.map((entry) => ({ entry, sortName: entry.isDirectory() ? `${entry.name}/` : entry.name }));
  named.sort((a, b) => compareKeys(a.sortName, b.sortName));
  for (const { entry } of named) {
    const path = join(dir, entry.name);
    const key = keyPrefix + entry.name;
    if (entry.isDirectory()) {
      yield* walk(path, `${key}/`, signal);
      continue;
    }
    if (isPartialName(entry.name)) continue;
    checkAbort(path, signal);
    let size: number;
    try {
      // stat follows a symlink: a link to a file is listed as that file; links to folders are not followed.
      const st = await stat(path);
      if (!st.isFile()) continue;
      size = st.size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue; // removed since readdir
      throw failure('list', path, err);
    }
    yield { key, size };
  }
}

function errnoCode(err: unknown): string {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : '';
}

function checkAbort(path: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ClayError('HTTP_ABORTED', `${path}: aborted`, { input: path, cause: signal.reason });
}

/** The store error for a failed file-system call: the abort code when `signal` fired, `IO` otherwise. */
function failure(action: string, path: string, err: unknown, signal?: AbortSignal): ClayError {
  if (signal?.aborted) return new ClayError('HTTP_ABORTED', `${action} of ${path} aborted`, { input: path, cause: signal.reason });
  return new ClayError('IO', `cannot ${action} ${path}: ${errorMessage(err)}`, { input: path, cause: err });
}
