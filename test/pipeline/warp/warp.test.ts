import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asDemItem, asS1Item, asS2Item } from '../../../core/stac/pc-items.ts';
import { fullWindow, invertTransform, subGrid, type Grid, type Window } from '../../../core/grid.ts';
import { allocRaster } from '../../../pipeline/read/raster.ts';
import type { Cog } from '../../../pipeline/read/cog.ts';
import { coordField } from '../../../pipeline/warp/transformer.ts';
import { FieldCache, mosaicOrder, warpInto, warpMosaic, type RasterSource, type Resampling } from '../../../pipeline/warp/warp.ts';
import { designIds, firstDifference, gdalwarp, localFile, ROW0, serveBundled, type Served } from './oracle.ts';

/** Share of pixels equal (NaN = NaN), max abs difference where both are numbers, and NaN disagreements. */
function compare(a: Float32Array, b: Float32Array): { identical: number; maxAbs: number; nanMismatch: number } {
  let same = 0, maxAbs = 0, nanMismatch = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x === y || (x !== x && y !== y)) same++;
    else if (x !== x || y !== y) nanMismatch++;
    else maxAbs = Math.max(maxAbs, Math.abs(x - y));
  }
  return { identical: same / a.length, maxAbs, nanMismatch };
}

async function s2(s: Served, key: string) {
  return asS2Item(await s.item((await designIds()).sentinel2[key]!.id));
}

test('same CRS: S2 10, 20 and 60 m bands and SCL onto the 10 m grid are bit-identical to gdalwarp -r near', async () => {
  const s = await serveBundled();
  try {
    const b = await s2(s, 'B');
    for (const band of ['B02', 'B05', 'B01', 'SCL'] as const) {
      const href = band === 'B01' ? b.item.assets.B01!.href : b.assets[band].href;
      const ours = await warpMosaic(ROW0, [await s.open(href)], { fill: 0 });
      assert.equal(firstDifference(ours, await gdalwarp([localFile(href)], ROW0, ['-r', 'near'])), undefined, band);
    }
  } finally {
    await s.close();
  }
});

test('mosaic: items by datetime ascending, the last valid pixel on top (partial swath under a full one), as gdalwarp', async () => {
  const s = await serveBundled();
  try {
    const items = mosaicOrder([await s2(s, 'B'), await s2(s, 'P2017'), await s2(s, 'BL2022')]);
    assert.deepEqual(items.map((i) => i.datetime.getUTCFullYear()), [2017, 2021, 2022]);
    // P2017 (partial) alone, then P2017 over nothing under B: the oracle warps the files in the same order.
    for (const stack of [[items[0]!], [items[1]!, items[0]!], items]) {
      const hrefs = stack.map((i) => i.assets.B02.href);
      const ours = await warpMosaic(ROW0, await Promise.all(hrefs.map((h) => s.open(h))), { fill: 0 });
      assert.equal(firstDifference(ours, await gdalwarp(hrefs.map((h) => localFile(h)), ROW0, ['-r', 'near'])), undefined, stack.map((i) => i.id).join(' + '));
    }
  } finally {
    await s.close();
  }
});

test('same CRS, offset grid: S1 D1 (sub-pixel origin) is bit-identical to gdalwarp -r near, -32768 -> NaN', async () => {
  const s = await serveBundled();
  try {
    const d1 = asS1Item(await s.item((await designIds()).sentinel1.D1!.id));
    for (const href of [d1.co.href, d1.cross.href]) {
      const ours = await warpMosaic(ROW0, [await s.open(href)], {});
      assert.ok(ours.some((v) => Number.isNaN(v)) && !ours.includes(-32768));
      assert.equal(firstDifference(ours, await gdalwarp([localFile(href)], ROW0, ['-r', 'near', '-dstnodata', 'nan'])), undefined, href);
    }
  } finally {
    await s.close();
  }
});

/**
 * The oracle for reprojected nearest: every target pixel holds the value of a source pixel whose cell
 * contains the exact inverse transform of the target pixel centre moved by at most 0.25 source pixels
 * (or is empty where such a candidate is outside or nodata).
 */
