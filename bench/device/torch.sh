#!/usr/bin/env bash
# The torch engine on an NVIDIA GPU, for a machine with Python 3 + torch (2.x, CUDA) and numpy but no Node
# and no internet. Carried: the repository (engines/torch/clay_torch) and, for the real-chip case, a folder
# of real batches made beforehand where Node is (`node --import tsx bench/device/make-batches.ts --data
# CHIPS --out .bench/device-batches`, 27 MB for 4 chips). Prints one JSON line per case (s/step, chips/s,
# TFLOP/s, MFU against the H200's 989 bf16 dense TFLOP/s, peak GPU GiB, the largest batch, the ratio to Clay
# v0's 23.8 chips/s on 4 x A10G), then a summary; also writes them to $OUT/torch-bench.jsonl when OUT is set.
#
#   bench/device/torch.sh                 # on the GPU machine
#   bench/device/torch.sh --nproc 1,8     # data-parallel scaling on a machine with 8 GPUs (torchrun, NCCL)
#   CLAY_DEVICE_SMOKE=1 bench/device/torch.sh [--nproc 1,2]   # the same script on a CPU, tiny shapes (gloo)
#
# With --nproc LIST it measures only the scaling: small 512/32 bf16 at batch 32 per GPU under torchrun with
# each count of ranks, then one summary line: chips/s per rank at each count over the first count's (the
# per-GPU efficiency; the goal is >= 0.9 from 1 to 8 GPUs).
set -euo pipefail
nprocs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nproc) nprocs=${2:?--nproc needs a list such as 1,8}; shift 2 ;;
    --nproc=*) nprocs=${1#*=}; shift ;;
    *) echo "torch.sh: unknown argument $1 (takes --nproc LIST)" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
batches=${CLAY_DEVICE_BATCHES:-$repo/.bench/device-batches}
py=${CLAY_PYTHON:-python3}
log=${OUT:-/tmp}/torch-bench.jsonl
: > "$log"
cd "$repo/engines/torch"
"$py" - <<'PY'
import json, torch
print(json.dumps({"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                  "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                  "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"), "compile": hasattr(torch, "compile")}))
PY
bench() { "$py" -m clay_torch.bench "$@" | tee -a "$log"; }
if [ -n "$nprocs" ]; then
  if [ "${CLAY_DEVICE_SMOKE:-0}" = 1 ]; then case_args=(--size tiny --image 64 --patch 16 --batch 2 --steps 2 --warmup 1 --device cpu)
  else case_args=(--size small --image 512 --patch 32 --batch 32 --precision bf16 --device cuda --peak-tflops 989 --steps 10 --warmup 3); fi
  gpus=$("$py" -c 'import torch; print(torch.cuda.device_count())')
  logs=$(mktemp -d)
  for n in ${nprocs//,/ }; do
    if [ "${CLAY_DEVICE_SMOKE:-0}" != 1 ] && [ "$n" -gt "$gpus" ]; then echo "torch.sh: --nproc $n but this machine has $gpus GPUs" >&2; exit 2; fi
    # torchrun's --redirects/--tee: torch 1.13 on Python 3.11 cannot parse their default (see model/torch-ranks.ts).
    "$py" -m torch.distributed.run --standalone --nproc_per_node="$n" --redirects=1 --tee=1 --log_dir="$logs/$n" \
      -m clay_torch.bench "${case_args[@]}" --json-out "$log" > /dev/null
    tail -n 1 "$log"
  done
  rm -rf "$logs"
  "$py" - "$log" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = rows[0]
print(json.dumps({"summary": "data-parallel scaling", "size": base["size"], "batch_per_rank": base["batch"],
                  "ranks": [r["world"] for r in rows], "chips_per_s": [r["chips_per_s"] for r in rows],
                  "per_rank_efficiency": [r["chips_per_s_per_rank"] / base["chips_per_s_per_rank"] for r in rows]}))
PY
  exit 0
fi
if [ "${CLAY_DEVICE_SMOKE:-0}" = 1 ]; then
  bench --size tiny --image 64 --patch 16 --batch 2 --steps 2 --warmup 1 --device cpu
  [ -d "$batches" ] && bench --size tiny --image 64 --patch 16 --batch 2 --steps 2 --warmup 1 --device cpu --batches "$batches"
  exit 0
fi
peak=989
bench --size tiny --image 512 --patch 32 --batch 64 --precision bf16 --device cuda --peak-tflops $peak
bench --size small --image 512 --patch 32 --batch 8 --precision fp32 --device cuda --peak-tflops 67
bench --size small --image 512 --patch 32 --batch 32 --precision bf16 --device cuda --peak-tflops $peak
bench --size small --image 512 --patch 32 --batch 64 --precision bf16 --device cuda --peak-tflops $peak --max-batch
bench --size small --image 512 --patch 32 --batch 64 --precision bf16 --device cuda --peak-tflops $peak --compile
[ -d "$batches" ] && bench --size small --image 512 --patch 32 --batch 64 --precision bf16 --device cuda --peak-tflops $peak --batches "$batches"
"$py" - "$log" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = max((r for r in rows if r["size"] == "small"), key=lambda r: r["chips_per_s"], default=None)
if best:
    print(json.dumps({"summary": "small 512/32", "best_chips_per_s": best["chips_per_s"], "batch": best["batch"], "precision": best["precision"],
                      "compiled": best["compiled"], "mfu": best.get("mfu"), "vs_clay_v0_rig": best["chips_per_s"] / 23.8,
                      "max_batch": next((r["max_batch"] for r in rows if "max_batch" in r), None)}))
PY
