import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { isClayError } from '../../core/errors.ts';
import { initBackend } from '../../model/backend.ts';
import { paramsFromTorch, disposeParams } from '../../model/params.ts';
import { decodeSafetensors, encodeSafetensors } from '../../model/safetensors.ts';
import { loadWeights, saveWeights, stateDict } from '../../model/weights.ts';
import { Golden, assertClose } from './golden.ts';
import { goldenSetup } from './fixture.ts';

const golden = new Golden();

test('safetensors encode/decode keeps names, shapes, order, metadata; header is 8-byte aligned', () => {
  const a = { name: 'a.weight', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) };
  const b = { name: 'b', shape: [], data: Float32Array.from([0.25]) };
  const bytes = encodeSafetensors([a, b], { format: 'pt' });
  const headLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headLen % 8, 0);
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { format: 'pt' });
  assert.deepEqual(back.tensors.map((t) => [t.name, t.shape, Array.from(t.data)]), [
    ['a.weight', [2, 3], [1, 2, 3, 4, 5, -6.5]],
    ['b', [], [0.25]],
  ]);
});

test('safetensors reads F16, BF16 and F64 as float32', () => {
  const header = JSON.stringify({
    h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
    bf: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] },
    d: { dtype: 'F64', shape: [1], data_offsets: [6, 14] },
  });
  const head = Buffer.from(header);
  const buf = Buffer.alloc(8 + head.length + 14);
  buf.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(buf, 8);
  const o = 8 + head.length;
  buf.writeUInt16LE(0x3c00, o); // 1.0
  buf.writeUInt16LE(0xc000, o + 2); // -2.0
  buf.writeUInt16LE(0x3fc0, o + 4); // bf16 1.5
  buf.writeDoubleLE(0.125, o + 6);
  const t = decodeSafetensors(buf).tensors;
  assert.deepEqual(t.map((x) => Array.from(x.data)), [[1, -2], [1.5], [0.125]]);
});

test('safetensors rejects corrupt files with WEIGHTS_INVALID', () => {
  const good = encodeSafetensors([{ name: 'x', shape: [4], data: new Float32Array(4) }]);
  assert.throws(() => decodeSafetensors(good.subarray(0, good.length - 4)), (e) => isClayError(e, 'WEIGHTS_INVALID'));
  assert.throws(() => decodeSafetensors(new Uint8Array(3)), (e) => isClayError(e, 'WEIGHTS_INVALID'));
  const badJson = Buffer.alloc(12);
  badJson.writeBigUInt64LE(4n, 0);
  badJson.write('{{{{', 8);
  assert.throws(() => decodeSafetensors(badJson), (e) => isClayError(e, 'WEIGHTS_INVALID'));
});

test('round trip: golden parameters written by our writer and read back give the golden results', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  const cfg = golden.config();
  const dir = mkdtempSync(join(tmpdir(), 'clay-weights-'));
  try {
    const original = paramsFromTorch(cfg, (s) => golden.get(`param/${s.name}`));
    const file = join(dir, 'golden.safetensors');
    await saveWeights(original, file);
    disposeParams(original);
    // The file holds PyTorch names and layouts: every tensor equals the golden param/<name> exactly.
    const decoded = decodeSafetensors(readFileSync(file));
    assert.deepEqual(decoded.tensors.map((t) => t.name), golden.manifest.param_order);
    for (const t of decoded.tensors) {
      assert.deepEqual(t.shape, golden.entry(`param/${t.name}`).shape, t.name);
      assert.deepEqual(t.data, golden.get(`param/${t.name}`), t.name);
    }
    const loaded = await loadWeights(cfg, file);
    const s = await goldenSetup(golden, 'wasm', loaded);
    const pixels = tf.tidy(() => {
      const out = s.model.forward(s.inputs, s.mask);
      const ref = golden.get('loss')[0] ?? 0;
      assert.ok(Math.abs((out.loss.dataSync()[0] ?? 0) - ref) / ref < 1e-5);
      return Float32Array.from(s.model.pixels(out.tokens).dataSync());
    });
    assertClose('round-trip pixels', pixels, golden.get('act/decoder.pixels'), 1e-4);
    // A Lightning checkpoint prefixes names with `model.`.
    const prefixed = join(dir, 'lightning.safetensors');
    writeFileSync(prefixed, encodeSafetensors((await stateDict(s.params)).map((t) => ({ ...t, name: `model.${t.name}` }))));
    const fromLightning = await loadWeights(cfg, prefixed);
    const w = fromLightning.vars.get('decoder.mask_patch');
    assert.ok(w !== undefined);
    assert.deepEqual(Array.from(w.dataSync()), Array.from(golden.get('param/decoder.mask_patch')));
    disposeParams(fromLightning);
    s.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loading is strict: missing, unexpected or mis-shaped tensors are WEIGHTS_INVALID', async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  const cfg = golden.config();
  const dir = mkdtempSync(join(tmpdir(), 'clay-weights-'));
  try {
    const all = golden.manifest.param_order.map((name) => ({
      name, shape: golden.entry(`param/${name}`).shape, data: golden.get(`param/${name}`),
    }));
    const cases = {
      missing: all.slice(1),
      unexpected: [...all, { name: 'encoder.extra', shape: [1], data: new Float32Array(1) }],
      shape: all.map((t, i) => (i === 0 ? { ...t, shape: [t.shape[1] ?? 0, t.shape[0] ?? 0] } : t)),
    };
    for (const [label, tensors] of Object.entries(cases)) {
      const file = join(dir, `${label}.safetensors`);
      writeFileSync(file, encodeSafetensors(tensors));
      await assert.rejects(loadWeights(cfg, file), (e) => isClayError(e, 'WEIGHTS_INVALID'), label);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