function checkReachable(target: Grid, ours: Float32Array, sources: { cog: Cog; data: ArrayLike<number> }[]): number {
  let checked = 0;
  for (const { cog } of sources) assert.ok(cog.grid.epsg !== target.epsg);
  const fields = new Map<number, ReturnType<typeof coordField>>();
  for (const { cog } of sources) if (!fields.has(cog.grid.epsg)) fields.set(cog.grid.epsg, coordField(target, cog.grid.epsg, { maxError: 0 }));
  const invs = sources.map(({ cog }) => invertTransform(cog.grid.transform));
  const offsets = [-0.25, 0, 0.25];
  for (let i = 0; i < ours.length; i++) {
    const v = ours[i]!;
    let ok = false;
    let anyEmpty = false;
    for (let k = 0; k < sources.length; k++) {
      const { cog, data } = sources[k]!;
      const f = fields.get(cog.grid.epsg)!;
      const inv = invs[k]!;
      const px = inv[0] + f.x[i]! * inv[1] + f.y[i]! * inv[2];
      const py = inv[3] + f.x[i]! * inv[4] + f.y[i]! * inv[5];
      for (const dx of offsets) {
        for (const dy of offsets) {
          const c = Math.floor(px + dx), r = Math.floor(py + dy);
          const inside = c >= 0 && r >= 0 && c < cog.grid.width && r < cog.grid.height;
          const s = inside ? data[r * cog.grid.width + c]! : Number.NaN;
          const empty = !inside || s !== s || s === cog.nodata;
          if (empty) anyEmpty = true;
          else if (s === v) ok = true;
        }
      }
    }
    if (v !== v) ok = anyEmpty || ok;
    assert.ok(ok, `target pixel ${i % target.width},${Math.floor(i / target.width)} = ${v} is no reachable source pixel`);
    checked++;
  }
  return checked;
}

test('reprojected nearest (S1 from UTM 32, DEM from EPSG:4326 across 6 E): every pixel reachable within 0.25 source px; share identical to gdalwarp', async (t) => {
  const s = await serveBundled();
  try {
    const ids = await designIds();
    const d2 = asS1Item(await s.item(ids.sentinel1.D2!.id));
    const dems = await Promise.all(ids.dem.items.map(async (id) => asDemItem(await s.item(id))));
    const cases: { name: string; hrefs: string[] }[] = [{ name: 'S1 D2 vv', hrefs: [d2.co.href] }, { name: 'DEM', hrefs: dems.map((d) => d.data.href) }];
    for (const { name, hrefs } of cases) {
      const cogs = await Promise.all(hrefs.map((h) => s.open(h)));
      const ours = await warpMosaic(ROW0, cogs, {});
      const sources = await Promise.all(cogs.map(async (cog) => ({ cog, data: (await cog.readWindow(fullWindow(cog.grid))).data })));
      // The exact oracle on every pixel of the grid (both planted pixels, the zone and degree lines).
      const checked = checkReachable(ROW0, ours, sources);
      assert.equal(checked, ROW0.width * ROW0.height);
      const gdal = compare(ours, await gdalwarp(hrefs.map((h) => localFile(h)), ROW0, ['-r', 'near', '-dstnodata', 'nan']));
      const exact = compare(ours, await gdalwarp(hrefs.map((h) => localFile(h)), ROW0, ['-r', 'near', '-dstnodata', 'nan', '-et', '0']));
      t.diagnostic(`${name}: ${checked} pixels reachable; identical to gdalwarp ${(100 * gdal.identical).toFixed(3)} %, to gdalwarp -et 0 ${(100 * exact.identical).toFixed(3)} %`);
      assert.ok(gdal.identical > 0.9 && exact.identical > 0.999, `${name}: ${JSON.stringify({ gdal, exact })}`);
    }
  } finally {
    await s.close();
  }
});

test('planted pixels: D1 + D2 give exactly one NaN (chip 4), the DEM exactly 9 NaN (all in chip 5), as designed', async () => {
  const s = await serveBundled();
  try {
    const ids = await designIds();
    const scenes = mosaicOrder(await Promise.all(['D1', 'D2'].map(async (k) => asS1Item(await s.item(ids.sentinel1[k]!.id)))));
    const vv = await warpMosaic(ROW0, await Promise.all(scenes.map((sc) => s.open(sc.co.href))), {});
    const nans = (a: Float32Array) => [...a.keys()].filter((i) => Number.isNaN(a[i]!)).map((i) => [i % ROW0.width, Math.floor(i / ROW0.width)]);
    assert.deepEqual(nans(vv), [ids.planted.s1Nodata.target]);
    const dems = await Promise.all(ids.dem.items.map(async (id) => asDemItem(await s.item(id))));
    const dem = await warpMosaic(ROW0, await Promise.all(dems.map((d) => s.open(d.data.href))), {});
    const demNans = nans(dem);
    assert.equal(demNans.length, 9);
    const [tc, tr] = ids.planted.demNan.target;
    assert.ok(demNans.some(([c, r]) => c === tc && r === tr));
    assert.ok(demNans.every(([c, r]) => Math.floor(c! / 512) === 4 && Math.floor(r! / 512) === 0), 'all in chip 5');
  } finally {
    await s.close();
  }
});

