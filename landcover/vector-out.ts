/** Writing the landcover stages' vector files: the parent folder is created, failures are IO errors naming the path. */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ClayError, errorMessage, isClayError } from '../core/errors.ts';
import { writeVectorFile, type VectorFeature } from '../core/vector-file.ts';

/** Writes `features` to `path` (FlatGeobuf or GeoJSON by extension), atomically, creating the folder. */
export async function writeFeatures(path: string, features: VectorFeature[]): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeVectorFile(path, features);
  } catch (err) {
    if (isClayError(err)) throw err;
    throw new ClayError('IO', `cannot write ${path}: ${errorMessage(err)}`, { input: path, cause: err });
  }
}
