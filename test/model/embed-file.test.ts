/**
 * Embeddings to GeoParquet, read back by an independent reader (hyparquet, which decodes the WKB and the
 * `geo` metadata itself): row count, columns, geometry and values equal to `embed()` computed directly.
 * A tiny model with seeded weights at 64/32 keeps it fast; the CLI test runs real chips at 512/32.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import * as tf from '@tensorflow/tfjs';
import { isClayError } from '../../core/errors.ts';
import { readGeoParquet } from '../../core/geoparquet.ts';
import { initBackend } from '../../model/backend.ts';
import { ClayModel } from '../../model/clay.ts';
import { NUM_BANDS, clayConfig } from '../../model/config.ts';
import type { ChipBatch, ChipPlace } from '../../model/data/types.ts';
import { embed } from '../../model/embed.ts';
import { EMBEDDING_METADATA_KEY, embedChips, embeddingsTarget, encodeEmbeddings, type EmbeddingInfo } from '../../model/embed-file.ts';
import { disposeParams, initParams, mulberry32, randn, type ClayParams } from '../../model/params.ts';
import { openStore } from '../../core/store/open-store.ts';
import { startS3 } from '../helpers/s3.ts';

const cfg = clayConfig('tiny', { imageSize: 64, patchSize: 32 });
const H = cfg.imageSize;
let params: ClayParams;
let model: ClayModel;
let dir: string;

before(async () => {
  await initBackend({ prefer: 'wasm', log: () => {} });
  params = initParams(cfg, 11);
  model = new ClayModel(params);
  dir = await mkdtemp(join(tmpdir(), 'clay-embed-'));
});

after(async () => {
  model.dispose();
  disposeParams(params);
  await rm(dir, { recursive: true, force: true });
});

/** A chip place at (lon, lat) with a small square footprint, counter-clockwise. */
function place(i: number): ChipPlace {
  const lon = 3 + i * 0.01;
  const lat = 44 - i * 0.02;
  const d = 0.005;
  return {
    url: `/data/02/31TGL/2021-06-15/claytile_31TGL_20210615_v02_${String(i).padStart(4, '0')}.tif`,
    key: `02/31TGL/2021-06-15/claytile_31TGL_20210615_v02_${String(i).padStart(4, '0')}.tif`,
    mgrs: i < 3 ? '31TGL' : '31TGK', date: i % 2 === 0 ? '2021-06-15' : '2020-01-31',
    epsg: 32631, transform: [720000 + i * 640, 10, 0, 5071000, 0, -10], width: H, height: H, lon, lat,
    footprint: [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]],
  };
}

/** A batch of chips `from..to-1` with seeded normal pixels. */
function batchOf(from: number, to: number): ChipBatch {
  const n = to - from;
  const rand = mulberry32(100 + from);
  return {
    batch: n, chips: Array.from({ length: n }, (_, k) => place(from + k)),
    pixels: randn(n * NUM_BANDS * H * H, rand), latlon: randn(n * 2, rand), timestep: randn(n * 3, rand),
  };
}

async function* stream(batches: ChipBatch[]): AsyncGenerator<ChipBatch> {
  for (const b of batches) yield b;
}

const info: EmbeddingInfo = { rule: 'test', checkpoint: 'ckpt', model: { size: 'tiny', imageSize: H, patchSize: 32, dim: cfg.dim } };

test('embedChips: one row per chip in order, values equal to embed() on the same batches, --limit cuts a batch', async () => {
  const batches = [batchOf(0, 2), batchOf(2, 4), batchOf(4, 5)];
  const seen: number[] = [];
  const e = await embedChips(model, stream(batches), { onBatch: (p) => seen.push(p.done) });
  assert.equal(e.dim, 256);
  assert.deepEqual(e.chips.map((c) => c.key), [0, 1, 2, 3, 4].map((i) => place(i).key));
  assert.deepEqual(seen, [2, 4, 5]);
  const direct = await Promise.all(batches.map((b) => embed(model, b)));
  assert.deepEqual(e.values, Float32Array.from(direct.flatMap((d) => [...d])));
  const cut = await embedChips(model, stream(batches), { limit: 3 });
  assert.deepEqual(cut.chips.map((c) => c.key), [0, 1, 2].map((i) => place(i).key));
  assert.deepEqual(cut.values, e.values.subarray(0, 3 * 256));
  // The mean of the patch tokens (lat/lon and time tokens left out), recomputed from the encoder itself.
  const b = batches[0]!;
  const { prepareInputs, disposeInputs } = await import('../../model/inputs.ts');
  const inputs = prepareInputs(cfg, b, false);
  const enc = tf.tidy(() => model.encode(inputs, null, undefined, false));
  const tokens = enc.arraySync() as number[][][];
  enc.dispose();
  disposeInputs(inputs);
  const GL = model.sizes.GL;
  assert.equal(tokens[0]!.length, GL + 2);
  for (const d of [0, 17, 255]) {
    const mean = tokens[1]!.slice(0, GL).reduce((s, t) => s + t[d]!, 0) / GL;
    assert.ok(Math.abs(mean - e.values[256 + d]!) < 1e-5, `dim ${d}: ${mean} vs ${e.values[256 + d]}`);
  }
});