test('bilinear: max abs difference to gdalwarp -r bilinear is bounded (S2 20 m with a partial swath, S1 zone 32, DEM)', async (t) => {
  const s = await serveBundled();
  try {
    const ids = await designIds();
    const d2 = asS1Item(await s.item(ids.sentinel1.D2!.id));
    const dems = await Promise.all(ids.dem.items.map(async (id) => asDemItem(await s.item(id))));
    const p2017 = await s2(s, 'P2017');
    const cases: { name: string; hrefs: string[]; fill: number; bound: number }[] = [
      { name: 'S2 P2017 B05', hrefs: [p2017.assets.B05.href], fill: 0, bound: 1e-3 },
      { name: 'S1 D2 vv', hrefs: [d2.co.href], fill: Number.NaN, bound: 0.1 },
      { name: 'DEM', hrefs: dems.map((d) => d.data.href), fill: Number.NaN, bound: 2 },
    ];
    for (const c of cases) {
      const resampling: Resampling = 'bilinear';
      const ours = await warpMosaic(ROW0, await Promise.all(c.hrefs.map((h) => s.open(h))), { resampling, fill: c.fill });
      const r = compare(ours, await gdalwarp(c.hrefs.map((h) => localFile(h)), ROW0, ['-r', 'bilinear', ...(Number.isNaN(c.fill) ? ['-dstnodata', 'nan'] : [])]));
      t.diagnostic(`${c.name}: max abs diff ${r.maxAbs}, identical ${(100 * r.identical).toFixed(3)} %, NaN disagreements ${r.nanMismatch}`);
      assert.ok(r.maxAbs <= c.bound, `${c.name}: ${r.maxAbs}`);
      assert.ok(r.nanMismatch <= ours.length * 1e-4, `${c.name}: ${r.nanMismatch} NaN disagreements`);
    }
  } finally {
    await s.close();
  }
});

test('per chip: 512 x 512 windows warped one by one equal the whole-grid warp, each reading only its source window', async () => {
  const s = await serveBundled();
  try {
    const b = await s2(s, 'B');
    const cog = await s.open(b.assets.B05.href);
    const whole = await warpMosaic(ROW0, [cog], { fill: 0, resampling: 'bilinear' });
    for (const [col, row] of [[0, 0], [512, 512], [2048, 1536]] as const) {
      const target = subGrid(ROW0, { col, row, width: 512, height: 512 });
      const out = new Float32Array(512 * 512);
      const r = await warpInto(out, target, cog, { resampling: 'bilinear', fields: new FieldCache(target) });
      // 20 m source: 256 x 256 pixels plus the one-pixel bilinear margin, clipped to the image.
      const c0 = Math.max(0, col / 2 - 1), r0 = Math.max(0, row / 2 - 1);
      assert.deepEqual(r.sourceWindow, { col: c0, row: r0, width: col / 2 + 257 - c0, height: row / 2 + 257 - r0 });
      for (let y = 0; y < 512; y++) {
        for (let x = 0; x < 512; x++) assert.equal(out[y * 512 + x], whole[(row + y) * ROW0.width + col + x]);
      }
    }
  } finally {
    await s.close();
  }
});

test('approximate transformer: within the error bound of the exact transform, with few exact points', () => {
  for (const [epsg, maxError] of [[32632, 1.25], [4326, 0.125 / 3600]] as const) {
    const target = subGrid(ROW0, { col: 1536, row: 0, width: 512, height: 512 });
    const approx = coordField(target, epsg, { maxError });
    const exact = coordField(target, epsg, { maxError: 0 });
    let worst = 0;
    for (let i = 0; i < approx.x.length; i++) worst = Math.max(worst, Math.abs(approx.x[i]! - exact.x[i]!) + Math.abs(approx.y[i]! - exact.y[i]!));
    assert.ok(worst <= maxError * 1.5, `EPSG:${epsg}: worst error ${worst} vs bound ${maxError}`);
    assert.ok(approx.exactPoints < approx.x.length / 50, `${approx.exactPoints} exact points`);
  }
});

