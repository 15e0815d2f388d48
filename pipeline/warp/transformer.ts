/**
 * Where each target pixel centre lies in a source CRS: a field of source-CRS coordinates for a target
 * grid (a chip), computed by an approximate transformer as GDAL's warper does.
 *
 * Same CRS: the coordinates are the target geotransform applied to the pixel centres (exact).
 * Other CRS: proj4 runs exactly on a lattice of nodes (every `step` pixels, 32 by default); inside each
 * lattice cell the coordinates are bilinearly interpolated from its four corners, after checking the
 * interpolation against exact transforms at the cell's centre and edge midpoints. A cell whose error
 * (|dx| + |dy|, as GDAL measures it) exceeds `maxError` is split in four, down to single pixels (exact).
 * GDAL's `GDALApproxTransform` does the same along each row with 0.125 source pixels as the bound; pass
 * `maxError` = 0.125 x the source pixel size to match it. With `maxError: 0` every pixel is exact.
 */
import { pixelToWorld, type Grid } from '../../core/grid.ts';
import { pointTransform } from './proj.ts';

/** Source-CRS coordinates (x, y) of every target pixel centre, row-major; NaN where a point has no image. */
export interface CoordField {
  width: number;
  height: number;
  epsg: number;
  x: Float64Array;
  y: Float64Array;
  /** Exact transforms computed (the cost of reprojection). */
  exactPoints: number;
}

/** Options of `coordField`. */
export interface CoordFieldOptions {
  /** Largest interpolation error allowed, in source CRS units (|dx| + |dy|); 0 = exact everywhere. */
  maxError: number;
  /** Lattice step in pixels (default 32). */
  step?: number;
  /** Where the x and y arrays come from (default: new arrays). Every value is overwritten. */
  alloc?: (n: number) => Float64Array;
}

/** The source-CRS coordinates of the pixel centres of `target` in EPSG `toEpsg`. */
export function coordField(target: Grid, toEpsg: number, options: CoordFieldOptions): CoordField {
  const { width, height } = target;
  const n = width * height;
  const x = options.alloc?.(n) ?? new Float64Array(n);
  const y = options.alloc?.(n) ?? new Float64Array(n);
  const t = target.transform;
  const field: CoordField = { width, height, epsg: toEpsg, x, y, exactPoints: 0 };
  const transform = pointTransform(target.epsg, toEpsg);
  if (transform.identity) {
    for (let r = 0; r < height; r++) {
      const py = r + 0.5;
      for (let c = 0; c < width; c++) {
        const px = c + 0.5;
        const i = r * width + c;
        x[i] = t[0] + px * t[1] + py * t[2];
        y[i] = t[3] + px * t[4] + py * t[5];
      }
    }
    return field;
  }
  const tmp: [number, number] = [0, 0];
  const exact = (c: number, r: number): Node => {
    const [wx, wy] = pixelToWorld(t, c + 0.5, r + 0.5);
    transform.apply(wx, wy, tmp);
    field.exactPoints++;
    return { x: tmp[0], y: tmp[1] };
  };
  if (options.maxError <= 0) {
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) {
        const p = exact(c, r);
        x[r * width + c] = p.x;
        y[r * width + c] = p.y;
      }
    }
    return field;
  }
  const step = Math.max(1, options.step ?? 32);
  const cols = latticeStops(width, step);
  const rows = latticeStops(height, step);
  const nodes: Node[] = [];
  for (const r of rows) for (const c of cols) nodes.push(exact(c, r));
  const at = (ci: number, ri: number): Node => nodes[ri * cols.length + ci]!;
  const cell = { field, exact, maxError: options.maxError };
  for (let ri = 0; ri + 1 < rows.length || (rows.length === 1 && ri === 0); ri++) {
    const r0 = rows[ri]!;
    const r1 = rows[Math.min(ri + 1, rows.length - 1)]!;
    const ri1 = Math.min(ri + 1, rows.length - 1);
    for (let ci = 0; ci + 1 < cols.length || (cols.length === 1 && ci === 0); ci++) {
      const ci1 = Math.min(ci + 1, cols.length - 1);
      refine(cell, cols[ci]!, r0, cols[ci1]!, r1, at(ci, ri), at(ci1, ri), at(ci, ri1), at(ci1, ri1));
    }
    if (rows.length === 1) break;
  }
  return field;
}

interface Node {
  x: number;
  y: number;
}

interface CellContext {
  field: CoordField;
  exact: (c: number, r: number) => Node;
  maxError: number;
}

