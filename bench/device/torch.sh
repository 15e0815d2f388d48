#!/usr/bin/env bash
# The torch engine on an NVIDIA GPU, for a machine with Python 3 + torch (2.x, CUDA) and numpy but no Node
# and no internet. Carried: the repository (engines/torch/clay_torch) and, for the real-chip case, a folder
# of real batches made beforehand where Node is (`node --import tsx bench/device/make-batches.ts --data
# CHIPS --out .bench/device-batches`, 27 MB for 4 chips). Prints one JSON line per case (s/step, chips/s,
# TFLOP/s, MFU against the H200's 989 bf16 dense TFLOP/s, peak GPU GiB, the largest batch, the ratio to Clay
# v0's 23.8 chips/s on 4 x A10G), then a summary; also writes them to $OUT/torch-bench.jsonl when OUT is set.
#
#   bench/device/torch.sh                 # on the GPU machine
#   CLAY_DEVICE_SMOKE=1 bench/device/torch.sh   # the same script on a CPU, tiny shapes (checks it runs)
set -euo pipefail
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
