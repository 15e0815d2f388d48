/**
 * Warp benchmark: the full chip stack of bundled row 0 (31TGL, date B): 20 chips of 512 x 512, 13 bands
 * each (S2 B02 B03 B04 B08 at 10 m and B05 B06 B07 B8A B11 B12 at 20 m, S1 vh and vv mosaicked from D1
 * and D2 (UTM 31 and 32), the DEM from two EPSG:4326 tiles), read as COGs over signed HTTP ranges from the
 * mini Planetary Computer on 127.0.0.1, decoded and warped chip by chip (nearest, Clay v0's). Prints source
 * MB read, MB decoded, Mpx/s warped and peak RSS; then the same work done by `gdalwarp` (13 runs onto the
 * chips' extent, local files, uncompressed output) in the same run, and the ratio. A second, warm pass
 * (every tile cached) isolates the warp loop; `--decoder geotiff` uses geotiff.js' pako decoder instead of
 * native zlib, to compare inflates.
 *
 *   node --import tsx bench/warp.ts [--decoder zlib|geotiff] [--resampling nearest|bilinear] [--cache-mb 64] [--no-gdal]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { HttpClient } from '../core/http.ts';
import { loadUniverse } from '../core/mini-pc/universe.ts';
import { startMiniPc } from '../core/mini-pc/server.ts';
import { asDemItem, asS1Item, asS2Item } from '../core/stac/pc-items.ts';
import { PcSigner } from '../core/stac/pc-signer.ts';
import { StacClient } from '../core/stac/stac-client.ts';
import { subGrid, windowBounds, type Grid } from '../core/grid.ts';
import { Cog, type CachedTile, type TileDecoder } from '../pipeline/read/cog.ts';
import { newReadStats } from '../pipeline/read/range-reader.ts';
import { TileCache } from '../pipeline/read/tile-cache.ts';
import { FieldCache, mosaicOrder, warpMosaic, type Resampling } from '../pipeline/warp/warp.ts';
import { BUNDLED_DIR } from '../test/helpers/bundled.ts';
import { localFile } from '../test/pipeline/warp/oracle.ts';

const run = promisify(execFile);
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const oneOf = <T extends string>(name: string, values: readonly T[]): T => {
  const v = arg(name, values[0]!);
  const found = values.find((x) => x === v);
  if (!found) throw new Error(`--${name} must be one of ${values.join(', ')}`);
  return found;
};
const decoder = oneOf<TileDecoder>('decoder', ['zlib', 'geotiff']);
const resampling = oneOf<Resampling>('resampling', ['nearest', 'bilinear']);
const cacheMb = Number(arg('cache-mb', '64'));

const GRID: Grid = { epsg: 32631, transform: [720000, 10, 0, 5071000, 0, -10], width: 2580, height: 2100 };
const CHIP = 512;
const S2_BANDS = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12'] as const;
const ids = {
  s2: 'S2A_MSIL2A_20210615T103021_R108_T31TGL_20210616T010732',
  s1: ['S1A_IW_GRDH_1SDV_20210612T055000_20210612T055025_030790_087E42_rtc', 'S1B_IW_GRDH_1SDV_20210613T054200_20210613T054225_030791_089D31_rtc'],
  dem: ['Copernicus_DSM_COG_10_N45_00_E005_00_DEM', 'Copernicus_DSM_COG_10_N45_00_E006_00_DEM'],
};

interface Layer {
  name: string;
  hrefs: string[];
  fill: number;
}

const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
try {
  const http = new HttpClient();
  const signer = new PcSigner({ http, sasApi: pc.sasApi });
  const stac = new StacClient({ url: pc.stacApi, http });
  const byId = async (id: string) => (await stac.searchAll({ ids: [id] }))[0]!;
  const s2 = asS2Item(await byId(ids.s2));
  const s1 = mosaicOrder(await Promise.all(ids.s1.map(async (id) => asS1Item(await byId(id)))));
  const dem = await Promise.all(ids.dem.map(async (id) => asDemItem(await byId(id))));
  const layers: Layer[] = [
    ...S2_BANDS.map((b) => ({ name: b, hrefs: [s2.assets[b].href], fill: 0 })),
    { name: 'vh', hrefs: s1.map((i) => i.cross.href), fill: Number.NaN },
    { name: 'vv', hrefs: s1.map((i) => i.co.href), fill: Number.NaN },
    { name: 'dem', hrefs: dem.map((d) => d.data.href), fill: Number.NaN },
  ];
  const chips: Grid[] = [];
  for (let row = 0; row + CHIP <= GRID.height; row += CHIP) {
    for (let col = 0; col + CHIP <= GRID.width; col += CHIP) chips.push(subGrid(GRID, { col, row, width: CHIP, height: CHIP }));
  }

  const pass = async (cache: TileCache<CachedTile>) => {
    const stats = newReadStats();
    const limit = pLimit(8);
    const started = performance.now();
    const cogs = await Promise.all(layers.map(async (l) => Promise.all(l.hrefs.map((h) => Cog.open(h, { http, signer, cache, limit, decoder, stats })))));
    let checksum = 0;
    for (const chip of chips) {
      const fields = new FieldCache(chip);
      const bands = await Promise.all(layers.map((l, k) => warpMosaic(chip, cogs[k]!, { fill: l.fill, resampling, fields })));
      for (const b of bands) checksum += b[12345]! || 0;
    }
    return { ms: performance.now() - started, stats, checksum };
  };

  const cache = new TileCache<CachedTile>(cacheMb * 1024 * 1024);
  const cold = await pass(cache);
  const coldRssMb = process.resourceUsage().maxRSS / 1024;
  const warmCache = new TileCache<CachedTile>(1024 * 1024 * 1024);
  await pass(warmCache);
  const warm = await pass(warmCache);
  const mpx = (chips.length * layers.length * CHIP * CHIP) / 1e6;
  const rssMb = process.resourceUsage().maxRSS / 1024;
  const mb = (b: number) => (b / 1e6).toFixed(1);
  console.log(`chip stack: ${chips.length} chips x ${layers.length} bands (${mpx.toFixed(1)} Mpx), ${resampling}, decoder ${decoder}, tile cache ${cacheMb} MiB`);
  console.log(`ours (cold, over loopback HTTP): ${(cold.ms / 1000).toFixed(2)} s, ${(mpx / (cold.ms / 1000)).toFixed(1)} Mpx/s; source read ${mb(cold.stats.bytesRead)} MB in ${cold.stats.requests} requests; decoded ${mb(cold.stats.bytesDecoded)} MB (${cold.stats.tilesDecoded} tiles, inflate wall ${(cold.stats.decodeMs / 1000).toFixed(2)} s summed over concurrent decodes); tile cache peak ${mb(cache.stats.peakBytes)} MB`);
  console.log(`ours (warm, every tile cached: transformer + warp loop only): ${(warm.ms / 1000).toFixed(2)} s, ${(mpx / (warm.ms / 1000)).toFixed(1)} Mpx/s`);
  console.log(`peak RSS: ${coldRssMb.toFixed(0)} MB after the cold pass (64 MiB-bound cache), ${rssMb.toFixed(0)} MB after the warm pass (every tile held)`);

  if (!process.argv.includes('--no-gdal')) {
    const dir = await mkdtemp(join(tmpdir(), 'bench-warp-'));
    try {
      const extent = windowBounds(GRID, { col: 0, row: 0, width: 5 * CHIP, height: 4 * CHIP });
      const started = performance.now();
      for (const l of layers) {
        await run('gdalwarp', ['-q', '-overwrite', '-r', resampling === 'nearest' ? 'near' : 'bilinear', '-t_srs', 'EPSG:32631', '-te', String(extent.minX), String(extent.minY), String(extent.maxX), String(extent.maxY), '-ts', String(5 * CHIP), String(4 * CHIP), '-ot', 'Float32', '-of', 'ENVI', ...(Number.isNaN(l.fill) ? ['-dstnodata', 'nan'] : []), ...l.hrefs.map((h) => localFile(h)), join(dir, `${l.name}.bin`)]);
      }
      const gdalMs = performance.now() - started;
      console.log(`gdalwarp (13 runs, local files, single-threaded each): ${(gdalMs / 1000).toFixed(2)} s, ${(mpx / (gdalMs / 1000)).toFixed(1)} Mpx/s`);
      console.log(`ratio gdalwarp / ours: ${(gdalMs / cold.ms).toFixed(2)}x (cold), ${(gdalMs / warm.ms).toFixed(2)}x (warm)`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
} finally {
  await pc.close();
}