/** 0, step, 2 step, ..., and the last index. */
function latticeStops(size: number, step: number): number[] {
  const stops: number[] = [];
  for (let v = 0; v < size - 1; v += step) stops.push(v);
  stops.push(size - 1);
  return stops;
}

/** Fills the closed pixel rectangle [c0, c1] x [r0, r1] from its exact corners, splitting where needed. */
function refine(ctx: CellContext, c0: number, r0: number, c1: number, r1: number, p00: Node, p10: Node, p01: Node, p11: Node): void {
  const w = c1 - c0;
  const h = r1 - r0;
  if (w <= 1 && h <= 1) {
    put(ctx.field, c0, r0, p00);
    put(ctx.field, c1, r0, p10);
    put(ctx.field, c0, r1, p01);
    put(ctx.field, c1, r1, p11);
    return;
  }
  const cm = c0 + Math.floor(w / 2);
  const rm = r0 + Math.floor(h / 2);
  const corners = [p00, p10, p01, p11];
  const finite = corners.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  // Exact points at the midpoints (only where the cell is wide/tall enough to have them).
  const top = w > 1 ? ctx.exact(cm, r0) : undefined;
  const bottom = w > 1 ? ctx.exact(cm, r1) : undefined;
  const left = h > 1 ? ctx.exact(c0, rm) : undefined;
  const right = h > 1 ? ctx.exact(c1, rm) : undefined;
  const centre = w > 1 && h > 1 ? ctx.exact(cm, rm) : undefined;
  if (finite) {
    let err = 0;
    const check = (p: Node | undefined, c: number, r: number): void => {
      if (!p) return;
      const fx = w === 0 ? 0 : (c - c0) / w;
      const fy = h === 0 ? 0 : (r - r0) / h;
      const ix = lerp2(p00.x, p10.x, p01.x, p11.x, fx, fy);
      const iy = lerp2(p00.y, p10.y, p01.y, p11.y, fx, fy);
      const e = Math.abs(ix - p.x) + Math.abs(iy - p.y);
      err = Number.isNaN(e) ? Number.POSITIVE_INFINITY : Math.max(err, e);
    };
    check(top, cm, r0);
    check(bottom, cm, r1);
    check(left, c0, rm);
    check(right, c1, rm);
    check(centre, cm, rm);
    if (err <= ctx.maxError) return interpolate(ctx.field, c0, r0, c1, r1, p00, p10, p01, p11);
  }
  if (w > 1 && h > 1) {
    refine(ctx, c0, r0, cm, rm, p00, top!, left!, centre!);
    refine(ctx, cm, r0, c1, rm, top!, p10, centre!, right!);
    refine(ctx, c0, rm, cm, r1, left!, centre!, p01, bottom!);
    refine(ctx, cm, rm, c1, r1, centre!, right!, bottom!, p11);
  } else if (w > 1) {
    refine(ctx, c0, r0, cm, r1, p00, top!, p01, bottom!);
    refine(ctx, cm, r0, c1, r1, top!, p10, bottom!, p11);
  } else {
    refine(ctx, c0, r0, c1, rm, p00, p10, left!, right!);
    refine(ctx, c0, rm, c1, r1, left!, right!, p01, p11);
  }
}

function lerp2(v00: number, v10: number, v01: number, v11: number, fx: number, fy: number): number {
  const top = v00 + (v10 - v00) * fx;
  const bottom = v01 + (v11 - v01) * fx;
  return top + (bottom - top) * fy;
}

function put(field: CoordField, c: number, r: number, p: Node): void {
  const i = r * field.width + c;
  field.x[i] = p.x;
  field.y[i] = p.y;
}

function interpolate(field: CoordField, c0: number, r0: number, c1: number, r1: number, p00: Node, p10: Node, p01: Node, p11: Node): void {
  const w = c1 - c0;
  const h = r1 - r0;
  const { x, y, width } = field;
  for (let r = r0; r <= r1; r++) {
    const fy = h === 0 ? 0 : (r - r0) / h;
    // Left and right edges at this row, then linear along the row.
    const lx = p00.x + (p01.x - p00.x) * fy;
    const ly = p00.y + (p01.y - p00.y) * fy;
    const rx = p10.x + (p11.x - p10.x) * fy;
    const ry = p10.y + (p11.y - p10.y) * fy;
    const dx = w === 0 ? 0 : (rx - lx) / w;
    const dy = w === 0 ? 0 : (ry - ly) / w;
    let i = r * width + c0;
    for (let k = 0; k <= w; k++, i++) {
      x[i] = lx + dx * k;
      y[i] = ly + dy * k;
    }
  }
}
