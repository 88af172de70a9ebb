"""What ships: the model card (card), MINDIR export (export), the Predictor (predictor), model references
(model_ref) and the MLflow model registry (registry).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.deploy.card import read_card, update_card, write_card
    from garbage_hpo.deploy.export import export_mindir, load_mindir, top1_agreement
    from garbage_hpo.deploy.model_ref import resolve_model
    from garbage_hpo.deploy.predictor import Predictor
    from garbage_hpo.deploy.registry import promote, register_version

_WHERE = {
    "Predictor": "predictor",
    "export_mindir": "export",
    "load_mindir": "export",
    "promote": "registry",
    "read_card": "card",
    "register_version": "registry",
    "resolve_model": "model_ref",
    "top1_agreement": "export",
    "update_card": "card",
    "write_card": "card",
}
__all__ = [
    "Predictor",
    "export_mindir",
    "load_mindir",
    "promote",
    "read_card",
    "register_version",
    "resolve_model",
    "top1_agreement",
    "update_card",
    "write_card",
]
__getattr__ = lazy_exports(__name__, _WHERE)
