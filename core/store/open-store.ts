/**
 * One entry point from a location string to an `ObjectStore`, so the CLI and the stages take a `--out`
 * that may be a folder, a `file://` URL or an `s3://bucket/prefix` and never branch on which.
 */
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClayError, errorMessage } from '../errors.ts';
import { checkPrefix } from './keys.ts';
import { LocalStore } from './local-store.ts';
import type { ObjectStore } from './store.ts';

/** Options of `openStore`. */
export interface OpenStoreOptions {
  /** Where the S3 settings and credentials are read (see `s3Settings`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Bucket names as S3 accepts them (legacy us-east-1 names included): 3-255 of letters, digits, '.', '-', '_'. */
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/;

/**
 * Opens the store at `location`: `s3://bucket[/prefix]` is an S3 store (a trailing '/' is optional), a
 * `file://` URL or a path (relative to the current directory) a local folder. Anything else, an `s3://`
 * URL without a valid bucket or with a prefix that is not a valid key ('..', '//'), an empty string or
 * another scheme, is `ClayError('BAD_ARGUMENT')`. Nothing is contacted or created until the first call.
 */
export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<ObjectStore> {
  const bad = (why: string, cause?: unknown): ClayError =>
    new ClayError('BAD_ARGUMENT', `cannot open a store at ${JSON.stringify(location)}: ${why}`, { input: location, cause });
  if (location.trim() === '') throw bad('empty location');
  if (location.includes('\0')) throw bad('contains NUL');
  // A scheme is two or more characters, so a Windows drive letter ('C:\out') stays a path; 's3:/x' is a typo, not a folder.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(location)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    if (!/^s3:\/\//i.test(location)) throw bad("an S3 location is s3://bucket[/prefix]");
    const rest = location.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? '' : rest.slice(slash + 1);
    if (!BUCKET.test(bucket)) throw bad(bucket === '' ? 'no bucket' : `${JSON.stringify(bucket)} is not a bucket name`);
    const prefix = path === '' || path.endsWith('/') ? path : `${path}/`;
    try {
      checkPrefix(prefix, true);
    } catch (err) {
      throw bad(`the prefix ${JSON.stringify(path)} is not a valid key`, err);
    }
    // Loaded on first use: the AWS SDK costs ~90 ms and ~20 MB that a local run should not pay.
    const { S3Store } = await import('./s3-store.ts');
    return new S3Store(bucket, prefix, options.env ?? process.env);
  }
  if (scheme === 'file') {
    // fileURLToPath rejects a host other than localhost and encoded '/' in the path.
    try {
      return new LocalStore(fileURLToPath(location));
    } catch (err) {
      throw bad(errorMessage(err), err);
    }
  }
  if (scheme !== undefined) throw bad(`unsupported scheme ${scheme}:// (a path, file:// or s3://)`);
  return new LocalStore(resolve(location));
}

/**
 * The store holding one file location and the file's key in it: `s3://bucket/a/b.parquet` is key
 * `b.parquet` under `s3://bucket/a/`; a path or `file://` URL is its name under its folder. So a command's
 * `--out FILE` is written atomically through the same interface as a folder output. BAD_ARGUMENT for a
 * location that names a folder (`s3://bucket`, a trailing '/') or no file name.
 */
export async function openStoreFile(location: string, options: OpenStoreOptions = {}): Promise<{ store: ObjectStore; key: string }> {
  const isUrl = /^[A-Za-z][A-Za-z0-9+.-]+:\/\//.test(location);
  const path = isUrl ? location : resolve(location);
  const cut = path.lastIndexOf(isUrl ? '/' : sep);
  const key = path.slice(cut + 1);
  const isBucketOnly = /^s3:\/\/[^/]*$/i.test(location);
  if (location.trim() === '' || cut < 0 || key === '' || isBucketOnly || location.endsWith('/')) {
    throw new ClayError('BAD_ARGUMENT', `${JSON.stringify(location)} is not a file location`, { input: location });
  }
  return { store: await openStore(path.slice(0, cut + 1), options), key };
}
