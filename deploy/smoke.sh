#!/usr/bin/env bash
# Builds deploy/Dockerfile and smoke-tests the image (needs Docker; no network beyond the build):
#   1. `clay --help` (the entrypoint),
#   2. `clay demo`: the bundled miniature Planetary Computer inside the container and `clay run` of row 0
#      against it (47 chips), so the production dependencies read, warp and write,
#   3. the array-job index: JOB_COMPLETION_INDEX / AWS_BATCH_JOB_ARRAY_INDEX reach `clay run` (index 9 of a
#      3-row sample is refused as BAD_INDEX, exit 2, before any network).
# Usage: deploy/smoke.sh [image-tag]      (.ci/run calls it when `docker info` works)
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-clay-pipeline:smoke}"
docker build -f deploy/Dockerfile -t "$tag" .
docker run --rm "$tag" --help > /dev/null
docker run --rm "$tag" demo --out /tmp/demo | tail -n 1
sample=/opt/clay/data-samples/generated/mgrs_sample.fgb
for var in JOB_COMPLETION_INDEX AWS_BATCH_JOB_ARRAY_INDEX; do
  set +e
  err="$(docker run --rm -e "$var=9" "$tag" run --sample "$sample" --out /tmp/out 2>&1 >/dev/null)"
  code=$?
  set -e
  if [ "$code" -ne 2 ] || ! grep -q 'error BAD_INDEX: index 9 ' <<<"$err"; then
    echo "smoke: $var=9 should give BAD_INDEX (exit 2), got exit $code: $err" >&2
    exit 1
  fi
done
echo "smoke: $tag ok"
