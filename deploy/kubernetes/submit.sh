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

# shellcheck source=../rows-to-submit.sh
. "$(dirname "$0")/../rows-to-submit.sh"
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
