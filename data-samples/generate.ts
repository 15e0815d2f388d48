/**
 * Generates the bundled miniature Planetary Computer into `data-samples/generated/` (or `--out DIR`):
 * collections, item FeatureCollections, COG blobs, the MGRS sample and `cases.json`. Deterministic, no
 * GDAL. Skips the work when the output was made by the same generator sources (`--force` to redo).
 * Usage: node --import tsx data-samples/generate.ts [--out DIR] [--force] [--noise]
 * (`--noise`: per-pixel sensor noise on every band, for benchmarks; the same design otherwise)
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCases, overlapShare } from './spec/cases.ts';
import { GenContext } from './spec/context.ts';
import { makeDem } from './spec/dem.ts';
import type { BBox } from './spec/geometry.ts';
import { sampleCollection, sampleFlatGeobuf } from './spec/sample.ts';
import { makeS1Scene } from './spec/sentinel1.ts';
import type { PlantedNodata, S1Result } from './spec/sentinel1.ts';
import { makeS2Item } from './spec/sentinel2.ts';
import type { S2Result } from './spec/sentinel2.ts';
import { collections, featureCollection } from './spec/stac.ts';
import type { CollectionId } from './spec/stac.ts';
import { DEM_NAN, ROW0, ROW2, S1_NODATA, S1_SCENES, S2_ITEMS } from './spec/universe.ts';
import { makeWorldCover, WORLDCOVER_NODATA, WORLDCOVER_OVERVIEWS } from './spec/worldcover.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Default output folder. */
export const DEFAULT_OUT = join(HERE, 'generated');

/** What a run produced. */
export interface GenerateResult {
  out: string;
  skipped: boolean;
  files: number;
  bytes: number;
  ms: number;
}

/** Hash of the sources that decide the output (generator, spec modules, TIFF writer). */
async function sourceHash(): Promise<string> {
  const h = createHash('sha256');
  const dirs = [HERE, join(HERE, 'spec'), join(HERE, '..', 'pipeline', 'write')];
  for (const d of dirs) {
    for (const f of (await readdir(d)).filter((n) => n.endsWith('.ts')).sort()) {
      h.update(f);
      h.update(await readFile(join(d, f)));
    }
  }
  return h.digest('hex');
}

async function upToDate(out: string, hash: string): Promise<boolean> {
  try {
    const m = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { sourceHash?: unknown };
    return m.sourceHash === hash;
  } catch {
    return false;
  }
}

function need<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('design: missing item');
  return v;
}

function union(boxes: BBox[]): BBox {
  return boxes.reduce<BBox>((a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])], [Infinity, Infinity, -Infinity, -Infinity]);
}

/** Checks the design invariants the cases rely on; throws when a change broke one. */
function checkDesign(s2: Map<string, S2Result>, s1: Map<string, S1Result>, planted: PlantedNodata): void {
  const b = s2.get('B')?.bbox;
  if (b === undefined) throw new Error('design: item B missing');
  const share = (k: string): number => overlapShare(s1.get(k)?.item['bbox'] as BBox, b);
  const order = ['D1', 'A1', 'D2', 'D3'].map(share);
  if (!order.every((v, i) => i === 0 || v < (order[i - 1] ?? 0))) throw new Error(`design: overlap order D1 > A1 > D2 > D3 broken: ${order.join(', ')}`);
  const d3 = s1.get('D3')?.item['bbox'] as BBox;
  if (planted.lonLat[0] >= d3[0] && planted.lonLat[0] <= d3[2]) throw new Error('design: D3 covers the planted S1 nodata pixel');
  const d1 = s1.get('D1')?.item['bbox'] as BBox;
  if (planted.lonLat[0] <= d1[2]) throw new Error('design: D1 covers the planted S1 nodata pixel');
}

