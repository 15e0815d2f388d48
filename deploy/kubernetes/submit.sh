#!/usr/bin/env bash
# Submits the rows of a sample that are not complete in an output as a Kubernetes Indexed Job:
# `clay status` (reads the output only) gives the rows, this fills deploy/kubernetes/indexed-job.yaml
# (completions, CLAY_SUBSET, CLAY_SAMPLE, CLAY_OUT, the image, a fresh Job name) and applies it. The first
# submission runs every row; run it again after the Job ends to resubmit only what failed or was cut short.
#
#   deploy/kubernetes/submit.sh s3://bucket/clay/mgrs_sample.fgb s3://bucket/clay [image]
#
# Environment: CLAY (how to run clay here; default `npx clay`), KUBECTL (default `kubectl`), PARALLELISM
# (default 50), DRY_RUN=1 prints the manifest instead of applying it. `clay status` reads S3 with the
# usual AWS_* variables.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -lt 2 ]; then
  echo "usage: $0 SAMPLE OUT [IMAGE]" >&2
  exit 2
fi
sample="$1" out="$2" image="${3:-}"
CLAY="${CLAY:-npx clay}"
KUBECTL="${KUBECTL:-kubectl}"
parallelism="${PARALLELISM:-50}"

# Exit 4 means "some rows are not complete": that is the case to submit.
set +e
status="$($CLAY status --sample "$sample" --out "$out" --json)"
code=$?
set -e
if [ "$code" -ne 0 ] && [ "$code" -ne 4 ]; then
  echo "submit: clay status failed (exit $code)" >&2
  exit "$code"
fi
read -r count indices < <(node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(s.resubmit.length, s.indices || "-")' <<<"$status")
if [ "$count" -eq 0 ]; then
  echo "submit: every row of $sample is complete in $out, nothing to submit" >&2
  exit 0
fi
[ "$parallelism" -gt "$count" ] && parallelism="$count"
name="clay-chips-$(date -u +%Y%m%d-%H%M%S)"
echo "submit: $count row(s) (--indices $indices) as Job $name" >&2

edits=(
  -e "s/^  name: clay-chips\$/  name: $name/"
  -e "s/^  completions: .*/  completions: $count/"
  -e "s/^  parallelism: .*/  parallelism: $parallelism/"
  -e "/- name: CLAY_SUBSET\$/{n;s|value: .*|value: \"$indices\"|;}"
  -e "/- name: CLAY_SAMPLE\$/{n;s|value: .*|value: \"$sample\"|;}"
  -e "/- name: CLAY_OUT\$/{n;s|value: .*|value: \"$out\"|;}"
)
[ -n "$image" ] && edits+=(-e "s|^          image: .*|          image: $image|")
manifest="$(sed "${edits[@]}" "$here/indexed-job.yaml")"
if [ "${DRY_RUN:-0}" = "1" ]; then
  printf '%s\n' "$manifest"
else
  printf '%s\n' "$manifest" | $KUBECTL apply -f -
fi
