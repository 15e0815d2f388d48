#!/usr/bin/env bash
# Submits the rows of a sample that are not complete in an output as an AWS Batch array job: `clay
# status` (reads the output only) gives the rows; the array has one child per row, and child i runs the
# i-th of them (`--subset`, the job definition's `subset` parameter). The first submission runs every row
# (array size = the sample's row count); run it again after the job ends to resubmit only what failed.
#
#   deploy/aws-batch/submit.sh JOB_QUEUE s3://bucket/clay/mgrs_sample.fgb s3://bucket/clay
#
# Register the job definition first (once per change):
#   aws batch register-job-definition --cli-input-json file://deploy/aws-batch/job-definition.json
# Environment: CLAY (how to run clay here; default `npx clay`), AWS (default `aws`), JOB_DEFINITION
# (default clay-chips), DRY_RUN=1 prints the aws command instead of running it.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 JOB_QUEUE SAMPLE OUT" >&2
  exit 2
fi
queue="$1" sample="$2" out="$3"
CLAY="${CLAY:-npx clay}"
AWS="${AWS:-aws}"
definition="${JOB_DEFINITION:-clay-chips}"

# shellcheck source=../rows-to-submit.sh
. "$(dirname "$0")/../rows-to-submit.sh"
if [ "$count" -gt 10000 ]; then
  echo "submit: $count rows: an AWS Batch array holds at most 10000; submit in parts with clay status --indices" >&2
  exit 2
fi
name="clay-chips-$(date -u +%Y%m%d-%H%M%S)"
# JSON, not the shorthand: the subset has commas.
parameters="$(node -e 'console.log(JSON.stringify({ sample: process.argv[1], out: process.argv[2], subset: process.argv[3] }))' "$sample" "$out" "$indices")"
cmd=("$AWS" batch submit-job --job-name "$name" --job-queue "$queue" --job-definition "$definition" --parameters "$parameters")
# An array job has 2..10000 children; one row is a plain job (it runs with index 0, the subset's only row).
[ "$count" -ge 2 ] && cmd+=(--array-properties "size=$count")
echo "submit: $count row(s) (--indices $indices) as $name" >&2
if [ "${DRY_RUN:-0}" = "1" ]; then
  printf '%q ' "${cmd[@]}"
  echo
else
  "${cmd[@]}"
fi
