/**
 * `clay embed` and `clay reconstruct` end to end, as users run them (the CLI in a child process), on real
 * chips that `clay run` makes from the bundled universe, with a tiny model at v0's 512/32 and seeded random
 * weights. Oracles: hyparquet reads the embeddings (its own Parquet, WKB and GeoParquet decoding), `embed()`
 * recomputes them in-process; sharp decodes the picture, GDAL reads the chip for the input panel, the
 * model's own tapped forward pass gives the reconstruction panel. Coded errors exit non-zero.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { f16round } from '../../core/float16.ts';
import { initBackend } from '../../model/backend.ts';
import { ClayModel } from '../../model/clay.ts';
import { clayConfig } from '../../model/config.ts';
import { CLAY_V0_MEAN, CLAY_V0_STD } from '../../model/data/normalize.ts';
import type { ChipSample } from '../../model/data/types.ts';
import { embed } from '../../model/embed.ts';
import { prepareInputs, disposeInputs } from '../../model/inputs.ts';
import { randomMask } from '../../model/masking.ts';
import { disposeParams, initParams } from '../../model/params.ts';
import { saveWeights } from '../../model/weights.ts';
import type { EmbedSummary } from '../../cli/commands/embed.ts';
import { readChip, type ReconstructSummary } from '../../cli/commands/reconstruct.ts';
import { MASK_GREY } from '../../model/reconstruct.ts';
import { PANEL_GAP, stretchValue } from '../../pipeline/write/preview.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { gdalinfo, gdaltransform, locationValues } from '../pipeline/chip/gdal.ts';

const cfg = clayConfig('tiny');
const ENV = { CLAY_BACKEND: 'wasm' };
let pc: MiniPc;
let dir: string;
let chips: string;
/** The unit's chip files, sorted. */
let tifs: string[];
let ckpt: string;

before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  dir = await mkdtemp(join(tmpdir(), 'clay-model-cli-'));
  chips = join(dir, 'chips');
  const r = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', join(BUNDLED_DIR, 'mgrs_sample.fgb'), '--index', '0', '--dates', '1', '--out', chips]);
  assert.equal(r.code, 0, r.stderr);
  const unit = join(chips, '02', '31TGL', '2021-06-15');
  tifs = (await readdir(unit)).filter((f) => f.endsWith('.tif')).sort().map((f) => join(unit, f));
  assert.ok(tifs.length >= 4, `${tifs.length} chips`);
  await initBackend({ prefer: 'wasm', log: () => {} });
  ckpt = join(dir, 'ckpt');
  await mkdir(ckpt);
  const params = initParams(cfg, 42);
  await saveWeights(params, join(ckpt, 'weights.safetensors'));
  disposeParams(params);
  await writeFile(join(ckpt, 'checkpoint.json'), JSON.stringify({ model: { size: 'tiny', imageSize: 512, patchSize: 32 } }));
});

after(async () => {
  await pc.close();
  await rm(dir, { recursive: true, force: true });
});

/** Asserts a coded failure: non-zero exit, `error CODE` on stderr. */
function assertError(r: CliResult, code: string, exit = 2): void {
  assert.equal(r.code, exit, r.stderr);
  assert.match(r.stderr, new RegExp(`error ${code}:`), r.stderr);
}

