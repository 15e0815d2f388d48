/**
 * Issue 29: nothing in model/ reads a tensor synchronously (`dataSync`, `arraySync`, `bufferSync`, a
 * backend's `readSync`): a synchronous read stalls a GPU queue, and tfjs-webgpu cannot do one in Node at
 * all (it goes through OffscreenCanvas). The webgpu tests show the paths run; this keeps new code off them.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODEL = fileURLToPath(new URL('../../model/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

test('model/ has no synchronous tensor read', () => {
  const files = sources(MODEL);
  assert.ok(files.length > 30);
  const hits = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').flatMap((line, i) =>
    /\b(dataSync|arraySync|bufferSync|readSync)\s*\(/.test(line) ? [`${f.slice(MODEL.length)}:${i + 1}: ${line.trim()}`] : []));
  assert.deepEqual(hits, []);
});
