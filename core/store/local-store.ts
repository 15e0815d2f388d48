/**
 * The local-folder `ObjectStore`: a key is a file path under the root. Writes go through `writeFileAtomic`
 * (a hidden `.{name}.partial-{pid}-{hex}` sibling, flushed, then renamed), so a finished-looking file is
 * finished and listings skip the leftovers of a writer that died.
 */
import type { Dirent } from 'node:fs';
import { createHash } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { isPartialName, partialPath, writeFileAtomic } from '../atomic-file.ts';
import { ClayError, errorMessage } from '../errors.ts';
import { checkKey, checkPrefix, checkRange, compareKeys } from './keys.ts';
import type { ObjectStore, StoreCallOptions, StoreEntry, VersionedObject } from './store.ts';

/** Node's system error codes that mean "no such object" when reading. */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

/** What `link(2)` answers on a filesystem without hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

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

  /**
   * A flushed temporary file hard-linked onto the key: `link(2)` fails with EEXIST when the name exists,
   * so the key holds the whole body or nothing. On a filesystem without hard links (FAT, some network
   * mounts) the file is created with O_EXCL and written in place instead: still exclusive, but a reader
   * may then see it before its bytes are all there.
   */
  async create(key: string, body: Uint8Array, options: StoreCallOptions = {}): Promise<string | undefined> {
    const path = this.url(key);
    checkAbort(path, options.signal);
    const tmp = partialPath(path);
    try {
      await mkdir(dirname(path), { recursive: true });
      const ino = await writeFlushed(tmp, body, 'wx');
      try {
        await link(tmp, path);
        return localVersion(ino, body);
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') return undefined;
        if (!NO_HARD_LINKS.has(errnoCode(err))) throw err;
      }
      try {
        return localVersion(await writeFlushed(path, body, 'wx'), body);
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') return undefined;
        throw err;
      }
    } catch (err) {
      throw failure('write', path, err, options.signal);
    } finally {
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async getVersioned(key: string, options: StoreCallOptions = {}): Promise<VersionedObject | undefined> {
    const path = this.url(key);
    checkAbort(path, options.signal);
    try {
      return await readVersioned(path);
    } catch (err) {
      throw failure('read', path, err, options.signal);
    }
  }

  /**
   * Unchanged bytes: the file is touched through the descriptor its version was read from. Otherwise the
   * caller takes the version's claim (`withClaim`: an exclusive create, so of callers racing on one
   * version exactly one gets it), checks the key is still at `version`, and renames the new body over
   * it. The rename replaces the file atomically: the key is never missing, so no `create` can slip in
   * between, and a reader sees the old bytes or the new ones.
   */
  async replaceIf(key: string, version: string, body: Uint8Array, options: StoreCallOptions = {}): Promise<string | undefined> {
    const path = this.url(key);
    checkAbort(path, options.signal);
    try {
      const current = await readVersioned(path, { version, body });
      if (current?.version !== version) return undefined;
      if (current.touched) return version;
      return await withClaim(path, version, async () => {
        const tmp = partialPath(path);
        try {
          const ino = await writeFlushed(tmp, body, 'wx');
          await rename(tmp, path);
          return localVersion(ino, body);
        } finally {
          await rm(tmp, { force: true }).catch(() => undefined);
        }
      });
    } catch (err) {
      throw failure('write', path, err, options.signal);
    }
  }

  /** Takes the version's claim (as `replaceIf` does), checks the key is still at `version`, and removes it. */
  async removeIf(key: string, version: string, options: StoreCallOptions = {}): Promise<boolean> {
    const path = this.url(key);
    checkAbort(path, options.signal);
    try {
      if ((await readVersioned(path))?.version !== version) return false;
      // The read above answers a missing key (or folder) without a claim; the claim's own check is the one that counts.
      const removed = await withClaim(path, version, async () => {
        await unlink(path);
        return true;
      });
      return removed ?? false;
    } catch (err) {
      throw failure('remove', path, err, options.signal);
    }
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

  async getRange(key: string, offset: number, length: number, options: StoreCallOptions = {}): Promise<Uint8Array | undefined> {
    const path = this.url(key);
    checkRange(path, offset, length);
    checkAbort(path, options.signal);
    let file;
    try {
      file = await open(path, 'r');
    } catch (err) {
      if (MISSING.has(errnoCode(err))) return undefined;
      throw failure('read', path, err, options.signal);
    }
    try {
      // Filled below or refused: not zeroed first.
      const out = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await file.read(out, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < length) throw new ClayError('IO', `${path}: bytes ${offset}-${offset + length - 1} asked, the file ends after ${offset + got} bytes`, { input: path });
      return out;
    } catch (err) {
      if (err instanceof ClayError) throw err;
      throw failure('read', path, err, options.signal);
    } finally {
      await file.close();
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

/** The local version of a file: its inode and a digest of its bytes. */
function localVersion(ino: bigint, bytes: Uint8Array): string {
  return `${ino}-${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}`;
}

/** Writes `body` to a new file at `path` (`flag` 'wx': it must not exist), flushed; resolves with its inode. */
async function writeFlushed(path: string, body: Uint8Array, flag: 'wx'): Promise<bigint> {
  const file = await open(path, flag);
  try {
    await file.writeFile(body);
    await file.datasync();
    return (await file.stat({ bigint: true })).ino;
  } finally {
    await file.close();
  }
}

/**
 * The file at `path` read through one descriptor (so bytes, inode and mtime are of one file), undefined
 * when there is none. With `touchIf`, a file at that version holding exactly those bytes is touched
 * (mtime now) through the same descriptor, and `touched` says so.
 */
async function readVersioned(path: string, touchIf?: { version: string; body: Uint8Array }): Promise<(VersionedObject & { touched: boolean }) | undefined> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (err) {
    if (MISSING.has(errnoCode(err))) return undefined;
    throw err;
  }
  try {
    const st = await file.stat({ bigint: true });
    if (!st.isFile()) return undefined;
    const buf = await file.readFile();
    const body = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    const version = localVersion(st.ino, body);
    let modified = new Date(Number(st.mtimeMs));
    const touched = touchIf !== undefined && touchIf.version === version && Buffer.compare(buf, touchIf.body) === 0;
    if (touched) {
      modified = new Date();
      await file.utimes(modified, modified);
    }
    return { body, version, modified, touched };
  } catch (err) {
    if (MISSING.has(errnoCode(err))) return undefined;
    throw err;
  } finally {
    await file.close();
  }
}

/** Milliseconds after which a version's claim is taken to be a crashed caller's (a claim lives for one check and one write). */
export const CLAIM_STALE_MS = 60_000;

/**
 * The claim file of `version` of the file at `path`, generation `generation`: a hidden name that
 * `isPartialName` matches (listings skip it), the same for every process, so an exclusive create of it
 * admits one caller per version.
 */
export function claimPath(path: string, version: string, generation = 0): string {
  const tag = createHash('sha256').update(version).digest('hex').slice(0, 24);
  return join(dirname(path), `.${basename(path)}.partial-${generation}-${tag}`);
}

/**
 * Runs `then` holding the claim of `version` of `path` once the file is checked to be still at `version`;
 * resolves with its answer, or undefined when the file is another version by then, or another caller
 * holds the claim (it is acting on that version, so the version is about to be gone, or already is). A
 * claim older than `CLAIM_STALE_MS` is a caller that died holding it: the next generation's claim is
 * tried instead, and the winner removes the stale ones once the version is settled.
 */
async function withClaim<T>(path: string, version: string, then: () => Promise<T | undefined>): Promise<T | undefined> {
  for (let generation = 0; ; generation++) {
    const claim = claimPath(path, version, generation);
    try {
      await writeFlushed(claim, new TextEncoder().encode(`${process.pid}\n`), 'wx');
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      const held = await stat(claim).catch(() => undefined);
      if (held === undefined || Date.now() - held.mtimeMs < CLAIM_STALE_MS) return undefined;
      continue;
    }
    try {
      // Checked under the claim: nobody else can change this version now.
      if ((await readVersioned(path))?.version !== version) return undefined;
      return await then();
    } finally {
      for (let g = generation; g >= 0; g--) await rm(claimPath(path, version, g), { force: true }).catch(() => undefined);
    }
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
