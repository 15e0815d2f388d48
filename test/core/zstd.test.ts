import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadZstd, zstdBackend, zstdCompressSync, zstdDecompressSync } from '../../core/zstd.ts';

const run = promisify(execFile);
const moduleUrl = new URL('../../core/zstd.ts', import.meta.url).href;

/** Runs `body` (ES module source, with `z` the zstd module) in a fresh process with `CLAY_ZSTD=value`. */
async function withBackend(value: string, body: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const src = `const z = await import(${JSON.stringify(moduleUrl)});\n${body}`;
  try {
    const r = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { env: { ...process.env, CLAY_ZSTD: value } });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** Noisy float32 bytes, like a strip of chip pixels. */
function noisyStrip(n: number): Uint8Array {
  const f = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    f[i] = 1000 + (i % 700) + (s >>> 20) / 16;
  }
  return new Uint8Array(f.buffer);
}

test('the native addon is the compressor where its prebuilt binary exists (linux x64), and its blocks round-trip', async () => {
  await loadZstd();
  if (process.platform === 'linux' && process.arch === 'x64') assert.equal(zstdBackend(), 'native');
  const raw = noisyStrip(512 * 16 * 13);
  for (const level of [1, 3, 9]) {
    const c = zstdCompressSync(raw, level);
    assert.ok(c.length < raw.length, `level ${level} compresses`);
    assert.deepEqual(zstdDecompressSync(c, raw.length), raw);
  }
  // A shared-memory block (as the chip encoder hands its planes over) compresses the same as a copy of it.
  const shared = new Uint8Array(new SharedArrayBuffer(raw.length));
  shared.set(raw);
  assert.deepEqual(zstdDecompressSync(zstdCompressSync(shared, 1), raw.length), raw);
  assert.throws(() => zstdDecompressSync(zstdCompressSync(raw, 1), raw.length + 4), RangeError);
});

test('blocks of either compressor decode to the same bytes; only the frame header differs', async () => {
  const body = `
    await z.loadZstd();
    const f = new Float32Array(40000); for (let i = 0; i < f.length; i++) f[i] = Math.sin(i / 7) * 1000 + (i * 7919 % 13);
    const raw = new Uint8Array(f.buffer);
    const c = z.zstdCompressSync(raw, 3);
    process.stdout.write(JSON.stringify({ backend: z.zstdBackend(), frame: Buffer.from(c).toString('base64') }));`;
  const [wasm, native] = await Promise.all([withBackend('wasm', body), withBackend('native', body)]);
  assert.equal(wasm.code, 0, wasm.stderr);
  assert.equal(native.code, 0, native.stderr);
  const w = JSON.parse(wasm.stdout) as { backend: string; frame: string };
  const n = JSON.parse(native.stdout) as { backend: string; frame: string };
  assert.equal(w.backend, 'wasm');
  assert.equal(n.backend, 'native');
  // The WebAssembly build records the content size in the header (single segment, 4 bytes); the addon
  // streams and does not.
  const fhd = (b64: string): number => Buffer.from(b64, 'base64')[4]!;
  assert.equal(fhd(w.frame), 0xa0);
  assert.equal(fhd(n.frame) & 0xe0, 0);
  await loadZstd();
  const a = zstdDecompressSync(Buffer.from(w.frame, 'base64'), 160000);
  const b = zstdDecompressSync(Buffer.from(n.frame, 'base64'), 160000);
  assert.deepEqual(a, b);
  const dir = mkdtempSync(join(tmpdir(), 'zstd-'));
  const framePath = join(dir, 'native.zst');
  writeFileSync(framePath, Buffer.from(n.frame, 'base64'));
  const cross = `
    await z.loadZstd();
    const out = z.zstdDecompressSync(new Uint8Array((await import('node:fs')).readFileSync(${JSON.stringify(framePath)})), 160000);
    process.stdout.write(Buffer.from(out).toString('base64'));`;
  const viaWasm = await withBackend('wasm', cross);
  assert.equal(viaWasm.code, 0, viaWasm.stderr);
  assert.deepEqual(new Uint8Array(Buffer.from(viaWasm.stdout, 'base64')), new Uint8Array(a));
  rmSync(dir, { recursive: true, force: true });
});

test('damage to a frame is an error far more often than not (the one-shot decoder; the streaming one misses most)', async () => {
  await loadZstd();
  const raw = noisyStrip(32 * 32 * 13 * 4);
  const frame = zstdCompressSync(raw, 1);
  let tried = 0, refused = 0;
  for (let start = 10; start < frame.length - 20; start += 997) {
    const bad = frame.slice();
    for (let i = start; i < start + 50; i++) bad[i] = bad[i]! ^ 0x5a;
    tried++;
    try {
      assert.notDeepEqual(zstdDecompressSync(bad, raw.length), raw);
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      refused++;
    }
  }
  assert.ok(tried > 20);
  assert.ok(refused >= 0.8 * tried, `${refused} of ${tried} damaged frames refused`);
});

test('CLAY_ZSTD names the build; anything else is refused by name', async () => {
  const bad = await withBackend('fast', 'await z.loadZstd();');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /CLAY_ZSTD=fast: expected native or wasm/);
  const used = await withBackend('', 'await z.loadZstd(); process.stdout.write(z.zstdBackend());');
  assert.equal(used.code, 0, used.stderr);
  assert.ok(used.stdout === 'native' || used.stdout === 'wasm');
});