test('a chip of another size than the model is BAD_ARGUMENT naming it', async () => {
  const b = batchOf(0, 1);
  const wrong: ChipBatch = { ...b, chips: [{ ...b.chips[0]!, width: 512, height: 512 }] };
  await assert.rejects(embedChips(model, stream([wrong])), (err) => isClayError(err, 'BAD_ARGUMENT') && err.input === b.chips[0]!.url);
});

test('GeoParquet round trip through hyparquet: rows, columns, geometry, embeddings, geo metadata', async () => {
  const e = await embedChips(model, stream([batchOf(0, 3), batchOf(3, 5)]));
  const target = await embeddingsTarget(join(dir, 'sub', 'embeddings.parquet'));
  assert.equal(await target.exists(), false);
  await target.write(encodeEmbeddings(e, info));
  assert.equal(await target.exists(), true);
  const bytes = await readFile(join(dir, 'sub', 'embeddings.parquet'));
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const rows = await parquetReadObjects({ file });
  assert.equal(rows.length, 5);
  rows.forEach((r, i) => {
    const c = place(i);
    assert.deepEqual(Object.keys(r).sort(), ['bbox', 'date', 'embedding', 'geometry', 'mgrs', 'path']);
    assert.equal(r['path'], c.url);
    assert.equal(r['mgrs'], c.mgrs);
    assert.deepEqual(r['date'], new Date(`${c.date}T00:00:00Z`));
    // hyparquet decodes the WKB to GeoJSON itself (its own decoder, not core/wkb.ts).
    assert.deepEqual(r['geometry'], { type: 'Polygon', coordinates: [c.footprint] });
    assert.deepEqual(r['embedding'], Array.from(e.values.subarray(i * 256, (i + 1) * 256)));
  });
  const meta = parquetMetadata(file);
  const kv = new Map((meta.key_value_metadata ?? []).map((k) => [k.key, k.value]));
  const geo = JSON.parse(kv.get('geo')!) as Record<string, unknown>;
  const all = [0, 1, 2, 3, 4].flatMap((i) => place(i).footprint);
  const bbox = [Math.min(...all.map((p) => p[0])), Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[0])), Math.max(...all.map((p) => p[1]))];
  // GeoParquet 1.1: WKB Polygon, no crs (= OGC:CRS84, lon/lat), the bbox of every row.
  assert.deepEqual(geo, { version: '1.1.0', primary_column: 'geometry', columns: { geometry: { encoding: 'WKB', geometry_types: ['Polygon'], bbox, covering: { bbox: { xmin: ['bbox', 'xmin'], ymin: ['bbox', 'ymin'], xmax: ['bbox', 'xmax'], ymax: ['bbox', 'ymax'] } } } } });
  // Our own metadata is plain key-value metadata, after `geo`: every Parquet reader sees it.
  assert.deepEqual(JSON.parse(kv.get(EMBEDDING_METADATA_KEY)!), info);
  assert.deepEqual(JSON.parse((await readGeoParquet(bytes)).metadata[EMBEDDING_METADATA_KEY]!), info);
  assert.equal(meta.schema.find((s) => s.name === 'geometry')?.type, 'BYTE_ARRAY');
  assert.equal(meta.schema.find((s) => s.name === 'date')?.converted_type, 'DATE');
});

test('the target refuses a folder location; tensors do not accumulate over batches', async () => {
  await assert.rejects(embeddingsTarget(`${dir}/`), (err) => isClayError(err, 'BAD_ARGUMENT'));
  const before = tf.memory().numTensors;
  await embedChips(model, stream([batchOf(0, 2), batchOf(2, 3)]));
  assert.equal(tf.memory().numTensors, before);
});

test('an s3:// output is one PUT through the object store; what is read back is what was encoded', async () => {
  const s3 = await startS3();
  try {
    const e = await embedChips(model, stream([batchOf(0, 2)]));
    const bytes = encodeEmbeddings(e, info);
    const target = await embeddingsTarget(`s3://${s3.bucket}/runs/1/embeddings.parquet`, { env: s3.env });
    assert.equal(target.url, `s3://${s3.bucket}/runs/1/embeddings.parquet`);
    assert.equal(await target.exists(), false);
    assert.equal(await target.write(bytes), bytes.byteLength);
    const back = await (await openStore(`s3://${s3.bucket}/runs/1`, { env: s3.env })).get('embeddings.parquet');
    assert.deepEqual(back, bytes);
    assert.equal((await parquetReadObjects({ file: bytes.slice().buffer })).length, 2);
  } finally {
    await s3.close();
  }
});
