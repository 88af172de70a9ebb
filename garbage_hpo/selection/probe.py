"""The peer probe: scikit-learn's LogisticRegression on the same cached features (the config's taps), standardized.

It is measured exactly as a sweep trial is: on the same folds (or the same single split), each distinct
validation photo once, with C chosen on those folds as a sweep chooses its trial. A sweep whose best trial
does not beat it has found nothing a linear model could not. Results are cached on disk by the content
of the features, the folds and the C grid, so a sweep computes it once per feature set.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from garbage_hpo.config import RunSettings
from garbage_hpo.metrics import describe_folds, describe_split, summarize_folds
from garbage_hpo.pipeline import Prepared, head_inputs
from garbage_hpo.runtime import move_aside, write_text_atomic
from garbage_hpo.selection.bbc import bbc_cv
from garbage_hpo.selection.folds import Fold, folds_fingerprint
from garbage_hpo.selection.oof import OutOfFold
from garbage_hpo.selection.run import folds_for

C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
PROBE_FORMAT = 2  # 2: with its BBC-CV figure


@dataclass
class ProbeResult:
    cv_acc: float
    cv_std: float
    folds: int
    C: float
    fold_acc: list[float]
    n: int  # validation photos over all folds
    grid: dict[str, float]  # C -> fold-mean accuracy
    seconds: float
    bbc_acc: float  # BBC-CV: the accuracy of "the C these folds choose", corrected for choosing it on them
    bbc_ci95: list[float]
    from_cache: bool = False

    def headline(self) -> dict:
        """The CLI's last JSON line."""
        return {"cv_acc": self.cv_acc, "cv_std": self.cv_std, "folds": self.folds, "C": self.C,
                "bbc_acc": self.bbc_acc, "bbc_ci95": self.bbc_ci95}

    def describe(self) -> str:
        if self.folds == 1:
            text = f"probe val_acc {describe_split(self.cv_acc, self.n)} (one split), C={self.C:g}"
        else:
            text = f"probe cv_acc {describe_folds(summarize_folds(self.fold_acc), self.n)}, C={self.C:g}"
        low, high = self.bbc_ci95
        return text + f"; bias-corrected for choosing C: {self.bbc_acc:.4f} (BBC-CV, 95% CI [{low:.4f}, {high:.4f}])"


def fitted(model: LogisticRegression, x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is enough for the C chosen in practice
        return model.fit(x, y)


def fold_predictions(x: np.ndarray, y: np.ndarray, fold: Fold, grid: tuple[float, ...]) -> np.ndarray:
    """(validation photos, C values): True where the model with that C (standardized with the fold's training
    photos) classifies the photo right; C ascending."""
    scaler = StandardScaler().fit(x[fold.train])
    x_train, x_val = scaler.transform(x[fold.train]), scaler.transform(x[fold.val])
    model = LogisticRegression(max_iter=2000, warm_start=True)  # each C starts from the last C's solution
    out = []
    for c in sorted(grid):
        out.append(fitted(model.set_params(C=c), x_train, y[fold.train]).predict(x_val) == y[fold.val])
    return np.column_stack(out)


def run_probe(x: np.ndarray, y: np.ndarray, folds: list[Fold], grid: tuple[float, ...] = C_GRID) -> ProbeResult:
    start = time.perf_counter()
    right = [fold_predictions(x, y, fold, grid) for fold in folds]
    table = np.array([r.mean(axis=0) for r in right])  # (folds, C values)
    means = table.mean(axis=0)
    best = int(np.argmax(means))  # the smallest C of ties: the most regularized
    summary = summarize_folds(table[:, best])
    cs = sorted(grid)
    by_c = {f"{c:g}": float(m) for c, m in zip(cs, means, strict=True)}
    corrected = bbc_cv(np.concatenate(right))  # C was chosen on these photos too
    return ProbeResult(summary.mean, summary.std, len(folds), cs[best], [float(v) for v in table[:, best]],
                       int(sum(len(f.val) for f in folds)), by_c, time.perf_counter() - start,
                       corrected.estimate, [corrected.ci95_low, corrected.ci95_high])


def probe_key(x: np.ndarray, y: np.ndarray, folds: list[Fold], grid: tuple[float, ...]) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(json.dumps([PROBE_FORMAT, folds_fingerprint(folds), sorted(grid), sklearn.__version__]).encode())
    return digest.hexdigest()[:32]


def cached_probe(x: np.ndarray, y: np.ndarray, folds: list[Fold], cache_dir: Path,
                 grid: tuple[float, ...] = C_GRID) -> ProbeResult:
    path = cache_dir / f"{probe_key(x, y, folds, grid)}.json"
    if path.is_file():
        cached = _read_probe(path)
        if cached is not None:
            return cached
    result = run_probe(x, y, folds, grid)
    cache_dir.mkdir(parents=True, exist_ok=True)
    record = asdict(result)
    # several workers may compute it at once
    write_text_atomic(path, json.dumps(record | {"content_sha256": _record_digest(record)}))
    return result


def _record_digest(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _read_probe(path: Path) -> ProbeResult | None:
    """The cached probe, or None after moving aside a file that is truncated, or edited (its figures no longer
    match the content record written with them), or older than content records."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        recorded = record.pop("content_sha256", None)
        if recorded != _record_digest(record):
            move_aside(path, "no content record (written before caches had one)" if recorded is None else
                       "its figures differ from the content record written with them")
            return None
        return ProbeResult(**(record | {"from_cache": True}))
    except (ValueError, TypeError, AttributeError) as err:  # truncated or not an object: not a result to report
        move_aside(path, f"{type(err).__name__}: {err}")
        return None


def probe_for(settings: RunSettings, prepared: Prepared) -> ProbeResult:
    """The probe on the config's data, folds and feature taps (mean-pooled, standardized per fold: the same
    inputs a `features.normalize=standardize` head sees)."""

    folds = folds_for(settings, prepared)
    x = head_inputs(settings, prepared, reduction="mean")
    return cached_probe(x, prepared.labels, folds, settings.runs / "cache" / "probe")


def probe_out_of_fold(settings: RunSettings, prepared: Prepared) -> tuple[OutOfFold, ProbeResult]:
    """Every distinct training photo's class probabilities from the probe (at the C its folds choose) of the
    fold that did not train on it: what `data suspects` reads when no sweep's predictions are given."""
    folds = folds_for(settings, prepared)
    x = head_inputs(settings, prepared, reduction="mean")
    result = cached_probe(x, prepared.labels, folds, settings.runs / "cache" / "probe")
    classes = prepared.index.num_classes
    probs = []
    for fold in folds:
        scaler = StandardScaler().fit(x[fold.train])
        model = fitted(LogisticRegression(max_iter=2000, C=result.C), scaler.transform(x[fold.train]),
                       prepared.labels[fold.train])
        fold_probs = np.zeros((len(fold.val), classes), np.float32)  # a class absent from training: 0
        fold_probs[:, model.classes_] = model.predict_proba(scaler.transform(x[fold.val]))
        probs.append(fold_probs)
    return OutOfFold.from_fold_probabilities(probs, folds, prepared.labels), result
