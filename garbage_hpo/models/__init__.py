"""One file per architecture (MobileNetV2, MobileNetV1), the heads, and what the deployable networks are made of.

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.models.checkpoint import file_sha256
    from garbage_hpo.models.companion import CompanionChoice, choose_companion, companion_spec
    from garbage_hpo.models.ensemble import EnsembleNet, Member
    from garbage_hpo.models.factory import (
        ARCHITECTURES,
        BackboneSpec,
        build_backbone,
        new_backbone,
        num_blocks,
        resolve_backbone_spec,
    )
    from garbage_hpo.models.feature_sources import (
        NORMALIZATIONS,
        FeatureSources,
        Standardizer,
        block_slices,
        parse_taps,
        standardizer,
    )
    from garbage_hpo.models.head import ACTIVATIONS, REDUCTIONS, Classifier, Head, HeadSpec
    from garbage_hpo.models.inference import predict_images
    from garbage_hpo.models.keras_convert import convert_keras_mobilenetv2
    from garbage_hpo.models.mobilenetv2 import ConvBNReLU, InvertedResidual, MobileNetV2, MobileNetV2Backbone
    from garbage_hpo.models.profiles import (
        IMAGENET_MEAN_RGB,
        IMAGENET_STD_RGB,
        KERAS,
        PADDINGS,
        SCALINGS,
        WeightProfile,
        sidecar_path,
    )
    from garbage_hpo.models.tapped import build_network
    from garbage_hpo.models.tflite_convert import ARCH_LAYERS, CLASSIFIER_PREFIX, LOGITS_SCOPE, recognise
    from garbage_hpo.models.tflite_import import imported_checkpoint
    from garbage_hpo.models.tflite_reader import TfliteGraph, read_tflite
    from garbage_hpo.models.tta import (
        CROP_FRACTION,
        EXTRA_VIEWS,
        TTA_MODES,
        average_views,
        crop_box,
        softmax,
        weighted_views,
    )

_WHERE = {
    "predict_images": "inference",
    "ACTIVATIONS": "head",
    "ARCHITECTURES": "factory",
    "ARCH_LAYERS": "tflite_convert",
    "BackboneSpec": "factory",
    "CompanionChoice": "companion",
    "choose_companion": "companion",
    "companion_spec": "companion",
    "CLASSIFIER_PREFIX": "tflite_convert",
    "CROP_FRACTION": "tta",
    "Classifier": "head",
    "ConvBNReLU": "mobilenetv2",
    "EXTRA_VIEWS": "tta",
    "EnsembleNet": "ensemble",
    "FeatureSources": "feature_sources",
    "Head": "head",
    "HeadSpec": "head",
    "IMAGENET_MEAN_RGB": "profiles",
    "IMAGENET_STD_RGB": "profiles",
    "InvertedResidual": "mobilenetv2",
    "KERAS": "profiles",
    "LOGITS_SCOPE": "tflite_convert",
    "Member": "ensemble",
    "MobileNetV2": "mobilenetv2",
    "MobileNetV2Backbone": "mobilenetv2",
    "NORMALIZATIONS": "feature_sources",
    "PADDINGS": "profiles",
    "REDUCTIONS": "head",
    "SCALINGS": "profiles",
    "Standardizer": "feature_sources",
    "TTA_MODES": "tta",
    "TfliteGraph": "tflite_reader",
    "WeightProfile": "profiles",
    "average_views": "tta",
    "block_slices": "feature_sources",
    "build_backbone": "factory",
    "build_network": "tapped",
    "convert_keras_mobilenetv2": "keras_convert",
    "crop_box": "tta",
    "file_sha256": "checkpoint",
    "imported_checkpoint": "tflite_import",
    "new_backbone": "factory",
    "num_blocks": "factory",
    "parse_taps": "feature_sources",
    "read_tflite": "tflite_reader",
    "recognise": "tflite_convert",
    "resolve_backbone_spec": "factory",
    "sidecar_path": "profiles",
    "softmax": "tta",
    "standardizer": "feature_sources",
    "weighted_views": "tta",
}
__all__ = [
    "predict_images",
    "ACTIVATIONS",
    "ARCHITECTURES",
    "ARCH_LAYERS",
    "BackboneSpec",
    "CLASSIFIER_PREFIX",
    "CROP_FRACTION",
    "Classifier",
    "ConvBNReLU",
    "EXTRA_VIEWS",
    "EnsembleNet",
    "FeatureSources",
    "Head",
    "HeadSpec",
    "IMAGENET_MEAN_RGB",
    "IMAGENET_STD_RGB",
    "InvertedResidual",
    "KERAS",
    "LOGITS_SCOPE",
    "Member",
    "CompanionChoice",
    "choose_companion",
    "companion_spec",
    "MobileNetV2",
    "MobileNetV2Backbone",
    "NORMALIZATIONS",
    "PADDINGS",
    "REDUCTIONS",
    "SCALINGS",
    "Standardizer",
    "TTA_MODES",
    "TfliteGraph",
    "WeightProfile",
    "average_views",
    "block_slices",
    "build_backbone",
    "build_network",
    "convert_keras_mobilenetv2",
    "crop_box",
    "file_sha256",
    "imported_checkpoint",
    "new_backbone",
    "num_blocks",
    "parse_taps",
    "read_tflite",
    "recognise",
    "resolve_backbone_spec",
    "sidecar_path",
    "softmax",
    "standardizer",
    "weighted_views",
]
__getattr__ = lazy_exports(__name__, _WHERE)
