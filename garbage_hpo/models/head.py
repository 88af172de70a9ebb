"""Classification heads: the seed experiments' knobs (reduction, depth, dropout, activation, bias).

`Head` = global pooling + `Classifier`. Stage 1 trains the `Classifier` alone on pooled features cached
once; stage 2 and inference run the whole `Head` on feature maps. Both share parameter names, so a stage-1
classifier drops into a full network unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import mindspore.ops as ops
from mindspore import nn

REDUCTIONS = ("mean", "max")
ACTIVATIONS = ("none", "softmax", "sigmoid")
DEPTHS = (1, 2)


@dataclass(frozen=True)
class HeadSpec:
    num_classes: int
    in_features: int = 1280
    reduction: str = "mean"
    depth: int = 1
    dropout: float = 0.0
    activation: str = "none"
    bias: bool = True

    @property
    def dropout_width(self) -> int:
        """Width of the features that dropout acts on (the input of the last dense layer)."""
        return self.in_features // 2 if self.depth == 2 else self.in_features

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"head.reduction={self.reduction!r}: choose one of {REDUCTIONS}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"head.activation={self.activation!r}: choose one of {ACTIVATIONS}")
        if self.depth not in DEPTHS:
            raise ValueError(f"head.depth={self.depth!r}: choose one of {DEPTHS}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"head.dropout={self.dropout!r}: must be in [0, 1)")
        if self.num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {self.num_classes}")


class Classifier(nn.Cell):
    """Pooled features (N, C) -> class scores (N, K).

    `activation` is applied to the logits, and training still uses softmax cross-entropy on the output:
    this is the seed experiment ("does a Softmax/Sigmoid layer in the head help?") reproduced as run.
    """

    def __init__(self, spec: HeadSpec) -> None:
        super().__init__()
        width = spec.in_features
        if spec.depth == 2:
            hidden = spec.in_features // 2
            self.hidden = nn.Dense(width, hidden, has_bias=spec.bias, activation="relu")
            width = hidden
        else:
            self.hidden = None
        self.dropout = nn.Dropout(p=spec.dropout) if spec.dropout > 0 else None
        self.dense = nn.Dense(width, spec.num_classes, has_bias=spec.bias)
        self.activation = {"none": None, "softmax": nn.Softmax(), "sigmoid": nn.Sigmoid()}[spec.activation]

    def scores(self, x):
        if self.hidden is not None:
            x = self.hidden(x)
        if self.dropout is not None:
            x = self.dropout(x)
        x = self.dense(x)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def masked_scores(self, x, mask):
        """Training-time scores with the dropout mask given as an input (already scaled by 1 / keep).

        Stage 1 feeds masks drawn from NumPy with the trial's seed, so a compiled training graph holds no
        random state and can serve every trial of the same shape, with results identical to a fresh one.
        """
        if self.hidden is not None:
            x = self.hidden(x)
        x = self.dense(x * mask)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def construct(self, x):
        return self.scores(x)


class GlobalPool(nn.Cell):
    def __init__(self, reduction: str) -> None:
        super().__init__()
        self.use_max = reduction == "max"

    def construct(self, x):
        if self.use_max:
            return ops.amax(x, axis=(2, 3))
        return ops.mean(x, axis=(2, 3))


class Head(Classifier):
    """Feature map (N, C, H, W) -> class scores; parameters named like ModelZoo's `head.dense.*`."""

    def __init__(self, spec: HeadSpec) -> None:
        super().__init__(spec)
        self.pool = GlobalPool(spec.reduction)

    def construct(self, x):
        return self.scores(self.pool(x))
