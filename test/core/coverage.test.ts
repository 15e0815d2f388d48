import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boxCoverage } from '../../core/coverage.ts';
import { bboxPolygon, type GeoJsonGeometry } from '../../core/geometry.ts';

const box: [number, number, number, number] = [0, 0, 4, 2];
const poly = (...pts: [number, number][]): GeoJsonGeometry => ({ type: 'Polygon', coordinates: [[...pts, pts[0]!]] });
const close = (a: number, b: number, msg?: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ''} ${a} != ${b}`);

test('area inside the box: a box, a partly outside square, a triangle, a slanted quadrilateral', () => {
  close(boxCoverage([bboxPolygon(box)], box).area, 8);
  assert.equal(boxCoverage([bboxPolygon(box)], box).covers, true);
  // Square [3,5]x[1,3]: inside [3,4]x[1,2] = 1.
  close(boxCoverage([bboxPolygon([3, 1, 5, 3])], box).area, 1);
  // Triangle (0,0) (4,0) (0,2): area 4, all inside.
  const tri = boxCoverage([poly([0, 0], [4, 0], [0, 2])], box);
  close(tri.area, 4);
  close(tri.share, 0.5);
  assert.equal(tri.covers, false);
  // A diamond centred on the box corner (0,0) with radius 2: a quarter inside = 2.
  close(boxCoverage([poly([2, 0], [0, 2], [-2, 0], [0, -2])], box).area, 2);
  // Clockwise winding counts the same.
  close(boxCoverage([poly([0, 0], [0, 2], [4, 0])], box).area, 4);
});

test('union: two overlapping slanted halves cover; a sliver gap does not; disjoint footprints add up', () => {
  const left = poly([-1, -1], [2.5, -1], [1.5, 3], [-1, 3]);
  const right = poly([2.4, -1], [5, -1], [5, 3], [1.4, 3]);
  const both = boxCoverage([left, right], box);
  assert.equal(both.covers, true);
  close(both.area, 8);
  assert.equal(boxCoverage([left], box).covers, false);
  // Leave a 1e-6 wide slanted gap between them.
  const gapRight = poly([2.500001, -1], [5, -1], [5, 3], [1.500001, 3]);
  const gap = boxCoverage([left, gapRight], box);
  assert.equal(gap.covers, false);
  assert.ok(8 - gap.area > 1e-6 && 8 - gap.area < 1e-5, `gap area ${8 - gap.area}`);
  // Exactly abutting halves cover (shapely's covers of the union is true).
  assert.equal(boxCoverage([bboxPolygon([0, 0, 2, 2]), bboxPolygon([2, 0, 4, 2])], box).covers, true);
  close(boxCoverage([bboxPolygon([0, 0, 1, 1]), bboxPolygon([3, 1, 4, 2])], box).area, 2);
});

test('holes and MultiPolygons', () => {
  const withHole: GeoJsonGeometry = { type: 'Polygon', coordinates: [
    [[-1, -1], [5, -1], [5, 3], [-1, 3], [-1, -1]],
    [[1, 0.5], [2, 0.5], [2, 1.5], [1, 1.5], [1, 0.5]],
  ] };
  const c = boxCoverage([withHole], box);
  close(c.area, 7);
  assert.equal(c.covers, false);
  // Another footprint filling the hole makes the union cover.
  assert.equal(boxCoverage([withHole, bboxPolygon([0.9, 0.4, 2.1, 1.6])], box).covers, true);
  const multi: GeoJsonGeometry = { type: 'MultiPolygon', coordinates: [
    [[[0, 0], [1, 0], [1, 2], [0, 2], [0, 0]]],
    [[[3, 0], [4, 0], [4, 2], [3, 2], [3, 0]]],
  ] };
  close(boxCoverage([multi], box).area, 4);
});

test('an empty box is a RangeError; points cover nothing', () => {
  assert.throws(() => boxCoverage([bboxPolygon(box)], [1, 1, 1, 2]), RangeError);
  assert.equal(boxCoverage([{ type: 'Point', coordinates: [1, 1] }], box).area, 0);
});
