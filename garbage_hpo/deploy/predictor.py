"""Load a trained model (checkpoint + model card) and classify photos.

    from garbage_hpo.deploy.predictor import Predictor
    predictor = Predictor.load("runs/models/<run id>/model.ckpt")   # or the exported model.mindir
    predictor.predict("photo.jpg")                        # a path
    predictor.predict(rgb_array)                          # an RGB array (the default colour order)
    predictor.predict(cv2.imread("photo.jpg"), "bgr")     # a cv2 array is BGR: say so
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.data import preprocess, read_rgb, to_rgb
from garbage_hpo.deploy.card import load_card
from garbage_hpo.deploy.export import load_mindir
from garbage_hpo.features import block_channels
from garbage_hpo.models import (
    EnsembleNet,
    FeatureSources,
    HeadSpec,
    Member,
    WeightProfile,
    build_network,
    new_backbone,
    predict_images,
    softmax,
)


def network_for_card(card: dict) -> nn.Cell:
    """The untrained network a model card describes: classic, tapped/standardized/TTA, or an ensemble."""
    backbone = new_backbone(card["architecture"], card["width"], WeightProfile(**card["profile"]))
    beside = card.get("companion")  # model.companion: a second backbone read from the same image
    companion = None if beside is None else new_backbone(beside["architecture"], beside["width"],
                                                         WeightProfile(**beside["profile"]))
    if "ensemble" in card:
        return EnsembleNet(backbone, [Member.from_card(e) for e in card["ensemble"]], block_channels(backbone),
                           None if companion is None else (companion, block_channels(companion)))
    sources = FeatureSources.from_card(card["features"]) if "features" in card else None
    return build_network(backbone, HeadSpec(**card["head"]), sources, companion=companion)


@dataclass(frozen=True)
class Prediction:
    index: int
    folder: str
    english: str
    chinese: str
    category: str
    confidence: float  # softmax probability of the network output


class Predictor:
    def __init__(self, net: nn.Cell, card: dict) -> None:
        self.net = net
        self.card = card
        self.profile = WeightProfile(**card["profile"])
        self.image_size = int(card["image_size"])
        self.classes = card["classes"]

    @classmethod
    def load(cls, checkpoint: str | Path, unbound_card: bool = False) -> Predictor:
        """A `.ckpt` (weights, rebuilt from the card) or an exported `.mindir`; `model.json` lies beside it,
        bound to these weights and unedited (`unbound_card`: accept an old card that records no binding)."""
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"model checkpoint {checkpoint} does not exist")
        card = load_card(checkpoint.with_suffix(".json"), checkpoint, unbound_card)
        if checkpoint.suffix == ".mindir":
            return cls(load_mindir(checkpoint), card)
        net = network_for_card(card)
        try:
            state = ms.load_checkpoint(str(checkpoint))
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"{checkpoint}: not a readable MindSpore checkpoint") from err
        own = {p.name: tuple(p.shape) for p in net.get_parameters()}
        wrong = [f"{n} {tuple(state[n].shape)} != {shape}" for n, shape in own.items()
                 if n in state and tuple(state[n].shape) != shape]
        missing = [n for n in own if n not in state]
        if wrong or missing:
            raise ValueError(f"{checkpoint} does not match its model card ({card['head']['num_classes']} classes, "
                             f"width {card['width']}): {(wrong + missing)[:3]}")
        ms.load_param_into_net(net, state, strict_load=True)
        net.set_train(False)
        return cls(net, card)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def scores_batch(self, images: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Scores for RGB arrays, in fixed-size batches (one compiled graph for all)."""

        x = np.stack([preprocess(img, self.image_size, self.profile.input_scaling) for img in images])
        return predict_images(self.net, x, batch_size)

    def scores(self, image: str | Path | np.ndarray, color_order: str = "rgb") -> np.ndarray:
        rgb = read_rgb(Path(image)) if isinstance(image, str | Path) else to_rgb(image, color_order)
        x = preprocess(rgb, self.image_size, self.profile.input_scaling)[None]
        return self.net(ms.Tensor(x)).asnumpy()[0]

    def predict(self, image: str | Path | np.ndarray, color_order: str = "rgb", top_k: int = 1
                ) -> list[Prediction]:
        scores = self.scores(image, color_order).astype(np.float64)
        probs = softmax(scores)
        order = np.argsort(-probs, kind="stable")[:top_k]
        return [Prediction(int(i), self.classes[i]["folder"], self.classes[i]["english"], self.classes[i]["chinese"],
                           self.classes[i]["category"], float(probs[i])) for i in order]
