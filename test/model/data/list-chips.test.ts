/**
 * listChips on a folder, a unit manifest and an s3:// prefix (loopback S3): manifests decide by default,
 * so a unit without one (unfinished) is skipped and said so; temporary and foreign files are ignored; the
 * result is sorted and the same from every store.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../core/log.ts';
import { openStore } from '../../../core/store/open-store.ts';
import { listChips } from '../../../model/data/list-chips.ts';
import { startS3 } from '../../helpers/s3.ts';
import { fakeManifest, syntheticChip, type SyntheticChip } from './chips.ts';

let dir: string;
const files = new Map<string, Uint8Array>();

/** Units: 31TGL/2021-06-15 complete (chips 1, 3 kept; 2 rejected); 31TGL/2017-08-10 complete (chip 4 listed
 * but missing); 55HBU/2019-12-31 unfinished (no manifest); a foreign tif and temporary names. */
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clay-list-'));
  const chips: SyntheticChip[] = [
    { mgrs: '31TGL', date: '2021-06-15', chip: 1 },
    { mgrs: '31TGL', date: '2021-06-15', chip: 3 },
    { mgrs: '31TGL', date: '2017-08-10', chip: 2 },
    { mgrs: '55HBU', date: '2019-12-31', chip: 7 },
    { mgrs: '55HBU', date: '2019-12-31', chip: 8 },
  ];
  for (const c of chips) {
    const { key, bytes } = await syntheticChip({ ...c, size: 16 });
    files.set(key, bytes);
  }
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  files.set('02/31TGL/2021-06-15/manifest.json', enc(fakeManifest('31TGL', '2021-06-15', [1, 3], [2])));
  files.set('02/31TGL/2017-08-10/manifest.json', enc(fakeManifest('31TGL', '2017-08-10', [2, 4])));
  files.set('02/31TGL/2021-06-15/preview.tif', enc('not a chip'));
  files.set('02/31TGL/2021-06-15/claytile_31TGL_20210615_v02_0005.tif.123.abcd.tmp', enc('partial'));
  for (const [key, bytes] of files) {
    await mkdir(join(dir, key, '..'), { recursive: true });
    await writeFile(join(dir, key), bytes);
  }
  // A local store's hidden temporary name (never listed by the store).
  await writeFile(join(dir, '02/55HBU/2019-12-31/.claytile_55HBU_20191231_v02_0009.tif.partial-42-0a1b2c'), 'partial');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger({ pretty: false, level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }) };
}

const COMPLETE = ['02/31TGL/2017-08-10/claytile_31TGL_20170810_v02_0002.tif', '02/31TGL/2021-06-15/claytile_31TGL_20210615_v02_0001.tif', '02/31TGL/2021-06-15/claytile_31TGL_20210615_v02_0003.tif'];
const ALL = [...COMPLETE, '02/55HBU/2019-12-31/claytile_55HBU_20191231_v02_0007.tif', '02/55HBU/2019-12-31/claytile_55HBU_20191231_v02_0008.tif'];

test('listChips on a folder: the kept chips of complete units by default, sorted; unfinished units skipped and logged', async () => {
  const { lines, logger } = capture();
  const refs = await listChips(dir, { logger });
  assert.deepEqual(refs.map((r) => r.key), COMPLETE);
  assert.deepEqual(refs[1], { url: join(dir, COMPLETE[1]!), key: COMPLETE[1], mgrs: '31TGL', date: '2021-06-15' });
  const incomplete = lines.filter((l) => l.event === 'Chips:Incomplete');
  assert.deepEqual(incomplete.map((l) => [l.unit, l.chips]), [[join(dir, '02/55HBU/2019-12-31'), 2]]);
  const missing = lines.filter((l) => l.event === 'Chips:Missing');
  assert.deepEqual(missing.map((l) => l.chip), [join(dir, '02/31TGL/2017-08-10/claytile_31TGL_20170810_v02_0004.tif')]);
  assert.equal(lines.find((l) => l.event === 'Chips:List')?.mode, 'manifests');
  // mode 'files': every chip file, complete or not; a subfolder as the root; a file:// URL.
  assert.deepEqual((await listChips(dir, { mode: 'files' })).map((r) => r.key), ALL);
  assert.deepEqual((await listChips(join(dir, '02', '55HBU'), { mode: 'files' })).map((r) => r.key), ['2019-12-31/claytile_55HBU_20191231_v02_0007.tif', '2019-12-31/claytile_55HBU_20191231_v02_0008.tif']);
  assert.deepEqual((await listChips(`file://${dir}`)).map((r) => r.key), COMPLETE);
  // Without manifests anywhere, auto falls back to the files (Clay v0's glob).
  assert.deepEqual((await listChips(join(dir, '02', '55HBU'))).map((r) => r.mgrs), ['55HBU', '55HBU']);
  // One unit's manifest as the source.
  const unit = await listChips(join(dir, '02/31TGL/2021-06-15/manifest.json'));
  assert.deepEqual(unit.map((r) => [r.key, r.url]), [1, 3].map((n) => [`claytile_31TGL_20210615_v02_000${n}.tif`, join(dir, `02/31TGL/2021-06-15/claytile_31TGL_20210615_v02_000${n}.tif`)]));
});

test('listChips on s3://: the same chips as from the folder', async () => {
  const s3 = await startS3();
  try {
    const url = `s3://${s3.bucket}/chips`;
    const store = await openStore(url, { env: s3.env });
    for (const [key, bytes] of files) await store.put(key, bytes);
    const refs = await listChips(url, { env: s3.env });
    assert.deepEqual(refs.map((r) => r.key), COMPLETE);
    assert.equal(refs[0]!.url, `${url}/${COMPLETE[0]}`);
    assert.deepEqual((await listChips(url, { env: s3.env, mode: 'files' })).map((r) => r.key), ALL);
    const unit = await listChips(`${url}/02/31TGL/2021-06-15/manifest.json`, { env: s3.env });
    assert.deepEqual(unit.map((r) => r.url), [1, 3].map((n) => `${url}/02/31TGL/2021-06-15/claytile_31TGL_20210615_v02_000${n}.tif`));
  } finally {
    await s3.close();
  }
});
