"""MobileNetV2 in MindSpore, with the parameter names of the official ModelZoo checkpoint.

Cell tree (and so parameter names) follows ModelZoo's MobileNetV2Combine: `backbone.features.{0..18}` and
`head.dense`, so `load_checkpoint` on an official file needs no renaming. The numeric conventions that
differ between weight sources (padding, BatchNorm epsilon) come from a `WeightProfile`.
"""

from __future__ import annotations

from mindspore import nn

from garbage_hpo.models.depthwise import DepthwiseConv2d
from garbage_hpo.models.profiles import MODELZOO, WeightProfile

# expansion t, output channels c, repeats n, first stride s (Sandler et al. 2018, table 2)
INVERTED_RESIDUAL_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
WIDTHS = (0.35, 0.5, 0.75, 1.0)


def make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:  # never round down by more than 10%
        rounded += divisor
    return rounded


def conv2d(in_ch: int, out_ch: int, kernel: int, stride: int, groups: int, profile: WeightProfile) -> nn.Conv2d:
    if groups == in_ch == out_ch and kernel == 3 and groups > 1:
        return DepthwiseConv2d(in_ch, stride, *(("same", 0) if profile.padding == "same" else ("pad", 1)))
    if profile.padding == "same":
        return nn.Conv2d(in_ch, out_ch, kernel, stride, pad_mode="same", group=groups, has_bias=False)
    return nn.Conv2d(
        in_ch, out_ch, kernel, stride, pad_mode="pad", padding=kernel // 2, group=groups, has_bias=False
    )


class ConvBNReLU(nn.Cell):
    def __init__(
        self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1,
        profile: WeightProfile = MODELZOO,
    ) -> None:
        super().__init__()
        self.features = nn.SequentialCell(
            [
                conv2d(in_ch, out_ch, kernel, stride, groups, profile),
                nn.BatchNorm2d(out_ch, eps=profile.bn_eps),
                nn.ReLU6(),
            ]
        )

    def construct(self, x):
        return self.features(x)


class InvertedResidual(nn.Cell):
    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int, profile: WeightProfile) -> None:
        super().__init__()
        hidden = int(round(in_ch * expansion))
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Cell] = []
        if expansion != 1:
            layers.append(ConvBNReLU(in_ch, hidden, kernel=1, profile=profile))
        layers += [
            ConvBNReLU(hidden, hidden, kernel=3, stride=stride, groups=hidden, profile=profile),
            conv2d(hidden, out_ch, 1, 1, 1, profile),
            nn.BatchNorm2d(out_ch, eps=profile.bn_eps),
        ]
        self.conv = nn.SequentialCell(layers)

    def construct(self, x):
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2Backbone(nn.Cell):
    """Feature extractor: image batch (N, 3, H, W) -> feature map (N, out_channels, H/32, W/32)."""

    def __init__(self, width: float = 1.0, profile: WeightProfile = MODELZOO) -> None:
        super().__init__()
        in_ch = make_divisible(32 * width)
        self.out_channels = make_divisible(1280 * max(1.0, width))
        features: list[nn.Cell] = [ConvBNReLU(3, in_ch, stride=2, profile=profile)]
        for expansion, channels, repeats, stride in INVERTED_RESIDUAL_SETTINGS:
            out_ch = make_divisible(channels * width)
            for i in range(repeats):
                features.append(InvertedResidual(in_ch, out_ch, stride if i == 0 else 1, expansion, profile))
                in_ch = out_ch
        features.append(ConvBNReLU(in_ch, self.out_channels, kernel=1, profile=profile))
        self.features = nn.SequentialCell(features)

    @property
    def num_blocks(self) -> int:
        return len(self.features)

    def construct(self, x):
        return self.features(x)


class MobileNetV2(nn.Cell):
    """Backbone plus a classification head; parameter names `backbone.*` and `head.*`."""

    def __init__(self, backbone: nn.Cell, head: nn.Cell) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def construct(self, x):
        return self.head(self.backbone(x))
