import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forward } from 'mgrs';
import { writeVectorFile } from '../../core/vector-file.ts';
import { centroid, intersects } from '../../core/geometry.ts';
import { pointTransform } from '../../pipeline/warp/proj.ts';
import { readSampleFile } from '../../pipeline/sample-file.ts';
import { footprintPolygons, toMultiPolygon } from '../../landcover/footprint.ts';
import { readGridFile } from '../../landcover/grid-file.ts';
import { bandLatitudes, computeGrid, S2_TILE_SIZE, zoneLongitudes } from '../../landcover/mgrs-grid.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { run } from './gdal.ts';

test("31TCK's upper-left corner is ESA's (300000, 5000040) in EPSG:32631, and the tile is 109.8 km square", () => {
  const tiles = computeGrid([1, 44.5, 1.5, 45]);
  const t = tiles.find((x) => x.name === '31TCK');
  assert.ok(t, `31TCK among ${tiles.map((x) => x.name).join(' ')}`);
  assert.equal(t.epsg, 32631);
  assert.deepEqual([t.ulx, t.uly], [300000, 5000040]);
  // Its corners, mapped back into UTM, are the 109.8 km square (proj4 both ways, well under a millimetre).
  const ring = footprintPolygons(t.footprint)[0]![0]!;
  const p: [number, number] = [0, 0];
  const utm = ring.slice(0, 4).map(([lon, lat]) => {
    pointTransform(4326, 32631).apply(lon, lat, p);
    return [p[0], p[1]];
  });
  const expected = [[300000, 5000040 - S2_TILE_SIZE], [300000 + S2_TILE_SIZE, 5000040 - S2_TILE_SIZE], [300000 + S2_TILE_SIZE, 5000040], [300000, 5000040]];
  utm.forEach((q, i) => assert.ok(Math.hypot(q[0]! - expected[i]![0]!, q[1]! - expected[i]![1]!) < 1e-3, `corner ${i}: ${q.join(',')}`));
});

test('tile names agree with an independent MGRS converter (mgrs.js) everywhere on Earth, exceptions included', () => {
  const world = computeGrid([-180, -80, 180, 84]);
  assert.ok(world.length > 50_000, `${world.length} tiles`);
  const p: [number, number] = [0, 0];
  let checked = 0;
  const seen = new Set<string>();
  for (const t of world) {
    // The centre of the tile's 100 km square, when it lies in the tile's own zone and band.
    const e0 = Math.round(t.ulx / 1e5) * 1e5;
    const n0 = Math.round(t.uly / 1e5) * 1e5 - 1e5;
    pointTransform(t.epsg, 4326).apply(e0 + 50_000, n0 + 50_000, p);
    const zone = Number(t.name.slice(0, 2));
    const band = t.name[2]!;
    const [lat0, lat1] = bandLatitudes(band);
    const lons = zoneLongitudes(zone, band)!;
    if (p[1] < lat0 || p[1] >= lat1 || p[0] < lons[0] || p[0] >= lons[1]) continue;
    const ref = forward([p[0], p[1]], 0).replace(/^(\d)(?=[A-Z])/, '0$1').slice(0, 5);
    assert.equal(t.name, ref, `square centre ${p.join(',')}`);
    checked++;
    seen.add(t.name.slice(0, 3));
  }
  assert.ok(checked > 40_000, `${checked} tiles checked`);
  for (const cell of ['32V', '31X', '33X', '35X', '37X', '01C', '60X', '31N', '31M']) assert.ok(seen.has(cell), `checked tiles in ${cell}`);
  for (const gone of ['32X', '34X', '36X']) assert.ok(!world.some((t) => t.name.startsWith(gone)), `${gone} does not exist`);
});

test('tiles on the antimeridian are split into two parts within [-180, 180]; an area crossing it finds both sides', () => {
  const tiles = computeGrid([179, -17, -179, -16]);
  const zones = new Set(tiles.map((t) => t.name.slice(0, 2)));
  assert.ok(zones.has('01') && zones.has('60'), [...zones].join(' '));
  const split = tiles.filter((t) => t.footprint.type === 'MultiPolygon');
  assert.ok(split.length > 0, 'some tile crosses 180');
  for (const t of split) {
    const parts = footprintPolygons(t.footprint);
    assert.equal(parts.length, 2, t.name);
    const lons = parts.map((poly) => poly[0]!.map(([lon]) => lon));
    assert.ok(lons.some((l) => l.every((x) => x >= 0 && x <= 180)) && lons.some((l) => l.every((x) => x <= 0 && x >= -180)), `${t.name} parts on both sides`);
  }
});

