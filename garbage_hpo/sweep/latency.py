"""Model cost for multi-objective sweeps: measured single-image latency and parameter count."""

from __future__ import annotations

import time
from functools import lru_cache

import mindspore as ms
import numpy as np

from garbage_hpo.config import Objective
from garbage_hpo.metrics import Measured
from garbage_hpo.models import Head, HeadSpec, MobileNetV2, WeightProfile, new_backbone
from garbage_hpo.pipeline import Prepared


@lru_cache(maxsize=32)
def measure(arch: str, width: float, image_size: int, num_classes: int, profile: WeightProfile, repeats: int = 10
            ) -> tuple[float, float]:
    """(median batch-1 latency in ms, parameters in millions) of the whole network, graph mode, this machine."""
    backbone = new_backbone(arch, width, profile)
    net = MobileNetV2(backbone, Head(HeadSpec(num_classes=num_classes, in_features=backbone.out_channels)))
    net.set_train(False)
    x = ms.Tensor(np.zeros((1, 3, image_size, image_size), np.float32))
    net(x).asnumpy()  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        net(x).asnumpy()
        times.append(time.perf_counter() - start)
    params = sum(int(np.prod(p.shape)) for p in net.get_parameters())
    return float(np.median(times) * 1000), params / 1e6


def objective_values(goals: list[Objective], prepared: Prepared, result: Measured) -> list[float]:
    """The value of each objective: from the measured result, or the network's latency and size."""
    values = result.objective_values()
    if any(g.metric in ("latency_ms", "params_m") for g in goals):
        spec = prepared.spec
        latency, params = measure(spec.arch, spec.width, prepared.image_size, prepared.index.num_classes,
                                  spec.profile)
        values |= {"latency_ms": latency, "params_m": params}
    return [values[g.metric] for g in goals]
