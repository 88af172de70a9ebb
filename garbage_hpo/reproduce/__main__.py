"""Re-train the best sweep trial and prove it reproduces:

    python -m garbage_hpo.reproduce [experiment=NAME [trial=N]] [tolerance=0.5] [ensemble=K|caruana]
                                    [sweep.storage=URL] [tracking.uri=URI] [key=value ...] [--json]

Finds the best completed (not pruned) trial by val_acc, in study NAME or over every study of the Optuna
storage (default runs/optuna.db), or takes trial N of study NAME; measures its exact recorded config and
seed again in a new MLflow run tagged hpo.reproduction_of=<run id> (its CV mean over the same
folds when the sweep cross-validated, else its one-split val_acc) and prints both values, with photo count
and 95% interval, and their difference. Then the model to ship: a head-only config is REFIT on every
training photo for the selected epoch count (refit_epochs), without looking at any validation photo; a
fine-tuned config keeps its one-split model. A val/ folder is a test set, scored once here. The model is
saved (model/model.ckpt, model/model.json with train_images and selection), exported to MINDIR
(model/model.mindir, checked to give the same top-1 on the test photos, else on up to 256 training photos)
and registered as a new version of the MLflow registered model `garbage-hpo`; the alias `champion` moves to
it only when the difference is within `tolerance` percentage points and the export agrees. Other key=value
pairs override the recorded config (e.g. data.root=DIR when the photos moved). ensemble=K (default: the
recorded sweep.ensemble, 3 for the champion experiment, else 1) also cross-validates the mean probability of
the study's top K cross-validated head-only trials on the same folds; if that beats the best trial alone, all
K heads are refit on every training photo and shipped as ONE network sharing the backbone; the model card
records both CV figures either way. ensemble=caruana instead chooses members and weights by ensemble selection
over every head-only CV trial's out-of-fold predictions, scored nested (chosen on the other folds, scored on
each fold) against the single trial chosen the same way; it ships only if it wins that honest comparison.
Exit code 0: reproduced; 1: not reproduced; 2: bad input.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict

from garbage_hpo.reproduce.report import human_report
from garbage_hpo.reproduce.workflow import reproduce
from garbage_hpo.runtime import command_args, friendly_errors, key_values
from garbage_hpo.tracking import stop_at_once


def main(argv: list[str] | None = None) -> int:
    argv = command_args(argv, __doc__, "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s", logging.INFO)
    if argv is None:
        return 0
    with friendly_errors():
        overrides, flags = key_values(argv, {"json": False})
        stop_at_once("reproduce")
        report = reproduce(overrides)
        if flags.get("json"):
            print(json.dumps(asdict(report) | {"passed": report.passed}))
        else:
            print(human_report(report))
        return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
