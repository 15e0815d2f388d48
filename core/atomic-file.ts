/**
 * Atomic file writes: a temporary sibling first, then a rename, so a finished-looking file is finished.
 * The temporary name, `.{basename}.partial-{pid}-{random}`, is hidden, and `isPartialName` recognises it,
 * so listings skip the leftovers of a writer that died and nothing mistakes them for output.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ClayError, errorMessage } from './errors.ts';

const PARTIAL = /^\..+\.partial-\d+-[0-9a-f]+$/;

/** The temporary sibling `writeFileAtomic` writes before renaming onto `path`; unique per call. */
export function partialPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** True when a file name (not a path) is one `partialPath` makes: an unfinished write, never output. */
export function isPartialName(name: string): boolean {
  return PARTIAL.test(name);
}

/** Options of `writeFileAtomic`. */
export interface WriteFileAtomicOptions {
  /** Aborts the write before the rename (`ClayError('HTTP_ABORTED')`, the toolkit's abort code); the temporary file is removed. */
  signal?: AbortSignal;
  /** Flush the data to disk before the rename, so a power loss cannot leave an empty finished-looking file. Default false. */
  durable?: boolean;
}

/**
 * Writes `data` (a string as UTF-8, bytes, or chunks written in order) to `path` atomically, creating the
 * parent folder, and resolves with the bytes written. Failures are `ClayError('IO')` naming the path.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[], options: WriteFileAtomicOptions = {}): Promise<number> {
  const { signal } = options;
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  const tmp = partialPath(path);
  let bytes = 0;
  try {
    checkAbort(path, signal);
    await mkdir(dirname(path), { recursive: true });
    const file = await open(tmp, 'wx');
    try {
      for (const chunk of chunks) {
        checkAbort(path, signal);
        // write() may write less than asked; loop until the chunk is out.
        for (let off = 0; off < chunk.byteLength; ) {
          const { bytesWritten } = await file.write(chunk, off, chunk.byteLength - off);
          off += bytesWritten;
        }
        bytes += chunk.byteLength;
      }
      if (options.durable) await file.datasync();
    } finally {
      await file.close();
    }
    checkAbort(path, signal);
    await rename(tmp, path);
    return bytes;
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    if (err instanceof ClayError) throw err;
    throw new ClayError('IO', `cannot write ${path}: ${errorMessage(err)}`, { input: path, cause: err });
  }
}

function checkAbort(path: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ClayError('HTTP_ABORTED', `write of ${path} aborted`, { input: path, cause: signal.reason });
}
