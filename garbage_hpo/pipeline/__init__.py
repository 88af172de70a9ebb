"""One training run, step by step: prepare data and features (preparation), the head's inputs (taps,
train_views, cut_point), train on one split (one_split), score the test set (test_set), save the model
(saved_model).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.pipeline.cut_point import cut_activations
    from garbage_hpo.pipeline.one_split import CONFUSION_JSON, TrainResult, train
    from garbage_hpo.pipeline.preparation import (
        Prepared,
        dataset_and_spec,
        load_images,
        network_parts,
        prepare,
        run_tags,
    )
    from garbage_hpo.pipeline.saved_model import save_model
    from garbage_hpo.pipeline.taps import head_inputs
    from garbage_hpo.pipeline.test_set import test_report, test_scores
    from garbage_hpo.pipeline.train_views import check_view_room, train_view_inputs

_WHERE = {
    "CONFUSION_JSON": "one_split",
    "Prepared": "preparation",
    "TrainResult": "one_split",
    "check_view_room": "train_views",
    "cut_activations": "cut_point",
    "dataset_and_spec": "preparation",
    "head_inputs": "taps",
    "load_images": "preparation",
    "network_parts": "preparation",
    "prepare": "preparation",
    "run_tags": "preparation",
    "save_model": "saved_model",
    "test_report": "test_set",
    "test_scores": "test_set",
    "train": "one_split",
    "train_view_inputs": "train_views",
}
__all__ = [
    "CONFUSION_JSON",
    "Prepared",
    "TrainResult",
    "check_view_room",
    "cut_activations",
    "dataset_and_spec",
    "head_inputs",
    "load_images",
    "network_parts",
    "prepare",
    "run_tags",
    "save_model",
    "test_report",
    "test_scores",
    "train",
    "train_view_inputs",
]
__getattr__ = lazy_exports(__name__, _WHERE)