test('blank targets and tiles in place: row copies, repeated rows and tile runs give the pixels of the sample-by-sample warp', async () => {
  // An in-memory source on a 10 m UTM grid at `scale` x 10 m, offset so that it covers part of the target;
  // with `tiled`, it lends 16 x 12 tiles (one of them sparse: nodata, as a COG's empty tile reads).
  const source = (dtype: 'uint16' | 'float32', scale: number, nodata: number | undefined, tiled: boolean): RasterSource => {
    const width = 70, height = 50, tw = 16, th = 12;
    const grid: Grid = { epsg: 32631, transform: [500_000 + 30, 10 * scale, 0, 4_000_000 - 20, 0, -10 * scale], width, height };
    const data = dtype === 'uint16' ? new Uint16Array(width * height) : new Float32Array(width * height);
    for (let i = 0; i < data.length; i++) {
      const k = (i * 7919) % 13;
      data[i] = k === 0 ? (nodata ?? 0) : k === 1 && dtype === 'float32' ? Number.NaN : 100 + (i % 997);
    }
    const sparse = (x: number, y: number): boolean => tiled && Math.floor(x / tw) === 1 && Math.floor(y / th) === 1;
    const at = (x: number, y: number, fill: number): number => (sparse(x, y) ? fill : data[y * width + x]!);
    const src: RasterSource = {
      grid,
      nodata,
      readWindow: async (w: Window, o?: { fill?: number }) => {
        const fill = o?.fill ?? 0;
        const r = allocRaster(dtype, w.width, w.height, fill);
        for (let y = 0; y < w.height; y++) {
          for (let x = 0; x < w.width; x++) {
            const sx = w.col + x, sy = w.row + y;
            if (sx >= 0 && sy >= 0 && sx < width && sy < height) r.data[y * w.width + x] = at(sx, sy, fill);
          }
        }
        return r;
      },
    };
    if (!tiled) return src;
    src.readTiles = async (w: Window) => {
      const tx0 = Math.floor(w.col / tw), ty0 = Math.floor(w.row / th);
      const across = Math.floor((w.col + w.width - 1) / tw) - tx0 + 1, down = Math.floor((w.row + w.height - 1) / th) - ty0 + 1;
      const rasters = [];
      for (let j = 0; j < down; j++) {
        for (let i = 0; i < across; i++) {
          const x0 = (tx0 + i) * tw, y0 = (ty0 + j) * th;
          if (sparse(x0, y0)) {
            rasters.push(undefined);
            continue;
          }
          const t = allocRaster(dtype, tw, th);
          for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) if (x0 + x < width && y0 + y < height) t.data[y * tw + x] = data[(y0 + y) * width + x0 + x]!;
          rasters.push(t);
        }
      }
      return { dtype, col0: tx0 * tw, row0: ty0 * th, across, down, tileWidth: tw, tileHeight: th, rasters };
    };
    return src;
  };
  const target: Grid = { epsg: 32631, transform: [500_000, 10, 0, 4_000_000, 0, -10], width: 96, height: 80 };
  const cases = [
    { dtype: 'uint16', nodata: 0, fill: 0 }, // S2: rows copied outright
    { dtype: 'uint16', nodata: 0, fill: Number.NaN }, // nodata is not the fill: sampled one by one
    { dtype: 'uint16', nodata: undefined, fill: 0 },
    { dtype: 'float32', nodata: -32768, fill: Number.NaN }, // S1
    { dtype: 'float32', nodata: undefined, fill: Number.NaN }, // NaN is the nodata and the fill: copied
    { dtype: 'float32', nodata: 0, fill: 0 }, // a float 0 nodata: NaN values must not be copied over the fill
  ] as const;
  for (const c of cases) {
    for (const scale of [1, 2, 3]) {
      for (const tiled of [false, true]) {
        // The reference: sample by sample from a window copy, onto a target not declared blank.
        const slowSource = source(c.dtype, scale, c.nodata, false);
        const tiledFlag = tiled;
        const src = source(c.dtype, scale, c.nodata, tiledFlag);
        const reference = tiled ? { ...slowSource, readWindow: src.readWindow } : slowSource;
        const fast = new Float32Array(target.width * target.height).fill(c.fill);
        const slow = new Float32Array(target.width * target.height).fill(c.fill);
        await warpInto(fast, target, src, { blank: c.fill });
        await warpInto(slow, target, reference, {});
        const name = `${c.dtype} nodata ${c.nodata} fill ${c.fill} scale ${scale}${tiled ? ' tiles' : ''}`;
        assert.equal(compare(fast, slow).identical, 1, name);
        // A second source on top (not blank any more) mosaics the same way either way.
        const top = source(c.dtype, scale === 1 ? 2 : 1, c.nodata, tiled);
        await warpInto(fast, target, top, {});
        await warpInto(slow, target, { ...top, readTiles: undefined }, {});
        assert.equal(compare(fast, slow).identical, 1, `${name}, then a second source`);
      }
    }
  }
});
