#!/usr/bin/env bash
# Submits distributed training as an AWS Batch multi-node parallel job (deploy/aws-batch/train-job-definition.json):
# NODES nodes of GPUS GPUs each. Every node runs `clay train`, which takes its --node-rank from
# AWS_BATCH_JOB_NODE_INDEX and the rendezvous from AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS (port
# 29400; the main node listens on it). Checkpoints and metrics go to OUT on the EFS volume every node mounts
# at /runs; a retried attempt resumes from the last checkpoint (--resume).
#
#   deploy/aws-batch/submit-train.sh JOB_QUEUE s3://bucket/clay/shards /runs/small
#
# Register the job definition first (once per change):
#   aws batch register-job-definition --cli-input-json file://deploy/aws-batch/train-job-definition.json
# Environment: NODES (default 2), GPUS (8), MODEL (small), BATCH per GPU (32), AWS (default aws),
# JOB_DEFINITION (default clay-train), DRY_RUN=1 prints the aws command instead of running it.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 JOB_QUEUE DATA OUT" >&2
  exit 2
fi
queue="$1" data="$2" out="$3"
nodes="${NODES:-2}" gpus="${GPUS:-8}" model="${MODEL:-small}" batch="${BATCH:-32}"
AWS="${AWS:-aws}"
definition="${JOB_DEFINITION:-clay-train}"
for v in "$nodes" "$gpus" "$batch"; do
  case "$v" in ''|*[!0-9]*|0) echo "submit-train: NODES, GPUS and BATCH must be positive integers (got '$v')" >&2; exit 2 ;; esac
done
case "$out" in /runs/*) ;; *) echo "submit-train: OUT must be under /runs (the EFS volume every node mounts), got '$out'" >&2; exit 2 ;; esac
name="clay-train-$(date -u +%Y%m%d-%H%M%S)"
parameters="data=$data,out=$out,model=$model,batch=$batch,gpus=$gpus,nodes=$nodes"
# The node count and GPUs per node are the job's as well as clay's: both from NODES and GPUS.
overrides="$(node -e 'const [n, g] = process.argv.slice(1).map(Number); console.log(JSON.stringify({ numNodes: n, nodePropertyOverrides: [{ targetNodes: "0:", containerOverrides: { resourceRequirements: [{ type: "GPU", value: String(g) }] } }] }))' "$nodes" "$gpus")"
cmd=("$AWS" batch submit-job --job-name "$name" --job-queue "$queue" --job-definition "$definition" --parameters "$parameters"
  --node-overrides "$overrides")
echo "submit-train: $nodes node(s) x $gpus GPU(s), batch $batch per GPU, $model, $data -> $out as $name" >&2
if [ "${DRY_RUN:-0}" = "1" ]; then
  printf '%q ' "${cmd[@]}"
  echo
else
  "${cmd[@]}"
fi
