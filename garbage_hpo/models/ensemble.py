"""Several refit heads on ONE backbone pass: the deployable ensemble of `reproduce ensemble=k`.

The backbone runs once (and once more for each other view some member's TTA averages over); every block's
mean- and max-pooled output is concatenated, as the feature cache holds it, and each member gathers its own
columns (its taps and reduction), standardizes them with its own statistics, and scores them with its own
classifier. The output is the log of the members' weighted mean softmax probability (each member's probability
averaged over its views first; equal weights unless ensemble selection chose them), the same combination
`selection/ensemble.py` measures in cross-validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mindspore as ms
import mindspore.ops as ops
import numpy as np
from mindspore import Parameter, nn

from garbage_hpo.models.feature_sources import FeatureSources, Standardizer, block_slices
from garbage_hpo.models.head import Classifier, HeadSpec
from garbage_hpo.models.tta import EXTRA_VIEWS
from garbage_hpo.models.views import view_image


@dataclass(frozen=True)
class Member:
    head: HeadSpec
    sources: FeatureSources
    weight: float = 1.0  # its share of the mean (ensemble selection adds a trial several times)

    def card(self) -> dict:
        return {"head": self.head.__dict__.copy(), "features": self.sources.card(), "weight": self.weight}

    @classmethod
    def from_card(cls, entry: dict) -> Member:
        return cls(HeadSpec(**entry["head"]), FeatureSources.from_card(entry["features"]),
                   float(entry.get("weight", 1.0)))


def member_columns(member: Member, channels: list[int], companion_channels: Sequence[int] = ()) -> np.ndarray:
    """Columns of the member's input in the [every block mean | every block max] vector (followed by the
    companion backbone's [mean | max] when there is one)."""
    def columns(taps: tuple[int, ...], widths: Sequence[int], start: int) -> list[np.ndarray]:
        parts = block_slices(widths)
        offset = start + (sum(widths) if member.head.reduction == "max" else 0)
        return [np.arange(parts[t].start, parts[t].stop) + offset for t in taps]

    companion = columns(member.sources.companion_taps, list(companion_channels), 2 * sum(channels))
    return np.concatenate(columns(member.sources.taps, channels, 0) + companion)


class EnsembleNet(nn.Cell):
    def __init__(self, backbone: nn.Cell, members: list[Member], channels: list[int],
                 companion: tuple[nn.Cell, list[int]] | None = None) -> None:
        """`companion`: model.companion's backbone and its blocks' channels, when members read it."""
        super().__init__()
        self.backbone = backbone
        self.companion = nn.CellList(list(companion[0].features) if companion is not None else [])
        self.heads = nn.CellList([Classifier(m.head) for m in members])
        columns = [member_columns(m, channels, companion[1] if companion else ()) for m in members]
        ends = np.cumsum([len(c) for c in columns])
        self.bounds = tuple((int(e - len(c)), int(e)) for c, e in zip(columns, ends, strict=True))
        self.columns = ms.Tensor(np.concatenate(columns).astype(np.int32))
        # every member's other views (tta.py), each computed once for all members that average over it
        self.views = tuple(dict.fromkeys(v for m in members for v in EXTRA_VIEWS[m.sources.tta]))
        self.uses = tuple(tuple(v in EXTRA_VIEWS[m.sources.tta] for v in self.views) for m in members)
        total = sum(m.weight for m in members)
        self.weights = tuple(float(m.weight / total) for m in members)
        width = int(ends[-1])
        self.input_mean = Parameter(ms.Tensor(np.zeros((1, width), np.float32)), name="ensemble_input.mean",
                                    requires_grad=False)
        self.input_scale = Parameter(ms.Tensor(np.ones((1, width), np.float32)), name="ensemble_input.scale",
                                     requires_grad=False)

    def set_standardizers(self, scalers: list[Standardizer | None]) -> None:
        means, scales = [], []
        for (start, end), scaler in zip(self.bounds, scalers, strict=True):
            scaler = scaler or Standardizer.identity(end - start)
            means.append(scaler.mean)
            scales.append(scaler.scale)
        self.input_mean.set_data(ms.Tensor(np.concatenate(means).reshape(1, -1).astype(np.float32)))
        self.input_scale.set_data(ms.Tensor(np.concatenate(scales).reshape(1, -1).astype(np.float32)))

    def member_inputs(self, image):
        x = image
        means = ()
        maxes = ()
        for block in self.backbone.features:
            x = block(x)
            means = means + (ops.mean(x, axis=(2, 3)),)
            maxes = maxes + (ops.amax(x, axis=(2, 3)),)
        y = image
        companion_means = ()
        companion_maxes = ()
        for block in self.companion:
            y = block(y)
            companion_means = companion_means + (ops.mean(y, axis=(2, 3)),)
            companion_maxes = companion_maxes + (ops.amax(y, axis=(2, 3)),)
        pooled = ops.concat(means + maxes + companion_means + companion_maxes, axis=1)
        return (ops.gather(pooled, self.columns, 1) - self.input_mean) / self.input_scale

    def construct(self, x):
        inputs = self.member_inputs(x)
        others = ()
        for mirrored, crop in self.views:
            others = others + (self.member_inputs(view_image(x, mirrored, crop)),)
        members = ()
        for i in range(len(self.bounds)):
            start, end = self.bounds[i]
            probs = ops.softmax(self.heads[i](inputs[:, start:end]), axis=-1)
            count = 1
            for j in range(len(self.views)):
                if self.uses[i][j]:
                    probs = probs + ops.softmax(self.heads[i](others[j][:, start:end]), axis=-1)
                    count = count + 1
            members = members + (probs * (self.weights[i] / count),)
        return ops.log(ops.stack(members).sum(axis=0) + 1e-30)