test('clay reconstruct: three panels; exactly the masked rgb patches grey; input as GDAL reads it; reconstruction as the model computes it', async () => {
  const out = join(dir, 'pic', 'rec.png');
  const chip = tifs[1]!;
  const r = await runCli(['reconstruct', '--checkpoint', ckpt, '--chip', chip, '--out', out, '--seed', '3'], ENV);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as ReconstructSummary;
  const H = 512;
  const P = 32;
  const side = H / P;
  const mask = randomMask(cfg, 1, 3);
  const rgbMasked = [...Array(side * side).keys()].filter((l) => mask.maskedMatrix[l] === 1);
  assert.deepEqual([summary.status, summary.maskedPatches, summary.patches, summary.model?.maskRatio], ['done', rgbMasked.length, 256, 0.75]);
  const png = await readFile(out);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 3 * H + 2 * PANEL_GAP, H, 3]);
  const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const W = meta.width!;
  const at = (panel: number, x: number, y: number): number[] => {
    const i = (y * W + panel * (H + PANEL_GAP) + x) * 3;
    return [data[i]!, data[i + 1]!, data[i + 2]!];
  };
  const grey: number[] = [];
  for (let l = 0; l < side * side; l++) {
    let all = true;
    for (let y = 0; y < P && all; y++) for (let x = 0; x < P && all; x++) all = at(1, (l % side) * P + x, Math.floor(l / side) * P + y).every((v) => v === MASK_GREY);
    if (all) grey.push(l);
  }
  assert.deepEqual(grey, rgbMasked);
  // Input panel: GDAL's B04 B03 B02 through v0's float16 normalisation and back, under the stretch.
  const points: [number, number][] = [[0, 0], [100, 37], [511, 511], [260, 400], [33, 480]];
  const gdal = await locationValues(chip, points, { bands: 13 });
  const seen = (v: number, b: number): number => {
    const m = f16round(CLAY_V0_MEAN[b]!);
    const s = f16round(CLAY_V0_STD[b]!);
    return Math.fround(f16round(f16round(f16round(v) - m) / s) * CLAY_V0_STD[b]! + CLAY_V0_MEAN[b]!);
  };
  points.forEach(([x, y], i) => assert.deepEqual(at(0, x, y), [2, 1, 0].map((b) => stretchValue(seen(gdal[i]![b]!, b))), `(${x}, ${y})`));
  // Reconstruction panel: two patches recomputed from the model's tapped forward pass on the same chip.
  const { loadModelForInference } = await import('../../model/checkpoint-load.ts');
  const m = await loadModelForInference(ckpt);
  const sample = await readChip(chip);
  const inputs = prepareInputs(cfg, { batch: 1, pixels: sample.pixels, latlon: Float32Array.from(sample.latlon), timestep: Float32Array.from(sample.timestep) });
  let patches = new Float32Array(0);
  tf.tidy(() => {
    m.model.forward(inputs, mask, (name, t) => {
      if (name === 'decoder.pixels') patches = Float32Array.from(t.dataSync());
    });
  });
  disposeInputs(inputs);
  m.dispose();
  const L = side * side;
  for (const l of [rgbMasked[0]!, [...Array(L).keys()].find((k) => mask.maskedMatrix[k] === 0)!]) {
    for (const [p1, p2] of [[0, 0], [17, 5], [31, 31]] as const) {
      const want = [2, 1, 0].map((k) => stretchValue(patches[(k * L + l) * P * P + p1 * P + p2]! * CLAY_V0_STD[k]! + CLAY_V0_MEAN[k]!));
      const got = at(2, (l % side) * P + p2, Math.floor(l / side) * P + p1);
      got.forEach((v, c) => assert.ok(Math.abs(v - want[c]!) <= 1, `patch ${l} (${p1}, ${p2}): ${got} vs ${want}`));
    }
  }
  // A rerun skips the existing picture; --force redoes it.
  const again = await runCli(['reconstruct', '--checkpoint', ckpt, '--chip', chip, '--out', out, '--seed', '3'], ENV);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as ReconstructSummary).status, 'skipped');
});

