"""Clay v0's datamodule normalisation with numpy: an independent oracle for model/data/read-chip.ts.

Follows src/datamodule.py at v0.0.1 (ClayDataset.normalize_timestamp, normalize_latlon, __getitem__,
ClayDataModule.MEAN/STD). torch is not needed: `torch.as_tensor(pixels, dtype=torch.float16)` followed
by torchvision's v2.Normalize on that float16 tensor (mean and std cast to float16, `(x - mean) / std`
computed in float16) is the same arithmetic as numpy float16 arrays.

usage: v0_datamodule.py RAW_IN RAW_OUT HEIGHT WIDTH DATE LON LAT
  RAW_IN   13 x HEIGHT x WIDTH little-endian float32, band-sequential (gdal_translate -of ENVI)
  RAW_OUT  the normalised pixels, same layout
prints {"latlon": [lat, lon], "timestep": [year, month, day]} as float32 values.
"""
import json
import math
import sys

import numpy as np

MEAN = [1369.03, 1597.68, 1741.10, 2053.58, 2569.82, 2763.01, 2858.43, 2893.86, 2303.00, 1807.79, 0.026, 0.118, 499.46]
STD = [2026.96, 2011.88, 2146.35, 2138.96, 2003.27, 1962.45, 2016.38, 1917.12, 1679.88, 1568.06, 0.118, 0.873, 880.35]


def normalize_timestamp(ts):
    # v0: `year, month, day = map(np.float16, ts.split("-"))`. v0 ran numpy 1.26 (its conda-lock), whose
    # legacy promotion makes `np.float16 - int` a float64; numpy >= 2 (NEP 50) would keep float16. Widen
    # explicitly so this oracle computes what v0 computed whatever numpy runs it.
    year, month, day = (np.float64(np.float16(p)) for p in ts.split("-"))
    year_radians = 2 * math.pi * (year - 2012) / (2030 - 2012)
    month_radians = 2 * math.pi * (month - 1) / 11
    day_radians = 2 * math.pi * (day - 1) / 30
    year = math.atan2(math.cos(year_radians), math.sin(year_radians))
    month = math.atan2(math.cos(month_radians), math.sin(month_radians))
    day = math.atan2(math.cos(day_radians), math.sin(day_radians))
    return year, month, day


def normalize_latlon(lon, lat):
    lon_radians = math.radians(lon)
    lat_radians = math.radians(lat)
    lon = math.atan2(math.cos(lon_radians), math.sin(lon_radians))
    lat = math.sin(lat_radians)
    return lon, lat


def main():
    raw_in, raw_out, height, width, date, lon, lat = sys.argv[1:8]
    pixels = np.fromfile(raw_in, dtype="<f4").reshape(13, int(height), int(width))
    cube = pixels.astype(np.float16)
    mean = np.array(MEAN, dtype=np.float16).reshape(-1, 1, 1)
    std = np.array(STD, dtype=np.float16).reshape(-1, 1, 1)
    with np.errstate(invalid="ignore", over="ignore"):
        out = (cube - mean) / std
    assert out.dtype == np.float16
    out.astype("<f4").tofile(raw_out)
    lon_n, lat_n = normalize_latlon(float(lon), float(lat))
    # torch.as_tensor of Python floats is float32.
    f32 = lambda xs: [float(np.float32(x)) for x in xs]
    print(json.dumps({"latlon": f32((lat_n, lon_n)), "timestep": f32(normalize_timestamp(date))}))


main()
