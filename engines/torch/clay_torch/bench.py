"""Training-step benchmark of the torch engine's model, runnable where there is no Node (the GPU machines):
`python3 -m clay_torch.bench --size small --image 512 --patch 32 --batch 8 --precision bf16`.

Trains `ClayMAE` with AdamW on synthetic batches (or on real batches from `--batches DIR`: `pixels.npy`
[N,13,H,W] float16 (the normalised values the stream yields, float16-exact), `latlon.npy` [N,2],
`timestep.npy` [N,3], made by `bench/device/make-batches.ts`), after warm-up steps, and prints one JSON line:
seconds per step, chips/s, achieved TFLOP/s, MFU against `--peak-tflops`, peak GPU memory, and with
`--max-batch` the largest batch that fits (doubling, then bisecting, until out of memory).

Under torchrun (`WORLD_SIZE` above 1) every rank steps its own `--batch` through `DistributedDataParallel`
(NCCL on CUDA, `cuda:LOCAL_RANK`; gloo on CPU), and rank 0 reports the whole job: `world`, chips/s of all
ranks and per rank (the figure a scaling ratio compares); `--json-out FILE` appends the line to FILE too
(torchrun may prefix what ranks print).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from typing import Any

import numpy as np
import torch

from .config import NUM_BANDS, clay_config
from .model import ClayMAE, flops_per_sample


def _batches(args: argparse.Namespace, batch: int, device: torch.device, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    cfg = clay_config(args.size, args.image, args.patch)
    g = torch.Generator().manual_seed(seed)
    if args.batches:
        px, ll, ts = (np.load(f"{args.batches}/{name}.npy") for name in ("pixels", "latlon", "timestep"))
        off = (px.shape[-1] - args.image) // 2
        px = px[:, :, off : off + args.image, off : off + args.image]
        out = []
        for i in range(4):
            idx = [((seed * 4 + i) * batch + k) % px.shape[0] for k in range(batch)]
            out.append((torch.from_numpy(px[idx].astype(np.float32)), torch.from_numpy(ll[idx].astype(np.float32)), torch.from_numpy(ts[idx].astype(np.float32))))
    else:
        out = [(torch.randn(batch, NUM_BANDS, args.image, args.image, generator=g), torch.randn(batch, 2, generator=g), torch.randn(batch, 3, generator=g)) for _ in range(4)]
    return [tuple(t.to(device) for t in b) + (torch.randn(batch, cfg.num_tokens, generator=g).to(device),) for b in out]


WORLD = int(os.environ.get("WORLD_SIZE", "1"))
RANK = int(os.environ.get("RANK", "0"))


def _device(args: argparse.Namespace) -> torch.device:
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if WORLD > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def measure(args: argparse.Namespace, batch: int) -> dict[str, Any]:
    """Seconds per step at `batch` per rank (after `--warmup` steps), and the peak memory."""
    device = _device(args)
    cfg = clay_config(args.size, args.image, args.patch)
    torch.manual_seed(0)
    model = ClayMAE(cfg).to(device)
    fwd = torch.compile(model) if args.compile and hasattr(torch, "compile") else model
    compiled = fwd is not model
    if WORLD > 1:
        from torch.nn.parallel import DistributedDataParallel

        fwd = DistributedDataParallel(fwd, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    data = _batches(args, batch, device, seed=RANK)
    bf16 = args.precision == "bf16" and device.type == "cuda"

    def step(i: int) -> torch.Tensor:
        cube, latlon, ts, noise = data[i % len(data)]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss, _ = fwd(cube, latlon, ts, noise)
        loss.backward()
        opt.step()
        return loss.detach()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for i in range(args.warmup):
        step(i)
    sync()
    t0 = time.perf_counter()
    loss = torch.zeros(())
    for i in range(args.steps):
        loss = step(i)
    sync()
    s = (time.perf_counter() - t0) / args.steps
    if WORLD > 1:
        import torch.distributed as dist

        # The job is as fast as its slowest rank.
        slowest = torch.tensor([s], dtype=torch.float64, device=device)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        s = float(slowest.cpu()[0])
    flops = flops_per_sample(cfg) * batch * WORLD
    out: dict[str, Any] = {
        "size": args.size, "image": args.image, "patch": args.patch, "batch": batch, "device": device.type, "precision": "bf16" if bf16 else "fp32",
        "world": WORLD, "s_per_step": s, "chips_per_s": batch * WORLD / s, "chips_per_s_per_rank": batch / s, "tflops": flops / s / 1e12, "gflop_per_sample": flops_per_sample(cfg) / 1e9,
        "loss": float(loss), "torch": torch.__version__, "threads": torch.get_num_threads(), "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"),
        "compiled": compiled, "data": "real" if args.batches else "synthetic",
    }
    if args.peak_tflops:
        out["mfu"] = out["tflops"] / (args.peak_tflops * WORLD)
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    out["vs_clay_v0_rig"] = out["chips_per_s"] / 23.8
    del model, opt, data
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def _fits(args: argparse.Namespace, batch: int) -> bool:
    oom: type[BaseException] = getattr(torch.cuda, "OutOfMemoryError", RuntimeError)
    quick = argparse.Namespace(**{**vars(args), "warmup": 1, "steps": 1})
    try:
        measure(quick, batch)
        return True
    except oom:
        torch.cuda.empty_cache()
        return False


def max_batch(args: argparse.Namespace, start: int, limit: int = 4096) -> int:
    """The largest batch a step fits in (doubling from `start`, then bisecting)."""
    lo, hi = 0, start
    while hi <= limit and _fits(args, hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1 and lo > 0:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _fits(args, mid) else (lo, mid)
    return lo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="small")
    p.add_argument("--image", type=int, default=512)
    p.add_argument("--patch", type=int, default=32)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--compile", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--batches", default="", help="a folder of real batches (pixels.npy, latlon.npy, timestep.npy)")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="the device's peak for MFU (H200 bf16 dense: 989)")
    p.add_argument("--max-batch", action="store_true")
    p.add_argument("--json-out", default="", help="also append the result line to this file (rank 0)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if WORLD > 1:
        import torch.distributed as dist

        if args.max_batch:
            p.error("--max-batch measures one process: run it without torchrun")
        dev = _device(args)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    out = measure(args, args.batch)
    if args.max_batch:
        out["max_batch"] = max_batch(args, max(1, args.batch))
    if RANK == 0:
        print(json.dumps(out), flush=True)
        if args.json_out:
            with open(args.json_out, "a", encoding="utf-8") as f:
                f.write(json.dumps(out) + "\n")
    if WORLD > 1:
        import torch.distributed as dist

        dist.destroy_process_group()


if __name__ == "__main__":
    main()
