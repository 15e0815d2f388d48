#!/usr/bin/env python3
"""Runs Clay v0's own `scripts/datacube.py` (Clay-foundation/model @ 0145e55) unchanged, for the chip benchmark.

Two things differ from a run on AWS, both outside v0's code:
- the STAC API is the given one (v0 hard-codes the Planetary Computer's) - its blob hrefs are on the
  loopback server, which v0's `planetary_computer.sign_inplace` leaves unsigned, as it does every href
  that is not `*.blob.core.windows.net`;
- `tile.py` ends each date with `aws s3 sync DIR s3://BUCKET/02/MGRS/DATE`: here that copies DIR to
  OUT/02/MGRS/DATE (the same files, into a local folder, as `clay run --out DIR` writes them).

    python3 run_datacube.py --v0-scripts DIR --stac-api URL --out DIR -- [datacube.py's own options]

Needs on `sys.path` what v0's environment pins (environment.yml): pystac-client, pystac, stackstac 0.5,
planetary-computer 1.0, rioxarray, geopandas, xarray, dask, rasterio, click.
"""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v0-scripts", required=True, help="Clay v0's scripts/ folder (datacube.py, tile.py)")
    parser.add_argument("--stac-api", required=True, help="STAC API root to search instead of the Planetary Computer")
    parser.add_argument("--out", required=True, help="folder that stands for the S3 bucket")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="datacube.py's options, after --")
    args = parser.parse_args()
    scripts = Path(args.v0_scripts)
    if not (scripts / "datacube.py").is_file() or not (scripts / "tile.py").is_file():
        sys.exit(f"run_datacube: {scripts} holds no datacube.py and tile.py (Clay v0's scripts/ folder)")
    sys.path.insert(0, str(scripts))
    import datacube  # noqa: E402  (v0's module, from --v0-scripts)
    import tile  # noqa: E402

    datacube.STAC_API = args.stac_api
    out = Path(args.out)
    real_run = subprocess.run

    def sync_to_folder(cmd, *a, **kw):
        # v0's only subprocess: ["aws", "s3", "sync", DIR, "s3://BUCKET/02/MGRS/DATE", "--no-progress"].
        if list(cmd[:3]) != ["aws", "s3", "sync"]:
            return real_run(cmd, *a, **kw)
        src, dst = cmd[3], cmd[4]
        prefix = dst.split("://", 1)[1].split("/", 1)[1]  # drop the bucket ("" in v0's default)
        shutil.copytree(src, out / prefix, dirs_exist_ok=True)
        return subprocess.CompletedProcess(cmd, 0)

    tile.subprocess.run = sync_to_folder
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    datacube.main(rest, standalone_mode=True)


if __name__ == "__main__":
    main()
