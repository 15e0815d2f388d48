/**
 * Test fixtures for read + warp: the bundled universe on loopback with signed COG access, the local file
 * behind an href (for GDAL), and `gdalwarp` runs read back as Float32 pixels (ENVI raw output).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HttpClient } from '../../../core/http.ts';
import { loadUniverse } from '../../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../../core/mini-pc/server.ts';
import { StacClient } from '../../../core/stac/stac-client.ts';
import { PcSigner } from '../../../core/stac/pc-signer.ts';
import type { StacItem } from '../../../core/stac/stac-item.ts';
import { windowBounds, type Grid } from '../../../core/grid.ts';
import { Cog, type CogOptions } from '../../../pipeline/read/cog.ts';
import { BUNDLED_DIR } from '../../helpers/bundled.ts';

const run = promisify(execFile);

/** Row 0's target grid (31TGL, 10 m). */
export const ROW0: Grid = { epsg: 32631, transform: [720000, 10, 0, 5071000, 0, -10], width: 2580, height: 2100 };

/** The bundled universe served on loopback, with a client, a signer and item lookup. */
export interface Served {
  pc: MiniPc;
  http: HttpClient;
  signer: PcSigner;
  item(id: string): Promise<StacItem>;
  open(href: string, options?: Partial<CogOptions>): Promise<Cog>;
  close(): Promise<void>;
}

/** Starts the bundled mini Planetary Computer. */
export async function serveBundled(): Promise<Served> {
  const pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  const http = new HttpClient({ baseDelayMs: 1, maxDelayMs: 5 });
  const signer = new PcSigner({ http, sasApi: pc.sasApi });
  const stac = new StacClient({ url: pc.stacApi, http });
  return {
    pc, http, signer,
    async item(id) {
      const [found] = await stac.searchAll({ ids: [id] });
      if (!found) throw new Error(`no item ${id}`);
      return found;
    },
    open: (href, options = {}) => Cog.open(href, { http, signer, ...options }),
    close: () => pc.close(),
  };
}

/** The file on disk behind a (loopback or Azure) blob href, in the universe at `root` (default the bundled one). */
export function localFile(href: string, root: string = BUNDLED_DIR): string {
  const path = new URL(href).pathname.split('/').filter(Boolean);
  const start = new URL(href).hostname.endsWith('.blob.core.windows.net') ? [new URL(href).hostname.split('.')[0]!] : [];
  return join(root, 'blobs', ...start, ...path);
}

/** `gdalwarp` of `files` (in order: later on top) onto `grid`, as Float32 pixels. */
export async function gdalwarp(files: string[], grid: Grid, args: string[]): Promise<Float32Array> {
  const dir = await mkdtemp(join(tmpdir(), 'clay-gdalwarp-'));
  try {
    const b = windowBounds(grid);
    const out = join(dir, 'out.bin');
    await run('gdalwarp', ['-q', '-t_srs', `EPSG:${grid.epsg}`, '-te', String(b.minX), String(b.minY), String(b.maxX), String(b.maxY), '-ts', String(grid.width), String(grid.height), '-ot', 'Float32', '-of', 'ENVI', ...args, ...files, out]);
    const bytes = await readFile(out);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The item ids and planted pixels of the bundled design (`cases.json`). */
export interface DesignIds {
  sentinel2: Record<string, { id: string; datetime: string }>;
  sentinel1: Record<string, { id: string; epsg: number }>;
  dem: { items: string[] };
  planted: {
    s1Nodata: { scene: string; pixel: [number, number]; target: [number, number]; chip: number };
    demNan: { item: string; pixel: [number, number]; target: [number, number]; chip: number };
  };
}

/** Reads the ids of `cases.json`. */
export async function designIds(): Promise<DesignIds> {
  return JSON.parse(await readFile(join(BUNDLED_DIR, 'cases.json'), 'utf8')) as DesignIds;
}

/** Index and values of the first pixel where `a` and `b` differ (NaN equals NaN), or undefined. */
export function firstDifference(a: Float32Array, b: Float32Array): { i: number; a: number; b: number } | undefined {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && !(x !== x && y !== y)) return { i, a: x, b: y };
  }
  return undefined;
}