test('clay reconstruct: coded errors for a missing or corrupt checkpoint, mismatched tensors, a chip that is not ours', async () => {
  const out = join(dir, 'err.png');
  const rec = (...a: string[]): Promise<CliResult> => runCli(['reconstruct', '--chip', tifs[0]!, '--out', out, ...a], ENV);
  assertError(await rec('--checkpoint', join(dir, 'nope')), 'CHECKPOINT_MISSING');
  const badJson = join(dir, 'bad-json');
  await mkdir(badJson);
  await writeFile(join(badJson, 'checkpoint.json'), '{"model":');
  await copyFile(join(ckpt, 'weights.safetensors'), join(badJson, 'weights.safetensors'));
  assertError(await rec('--checkpoint', badJson), 'CHECKPOINT_INVALID');
  const junk = join(dir, 'junk.safetensors');
  await writeFile(junk, 'not a safetensors file at all');
  assertError(await rec('--checkpoint', junk, '--model', 'tiny'), 'WEIGHTS_INVALID');
  const wrong = await rec('--checkpoint', join(ckpt, 'weights.safetensors'), '--model', 'small');
  assertError(wrong, 'WEIGHTS_INVALID');
  assert.match(wrong.stderr, /encoder\.latlon_embedding\.weight has shape \[256, 2\], the config needs \[768, 2\]/);
  const notOurs = join(dir, 'claytile_31TGL_20210615_v02_0099.tif');
  await writeFile(notOurs, new Uint8Array(4096).fill(7));
  assertError(await runCli(['reconstruct', '--checkpoint', ckpt, '--chip', notOurs, '--out', out], ENV), 'CHIP_CORRUPT');
  const badName = join(dir, 'picture.tif');
  await copyFile(tifs[0]!, badName);
  assertError(await runCli(['reconstruct', '--checkpoint', ckpt, '--chip', badName, '--out', out], ENV), 'CHIP_CORRUPT');
  assert.equal(await readFile(out).catch(() => undefined), undefined, 'nothing written');
});

/** The chips as one model batch, in order. */
function batchOf(samples: readonly ChipSample[]): { batch: number; pixels: Float32Array; latlon: Float32Array; timestep: Float32Array } {
  const px = samples[0]!.pixels.length;
  const pixels = new Float32Array(samples.length * px);
  samples.forEach((c, i) => pixels.set(c.pixels, i * px));
  return { batch: samples.length, pixels, latlon: Float32Array.from(samples.flatMap((c) => [...c.latlon])), timestep: Float32Array.from(samples.flatMap((c) => [...c.timestep])) };
}

test('clay embed: GeoParquet read by hyparquet: rows, paths, dates, footprints (GDAL corners), embed() values, geo metadata', async () => {
  const out = join(dir, 'emb', 'embeddings.parquet');
  const r = await runCli(['embed', '--checkpoint', ckpt, '--data', chips, '--out', out, '--limit', '4', '--batch', '3'], ENV);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as EmbedSummary;
  assert.deepEqual([summary.status, summary.chips, summary.corrupt, summary.dim, summary.backend], ['done', 4, 0, 256, 'wasm']);
  assert.ok(summary.samplesPerSec! > 0);
  const bytes = await readFile(out);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const rows = await parquetReadObjects({ file });
  assert.equal(rows.length, 4);
  const samples = await Promise.all(tifs.slice(0, 4).map((t) => readChip(t)));
  // embed() in-process on the same chips, one sample per forward as the command runs it.
  const { loadModelForInference } = await import('../../model/checkpoint-load.ts');
  const m = await loadModelForInference(ckpt);
  const want = [...await embed(m.model, batchOf(samples), { maxChunk: 1 })];
  m.dispose();
  for (const [i, row] of rows.entries()) {
    assert.equal(row['path'], tifs[i]);
    assert.equal(row['mgrs'], '31TGL');
    assert.deepEqual(row['date'], new Date('2021-06-15T00:00:00Z'));
    assert.deepEqual(row['embedding'], want.slice(i * 256, (i + 1) * 256));
    const geometry = row['geometry'] as { type: string; coordinates: [number, number][][] };
    assert.deepEqual(geometry, { type: 'Polygon', coordinates: [samples[i]!.footprint] });
    // The chip's four corners, as GDAL places them, are vertices of the footprint.
    const info = await gdalinfo(tifs[i]!);
    const [x0, dx, , y0, , dy] = info.geoTransform as [number, number, number, number, number, number];
    const corners = await gdaltransform([[x0, y0], [x0 + 512 * dx, y0], [x0 + 512 * dx, y0 + 512 * dy], [x0, y0 + 512 * dy]], 32631, 4326);
    for (const [lon, lat] of corners) {
      assert.ok(geometry.coordinates[0]!.some(([x, y]) => Math.abs(x - lon) < 1e-7 && Math.abs(y - lat) < 1e-7), `corner ${lon} ${lat} of ${tifs[i]}`);
    }
  }
  const kv = new Map((parquetMetadata(file).key_value_metadata ?? []).map((k) => [k.key, k.value]));
  const geo = JSON.parse(kv.get('geo')!) as { version: string; primary_column: string; columns: Record<string, { encoding: string; geometry_types: string[]; bbox: number[]; crs?: unknown }> };
  const all = samples.flatMap((c) => c.footprint);
  assert.deepEqual(geo, {
    version: '1.1.0', primary_column: 'geometry',
    columns: { geometry: { encoding: 'WKB', geometry_types: ['Polygon'], bbox: [Math.min(...all.map((p) => p[0])), Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[0])), Math.max(...all.map((p) => p[1]))], covering: { bbox: { xmin: ['bbox', 'xmin'], ymin: ['bbox', 'ymin'], xmax: ['bbox', 'xmax'], ymax: ['bbox', 'ymax'] } } } },
  });
  const again = await runCli(['embed', '--checkpoint', ckpt, '--data', chips, '--out', out, '--limit', '4'], ENV);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as EmbedSummary).status, 'skipped');
});

