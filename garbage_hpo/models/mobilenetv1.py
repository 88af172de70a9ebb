"""MobileNetV1 (Howard et al. 2017) in MindSpore, with a width multiplier: the course's second lab.

ImageNet weights come from the TF-slim TFLite files (`model.pretrained=FILE.tflite` or a folder of them;
models/tflite_convert.py maps their layers onto this cell tree); without them it is trained from scratch
(`model.pretrained=none` with a fine-tune stage over the whole network).
"""

from __future__ import annotations

from mindspore import nn

from garbage_hpo.models.mobilenetv2 import ConvBNReLU
from garbage_hpo.models.profiles import MODELZOO, WeightProfile

# (output channels, stride) of the 13 depthwise-separable blocks
DEPTHWISE_SEPARABLE_SETTINGS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
WIDTHS = (0.25, 0.5, 0.75, 1.0)


class DepthwiseSeparable(nn.Cell):
    def __init__(self, in_ch: int, out_ch: int, stride: int, profile: WeightProfile) -> None:
        super().__init__()
        self.depthwise = ConvBNReLU(in_ch, in_ch, kernel=3, stride=stride, groups=in_ch, profile=profile)
        self.pointwise = ConvBNReLU(in_ch, out_ch, kernel=1, profile=profile)

    def construct(self, x):
        return self.pointwise(self.depthwise(x))


class MobileNetV1Backbone(nn.Cell):
    """Image batch (N, 3, H, W) -> feature map (N, out_channels, H/32, W/32)."""

    def __init__(self, width: float = 1.0, profile: WeightProfile = MODELZOO) -> None:
        super().__init__()
        in_ch = int(32 * width)
        features: list[nn.Cell] = [ConvBNReLU(3, in_ch, stride=2, profile=profile)]
        for channels, stride in DEPTHWISE_SEPARABLE_SETTINGS:
            out_ch = int(channels * width)
            features.append(DepthwiseSeparable(in_ch, out_ch, stride, profile))
            in_ch = out_ch
        self.out_channels = in_ch
        self.features = nn.SequentialCell(features)

    def construct(self, x):
        return self.features(x)
