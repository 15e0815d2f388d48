"""Oracle for Clay v0's `--footprint bbox` stats: rasterio itself (Debian's python3-rasterio 1.3.5).

usage:
  v0_read.py probe RASTER N SEED   random windows (fractional, pixel-aligned, past the edges) read from an
                                   index raster (value = 1 + row * width + col); prints JSON lines
                                   {"bounds": [...], "window": [...], "rows": [...], "cols": [...]}
  v0_read.py grid RASTER           its geotransform (full precision) and size
  v0_read.py stats MOSAIC TILES    v0's compute_stats loop (per part: read(1, window=from_bounds(*bounds)),
                                   stacked) over GeoJSON tiles; prints {"name": ..., "hist": {value: count}}
Written here from v0's scripts/landcover.py (0145e55); it is the read that matters, not the file I/O."""
from __future__ import annotations

import json
import random
import sys

import numpy as np
import rasterio
from rasterio.windows import from_bounds


def bounds_of(rings: list) -> tuple[float, float, float, float]:
    xs = [p[0] for r in rings for p in r]
    ys = [p[1] for r in rings for p in r]
    return min(xs), min(ys), max(xs), max(ys)


def probe(path: str, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    with rasterio.open(path) as d:
        t = d.transform
        w_deg, h_deg = d.width * t.a, d.height * -t.e
        for _ in range(n):
            x0 = t.c + rnd.uniform(-0.05 * w_deg, 0.95 * w_deg)
            y1 = t.f - rnd.uniform(-0.05 * h_deg, 0.95 * h_deg)
            w = rnd.choice([rnd.uniform(0.2, 0.5 * d.width), rnd.randint(1, d.width // 3)]) * t.a
            h = rnd.choice([rnd.uniform(0.2, 0.5 * d.height), rnd.randint(1, d.height // 3)]) * -t.e
            k = rnd.random()
            if k < 0.3:  # on the pixel lattice
                x0 = t.c + round((x0 - t.c) / t.a) * t.a
                y1 = t.f + round((y1 - t.f) / t.e) * t.e
            elif k < 0.5:  # on half pixels: lengths of k + 0.5 pixels, where the rounding rule shows
                x0 = t.c + round(2 * (x0 - t.c) / t.a) / 2 * t.a
                y1 = t.f + round(2 * (y1 - t.f) / t.e) / 2 * t.e
                w = (round(w / t.a) + 0.5) * t.a
                h = (round(h / -t.e) + 0.5) * -t.e
            b = (x0, y1 - h, x0 + w, y1)
            win = from_bounds(*b, t)
            a = d.read(1, window=win)
            rows = [int((v - 1) // d.width) if v > 0 else -1 for v in a[:, 0]] if a.size else []
            cols = [int((v - 1) % d.width) if v > 0 else -1 for v in a[0, :]] if a.size else []
            print(json.dumps({"bounds": b, "window": [win.col_off, win.row_off, win.width, win.height], "shape": list(a.shape), "rows": rows, "cols": cols}))


def stats(mosaic: str, tiles_path: str) -> None:
    tiles = json.load(open(tiles_path))
    with rasterio.open(mosaic) as cover:
        for tile in tiles:
            g = tile["geometry"]
            parts = g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
            pixels = [cover.read(1, window=from_bounds(*bounds_of(p), cover.transform)).ravel() for p in parts]
            values, counts = np.unique(np.hstack(pixels), return_counts=True)
            print(json.dumps({"name": tile["name"], "hist": {str(int(v)): int(c) for v, c in zip(values, counts)}}))


def grid(path: str) -> None:
    with rasterio.open(path) as d:
        print(json.dumps({"transform": list(d.transform.to_gdal()), "width": d.width, "height": d.height}))


if __name__ == "__main__":
    if sys.argv[1] == "grid":
        grid(sys.argv[2])
    elif sys.argv[1] == "probe":
        probe(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        stats(sys.argv[2], sys.argv[3])