test('clay embed: a corrupt chip is skipped and counted; no chip is exit 3 with nothing written; coded errors', async () => {
  const mixed = join(dir, 'mixed');
  await mkdir(mixed);
  for (const t of tifs.slice(0, 2)) await copyFile(t, join(mixed, t.slice(t.lastIndexOf('/') + 1)));
  await writeFile(join(mixed, 'claytile_31TGL_20210615_v02_0099.tif'), new Uint8Array(2048).fill(3));
  const out = join(dir, 'mixed.parquet');
  const r = await runCli(['embed', '--checkpoint', ckpt, '--data', mixed, '--out', out], ENV);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as EmbedSummary;
  assert.deepEqual([s.chips, s.corrupt], [2, 1]);
  assert.match(r.stderr, /"event":"Stream:Skip".*claytile_31TGL_20210615_v02_0099\.tif/);
  const mixedBytes = await readFile(out);
  assert.equal((await parquetReadObjects({ file: mixedBytes.buffer.slice(mixedBytes.byteOffset, mixedBytes.byteOffset + mixedBytes.byteLength) })).length, 2);
  const empty = join(dir, 'empty');
  await mkdir(empty);
  const none = await runCli(['embed', '--checkpoint', ckpt, '--data', empty, '--out', join(dir, 'none.parquet')], ENV);
  assert.equal(none.code, 3, none.stderr);
  assert.equal((JSON.parse(none.stdout) as EmbedSummary).status, 'no-data');
  assert.equal(await readFile(join(dir, 'none.parquet')).catch(() => undefined), undefined);
  assertError(await runCli(['embed', '--checkpoint', join(dir, 'nope'), '--data', chips, '--out', join(dir, 'x.parquet')], ENV), 'CHECKPOINT_MISSING');
  const wrong = await runCli(['embed', '--checkpoint', join(ckpt, 'weights.safetensors'), '--patch-size', '16', '--data', chips, '--out', join(dir, 'x.parquet')], ENV);
  assertError(wrong, 'WEIGHTS_INVALID');
  assert.match(wrong.stderr, /encoder\.patch_embedding\.rgb\.proj\.weight has shape \[256, 3, 32, 32\], the config needs \[256, 3, 16, 16\]/);
  assertError(await runCli(['embed', '--checkpoint', ckpt, '--data', chips, '--out', `${dir}/`], ENV), 'BAD_ARGUMENT');
});
