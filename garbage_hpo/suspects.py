"""Suspect labels among the training photos:

    python -m garbage_hpo.data suspects [data.root=DIR] [key=value ...] [--out DIR] [--json]
    (the same: python -m garbage_hpo.suspects ...)

Every distinct photo of train/ gets class probabilities from a model that never trained on it: the peer probe
(scikit-learn LogisticRegression on the configured backbone's cached features, standardized, C chosen on the
folds), cross-validated on the folds a sweep uses (sweep.cv_folds, default 5, copies of a photo kept in one
fold). Confident learning (cleanlab.filter.find_label_issues) then lists the photos whose given class those
probabilities contradict with confidence, most doubtful first. Writes suspects.csv (rank, path, given and
likely class, label quality: the probability of the given class) and suspects_01.png (the top 36) to --out
(default runs/suspects/<time>), prints the top 20, and with --json one JSON object instead. It never moves,
renames or deletes a photo: review the gallery, then fix a label by moving the file yourself.
A CV sweep does the same at its end with its winner's out-of-fold predictions (the parent run's suspects/).
Exit code 0, or 2 for bad input.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from garbage_hpo.baseline import config_from_args
from garbage_hpo.runtime import check_writable_folder, command_args, configure_runtime, friendly_errors, number_value
from garbage_hpo.tracking import stop_at_once

SHOWN = 20  # suspects printed


def main(argv: list[str] | None = None) -> int:
    argv = command_args(argv, __doc__)
    if argv is None:
        return 0
    with friendly_errors():
        cfg, flags = config_from_args(argv, {"json": False, "out": True})
        if number_value("sweep.cv_folds", cfg.sweep.cv_folds, int, "a whole number of folds, 2 or more") < 2:
            raise ValueError("sweep.cv_folds must be at least 2: every photo needs a prediction from a model that "
                             "did not train on it")
        if "out" in flags:  # before the probe's work, which an unwritable folder would lose
            check_writable_folder(Path(str(flags["out"])), "--out")
        configure_runtime()
        stop_at_once("suspects")
        report = find_and_write(cfg, Path(str(flags["out"])) if "out" in flags else None)
        if flags.get("json"):
            print(json.dumps(report, ensure_ascii=False))
        else:
            print_report(report)
        return 0
    return 2


def find_and_write(cfg, out: Path | None) -> dict:
    """The probe's out-of-fold predictions, confident learning on them, the CSV and the gallery (in `out`, default
    <runs>/suspects/<time>); a report."""
    from garbage_hpo.config import read_settings
    from garbage_hpo.pipeline import prepare
    from garbage_hpo.selection import find_suspects, probe_out_of_fold, write_suspects

    settings = read_settings(cfg)
    prepared = prepare(settings)
    oof, probe = probe_out_of_fold(settings, prepared)
    suspects = find_suspects(oof)
    out = out or settings.runs / "suspects" / time.strftime("%Y%m%d-%H%M%S")
    files = write_suspects(suspects, oof, prepared.index, out)
    index = prepared.index
    listed = [{"path": index.samples[oof.positions[row]].path.relative_to(index.root).as_posix(),
               "given": index.classes[oof.labels[row]].folder, "likely": index.classes[oof.predicted[row]].folder,
               "label_quality": round(float(quality), 4)}
              for row, quality in zip(suspects.rows, suspects.quality, strict=True)]
    return {"root": str(index.root), "photos": suspects.checked, "suspects": listed, "csv": str(files[0]),
            "gallery": [str(p) for p in files[1:]], "probe": probe.describe()}


def print_report(report: dict) -> None:
    suspects = report["suspects"]
    print(f"{len(suspects)} of {report['photos']} distinct training photos have a doubtful label "
          f"({report['root']}); out-of-fold predictions from the {report['probe']}")
    for rank, entry in enumerate(suspects[:SHOWN], start=1):
        print(f"  {rank:>3}. quality {entry['label_quality']:.3f}  given {entry['given']} -> likely "
              f"{entry['likely']}  {entry['path']}")
    if len(suspects) > SHOWN:
        print(f"  ... {len(suspects) - SHOWN} more in the CSV")
    print(f"list: {report['csv']}\ngallery: {', '.join(report['gallery'])}\n"
          "nothing was moved: review the gallery and move a mislabelled photo to its class folder yourself")


if __name__ == "__main__":
    sys.exit(main())
