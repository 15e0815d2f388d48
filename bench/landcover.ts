/**
 * Landcover stats benchmark: the stats stage (`computeStats`: STAC listing, signed range reads of the
 * WorldCover COGs from the mini Planetary Computer on 127.0.0.1, decode, gdal_rasterize-rule masks,
 * histograms, the resume journal, the output file) over footprints shaped like MGRS tiles (rotated
 * quadrilaterals) and sized like a real Sentinel-2 tile read at `--overview 3`: about `--pixels` pixels each
 * (default 640 000: a 109.8 km tile at 1/750 degree, ~45 deg N). The bundled WorldCover is small, so those
 * footprints are read at full resolution, side by side without overlap (every tile pays its own bytes; no
 * cache help). Prints tiles/s, MB and requests per tile, Mpx/s, peak RSS, then the measured figures applied to a
 * world run. `--overview N` instead runs the computed Sentinel-2 tiles over the bundled area at overview N.
 *
 *   node --import tsx bench/landcover.ts [--pixels 640000] [--concurrency 4] [--cache-mb 64] [--overview N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpClient } from '../core/http.ts';
import { loadUniverse } from '../core/mini-pc/universe.ts';
import { startMiniPc } from '../core/mini-pc/server.ts';
import { PcSigner } from '../core/stac/pc-signer.ts';
import { StacClient } from '../core/stac/stac-client.ts';
import type { GridTile } from '../landcover/footprint.ts';
import { computeGrid } from '../landcover/mgrs-grid.ts';
import { computeStats } from '../landcover/stats.ts';
import { BUNDLED_DIR } from '../test/helpers/bundled.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const int = (name: string, dflt: number, min: number): number => {
  const v = Number(arg(name, String(dflt)));
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}`);
  return v;
};
const pixels = int('pixels', 640_000, 10_000);
const concurrency = int('concurrency', 4, 1);
const cacheMb = int('cache-mb', 64, 0);
const overviewArg = process.argv.includes('--overview') ? int('overview', 3, 0) : undefined;

// The bundled WorldCover: lon 5.78..6.2, lat 45.4..45.8 on the 1/12000-degree grid.
const PX = 1 / 12000;
const EXTENT = { w: 5.78, s: 45.4, e: 6.2, n: 45.8 };

/** Non-overlapping MGRS-like footprints (a square rotated by 2 degrees) of about `pixels` full-resolution pixels. */
function equivalentTiles(): GridTile[] {
  const side = Math.sqrt(pixels) * PX;
  const step = side * 1.06;
  const tiles: GridTile[] = [];
  const rot = (2 * Math.PI) / 180;
  for (let y = EXTENT.s + 0.03 * side; y + step <= EXTENT.n; y += step) {
    for (let x = EXTENT.w + 0.03 * side; x + step <= EXTENT.e; x += step) {
      const cx = x + side / 2, cy = y + side / 2, h = side / 2 / 1.02;
      const corner = (dx: number, dy: number): [number, number] => [cx + dx * Math.cos(rot) - dy * Math.sin(rot), cy + dx * Math.sin(rot) + dy * Math.cos(rot)];
      const ring = [corner(-h, -h), corner(h, -h), corner(h, h), corner(-h, h)];
      tiles.push({ name: `B${String(tiles.length).padStart(3, '0')}`, footprint: { type: 'Polygon', coordinates: [[...ring, ring[0]!]] } });
    }
  }
  return tiles;
}

const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
const dir = await mkdtemp(join(tmpdir(), 'clay-bench-landcover-'));
try {
  const http = new HttpClient();
  const stac = new StacClient({ url: pc.stacApi, http });
  const signer = new PcSigner({ http, sasApi: pc.sasApi });
  const tiles = overviewArg === undefined ? equivalentTiles() : computeGrid([EXTENT.w, EXTENT.s, EXTENT.e, EXTENT.n]);
  const overview = overviewArg === undefined ? null : overviewArg;
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const summary = await computeStats(tiles, { stac, http, signer, out: join(dir, 'stats.fgb'), overview, concurrency, cacheBytes: cacheMb * 1024 * 1024 });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const rows = summary.kept + summary.dropped.noData + summary.dropped.allWater;
  const countedPx = overviewArg === undefined ? tiles.length * pixels : Number.NaN;
  const perTile = summary.bytes / tiles.length;
  const fmt = (v: number, d = 2): string => v.toFixed(d);
  console.log(`landcover stats: ${tiles.length} tiles (${overviewArg === undefined ? `~${pixels} px each, full resolution` : `computed S2 tiles, overview ${overview}`}), concurrency ${concurrency}, cache ${cacheMb} MiB`);
  console.log(`  ${fmt(tiles.length / seconds, 1)} tiles/s (${fmt(seconds)} s wall, ${rows} recorded, ${summary.failed.length} failed)`);
  console.log(`  ${fmt(perTile / 1e6, 3)} MB read per tile (${fmt(summary.bytes / 1e6)} MB, ${fmt(summary.requests / tiles.length, 1)} range requests per tile)`);
  if (Number.isFinite(countedPx)) console.log(`  ${fmt(countedPx / seconds / 1e6)} Mpx/s counted; ${fmt(summary.bytes / countedPx, 3)} bytes per pixel`);
  console.log(`  peak RSS ${fmt(peakRss / 2 ** 20, 0)} MiB`);
  if (overviewArg === undefined) {
    for (const world of [56_686, 69_450]) {
      const h = world / (tiles.length / seconds) / 3600;
      console.log(`  world (${world} tiles), CPU-bound at this rate: ${fmt(h)} h on one such process; ${fmt((world * perTile) / 1e9, 1)} GB if no COG tile were shared between MGRS tiles`);
    }
  }
} finally {
  await pc.close();
  await rm(dir, { recursive: true, force: true });
}
