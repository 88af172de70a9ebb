"""Evaluate a trained model on a dataset:

    python -m garbage_hpo.evaluate model=REF data.root=DIR [data.split=val|train] [out=DIR] [log=true] [--json]

model=REF is a checkpoint path, an MLflow run id, or a registry alias (default: champion). data.split=val
reads <root>/val/; a folder without val/ is evaluated on train/ only when asked with data.split=train.
Prints accuracy (with the photo count and a 95% Wilson interval), top-5, per-class and per-category accuracy
(or one JSON object with --json: accuracy, n, correct, ci95, ...), writes a
confusion matrix and a grid of misclassified photos to out= (default runs/eval/<time>), and with log=true
records them as an MLflow run in the experiment garbage-hpo-eval.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from garbage_hpo.cli import configure_runtime, friendly_errors, split_args, stop_at_once, tracking_uri
from garbage_hpo.data.dataset import DatasetError, index_dataset
from garbage_hpo.data.images import UnreadableImageError, read_rgb
from garbage_hpo.metric_names import class_labels
from garbage_hpo.metrics import confusion_matrix, evaluate_scores, per_category_accuracy, per_class_accuracy
from garbage_hpo.stats import wilson

KNOWN_KEYS = {"model", "data.root", "data.split", "out", "log", "tracking.uri"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    with friendly_errors():
        overrides, flags, extra = split_args(argv, {"json": False})
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

        configure_runtime()
        stop_at_once("evaluate")
        from garbage_hpo.model_ref import resolve_model
        from garbage_hpo.paths import runs_dir
        from garbage_hpo.plots import confusion_png, misclassified_grid
        from garbage_hpo.predictor import Predictor

        uri = tracking_uri(overrides)
        checkpoint = resolve_model(overrides.get("model"), uri, runs_dir() / "model_cache")
        predictor = Predictor.load(checkpoint)
        model_folders = [c["folder"] for c in predictor.classes]
        if index is None:
            index = index_dataset(root, class_folders=model_folders)
        samples = [s for s in index.samples if s.subset == split]
        if model_folders != [c.folder for c in index.classes]:
            raise ValueError(f"model={overrides.get('model', 'champion')} knows {len(model_folders)} classes "
                             f"{model_folders[:3]}..., the dataset has {index.num_classes} "
                             f"{[c.folder for c in index.classes][:3]}...: not the same class list")
        images, kept, skipped = [], [], [(str(p), r) for p, r in index.skipped]
        for sample in samples:
            try:
                images.append(read_rgb(sample.path))
                kept.append(sample)
            except UnreadableImageError as err:
                skipped.append((str(sample.path), str(err)))
        for path, reason in skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        if not kept:
            raise DatasetError(f"data.root={index.root}: no readable images in {split}/")
        labels = np.array([s.label for s in kept])
        scores = predictor.scores_batch(images)
        pred = scores.argmax(axis=1)
        summary = evaluate_scores(scores, labels)
        correct = int((pred == labels).sum())
        report = {
            "accuracy": summary.accuracy, "top5": summary.top5, "loss": summary.loss, "n": summary.n,
            "correct": correct, "ci95": wilson(correct, summary.n).as_list(),
            "split": split, "model": str(overrides.get("model", "champion")), "checkpoint": str(checkpoint),
            "per_category": per_category_accuracy(pred, labels, index.classes),
            "per_class": per_class_accuracy(pred, labels, index.classes), "skipped": len(skipped),
            "skipped_files": [{"path": p, "reason": r} for p, r in skipped],
        }
        out = Path(overrides.get("out") or runs_dir() / "eval" / time.strftime("%Y%m%d-%H%M%S"))
        out.mkdir(parents=True, exist_ok=True)
        labels_by_folder = class_labels(index.classes)
        names = [labels_by_folder[c.folder] for c in index.classes]
        confusion_png(confusion_matrix(pred, labels, len(names)), names, out / "confusion_matrix.png",
                      f"{split}: acc {summary.accuracy:.3f} (n={summary.n})")
        wrong = np.flatnonzero(pred != labels)
        misclassified_grid([images[i] for i in wrong],
                           [f"{names[labels[i]]} -> {names[pred[i]]}" for i in wrong], out / "misclassified.png")
        (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        if overrides.get("log", "false").lower() in ("1", "true", "yes"):
            from garbage_hpo.metric_names import per_category_metrics, per_class_metrics
            from garbage_hpo.tracking import Tracker

            tracker = Tracker(uri, "garbage-hpo-eval", runs_dir() / "mlartifacts", run_name=f"eval-{split}",
                              tags={"hpo.role": "evaluate", "hpo.model": report["model"],
                                    "hpo.data_root": str(index.root)})
            tracker.log_metrics({"accuracy": summary.accuracy, "top5": summary.top5, "loss": summary.loss,
                                 "n": summary.n} | per_category_metrics(report["per_category"])
                                | per_class_metrics(report["per_class"], index.classes))
            for name in ("confusion_matrix.png", "misclassified.png", "report.json"):
                tracker.log_artifact(out / name)
            tracker.end()
            report["mlflow_run_id"] = tracker.run_id
        if flags.get("json"):
            print(json.dumps(report, ensure_ascii=False))
            return 0
        print(f"{split}: accuracy {summary.accuracy:.4f} ({correct} of {summary.n} photos, 95% CI "
              f"{wilson(correct, summary.n)})  top-5 {summary.top5:.4f}  loss {summary.loss:.4f}  "
              f"skipped={len(skipped)}")
        for name, acc in report["per_category"].items():
            print(f"  category {name:<11} {acc:.4f}")
        for info in index.classes:
            acc = report["per_class"].get(info.folder)
            print(f"  {info.folder} {info.english:<22} " + (f"{acc:.4f}" if acc is not None else "no photos"))
        print(f"confusion matrix and misclassified photos: {out}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
