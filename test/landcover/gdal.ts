/** GDAL oracles for the landcover tests: gdal_rasterize masks, per-footprint class histograms, ogrinfo. */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Grid } from '../../core/grid.ts';
import { windowBounds } from '../../core/grid.ts';
import type { Footprint } from '../../landcover/footprint.ts';

export const run = promisify(execFile);

/** A footprint as a one-feature GeoJSON file (EPSG:4326). */
async function footprintFile(dir: string, footprint: Footprint): Promise<string> {
  const path = join(dir, 'footprint.geojson');
  await writeFile(path, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: footprint }] }));
  return path;
}

/** `gdal_rasterize -burn 1` of `footprint` onto `grid` (Byte, raw): 1 inside, 0 outside. */
export async function gdalMask(footprint: Footprint, grid: Grid): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'clay-rasterize-'));
  try {
    const b = windowBounds(grid);
    const out = join(dir, 'mask.bin');
    await run('gdal_rasterize', ['-q', '-burn', '1', '-ot', 'Byte', '-of', 'ENVI', '-a_srs', `EPSG:${grid.epsg}`, '-te', String(b.minX), String(b.minY), String(b.maxX), String(b.maxY), '-ts', String(grid.width), String(grid.height), await footprintFile(dir, footprint), out]);
    return new Uint8Array(await readFile(out));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * GDAL's class histogram of `footprint` over overview `ovr` of each local COG in `files` (null: full
 * resolution): `gdal_translate -ovr`, then `gdal_rasterize -i -burn 0` blanks every pixel outside the
 * footprint (0 is the files' nodata), then `gdalinfo -hist` counts the values. Returns value -> count, summed.
 */
export async function gdalHistogram(files: string[], footprint: Footprint, ovr: number | null): Promise<Map<number, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'clay-hist-'));
  const total = new Map<number, number>();
  try {
    const cutline = await footprintFile(dir, footprint);
    for (const [k, file] of files.entries()) {
      const level = join(dir, `level${k}.tif`);
      if (ovr === null) await copyFile(file, level);
      else await run('gdal_translate', ['-q', '-ovr', String(ovr), file, level]);
      await run('gdal_rasterize', ['-q', '-i', '-burn', '0', cutline, level]);
      const info = JSON.parse((await run('gdalinfo', ['-json', '-hist', level], { maxBuffer: 64 * 1024 * 1024 })).stdout) as {
        bands: { histogram?: { count: number; min: number; max: number; buckets: number[] } }[];
      };
      const h = info.bands[0]!.histogram;
      if (!h) continue; // every pixel nodata
      const width = (h.max - h.min) / h.count;
      h.buckets.forEach((n, i) => {
        if (n === 0) return;
        const value = Math.round(h.min + (i + 0.5) * width);
        total.set(value, (total.get(value) ?? 0) + n);
      });
    }
    await rm(join(dir, 'level0.tif.aux.xml'), { force: true });
    return total;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What GDAL's ogrinfo (3.6: no -json) and ogr2ogr read from a vector file's first layer. */
export interface OgrLayer {
  featureCount: number;
  geometryType: string;
  fields: { name: string; type: string }[];
  features: { properties: Record<string, unknown> }[];
}

/** `ogrinfo -so -al` (feature count, geometry type, field names and types) and `ogr2ogr -f GeoJSON` (the features). */
export async function ogrinfo(path: string): Promise<OgrLayer> {
  const { stdout } = await run('ogrinfo', ['-ro', '-so', '-al', path], { maxBuffer: 64 * 1024 * 1024 });
  const featureCount = Number(/^Feature Count: (\d+)/m.exec(stdout)?.[1] ?? NaN);
  const geometryType = /^Geometry: (.+)$/m.exec(stdout)?.[1]?.trim() ?? '';
  const fieldBlock = stdout.slice(stdout.lastIndexOf('Data axis to CRS axis mapping'));
  const fields = [...fieldBlock.matchAll(/^(.+): (String|Real|Integer|Integer64|Date|DateTime|Binary)[ (]/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
  const json = (await run('ogr2ogr', ['-f', 'GeoJSON', '/vsistdout/', path], { maxBuffer: 256 * 1024 * 1024 })).stdout;
  const features = (JSON.parse(json) as { features: { properties: Record<string, unknown> }[] }).features;
  return { featureCount, geometryType, fields, features };
}
