/**
 * The defect that stopped whole rows: Copernicus DEM tiles as GDAL writes them with the horizontal predictor
 * on float32 samples (DEFLATE, PREDICTOR=2, 1024 px tiles, PixelIsPoint). Every DEM of the bundled universe
 * is rewritten that way by `gdal_translate`, and `clay run` of row 0 (default and `--compat clay-v0`) must
 * write exactly the chips it writes from the original files (predictor 3).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadUniverse, type Universe } from '../../../core/mini-pc/universe.ts';
import { startMiniPc } from '../../../core/mini-pc/server.ts';
import { openStore } from '../../../core/store/open-store.ts';
import { assetHref, blobKey, withBlob } from '../../helpers/broken-universe.ts';
import { BUNDLED_DIR } from '../../helpers/bundled.ts';
import { runCli } from '../../helpers/cli.ts';
import { digest } from '../../helpers/run-output.ts';

const run = promisify(execFile);
const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');

let dir: string;
let original: Universe;
let rewritten: Universe;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clay-dem-p2-'));
  original = await loadUniverse(BUNDLED_DIR);
  rewritten = original;
  const dems = original.items.filter((i) => i.json.collection === 'cop-dem-glo-30');
  assert.ok(dems.length > 0);
  for (const [k, item] of dems.entries()) {
    const src = join(original.blobDir ?? '', blobKey(assetHref(original, item.id, 'data')));
    const out = join(dir, `dem-${k}.tif`);
    await run('gdal_translate', ['-q', '-co', 'TILED=YES', '-co', 'BLOCKXSIZE=1024', '-co', 'BLOCKYSIZE=1024', '-co', 'COMPRESS=DEFLATE', '-co', 'PREDICTOR=2', src, out]);
    const info = (await run('gdalinfo', [out])).stdout;
    assert.match(info, /PREDICTOR=2/);
    assert.match(info, /AREA_OR_POINT=Point/);
    const bytes = new Uint8Array(await readFile(out));
    rewritten = await withBlob(rewritten, item.id, 'data', () => bytes);
  }
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The chips (`.tif` files, by sha256) `clay run` of row 0 writes against `universe`. */
async function chipsOf(universe: Universe, name: string, extra: string[]): Promise<Map<string, string>> {
  const pc = await startMiniPc({ universe });
  try {
    const out = join(dir, name);
    const r = await runCli(['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--index', '0', '--out', out, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return new Map([...await digest(await openStore(out))].filter(([k]) => k.endsWith('.tif')));
  } finally {
    await pc.close();
  }
}

for (const [mode, extra] of [['default', []], ['--compat clay-v0', ['--compat', 'clay-v0']]] as const) {
  test(`clay run (${mode}) on float32 predictor-2 DEMs writes the chips it writes from the original DEMs`, async () => {
    const want = await chipsOf(original, `orig-${extra.length}`, [...extra]);
    const got = await chipsOf(rewritten, `p2-${extra.length}`, [...extra]);
    assert.ok(want.size > 0);
    assert.deepEqual(got, want);
  });
}
