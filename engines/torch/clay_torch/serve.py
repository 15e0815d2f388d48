"""The engine process `clay train --engine torch` starts: `python3 -m clay_torch.serve`.

It computes and nothing else. The TypeScript side owns the run (settings, data, masks, schedule, checkpoint
folders, metrics, progress) and sends requests on stdin; each reply is one JSON line on stdout. A request is
a frame: a 4-byte little-endian length, that many bytes of JSON, then the binary payloads the JSON lists
(`"payload": [bytes, ...]`, float32 little-endian, in order). Requests:

- `init`: config, weights file (safetensors, PyTorch names), optionally an optimizer file and its step,
  AdamW's constants, device (`cpu`, `cuda`, `auto`), precision (`fp32`, `bf16`), `compile`. Replies with
  what it runs on (device, torch version, BLAS, SDPA, bf16).
- `step`: lr and micro-batches (pixels `[B,13,H,W]`, latlon `[B,2]`, timestep `[B,3]`, mask noise
  `[B,G*L]` each); gradients averaged over them, one AdamW step. Replies with the mean loss (before the
  update, as the tfjs trainer) and the sha256 of each micro-batch's bytes as received.
- `loss`: one batch, no update (validation). `save`: weights.safetensors and optimizer.safetensors into a
  folder. `exit`.

Errors are replies `{"ok": false, "code": ..., "message": ..., "traceback": ...}`; the process exits with
code 3 when stdin closes mid-frame, 0 after `exit`.

Data parallel (`clay train --nproc N`, torchrun starts this module once per rank): with `CLAY_FEED=host:port`
in the environment the frames come over a TCP connection to the TypeScript side instead of stdin (the
first line sent is `{"rank", "localRank", "worldSize", "pid"}`), and with torchrun's `WORLD_SIZE` above 1 the
model is wrapped in `DistributedDataParallel` (gloo on CPU, NCCL on CUDA, `cuda:LOCAL_RANK`); `init` checks
that every rank starts from the same optimizer step (one checkpoint, seen by every machine). Each rank gets
its share of every micro-batch with a `weight` (its chips over the micro-batch's): it backpropagates
`loss x weight x world / micro-batches`, so DDP's mean over ranks is the gradient of the whole micro-batch's
mean loss (a rank with no chips of a short last batch gets one chip at weight 0, to take part in the
all-reduce); the reply's loss is the all-reduced sum, the same on every rank. `loss` and `save` are asked of
rank 0 alone and touch no collective.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from .config import NUM_BANDS, ClayConfig
from .model import ClayMAE, flops_per_sample
from .safetensors_io import read_safetensors, write_safetensors


#: CUDA's out-of-memory error where torch has one (1.13+), else Python's.
_OOM: type[BaseException] = getattr(torch.cuda, "OutOfMemoryError", MemoryError)


class EngineError(Exception):
    """A failure with a code the TypeScript side maps to its own (`MODEL_CONFIG`, `CHECKPOINT_INVALID`, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def blas_info() -> str:
    """Which BLAS this process has loaded: `openblas`, `mkl`, or `reference` (Debian's generic libblas)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown"
    if "openblas" in maps:
        return "openblas"
    if "mkl" in maps:
        return "mkl"
    if "libblas" in maps:
        return "reference"
    return "builtin"


class Engine:
    """One model, its AdamW, on one device."""

    def __init__(self, req: dict[str, Any]) -> None:
        self.cfg = ClayConfig.from_json(req["config"])
        want = req.get("device", "auto")
        if want == "cuda" and not torch.cuda.is_available():
            raise EngineError("BAD_ARGUMENT", "--device cuda: this torch sees no CUDA device")
        self.device = torch.device("cuda" if want in ("cuda", "auto") and torch.cuda.is_available() else "cpu")
        precision = req.get("precision", "fp32")
        if precision == "bf16" and self.device.type != "cuda":
            raise EngineError("BAD_ARGUMENT", "--precision bf16 needs --device cuda (on CPU the engine trains in fp32)")
        self.bf16 = precision == "bf16"
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1:
            import torch.distributed as dist

            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
        if "threads" in req:
            torch.set_num_threads(int(req["threads"]))
        torch.manual_seed(0)
        self.model = ClayMAE(self.cfg).to(self.device)
        weights = read_safetensors(req["weights"])
        try:
            self.model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
        except RuntimeError as e:
            raise EngineError("WEIGHTS_INVALID", f"{req['weights']}: {e}") from e
        a = req["adamw"]
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, betas=(a["beta1"], a["beta2"]), eps=a["eps"], weight_decay=a["weightDecay"])
        self.names = {p: n for n, p in self.model.named_parameters()}
        if req.get("optimizer"):
            self._restore(req["optimizer"], int(req["optimizerStep"]))
        if self.world > 1:
            self._same_start(req)
        self.forward = torch.compile(self.model) if req.get("compile") and hasattr(torch, "compile") else self.model
        # Training steps go through DDP when there are several ranks (it all-reduces the gradients in the
        # backward pass); validation and saving use the model itself and need no other rank.
        self.train_forward = self.forward
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_forward = DistributedDataParallel(self.forward, device_ids=ids)

    def _same_start(self, req: dict[str, Any]) -> None:
        """Every rank must start from the same optimizer step (the same checkpoint), or the ranks would train apart."""
        import torch.distributed as dist

        step = int(req.get("optimizerStep") or 0)
        both = torch.tensor([step, -step], dtype=torch.int64, device=self.device)
        dist.all_reduce(both, op=dist.ReduceOp.MAX)
        hi, lo = int(both[0]), -int(both[1])
        if hi != lo:
            raise EngineError("CHECKPOINT_INVALID", f"the ranks start from different checkpoints (optimizer steps {lo} to {hi}; this rank {step} from {req.get('optimizer') or 'the seed'}): every machine must see one --out, a shared volume")

    def _restore(self, path: str, step: int) -> None:
        moments = read_safetensors(path)
        for p, name in self.names.items():
            a, s = moments.get(f"{name}.exp_avg"), moments.get(f"{name}.exp_avg_sq")
            if a is None or s is None:
                if step > 0:
                    raise EngineError("CHECKPOINT_INVALID", f"{path}: no moments for {name}")
                continue
            self.opt.state[p] = {
                "step": torch.tensor(float(step)),
                "exp_avg": torch.from_numpy(a).to(self.device),
                "exp_avg_sq": torch.from_numpy(s).to(self.device),
            }

    @property
    def optimizer_step(self) -> int:
        for st in self.opt.state.values():
            return int(float(st["step"]))
        return 0

    def _tensors(self, micro: dict[str, Any], payload: list[bytes]) -> tuple[torch.Tensor, ...]:
        b, h = int(micro["batch"]), int(micro["imageSize"])
        shapes = [(b, NUM_BANDS, h, h), (b, 2), (b, 3), (b, self.cfg.num_tokens)]
        out = []
        for raw, shape in zip(payload, shapes):
            a = np.frombuffer(raw, dtype="<f4")
            if a.size != int(np.prod(shape)):
                raise EngineError("INTERNAL", f"payload of {a.size} values for shape {shape}")
            out.append(torch.from_numpy(a.reshape(shape).copy()).to(self.device, non_blocking=True))
        return tuple(out)

    def _loss(self, cube: torch.Tensor, latlon: torch.Tensor, timestep: torch.Tensor, noise: torch.Tensor, train: bool = False) -> torch.Tensor:
        forward = self.train_forward if train else self.forward
        if not self.bf16:
            return forward(cube, latlon, timestep, noise)[0]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            loss, _ = forward(cube, latlon, timestep, noise)
        return loss

    def step(self, req: dict[str, Any], payload: list[bytes]) -> dict[str, Any]:
        micro = req["micro"]
        for g in self.opt.param_groups:
            g["lr"] = float(req["lr"])
        self.opt.zero_grad(set_to_none=True)
        losses: list[torch.Tensor] = []
        digests: list[str] = []
        for k, m in enumerate(micro):
            part = payload[4 * k : 4 * k + 4]
            digests.append(hashlib.sha256(b"".join(part)).hexdigest())
            if self.world == 1:
                loss = self._loss(*self._tensors(m, part))
                (loss / len(micro)).backward()
                losses.append(loss.detach())
                continue
            weight = float(m["weight"])
            # Gradients are all-reduced in the last micro-batch's backward only.
            last = k == len(micro) - 1
            ctx = contextlib.nullcontext() if last else self.train_forward.no_sync()
            with ctx:
                loss = self._loss(*self._tensors(m, part), train=True)
                (loss * (weight * self.world / len(micro))).backward()
            losses.append(loss.detach() * weight)
        self.opt.step()
        if self.world == 1:
            mean = float(torch.stack(losses).double().mean())
        else:
            import torch.distributed as dist

            total = torch.stack(losses).double().sum().reshape(1) / len(micro)
            total = total.to(self.device) if self.device.type == "cuda" else total
            dist.all_reduce(total)
            mean = float(total.cpu()[0])
        return {"loss": mean, "sha256": digests, "optimizerStep": self.optimizer_step}

    def loss(self, req: dict[str, Any], payload: list[bytes]) -> dict[str, Any]:
        with torch.no_grad():
            return {"loss": float(self._loss(*self._tensors(req["micro"][0], payload[:4])))}

    def save(self, req: dict[str, Any]) -> dict[str, Any]:
        folder = Path(req["dir"])
        meta = {str(k): str(v) for k, v in req.get("metadata", {}).items()}
        weights = {n: p.detach().float().cpu().numpy() for n, p in self.model.named_parameters()}
        write_safetensors(folder / "weights.safetensors", weights, meta)
        moments: dict[str, np.ndarray] = {}
        for p, name in self.names.items():
            st = self.opt.state.get(p)
            if st:
                moments[f"{name}.exp_avg"] = st["exp_avg"].float().cpu().numpy()
                moments[f"{name}.exp_avg_sq"] = st["exp_avg_sq"].float().cpu().numpy()
        write_safetensors(folder / "optimizer.safetensors", moments, meta)
        return {"optimizerStep": self.optimizer_step}

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "device": self.device.type, "torch": torch.__version__, "blas": blas_info(),
            "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"), "bf16": self.bf16,
            "compiled": self.forward is not self.model, "threads": torch.get_num_threads(),
            "params": sum(p.numel() for p in self.model.parameters()), "flopsPerSample": flops_per_sample(self.cfg),
        }
        if self.device.type == "cuda":
            d["gpu"] = torch.cuda.get_device_name(self.device)
        return d


def read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], list[bytes]] | None:
    head = stream.read(4)
    if len(head) == 0:
        return None
    if len(head) < 4:
        raise EOFError("stdin closed inside a frame")
    (n,) = struct.unpack("<I", head)
    req = json.loads(stream.read(n))
    payload = []
    for size in req.get("payload", []):
        raw = stream.read(size)
        if len(raw) < size:
            raise EOFError("stdin closed inside a payload")
        payload.append(raw)
    return req, payload


def reply(out: IO[str], body: dict[str, Any]) -> None:
    out.write(json.dumps(body) + "\n")
    out.flush()


def feed_connection() -> tuple[IO[bytes], IO[str]] | None:
    """The connection to the TypeScript side when `CLAY_FEED=host:port` is set (data parallel), announced."""
    feed = os.environ.get("CLAY_FEED")
    if not feed:
        return None
    host, _, port = feed.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = sock.makefile("w", encoding="utf-8")
    hello = {"rank": int(os.environ.get("RANK", "0")), "localRank": int(os.environ.get("LOCAL_RANK", "0")), "worldSize": int(os.environ.get("WORLD_SIZE", "1")), "pid": os.getpid()}
    reply(out, hello)
    return sock.makefile("rb"), out


def main() -> int:
    conn = feed_connection()
    stdin, out = conn if conn is not None else (sys.stdin.buffer, sys.stdout)
    engine: Engine | None = None
    while True:
        try:
            frame = read_frame(stdin)
        except EOFError:
            return 3
        if frame is None:
            # A rank whose feed closed without `exit`: the TypeScript side is gone. A non-zero exit makes
            # torchrun stop the other ranks, which may be waiting for this one in a collective.
            return 3 if conn is not None else 0
        req, payload = frame
        op = req.get("op")
        t0 = time.perf_counter()
        try:
            if op == "exit":
                reply(out, {"ok": True})
                return 0
            if op == "init":
                engine = Engine(req)
                reply(out, {"ok": True, **engine.describe()})
                continue
            if engine is None:
                raise EngineError("INTERNAL", f"'{op}' before 'init'")
            if op == "step":
                body = engine.step(req, payload)
            elif op == "loss":
                body = engine.loss(req, payload)
            elif op == "save":
                body = engine.save(req)
            else:
                raise EngineError("INTERNAL", f"unknown request '{op}'")
            reply(out, {"ok": True, "ms": (time.perf_counter() - t0) * 1000, **body})
        except EngineError as e:
            reply(out, {"ok": False, "code": e.code, "message": str(e), "traceback": traceback.format_exc()})
        except _OOM as e:
            reply(out, {"ok": False, "code": "MODEL_CONFIG", "message": f"out of memory on {engine.device if engine else 'the device'}: {str(e).splitlines()[0]} (lower --batch)", "traceback": traceback.format_exc()})
            _leave_broken_group(engine, op)
        except Exception as e:  # noqa: BLE001 - every failure becomes a coded reply, never a bare traceback
            reply(out, {"ok": False, "code": "INTERNAL", "message": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
            _leave_broken_group(engine, op)


def _leave_broken_group(engine: Engine | None, op: Any) -> None:
    """A data-parallel rank whose step failed (a peer lost inside the all-reduce, or memory) cannot take part in
    another collective: it exits, so that torchrun restarts the group (`--max-restarts`) or stops it."""
    if engine is not None and engine.world > 1 and op == "step":
        sys.stdout.flush()
        os._exit(4)


if __name__ == "__main__":
    sys.exit(main())
