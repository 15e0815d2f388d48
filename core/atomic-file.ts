/** Atomic file writes: a temporary sibling first, then a rename, so a finished-looking file is finished. */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ClayError } from './errors.ts';

/** Writes `data` to `path` atomically, creating the parent folder; an IO error names the path. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new ClayError('IO', `cannot write ${path}: ${(err as Error).message}`, { input: path, cause: err });
  }
}
