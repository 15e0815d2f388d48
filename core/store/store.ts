/**
 * Where outputs go: a local folder or an `s3://bucket/prefix`, behind one small interface, so the chip
 * stage writes, checks and lists the same way in both. Keys are relative, '/'-separated, never start with
 * '/', never contain '..' segments. Writes are atomic: a key exists whole or not at all (local: a
 * temporary sibling renamed into place; S3: one PUT). Failures are `ClayError('IO')` naming the location;
 * a bad key or prefix is `ClayError('BAD_ARGUMENT')`; a call whose `signal` fired rejects with the abort
 * code, `ClayError('HTTP_ABORTED')`. One difference a folder cannot hide: a local store cannot hold both
 * `a/b` and `a/b/c` (a file is not a folder), so the second put is an IO error there; S3 accepts both.
 */

/** A stored object. */
export interface StoreEntry {
  /** Key relative to the store's root. */
  key: string;
  /** Size in bytes. */
  size: number;
}

/** An object read with what the conditional calls need. */
export interface VersionedObject {
  body: Uint8Array;
  /**
   * Opaque; changes whenever the object is replaced. S3: the ETag. Local: the file's inode and a digest of
   * its bytes (a file replaced by another with the same bytes is another version).
   */
  version: string;
  /** When it was last written or refreshed: S3's LastModified (whole seconds), the file's mtime. */
  modified: Date;
}

/** Options every store call takes. */
export interface StoreCallOptions {
  signal?: AbortSignal;
}

/** A local folder or an S3 prefix. */
export interface ObjectStore {
  /** `file` for a local folder, `s3` for an S3 prefix. */
  readonly kind: 'file' | 's3';
  /** The root: an absolute path, or `s3://bucket/prefix` (no trailing slash). */
  readonly root: string;
  /** The displayable location of `key`: a path, or an `s3://` URL. */
  url(key: string): string;
  /**
   * Writes `body` at `key` atomically (creating folders as needed) and resolves with the bytes written.
   * A reader never sees a partial object under `key`.
   */
  put(key: string, body: Uint8Array | readonly Uint8Array[], options?: StoreCallOptions & { contentType?: string }): Promise<number>;
  /**
   * Conditional create: writes `body` at `key` only if no object is there, atomically, and resolves with the
   * new object's version; `undefined` when an object was there (nothing written). Of callers racing for one
   * key exactly one gets a version. Local: a flushed temporary file hard-linked onto the key (`link(2)`
   * fails when the name exists); S3: a PUT with `If-None-Match: *` (412 when the key exists, 409 while
   * another conditional write of it is in flight). With `getVersioned`, `replaceIf` and `removeIf`, the
   * primitive of the per-unit locks (pipeline/run/unit-lock.ts).
   */
  create(key: string, body: Uint8Array, options?: StoreCallOptions): Promise<string | undefined>;
  /** The object at `key` with its version and modification time, or `undefined` when there is none. */
  getVersioned(key: string, options?: StoreCallOptions): Promise<VersionedObject | undefined>;
  /**
   * Compare-and-swap: replaces the object at `key` with `body` only if it is still at `version`, and
   * resolves with the new version; `undefined` when it is not (changed, removed, or another conditional
   * write is in flight), nothing written. Bytes equal to the current ones refresh the modification time
   * and keep the version (local: the same file, touched; S3: the same ETag). S3: a PUT with `If-Match`.
   */
  replaceIf(key: string, version: string, body: Uint8Array, options?: StoreCallOptions): Promise<string | undefined>;
  /**
   * Removes the object at `key` only if it is still at `version`; resolves with whether this call removed
   * it. S3: a DELETE with `If-Match` (AWS S3 honours it since 2025-09).
   */
  removeIf(key: string, version: string, options?: StoreCallOptions): Promise<boolean>;
  /** The bytes at `key`, or `undefined` when there is no such key. */
  get(key: string, options?: StoreCallOptions): Promise<Uint8Array | undefined>;
  /**
   * `length` bytes of the object at `key` from byte `offset` (one ranged read: a `pread` locally, a GET with
   * `Range` on S3), or `undefined` when there is no such key. Fewer bytes than asked (the object is shorter)
   * is `IO` naming the key and the range: the caller asked for bytes an index says are there.
   */
  getRange(key: string, offset: number, length: number, options?: StoreCallOptions): Promise<Uint8Array | undefined>;
  /** Whether `key` exists. */
  exists(key: string, options?: StoreCallOptions): Promise<boolean>;
  /**
   * Every object under `prefix` (a folder ending in '/', or '' for the whole store), recursively, in key
   * order (UTF-8 bytes, as S3 lists), keys relative to the root. Temporary files of interrupted local
   * writes are not listed. Lazy: pages or folders are read as the caller iterates; errors, a bad prefix
   * included, surface from the iteration.
   */
  list(prefix: string, options?: StoreCallOptions): AsyncIterable<StoreEntry>;
  /** Removes `key` if present. */
  remove(key: string, options?: StoreCallOptions): Promise<void>;
  /**
   * Removes every object under `prefix` (a folder ending in '/'; '' is refused, so a slip cannot empty
   * the store), including local temporary files left by interrupted writes; resolves with the number of
   * objects removed (temporary files not counted).
   */
  removePrefix(prefix: string, options?: StoreCallOptions): Promise<number>;
}
