"""The MobileNet paper's width x resolution table for this dataset, from a finished `width_resolution` study:

    python -m garbage_hpo.bench.mobilenet_table [sweep.storage=URL] [study=width_resolution] [repeats=30]

For every complete trial: the 5-fold CV accuracy with its fold std and photo count (from the study), the
network's multiply-adds and parameters (counted from the built network at that input size, 26-class head
included), and its single-photo latency measured again here, every network in this one process one after the
other (a sweep's own latency objective is measured while the sweep trains, so load from anything else on the
machine moves it). Prints a Markdown table and, last, one JSON line.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import optuna
from mindspore import nn

from garbage_hpo.models import WeightProfile, new_backbone
from garbage_hpo.runtime import command_args, configure_runtime, friendly_errors, key_values, number_value, runs_dir
from garbage_hpo.sweep import measure

PROFILE = WeightProfile("tflite", "same", 1e-3, "centered_128", 224, batchnorm="folded")
CLASSES = 26


def multiply_adds(arch: str, width: float, size: int) -> int:
    """Multiply-adds of one photo through the backbone (TensorFlow SAME padding: a stride-s convolution maps
    n pixels to ceil(n / s)) and a 26-way dense head."""
    backbone = new_backbone(arch, width, PROFILE)
    total, side = 0, size
    for _, cell in backbone.cells_and_names():
        if isinstance(cell, nn.Conv2d):
            stride = cell.stride[-1] if isinstance(cell.stride, tuple) else cell.stride
            side = math.ceil(side / stride)
            kh, kw = cell.kernel_size
            total += side * side * cell.out_channels * (cell.in_channels // cell.group) * kh * kw
    return total + backbone.out_channels * CLASSES


def rows(storage: str, study_name: str, repeats: int) -> list[dict]:
    study = optuna.load_study(study_name=study_name, storage=storage)
    out = []
    for trial in study.trials:
        if trial.state != optuna.trial.TrialState.COMPLETE:
            continue
        arch = str(trial.params.get("model", "mobilenetv1"))
        width = float(trial.params.get("model.width", trial.params.get("model.width@v1", 1.0)))
        size = int(trial.params["data.image_size"])
        folds = [trial.user_attrs[f"fold_acc.{k}"] for k in range(int(trial.user_attrs.get("cv_folds", 0)))]
        latency, params_m = measure(arch, width, size, CLASSES, PROFILE, repeats)
        out.append({"trial": trial.number, "arch": arch, "width": width, "size": size, "cv_mean": trial.values[0],
                    "cv_std": float(np.std(folds, ddof=1)) if len(folds) > 1 else float("nan"),
                    "mmacs": multiply_adds(arch, width, size) / 1e6, "params_m": params_m, "latency_ms": latency,
                    "sweep_latency_ms": trial.values[1] if len(trial.values) > 1 else None})
    return sorted(out, key=lambda r: (r["width"], r["size"]))


def main(argv: list[str] | None = None) -> int:
    argv = command_args(argv, __doc__)
    if argv is None:
        return 0
    with friendly_errors():
        overrides, _ = key_values(argv, {})
        storage = overrides.get("sweep.storage") or f"sqlite:///{runs_dir() / 'optuna.db'}"
        repeats = int(number_value("repeats", overrides.get("repeats", 30), int, "a whole number of timings"))
        configure_runtime()
        table = rows(storage, overrides.get("study", "width_resolution"), repeats)
        print("| width | input | 5-fold CV accuracy (mean +- fold std) | million mult-adds | million "
              "parameters | ms / photo |\n|---|---|---|---|---|---|")
        for r in table:
            print(f"| {r['width']} | {r['size']} | {r['cv_mean']:.4f} +- {r['cv_std']:.4f} | {r['mmacs']:.0f} | "
                  f"{r['params_m']:.2f} | {r['latency_ms']:.1f} |")
        print(json.dumps(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
