/** Where the bundled miniature universe lives (generated at install by `npm run samples`). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClayError } from '../core/errors.ts';

/** The package root: the nearest folder above this file with a package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new ClayError('INTERNAL', 'cannot find the clay-pipeline package root');
    dir = up;
  }
  return dir;
}

/** The generated universe folder, checked to exist. */
export function samplesDir(explicit?: string): string {
  const dir = explicit ?? join(packageRoot(), 'data-samples', 'generated');
  if (!existsSync(join(dir, 'items')) || !existsSync(join(dir, 'collections'))) {
    throw new ClayError('BAD_ARGUMENT', `no generated sample universe in ${dir}: run 'npm run samples' (npm ci does it)`, { input: dir });
  }
  return dir;
}
