/**
 * Checks, before any work, that a local output location can be written, and says why not with the
 * system's own errno. Node's recursive `mkdir` reports ENOENT on a read-only mount and a write under an
 * existing file fails later as ENOTDIR on some unrelated path; here each missing folder is made one level
 * at a time and a probe file is created and removed, so EROFS, ENOTDIR, EACCES or ENOSPC is what the user
 * reads, naming the path at fault.
 */
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { partialPath } from '../atomic-file.ts';
import { ClayError, errorMessage } from '../errors.ts';

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Makes `folder` if missing and checks a file can be created in it; `flag` is the flag that named it.
 * Throws BAD_OUTPUT naming the flag, the path and the errno otherwise.
 */
export async function checkOutputFolder(folder: string, flag: string): Promise<void> {
  const root = resolve(folder);
  const bad = (path: string, err: unknown): ClayError => {
    // Node's messages start with the errno and name the path ("EROFS: read-only file system, mkdir '/x'").
    const code = errnoOf(err) ?? 'EIO';
    const why = errorMessage(err).startsWith(code) ? errorMessage(err) : `${code}: ${errorMessage(err)}, '${path}'`;
    return new ClayError('BAD_OUTPUT', `${flag} ${folder} cannot be written: ${why}`, { input: folder, cause: err });
  };
  const missing: string[] = [];
  for (let dir = root; ; dir = dirname(dir)) {
    try {
      const st = await stat(dir);
      if (!st.isDirectory()) throw bad(dir, Object.assign(new Error('not a directory (an existing file)'), { code: 'ENOTDIR' }));
      break;
    } catch (err) {
      if (err instanceof ClayError) throw err;
      // ENOTDIR: a file above `dir`; walk up to it.
      if ((errnoOf(err) !== 'ENOENT' && errnoOf(err) !== 'ENOTDIR') || dirname(dir) === dir) throw bad(dir, err);
      missing.unshift(dir);
    }
  }
  for (const dir of missing) {
    try {
      await mkdir(dir);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw bad(dir, err);
    }
  }
  // A temporary name of the atomic writer: listings and watchers of the output ignore it.
  const probe = partialPath(resolve(root, 'write-check'));
  try {
    await (await open(probe, 'wx')).close();
  } catch (err) {
    throw bad(root, err);
  }
  await rm(probe, { force: true });
}

/** `checkOutputFolder` for the folder of an output file. */
export async function checkOutputFile(file: string, flag: string): Promise<void> {
  const path = resolve(file);
  try {
    if ((await stat(path)).isDirectory()) throw new ClayError('BAD_OUTPUT', `${flag} ${file} is a folder, not a file`, { input: file });
  } catch (err) {
    if (err instanceof ClayError) throw err;
  }
  await checkOutputFolder(dirname(path), flag);
}

/**
 * `checkOutputFolder` or `checkOutputFile` for a `--out` location as the commands take it: a path or a
 * `file://` URL is checked; an `s3://` location is the store's to report on its first write.
 */
export async function checkOutput(location: string, kind: 'folder' | 'file', flag = '--out'): Promise<void> {
  if (/^s3:\/\//i.test(location)) return;
  const path = /^file:\/\//i.test(location) ? fileURLToPath(location) : location;
  await (kind === 'folder' ? checkOutputFolder(path, flag) : checkOutputFile(path, flag));
}
