"""Clay v0's learning-rate schedule: torch's `CosineAnnealingWarmRestarts(T_0=1000, T_mult=2, eta_min=10*lr)`
stepped once per optimizer step (the rate rises from lr to 10*lr within each cycle). Same walk of the cycles
in integers as `model/schedule.ts`, so both engines use the same rate at every step."""
from __future__ import annotations

import math


def warm_restarts_lr(step: int, base_lr: float, t0: int = 1000, t_mult: int = 2, eta_min: float | None = None) -> float:
    """The rate at optimizer step `step` (0-based), in float64."""
    eta = 10 * base_lr if eta_min is None else eta_min
    t_cur, t_i = step, t0
    while t_cur >= t_i:
        t_cur -= t_i
        t_i *= t_mult
    return eta + (base_lr - eta) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
