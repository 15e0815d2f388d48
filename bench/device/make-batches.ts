/**
 * Real training batches for the GPU device script (`bench/device/torch.sh`), which runs where there is no
 * Node: the first N chips of a chip store as the training stream yields them (normalised, float16-rounded,
 * so float16 storage is exact), written as numpy `.npy` files `pixels` [N,13,512,512] float16, `latlon`
 * [N,2] and `timestep` [N,3] float32 into a folder (`clay_torch.bench --batches DIR`).
 *
 *   node --import tsx bench/device/make-batches.ts --data DIR --out .bench/device-batches [--chips 4]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '../../core/log.ts';
import { halfBitsFromFloat32Bits, float32Bits } from '../../core/float16.ts';
import { openChipTrainData } from '../../model/data/train-data.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};

/** A numpy .npy file (format 1.0) of `data` with `shape` and numpy dtype `descr` (`<f2`, `<f4`). */
function npy(descr: string, shape: number[], data: Uint8Array): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(data, 10 + header.length);
  return out;
}

const source = arg('data', '');
const out = arg('out', '.bench/device-batches');
const n = Number(arg('chips', '4'));
if (!source) throw new Error('--data DIR (a chip folder, e.g. clay-demo/chips) is required');
const data = await openChipTrainData({ source, batch: n, seed: 42, valFraction: 0, logger: createLogger({ write: () => undefined }) });
try {
  for await (const b of data.train(0, 0)) {
    const half = new Uint16Array(b.pixels.length);
    for (let i = 0; i < half.length; i++) half[i] = halfBitsFromFloat32Bits(float32Bits(b.pixels[i]!));
    const side = Math.round(Math.sqrt(b.pixels.length / (b.batch * 13)));
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'pixels.npy'), npy('<f2', [b.batch, 13, side, side], new Uint8Array(half.buffer)));
    await writeFile(join(out, 'latlon.npy'), npy('<f4', [b.batch, 2], new Uint8Array(b.latlon.buffer, b.latlon.byteOffset, b.latlon.byteLength)));
    await writeFile(join(out, 'timestep.npy'), npy('<f4', [b.batch, 3], new Uint8Array(b.timestep.buffer, b.timestep.byteOffset, b.timestep.byteLength)));
    console.log(JSON.stringify({ out, chips: b.batch, side, mb: (half.byteLength / 1e6).toFixed(1) }));
    break;
  }
} finally {
  await data.close();
}
