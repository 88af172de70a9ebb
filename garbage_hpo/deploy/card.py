"""Model cards bound to their weights: `model.json` records a hash of every file it describes (model.ckpt,
model.mindir) and of each setting that shapes the network's answers (input size and scaling, BatchNorm
epsilon, pooling, head, classes, ...). Loading refuses a card whose weights or shaping settings changed since
it was written, naming the file or the field: an edited card would otherwise give other answers silently."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from garbage_hpo.models import ACTIVATIONS, PADDINGS, REDUCTIONS, SCALINGS
from garbage_hpo.runtime import file_digest, write_text_atomic

log = logging.getLogger(__name__)
FIRST_FIELDS = ("network", "architecture", "width", "image_size", "weights_source", "companion", "ensemble")
LAST_FIELDS = ("classes", "binding")
SHAPING_FIELDS = ("architecture", "width", "image_size", "profile", "head", "classes", "features", "ensemble",
                  "companion")


class ModelCardError(ValueError):
    """A model card that is malformed, impossible, or not the one its weights were saved with."""


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out |= _flatten(inner, f"{prefix}.{key}")
        return out
    return {prefix: value}


def field_hashes(card: dict) -> dict[str, str]:
    """A short hash per shaping setting (dotted name, e.g. `profile.bn_eps`), so a mismatch can be named."""
    fields: dict[str, Any] = {}
    for name in SHAPING_FIELDS:
        if name in card:
            fields |= _flatten(card[name], name)
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:16] for k, v in fields.items()}


def ordered(card: dict) -> dict:
    """The card as a person reads it: what the network is first (`network`: a single trial or an ensemble, the
    figure to quote), the members of an ensemble before anything member-specific, the long lists last."""
    keys = [k for k in FIRST_FIELDS if k in card] + [k for k in card if k not in FIRST_FIELDS + LAST_FIELDS]
    return {k: card[k] for k in keys + [k for k in LAST_FIELDS if k in card]}


def write_card(path: Path, card: dict, weights: list[Path]) -> None:
    """Write `card` to `path` bound to the weight files it describes (written before the card)."""
    binding = {"fields": field_hashes(card), "weights": {w.name: file_digest(w) for w in weights}}
    write_text_atomic(path, json.dumps(ordered(card | {"binding": binding}), indent=2, ensure_ascii=False))


def update_card(path: Path, change: Callable[[dict], None], add_weights: tuple[Path, ...] = ()) -> dict:
    """Change a card's record (selection, ensemble figures) and bind files exported from its weights since;
    the shaping fields' hashes are kept as written, so this never blesses an edit of them."""
    card = read_card(path)
    binding = card.pop("binding", None)
    change(card)
    if binding is not None:
        binding["weights"] |= {w.name: file_digest(w) for w in add_weights}
        card["binding"] = binding
    card = ordered(card)
    write_text_atomic(path, json.dumps(card, indent=2, ensure_ascii=False))
    return card


def read_card(path: Path) -> dict:
    """The card's JSON object, or a one-line error naming the file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model card missing (classes, preprocessing, input size)")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelCardError(f"{path}: not a valid model card ({err})") from err
    if not isinstance(card, dict):
        raise ModelCardError(f"{path}: not a valid model card (expected a JSON object)")
    return card


UNBOUND_FLAG = "--unbound-card"


def load_card(path: Path, weights: Path, unbound: bool = False) -> dict:
    """The card of `weights` (checked: values possible, bound to these weights and unedited since). A card
    without its `binding` (written before cards were bound, or with it deleted) is refused unless `unbound`:
    nothing would catch an edit of it."""
    card = read_card(path)
    check_values(card, path)
    binding = card.get("binding")
    if binding is None:
        if not unbound:
            raise ModelCardError(f"{path}: the card records no binding to its weights, so an edit of it (input "
                                 "size, scaling, bn_eps, classes) cannot be caught; re-save the model, or pass "
                                 f"{UNBOUND_FLAG} if this is a card from before cards were bound, on purpose")
        log.warning("%s: unbound model card used as asked (%s): its fields are not checked", path, UNBOUND_FLAG)
        return card
    recorded = binding.get("weights", {}).get(weights.name)
    if recorded is None:
        raise ModelCardError(f"{path}: the card does not describe {weights.name} (it describes "
                             f"{sorted(binding.get('weights', {}))}); was the file copied from another model?")
    if file_digest(weights) != recorded:
        raise ModelCardError(f"{weights}: not the weights its model card {path.name} was written for (sha256 "
                             "differs): the weights or the card were replaced; keep a model's files together")
    wanted, now = binding.get("fields", {}), field_hashes(card)
    changed = sorted(k for k in set(wanted) | set(now) if wanted.get(k) != now.get(k))
    if changed:
        raise ModelCardError(f"{path}: field {changed[0]!r} differs from the value {weights.name} was saved with"
                             f"{f' (and {len(changed) - 1} more)' if len(changed) > 1 else ''}: the card was edited "
                             "after saving and would give other answers; restore it from the run's artifacts")
    return card


def _require(ok: bool, path: Path, message: str) -> None:
    if not ok:
        raise ModelCardError(f"{path}: {message}")


def check_values(card: dict, path: Path) -> None:
    """Impossible values as one line naming the field (instead of a cv2 traceback or an IndexError later)."""
    missing = [k for k in ("architecture", "width", "image_size", "profile", "classes") if k not in card]
    _require(not missing, path, f"missing fields {missing}")
    size = card["image_size"]
    _require(isinstance(size, int) and not isinstance(size, bool) and 16 <= size <= 4096, path,
             f"image_size={size!r}: a whole number of pixels from 16 to 4096")
    profile = card["profile"]
    _require(isinstance(profile, dict), path, "profile: expected an object")
    _require(profile.get("input_scaling") in SCALINGS, path,
             f"profile.input_scaling={profile.get('input_scaling')!r}: one of {list(SCALINGS)}")
    _require(profile.get("padding") in PADDINGS, path, f"profile.padding={profile.get('padding')!r}: one of "
             f"{list(PADDINGS)}")
    eps = profile.get("bn_eps")
    _require(isinstance(eps, int | float) and not isinstance(eps, bool) and math.isfinite(eps) and 0 < eps < 1,
             path, f"profile.bn_eps={eps!r}: a number between 0 and 1")
    classes = card["classes"]
    _require(isinstance(classes, list) and len(classes) >= 2 and all(
        isinstance(c, dict) and {"folder", "english", "chinese", "category"} <= set(c) for c in classes), path,
        "classes: a list of at least 2 objects with folder, english, chinese and category")
    head = card.get("head")
    if isinstance(head, dict):
        _require(head.get("num_classes") == len(classes), path,
                 f"head.num_classes={head.get('num_classes')!r} but the card lists {len(classes)} classes")
        _require(head.get("reduction") in REDUCTIONS, path, f"head.reduction={head.get('reduction')!r}: one of "
                 f"{list(REDUCTIONS)}")
        _require(head.get("activation", "none") in ACTIVATIONS, path,
                 f"head.activation={head.get('activation')!r}: one of {list(ACTIVATIONS)}")


