"""The frozen MobileNetV2 backbone rebuilt in PyTorch from a MindSpore one, weights copied: the eager peer
that `make bench` compares against. Benchmark-only: `pip install torch==2.13.0` (the CPU build)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from mindspore import nn as msnn
from torch import nn

from garbage_hpo.models import ConvBNReLU, InvertedResidual, MobileNetV2Backbone


class SameConv(nn.Conv2d):
    """TensorFlow 'same' padding (extra pixel at the bottom/right for stride 2), as the Keras profile needs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, None, self.stride, 0, 1, self.groups)


def _conv(cell: msnn.Conv2d, same: bool) -> nn.Conv2d:
    weight = cell.weight.asnumpy()
    out_ch, in_per_group, k, _ = weight.shape
    groups = int(cell.group)
    stride = int(cell.stride[-1])
    conv = (SameConv(in_per_group * groups, out_ch, k, stride, groups=groups, bias=False) if same else
            nn.Conv2d(in_per_group * groups, out_ch, k, stride, padding=k // 2, groups=groups, bias=False))
    conv.weight.data = torch.from_numpy(np.ascontiguousarray(weight))
    return conv


def _bn(cell: msnn.BatchNorm2d) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(cell.num_features, eps=float(cell.eps))
    for name, source in (("weight", cell.gamma), ("bias", cell.beta), ("running_mean", cell.moving_mean),
                         ("running_var", cell.moving_variance)):
        getattr(bn, name).data = torch.from_numpy(source.asnumpy().copy())
    return bn


def _sequence(cells, same: bool) -> nn.Sequential:
    out = []
    for cell in cells:
        if isinstance(cell, ConvBNReLU):
            out.append(_sequence(cell.features.cells(), same))
        elif isinstance(cell, msnn.Conv2d):
            out.append(_conv(cell, same))
        elif isinstance(cell, msnn.BatchNorm2d):
            out.append(_bn(cell))
        elif isinstance(cell, msnn.ReLU6):
            out.append(nn.ReLU6())
        else:
            raise TypeError(f"no PyTorch counterpart for {type(cell).__name__}")
    return nn.Sequential(*out)


class Residual(nn.Module):
    def __init__(self, body: nn.Sequential, use_residual: bool) -> None:
        super().__init__()
        self.body, self.use_residual = body, use_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.use_residual else self.body(x)


class TorchPooledFeatures(nn.Module):
    """Same output as garbage_hpo.features.cache.PooledFeatures: (mean-pooled, max-pooled) features."""

    def __init__(self, backbone: MobileNetV2Backbone) -> None:
        super().__init__()
        same = backbone.features[0].features[0].pad_mode == "same"
        blocks = []
        for cell in backbone.features.cells():
            if isinstance(cell, InvertedResidual):
                blocks.append(Residual(_sequence(cell.conv.cells(), same), cell.use_residual))
            else:
                blocks.append(_sequence([cell], same))
        self.features = nn.Sequential(*blocks)
        self.eval()

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.features(x)
        return fmap.mean(dim=(2, 3)), fmap.amax(dim=(2, 3))
