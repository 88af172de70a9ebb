"""An ensemble of the top-k trial configurations, measured by the same cross-validation and refit as one model.

Each member's fold heads score their validation photos at the member's own refit epoch count; the ensemble's
score of a photo is the mean of the members' softmax probabilities (each member's already averaged over
its views when it uses TTA). Its value is the fold mean of that ensemble's accuracy on the SAME folds (the
members come from one study: same photos, same `data.split_seed`, same k), so it is measured, not assumed.
Shipping it refits every member on every training photo and joins the heads on one backbone
(models/ensemble.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from garbage_hpo.config import RunSettings
from garbage_hpo.data import positions
from garbage_hpo.features import block_channels
from garbage_hpo.metrics import FoldSummary, summarize_folds
from garbage_hpo.models import EnsembleNet, Member, average_views, weighted_views
from garbage_hpo.pipeline import Prepared, save_model, test_report
from garbage_hpo.selection.cv import CVResult
from garbage_hpo.selection.oof import OutOfFold
from garbage_hpo.selection.run import folds_for, head_scores, refit_member, run_cv
from garbage_hpo.training import restore

log = logging.getLogger("garbage_hpo.selection")


@dataclass
class EnsembleCV:
    members: list[CVResult]
    fold_acc: list[float]
    n: int
    out_of_fold: OutOfFold  # the ensemble's own out-of-fold predictions (its members' mean probabilities)

    @property
    def summary(self) -> FoldSummary:
        return summarize_folds(self.fold_acc)

    def record(self, trials: list[int]) -> dict:
        s = self.summary
        return {"members": trials, "cv_folds": s.k, "cv_mean": s.mean, "cv_std": s.std, "ci95": s.ci95.as_list(),
                "n": self.n, "member_cv_mean": [m.summary.mean for m in self.members],
                "member_refit_epochs": [m.refit_epochs for m in self.members]}


def ensemble_cv(configs: list[RunSettings], prepared: Prepared) -> EnsembleCV:
    """Cross-validate every configuration on the same folds and the mean of their probabilities."""
    fingerprints = {str([f.val.tolist() for f in folds_for(c, prepared)]) for c in configs}
    if len(fingerprints) != 1:
        raise ValueError("ensemble: the members were not cross-validated on the same folds (sweep.cv_folds or "
                         "data.split_seed differ)")
    results = [run_cv(c, prepared) for c in configs]
    folds = folds_for(configs[0], prepared)
    accs, means = [], []
    for f, fold in enumerate(folds):
        means.append(average_views(*[r.fold_scores()[f] for r in results]))
        accs.append(float((means[-1].argmax(axis=1) == prepared.labels[fold.val]).mean()))
    return EnsembleCV(results, accs, int(sum(len(f.val) for f in folds)),
                      OutOfFold.from_fold_scores(means, folds, prepared.labels))


def refit_ensemble(configs: list[RunSettings], prepared: Prepared, epochs: list[int], selection: dict,
                   out_dir: Path, weights: list[float] | None = None):
    """Refit every member on every training photo for its refit epochs; save ONE network holding them all
    (`weights`: the members' shares of the mean, equal by default)."""
    everything = positions(prepared.index, "train")
    weights = weights or [1.0] * len(configs)
    fitted = [refit_member(c, prepared, e) for c, e in zip(configs, epochs, strict=True)]
    backbone, companion = prepared.backbones()
    members = [Member(f.spec, f.sources, float(w)) for f, w in zip(fitted, weights, strict=True)]
    net = EnsembleNet(backbone, members, block_channels(backbone),
                      None if companion is None else (companion, block_channels(companion)))
    for head, f in zip(net.heads, fitted, strict=True):
        restore(head, {name: p.asnumpy() for name, p in f.classifier.parameters_and_names()})
    net.set_standardizers([f.scaler for f in fitted])
    net.set_train(False)
    test = {}
    if len(prepared.split.test):
        rows = prepared.split.test
        scores = [head_scores(c, prepared, f.classifier, f.scaler, rows) for c, f in zip(configs, fitted, strict=True)]
        test = test_report(weighted_views(scores, weights), prepared.labels[rows])
    card = {"train_images": len(everything), "selection": selection,
            "ensemble": [m.card() for m in members]} | ({"test": test} if test else {})
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = save_model(net, out_dir, configs[0], prepared, fitted[0].spec, card)
    log.info("ensemble of %d heads refit on all %d training photos", len(members), len(everything))
    return net, checkpoint, len(everything), test


def choose_members(ranked: list, candidates: Iterable[tuple[object, RunSettings]], k: int
                   ) -> tuple[list, list[RunSettings]] | None:
    """The k best cross-validated head-only trials among `candidates` (trial and settings, best first, read on
    demand), or None when fewer than two qualify. Fine-tuned trials are passed over: their backbones differ, and
    the ensemble's heads share one backbone."""
    members, settings = [], []
    for trial, trial_settings in candidates:
        if trial_settings.finetuning or trial_settings.cv_folds < 2:
            continue
        members.append(trial)
        settings.append(trial_settings)
        if len(members) == k:
            break
    passed_over = [t.number for t in ranked[: ranked.index(members[-1]) + 1] if t not in members] if members else []
    if passed_over:
        log.info("ensemble: trials %s are not cross-validated head-only trials; passed over", passed_over)
    if len(members) < 2:
        log.warning("ensemble: fewer than two cross-validated head-only trials; shipping the best trial")
        return None
    return members, settings
