#!/usr/bin/env bash
# Submits distributed training as deploy/kubernetes/train-job.yaml: NODES pods of GPUS GPUs each, the
# data (training shards from `clay pack`, or chips) at DATA, checkpoints and metrics at OUT on the shared
# volume clay-runs (mounted at /runs in every pod). The Job keeps its name, clay-train: pod 0's name is the
# rendezvous endpoint (clay-train-0.clay-train). Submitting again after the Job ended resumes the run
# from its last checkpoint (the pods pass --resume); an older Job of that name is deleted first.
#
#   deploy/kubernetes/submit-train.sh s3://bucket/clay/shards /runs/small [image]
#
# Environment: NODES (default 2), GPUS per node (8), MODEL (small), BATCH per GPU (32), PRECISION (bf16),
# KUBECTL (default kubectl), DRY_RUN=1 prints the manifests instead of applying them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -lt 2 ]; then
  echo "usage: $0 DATA OUT [IMAGE]" >&2
  exit 2
fi
data="$1" out="$2" image="${3:-}"
nodes="${NODES:-2}" gpus="${GPUS:-8}" model="${MODEL:-small}" batch="${BATCH:-32}" precision="${PRECISION:-bf16}"
KUBECTL="${KUBECTL:-kubectl}"
for v in "$nodes" "$gpus" "$batch"; do
  case "$v" in ''|*[!0-9]*|0) echo "submit-train: NODES, GPUS and BATCH must be positive integers (got '$v')" >&2; exit 2 ;; esac
done
case "$out" in /runs/*) ;; *) echo "submit-train: OUT must be under /runs (the shared volume every pod mounts), got '$out'" >&2; exit 2 ;; esac
echo "submit-train: $nodes node(s) x $gpus GPU(s), batch $batch per GPU ($((nodes * gpus * batch)) a step), $model, $data -> $out" >&2

edits=(
  -e "s/^  completions: .*/  completions: $nodes/"
  -e "s/^  parallelism: .*/  parallelism: $nodes/"
  -e "/- name: CLAY_DATA\$/{n;s|value: .*|value: \"$data\"|;}"
  -e "/- name: CLAY_OUT\$/{n;s|value: .*|value: \"$out\"|;}"
  -e "/- name: CLAY_MODEL\$/{n;s|value: .*|value: \"$model\"|;}"
  -e "/- name: CLAY_BATCH\$/{n;s|value: .*|value: \"$batch\"|;}"
  -e "/- name: CLAY_PRECISION\$/{n;s|value: .*|value: \"$precision\"|;}"
  -e "/- name: CLAY_GPUS\$/{n;s|value: .*|value: \"$gpus\"|;}"
  -e "/- name: CLAY_NODES\$/{n;s|value: .*|value: \"$nodes\"|;}"
  -e "s|nvidia.com/gpu: .*|nvidia.com/gpu: \"$gpus\"|"
)
[ -n "$image" ] && edits+=(-e "s|^          image: .*|          image: $image|")
manifest="$(sed "${edits[@]}" "$here/train-job.yaml")"
if [ "${DRY_RUN:-0}" = "1" ]; then
  printf '%s\n' "$manifest"
else
  $KUBECTL delete job clay-train --ignore-not-found
  printf '%s\n' "$manifest" | $KUBECTL apply -f -
fi
