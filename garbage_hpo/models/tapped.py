"""The deployable network when the head reads several blocks or standardized features (taps.py), or averages
over other views of the photo (tta.py).

Image -> backbone blocks, pooling the output of each tapped block -> concatenation -> (x - mean) / scale ->
classifier (with TTA: the same for each view, probabilities averaged, returned as log-probabilities).
The standardization statistics are non-trainable parameters, so the checkpoint and the exported MINDIR carry
them and a predictor needs nothing but the image. Parameter names stay `backbone.*` and `head.*` (plus
`head_input.*`), like the classic `MobileNetV2`.
"""

from __future__ import annotations

import mindspore as ms
import mindspore.ops as ops
import numpy as np
from mindspore import Parameter, nn

from garbage_hpo.models.feature_sources import FeatureSources, Standardizer
from garbage_hpo.models.head import Classifier, Head, HeadSpec
from garbage_hpo.models.mobilenetv2 import MobileNetV2
from garbage_hpo.models.tta import EXTRA_VIEWS
from garbage_hpo.models.views import view_image


class TappedNet(nn.Cell):
    def __init__(self, backbone: nn.Cell, spec: HeadSpec, sources: FeatureSources,
                 companion: nn.Cell | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        # model.companion's blocks (empty without one), read from the same image after the first backbone's
        self.companion = nn.CellList(list(companion.features) if companion is not None else [])
        self.companion_tapped = tuple(i in sources.companion_taps for i in range(len(self.companion)))
        self.head = Classifier(spec)
        self.use_max = spec.reduction == "max"
        self.tapped = tuple(i in sources.taps for i in range(sources.blocks))  # constant: unrolled in graph mode
        self.views = EXTRA_VIEWS[sources.tta]  # constant: unrolled in graph mode
        width = spec.in_features
        self.head_input_mean = Parameter(ms.Tensor(np.zeros((1, width), np.float32)), name="head_input.mean",
                                         requires_grad=False)
        self.head_input_scale = Parameter(ms.Tensor(np.ones((1, width), np.float32)), name="head_input.scale",
                                          requires_grad=False)

    def set_standardizer(self, scaler: Standardizer) -> None:
        self.head_input_mean.set_data(ms.Tensor(scaler.mean.reshape(1, -1).astype(np.float32)))
        self.head_input_scale.set_data(ms.Tensor(scaler.scale.reshape(1, -1).astype(np.float32)))

    def pool(self, x):
        if self.use_max:
            return ops.amax(x, axis=(2, 3))
        return ops.mean(x, axis=(2, 3))

    def construct(self, x):
        if not self.views:
            return self.scores(x)
        total = ops.softmax(self.scores(x), axis=-1)  # log of the mean probability over the views (tta.py)
        for mirrored, crop in self.views:
            total = total + ops.softmax(self.scores(view_image(x, mirrored, crop)), axis=-1)
        return ops.log(total / (len(self.views) + 1) + 1e-30)

    def scores(self, image):
        x = image
        pooled = ()
        i = 0
        for block in self.backbone.features:
            x = block(x)
            if self.tapped[i]:
                pooled = pooled + (self.pool(x),)
            i = i + 1
        y = image
        i = 0
        for block in self.companion:
            y = block(y)
            if self.companion_tapped[i]:
                pooled = pooled + (self.pool(y),)
            i = i + 1
        features = ops.concat(pooled, axis=1)
        return self.head((features - self.head_input_mean) / self.head_input_scale)


def build_network(backbone: nn.Cell, spec: HeadSpec, sources: FeatureSources | None,
                  scaler: Standardizer | None = None, companion: nn.Cell | None = None) -> nn.Cell:
    """The classic MobileNetV2 when the head reads the last block unscaled, else a `TappedNet` (with the
    companion backbone's blocks when its taps are read)."""
    if sources is None or sources.plain:
        return MobileNetV2(backbone, Head(spec))
    net = TappedNet(backbone, spec, sources, companion if sources.companion_taps else None)
    if scaler is not None:
        net.set_standardizer(scaler)
    return net
