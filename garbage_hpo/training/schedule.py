"""Per-step learning-rate lists: linear warmup, then constant, cosine, square or exponential decay."""

from __future__ import annotations

import numpy as np

SCHEDULES = ("constant", "cosine", "square", "exponential")


def lr_schedule(name: str, total_steps: int, lr_max: float, lr_init: float = 0.0, lr_end: float = 0.0,
                warmup_steps: int = 0) -> np.ndarray:
    """`total_steps` learning rates: warmup from lr_init to lr_max, then decay toward lr_end.

    t counts steps after warmup and T is the number of decay steps:
    constant lr_max; cosine lr_end + (lr_max - lr_end) (1 + cos(pi t / T)) / 2;
    square lr_end + (lr_max - lr_end) (1 - t / T)^2; exponential lr_max (lr_end / lr_max)^(t / T).
    """
    if name not in SCHEDULES:
        raise ValueError(f"schedule.name={name!r}: choose one of {SCHEDULES}")
    for key, value in (("lr_max", lr_max), ("lr_init", lr_init), ("lr_end", lr_end)):
        if value < 0:
            raise ValueError(f"schedule.{key}={value}: a learning rate cannot be negative")
    if lr_max == 0:
        raise ValueError("schedule.lr_max=0: nothing would train")
    if warmup_steps < 0:
        raise ValueError(f"schedule.warmup_steps={warmup_steps}: cannot be negative")
    if total_steps <= 0:
        raise ValueError(f"no training steps (total_steps={total_steps}); check train.epochs and train.batch_size")
    warmup = min(warmup_steps, total_steps)
    lrs = np.empty(total_steps, np.float64)
    if warmup:
        lrs[:warmup] = lr_init + (lr_max - lr_init) * (np.arange(1, warmup + 1) / warmup)
    decay = total_steps - warmup
    t = np.arange(decay) / max(decay, 1)
    if name == "constant":
        tail = np.full(decay, lr_max)
    elif name == "cosine":
        tail = lr_end + (lr_max - lr_end) * 0.5 * (1 + np.cos(np.pi * t))
    elif name == "square":
        tail = lr_end + (lr_max - lr_end) * (1 - t) ** 2
    else:
        floor = lr_end if lr_end > 0 else lr_max * 1e-3
        tail = lr_max * (floor / lr_max) ** t
    lrs[warmup:] = tail
    return lrs.astype(np.float32)
