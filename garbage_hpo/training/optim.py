"""Optimizers by config name."""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import nn

OPTIMIZERS = ("momentum", "adam")
MOMENTUM_DEFAULT = 0.9
WEIGHT_DECAY_PARAM = "weight_decay_value"


class WeightDecay(nn.Cell):
    """The weight decay as a parameter of the optimizer rather than a constant of its graph (MindSpore's "dynamic"
    weight decay, here constant over the steps): a compiled training step can then be reused by a trial with
    another weight decay (compiled_steps.py). It computes what a float weight decay does: gradient + wd * weight."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.weight_decay_value = ms.Parameter(ms.Tensor(np.float32(value)), name=WEIGHT_DECAY_PARAM,
                                               requires_grad=False)

    def construct(self, global_step):
        return self.weight_decay_value


def check_optimizer(name: str, *, momentum: float = 0.9, weight_decay: float = 0.0, beta1: float = 0.9,
                    beta2: float = 0.999, eps: float = 1e-8) -> None:
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer.name={name!r}: choose one of {OPTIMIZERS}")
    if weight_decay < 0:
        raise ValueError(f"optimizer.weight_decay={weight_decay}: cannot be negative")
    if not 0 <= momentum < 1:
        raise ValueError(f"optimizer.momentum={momentum}: must be in [0, 1)")
    for key, value in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= value < 1:
            raise ValueError(f"optimizer.{key}={value}: must be in [0, 1)")
    if eps <= 0:
        raise ValueError(f"optimizer.eps={eps}: must be positive")


def build_optimizer(name: str, params: list, lrs: np.ndarray, *, momentum: float = MOMENTUM_DEFAULT,
                    weight_decay: float = 0.0, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
                    ) -> nn.Optimizer:
    """`lrs` is a per-step list that must cover every step the optimizer will take."""
    check_optimizer(name, momentum=momentum, weight_decay=weight_decay, beta1=beta1, beta2=beta2, eps=eps)
    lr = ms.Tensor(lrs)
    decay = WeightDecay(weight_decay)
    if name == "momentum":
        return nn.Momentum(params, learning_rate=lr, momentum=momentum, weight_decay=decay)
    return nn.Adam(params, learning_rate=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=decay)
