"""Convert a Keras MobileNetV2 (.h5, layer names of keras.applications) to ModelZoo parameter names."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from garbage_hpo.models.mobilenetv2 import INVERTED_RESIDUAL_SETTINGS

BN_FIELDS = ("gamma", "beta", "moving_mean", "moving_variance")


def _keras_block_names() -> list[tuple[str, bool]]:
    """(keras prefix, has_expand) for the 17 inverted residual blocks in order."""
    total = sum(n for _, _, n, _ in INVERTED_RESIDUAL_SETTINGS)
    return [("expanded_conv", False)] + [(f"block_{i}", True) for i in range(1, total)]


def keras_to_modelzoo_names() -> list[tuple[str, str, str]]:
    """(keras layer, ModelZoo parameter prefix, kind) with kind in conv | depthwise | bn."""
    pairs: list[tuple[str, str, str]] = [
        ("Conv1", "backbone.features.0.features.0", "conv"),
        ("bn_Conv1", "backbone.features.0.features.1", "bn"),
    ]
    for index, (prefix, has_expand) in enumerate(_keras_block_names(), start=1):
        base = f"backbone.features.{index}.conv"
        slot = 0
        if has_expand:
            pairs += [
                (f"{prefix}_expand", f"{base}.0.features.0", "conv"),
                (f"{prefix}_expand_BN", f"{base}.0.features.1", "bn"),
            ]
            slot = 1
        pairs += [
            (f"{prefix}_depthwise", f"{base}.{slot}.features.0", "depthwise"),
            (f"{prefix}_depthwise_BN", f"{base}.{slot}.features.1", "bn"),
            (f"{prefix}_project", f"{base}.{slot + 1}", "conv"),
            (f"{prefix}_project_BN", f"{base}.{slot + 2}", "bn"),
        ]
    last = len(_keras_block_names()) + 1
    pairs += [
        ("Conv_1", f"backbone.features.{last}.features.0", "conv"),
        ("Conv_1_bn", f"backbone.features.{last}.features.1", "bn"),
    ]
    return pairs


def find_layer_group(h5: h5py.File, layer: str) -> h5py.Group:
    """The group holding `layer`'s weights, whether the backbone is nested in a wrapper model or not."""
    root = h5.get("model_weights", h5)
    if layer in root:
        return root[layer]
    for name in root:
        group = root[name]
        if isinstance(group, h5py.Group) and layer in group:
            return group[layer]
    raise KeyError(f"layer {layer!r} not found in the .h5 file")


def _read(group: h5py.Group, *fields: str) -> np.ndarray:
    """Read one of `fields` under a layer group.

    Keras 2 nests weights as <layer>/<field>:0 and names depthwise kernels `depthwise_kernel`;
    Keras 3 writes <layer>/<field> and calls every kernel `kernel`.
    """
    found: list[np.ndarray] = []

    def visit(name: str, obj) -> None:
        leaf = name.rsplit("/", 1)[-1].split(":")[0]
        if isinstance(obj, h5py.Dataset) and leaf in fields:
            found.append(np.asarray(obj))

    group.visititems(visit)
    if len(found) != 1:
        raise KeyError(f"{group.name}: expected one of {fields}, found {len(found)}")
    return found[0].astype(np.float32)


def convert_keras_mobilenetv2(h5_path: Path) -> dict[str, np.ndarray]:
    """Read every backbone weight of a Keras MobileNetV2 .h5 and return ModelZoo-named arrays."""
    params: dict[str, np.ndarray] = {}
    with h5py.File(h5_path, "r") as h5:
        for keras_layer, prefix, kind in keras_to_modelzoo_names():
            group = find_layer_group(h5, keras_layer)
            if kind == "bn":
                for field in BN_FIELDS:
                    params[f"{prefix}.{field}"] = _read(group, field)
            elif kind == "conv":  # (kh, kw, in, out) -> (out, in, kh, kw)
                params[f"{prefix}.weight"] = _read(group, "kernel").transpose(3, 2, 0, 1).copy()
            else:  # depthwise (kh, kw, in, multiplier=1) -> (in, 1, kh, kw)
                params[f"{prefix}.weight"] = _read(group, "depthwise_kernel", "kernel").transpose(2, 3, 0, 1).copy()
    return params


def keras_input_size(h5_path: Path, default: int = 224) -> int:
    """The square input size of the model saved in `h5_path` (its first InputLayer), or `default` for a file
    holding weights only."""
    import json

    with h5py.File(h5_path, "r") as h5:
        raw = h5.attrs.get("model_config")
    if raw is None:
        return default
    found: list[int] = []

    def visit(node) -> None:  # the first (N, H, H, 3) batch shape in the saved config: the input layer's
        if isinstance(node, dict):
            shape = node.get("batch_shape") or node.get("batch_input_shape")
            if not found and isinstance(shape, list) and len(shape) == 4 and shape[1] and shape[1] == shape[2]:
                found.append(int(shape[1]))
            nodes = node.values()
        else:
            nodes = node if isinstance(node, list) else []
        for value in nodes:
            visit(value)

    visit(json.loads(raw if isinstance(raw, str) else raw.decode()))
    return found[0] if found else default
