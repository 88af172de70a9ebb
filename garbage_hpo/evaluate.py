"""Evaluate a trained model on a dataset:

    python -m garbage_hpo.evaluate model=REF data.root=DIR [data.split=val|train] [out=DIR] [log=true] [--json]
                                [--unbound-card]

model=REF is a checkpoint path, an MLflow run id, or a registry alias (default: champion). data.split=val
reads <root>/val/; a folder without val/ is evaluated on train/ only when asked with data.split=train.
Prints accuracy (with the photo count and a 95% Wilson interval), top-5, per-class and per-category accuracy
(or one JSON object with --json: accuracy, n, correct, ci95, ...), writes a confusion matrix and the error
gallery (errors_01.png, ...: thumbnail, true -> predicted, probability; the most confident mistakes first, 36 a
page) to out= (default runs/eval/<time>), and with log=true records them as an MLflow run in the experiment
garbage-hpo-eval. --unbound-card accepts a model card that records no binding to its weights (an old card, on
purpose): otherwise refused, since an edit of it could not be caught.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from garbage_hpo.data import DatasetError, DatasetIndex, UnreadableImageError, index_dataset, read_rgb
from garbage_hpo.metrics import (
    confusion_matrix,
    evaluate_scores,
    per_category_accuracy,
    per_class_accuracy,
    wilson,
)
from garbage_hpo.models import softmax
from garbage_hpo.runtime import check_writable_folder, configure_runtime, friendly_errors, split_args
from garbage_hpo.tracking import stop_at_once, tracking_uri

KNOWN_KEYS = {"model", "data.root", "data.split", "out", "log", "tracking.uri"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    with friendly_errors():
        overrides, flags, split, root, index = parse_request(argv)
        if overrides.get("out"):  # before the model and the photos: their work would be lost
            check_writable_folder(Path(overrides["out"]), "out")
        configure_runtime()
        stop_at_once("evaluate")
        # MindSpore and MLflow only once the request is known to be good: bad input is refused in a second
        from garbage_hpo.deploy import Predictor, resolve_model
        from garbage_hpo.runtime import runs_dir

        uri = tracking_uri(overrides)
        checkpoint = resolve_model(overrides.get("model"), uri, runs_dir() / "model_cache")
        predictor = Predictor.load(checkpoint, bool(flags.get("unbound-card")))
        index = check_classes(predictor, index, root, overrides.get("model", "champion"))
        images, kept, skipped = read_photos(index, split)
        labels = np.array([s.label for s in kept])
        scores = predictor.scores_batch(images)
        report = build_report(scores, labels, index, split, skipped) | {
            "model": str(overrides.get("model", "champion")), "checkpoint": str(checkpoint)}
        out = Path(overrides.get("out") or runs_dir() / "eval" / time.strftime("%Y%m%d-%H%M%S"))
        files = write_outputs(out, report, scores, labels, images, index)
        if overrides.get("log", "false").lower() in ("1", "true", "yes"):
            report["mlflow_run_id"] = log_run(uri, runs_dir() / "mlartifacts", files, report, index)
        if flags.get("json"):
            print(json.dumps(report, ensure_ascii=False))
            return 0
        print_report(report, index, out)
        return 0


def parse_request(argv: list[str]) -> tuple[dict[str, str], dict, str, Path, DatasetIndex | None]:
    """(overrides, flags, split, data root, its index unless it is a test set alone), or a one-line refusal."""
    overrides, flags, extra = split_args(argv, {"json": False, "unbound-card": False})
    unknown = sorted(set(overrides) - KNOWN_KEYS) + extra
    if unknown:
        raise ValueError(f"unknown arguments {unknown}; keys: {sorted(KNOWN_KEYS)}")
    if "data.root" not in overrides:
        raise ValueError("data.root=DIR is required (a folder in the course layout)")
    split = overrides.get("data.split", "val")
    if split not in ("val", "train"):
        raise ValueError(f"data.split={split}: choose val or train")
    root = Path(overrides["data.root"])
    test_only = split == "val" and (root / "val").is_dir() and not (root / "train").is_dir()
    index = None if test_only else index_dataset(root)  # a test set alone is indexed with the model's classes
    if index is not None and split == "val" and not index.has_val:
        raise DatasetError(f"data.root={index.root} has no val/ folder; pass data.split=train to evaluate on "
                           "train/ (photos the model may have been trained on)")
    return overrides, flags, split, root, index


def check_classes(predictor, index: DatasetIndex | None, root: Path, model: str) -> DatasetIndex:
    """The dataset's index, refused unless it has the model's class list."""
    model_folders = [c["folder"] for c in predictor.classes]
    if index is None:
        index = index_dataset(root, class_folders=model_folders)
    if model_folders != [c.folder for c in index.classes]:
        raise ValueError(f"model={model} knows {len(model_folders)} classes "
                         f"{model_folders[:3]}..., the dataset has {index.num_classes} "
                         f"{[c.folder for c in index.classes][:3]}...: not the same class list")
    return index


def read_photos(index: DatasetIndex, split: str) -> tuple[list[np.ndarray], list, list[tuple[str, str]]]:
    """(images, their samples, skipped (path, reason)) of the split; an unreadable photo is named and skipped."""
    images, kept, skipped = [], [], [(str(p), r) for p, r in index.skipped]
    for sample in (s for s in index.samples if s.subset == split):
        try:
            images.append(read_rgb(sample.path))
            kept.append(sample)
        except UnreadableImageError as err:
            skipped.append((str(sample.path), str(err)))
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not kept:
        raise DatasetError(f"data.root={index.root}: no readable images in {split}/")
    return images, kept, skipped


def build_report(scores: np.ndarray, labels: np.ndarray, index: DatasetIndex, split: str,
                 skipped: list[tuple[str, str]]) -> dict:
    pred = scores.argmax(axis=1)
    summary = evaluate_scores(scores, labels)
    correct = int((pred == labels).sum())
    return {
        "accuracy": summary.accuracy, "top5": summary.top5, "loss": summary.loss, "n": summary.n,
        "correct": correct, "ci95": wilson(correct, summary.n).as_list(), "split": split,
        "per_category": per_category_accuracy(pred, labels, index.classes),
        "per_class": per_class_accuracy(pred, labels, index.classes), "skipped": len(skipped),
        "skipped_files": [{"path": p, "reason": r} for p, r in skipped],
    }


def write_outputs(out: Path, report: dict, scores: np.ndarray, labels: np.ndarray, images: list[np.ndarray],
                  index: DatasetIndex) -> list[Path]:
    """The confusion matrix, the error gallery (`errors_NN.png`: the most confident mistakes first, 36 a page)
    and report.json in `out`; the files written."""
    from garbage_hpo.figures import (
        ERRORS_LEGEND,
        confusion_png,  # matplotlib only where it draws
        contact_sheets,
        error_captions,
        figure_names,
        most_confident_mistakes,
    )

    out.mkdir(parents=True, exist_ok=True)
    names = figure_names(index.classes)
    probs = softmax(scores)
    matrix = confusion_png(confusion_matrix(probs.argmax(axis=1), labels, len(names)), names,
                           out / "confusion_matrix.png",
                           f"{report['split']}: acc {report['accuracy']:.3f} (n={report['n']})")
    wrong = most_confident_mistakes(probs, labels)
    pages = contact_sheets([images[i] for i in wrong], error_captions(wrong, probs, labels, names), out, "errors",
                           "no misclassified photos", ERRORS_LEGEND)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return [matrix, *pages, out / "report.json"]


def log_run(uri: str, artifacts: Path, files: list[Path], report: dict, index: DatasetIndex) -> str:
    """The evaluation as an MLflow run of the experiment garbage-hpo-eval; returns its id."""
    from garbage_hpo.tracking import Tracker, per_category_metrics, per_class_metrics

    tracker = Tracker(uri, "garbage-hpo-eval", artifacts, run_name=f"eval-{report['split']}",
                      tags={"hpo.role": "evaluate", "hpo.model": report["model"], "hpo.data_root": str(index.root)})
    tracker.log_metrics({k: report[k] for k in ("accuracy", "top5", "loss", "n")}
                        | per_category_metrics(report["per_category"])
                        | per_class_metrics(report["per_class"], index.classes))
    for path in files:
        tracker.log_artifact(path)
    tracker.end()
    return tracker.run_id


def print_report(report: dict, index: DatasetIndex, out: Path) -> None:
    correct, n = report["correct"], report["n"]
    print(f"{report['split']}: accuracy {report['accuracy']:.4f} ({correct} of {n} photos, 95% CI "
          f"{wilson(correct, n)})  top-5 {report['top5']:.4f}  loss {report['loss']:.4f}  "
          f"skipped={report['skipped']}")
    for name, acc in report["per_category"].items():
        print(f"  category {name:<11} {acc:.4f}")
    for info in index.classes:
        acc = report["per_class"].get(info.folder)
        print(f"  {info.folder} {info.english:<22} " + (f"{acc:.4f}" if acc is not None else "no photos"))
    print(f"confusion matrix and error gallery (most confident mistakes first): {out}")


if __name__ == "__main__":
    sys.exit(main())