test('the bundled sample row named after its real tile (31TGL) lies in the computed tile of that name', async () => {
  // Rows 1 and 2 carry invented names (data-samples/README.md: miniatures, not the real footprints): mgrs.js
  // names row 1's place 01KDT and row 2's 31TGL. Only row 0 is where its name says.
  const rows = (await readSampleFile(`${BUNDLED_DIR}mgrs_sample.fgb`)).filter((r) => r.index === 0);
  assert.deepEqual(rows.map((r) => r.name), ['31TGL']);
  for (const row of rows) {
    const c = centroid(row.geometry);
    const tiles = computeGrid([c[0] - 0.01, c[1] - 0.01, c[0] + 0.01, c[1] + 0.01]);
    const own = tiles.find((t) => t.name === row.name);
    assert.ok(own, `${row.name} among ${tiles.map((t) => t.name).join(' ')}`);
    assert.ok(intersects(own.footprint, { type: 'Point', coordinates: c }), `${row.name} contains its row's centroid`);
  }
});

test('GDAL agrees with the footprints: a computed grid written to FlatGeobuf, reprojected by ogr2ogr, gives the UTM squares; KML written by GDAL reads back the same', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clay-grid-'));
  try {
    const tiles = computeGrid([5.5, 45, 6.5, 46]);
    const fgb = join(dir, 'grid.fgb');
    await writeVectorFile(fgb, tiles.map((t) => ({ geometry: toMultiPolygon(t.footprint), properties: { name: t.name } })));
    for (const epsg of [32631, 32632]) {
      const out = join(dir, `utm${epsg}.geojson`);
      await run('ogr2ogr', ['-f', 'GeoJSON', '-t_srs', `EPSG:${epsg}`, '-where', `name LIKE '${epsg - 32600}%'`, out, fgb]);
      const fc = (await readGridFile(out)).tiles;
      assert.ok(fc.length > 0);
      for (const t of fc) {
        const mine = tiles.find((x) => x.name === t.name)!;
        const ring = footprintPolygons(t.footprint)[0]![0]!;
        const xs = ring.map((q) => q[0]), ys = ring.map((q) => q[1]);
        const tol = 1e-3;
        assert.ok(Math.abs(Math.min(...xs) - mine.ulx) < tol && Math.abs(Math.max(...xs) - mine.ulx - S2_TILE_SIZE) < tol, `${t.name} x`);
        assert.ok(Math.abs(Math.max(...ys) - mine.uly) < tol && Math.abs(Math.min(...ys) - mine.uly + S2_TILE_SIZE) < tol, `${t.name} y`);
      }
    }
    // ESA's grid is a KML: GDAL writes one (Placemark <name>), our reader reads it back; GDAL reads it as we do.
    const kml = join(dir, 'grid.kml');
    await run('ogr2ogr', ['-f', 'KML', '-dsco', 'NameField=name', kml, fgb]);
    const back = await readGridFile(kml);
    assert.deepEqual(back.tiles.map((t) => t.name), tiles.map((t) => t.name));
    const viaGdal = join(dir, 'kml.geojson');
    await run('ogr2ogr', ['-f', 'GeoJSON', viaGdal, kml]);
    const gdalRead = await readGridFile(viaGdal);
    assert.deepEqual(gdalRead.tiles.map((t) => t.name), back.tiles.map((t) => t.name), "GDAL's KML driver names the column 'Name'; both are read");
    back.tiles.forEach((t, i) => {
      const a = footprintPolygons(t.footprint)[0]![0]!;
      const b = footprintPolygons(gdalRead.tiles[i]!.footprint)[0]![0]!;
      assert.equal(a.length, b.length);
      a.forEach((q, k) => assert.ok(Math.abs(q[0] - b[k]![0]) < 1e-9 && Math.abs(q[1] - b[k]![1]) < 1e-9, `${t.name} vertex ${k}`));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