/** Generates the universe into `out`. */
export async function generateSamples({ out = DEFAULT_OUT, force = false, noise = false }: { out?: string; force?: boolean; noise?: boolean } = {}): Promise<GenerateResult> {
  const t0 = performance.now();
  const hash = `${await sourceHash()}${noise ? '+noise' : ''}`;
  if (!force && (await upToDate(out, hash))) return { out, skipped: true, files: 0, bytes: 0, ms: performance.now() - t0 };
  const tmp = `${out}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const ctx = new GenContext(tmp, noise);
  try {
    const s2 = new Map<string, S2Result>();
    for (const spec of S2_ITEMS) {
      const shared = spec.blobsOf === undefined ? undefined : S2_ITEMS.find((s) => s.key === spec.blobsOf);
      s2.set(spec.key, await makeS2Item(ctx, spec, spec.row === 0 ? ROW0 : ROW2, spec.row === 0 ? '31TGL' : '31TGK', shared));
    }
    const s1 = new Map<string, S1Result>();
    for (const [i, spec] of S1_SCENES.entries()) {
      const over = s2.get(spec.over);
      if (over === undefined) throw new Error(`design: S1 ${spec.key} over unknown item ${spec.over}`);
      const plant = spec.key === S1_NODATA.scene ? { target: ROW0, near: S1_NODATA.near } : undefined;
      s1.set(spec.key, await makeS1Scene(ctx, spec, i, over.bbox, plant));
    }
    const planted = s1.get(S1_NODATA.scene)?.planted;
    if (planted === undefined) throw new Error('design: S1 nodata not planted');
    checkDesign(s2, s1, planted);
    const dem = await makeDem(ctx, { target: ROW0, near: DEM_NAN.near });
    const wc = await makeWorldCover(ctx, [need(s2.get('B')).bbox, need(s2.get('R2_2020')).bbox]);

    const byCollection: Record<CollectionId, Array<Record<string, unknown>>> = {
      'sentinel-2-l2a': [...s2.values()].map((r) => r.item),
      'sentinel-1-rtc': [...s1.values()].map((r) => r.item),
      'cop-dem-glo-30': dem.items,
      'esa-worldcover': wc.items,
    };
    const extents = {} as Record<CollectionId, BBox>;
    const itemAssets = {} as Record<CollectionId, Record<string, unknown>>;
    for (const [id, items] of Object.entries(byCollection) as Array<[CollectionId, Array<Record<string, unknown>>]>) {
      extents[id] = union(items.map((i) => i['bbox'] as BBox));
      const assets = (items[0]?.['assets'] ?? {}) as Record<string, Record<string, unknown>>;
      itemAssets[id] = Object.fromEntries(Object.entries(assets).map(([k, a]) => [k, { type: a['type'], roles: a['roles'], title: a['title'] }]));
      await ctx.writeJson(`items/${id}.json`, featureCollection(items));
    }
    for (const c of collections(extents, itemAssets)) await ctx.writeJson(`collections/${String(c['id'])}.json`, c);
    const sample = sampleCollection();
    await ctx.writeJson('mgrs_sample.geojson', sample);
    await ctx.writeBytes('mgrs_sample.fgb', sampleFlatGeobuf(sample));
    await ctx.writeJson(
      'cases.json',
      buildCases({
        s2, s1,
        demItems: dem.items.map((i) => String(i['id'])),
        demNan: dem.planted,
        s1Nodata: planted,
        worldcover: { items: wc.items.map((i) => String(i['id'])), counts: wc.counts, nodataBlock: WORLDCOVER_NODATA, overviews: WORLDCOVER_OVERVIEWS },
      }),
    );
    const files = Object.fromEntries([...ctx.files.entries()].sort(([a], [b]) => a.localeCompare(b)));
    await ctx.writeJson('manifest.json', { sourceHash: hash, files, totalBytes: ctx.totalBytes });
    await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { out, skipped: false, files: ctx.files.size, bytes: ctx.totalBytes, ms: performance.now() - t0 };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--out');
  const out = at >= 0 ? resolve(args[at + 1] ?? DEFAULT_OUT) : DEFAULT_OUT;
  const r = await generateSamples({ out, force: args.includes('--force'), noise: args.includes('--noise') });
  const line = r.skipped
    ? { event: 'Samples:Skip', out: r.out, reason: 'up to date (same generator sources); --force to redo' }
    : { event: 'Samples:Done', out: r.out, files: r.files, bytes: r.bytes, mb: Math.round(r.bytes / 1e4) / 100, ms: Math.round(r.ms) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
