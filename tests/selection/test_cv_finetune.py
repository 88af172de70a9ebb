"""Cross-validated fine-tuning on the cut-point cache: fold curves over both stages, one epoch count, a refit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from garbage_hpo.pipeline.preparation import prepare
from garbage_hpo.selection.cv_finetune import split_refit_epochs
from garbage_hpo.selection.oof import OutOfFold
from garbage_hpo.selection.run import folds_for, refit, run_cv
from tests.conftest import settings_of

TINY = ["data.image_size=64", "train.epochs=2", "finetune.epochs=2", "finetune.batch_size=8",
        "finetune.unfreeze=2", "finetune.schedule.lr_max=0.01", "finetune.cached_views=2", "sweep.cv_folds=3"]


def test_fold_curves_are_the_head_cv_then_the_fine_tuning_epochs(runs, tiny_demo):
    tuned_cfg = settings_of(f"data.root={tiny_demo}", *TINY, f"runs_dir={runs}")
    head_cfg = settings_of(f"data.root={tiny_demo}", *TINY, "finetune.epochs=0", f"runs_dir={runs}")
    prepared = prepare(tuned_cfg)
    tuned = run_cv(tuned_cfg, prepared)
    head_only = run_cv(head_cfg, prepared)
    assert tuned.curves.shape == (3, 4) and tuned.head_epochs == 2
    # each fold's head trained alone gives the fold stack's numbers: the same folds, the same head stage
    assert tuned.curves[:, :2].tolist() == head_only.curves.tolist()
    assert tuned.refit_epochs == int(np.argmax(tuned.curves.mean(axis=0))) + 1
    assert tuned.refit_finetune_epochs == max(0, tuned.refit_epochs - 2)
    assert tuned.record()["refit_finetune_epochs"] == tuned.refit_finetune_epochs
    # out-of-fold predictions at refit_epochs, head or fine-tuned: the same accuracies, photo by photo
    folds = folds_for(tuned_cfg, prepared)
    oof = OutOfFold.from_cv(tuned, folds, prepared.labels)
    assert oof.fold_accuracies() == pytest.approx(tuned.fold_acc, abs=1e-12)
    assert len(tuned.scores) == 4 and sorted(oof.positions) == sorted(np.concatenate([f.val for f in folds]))
    again = run_cv(tuned_cfg, prepared)
    assert again.curves.tolist() == tuned.curves.tolist()  # deterministic, compiled step reused across folds
    assert len([p for p in (runs / "cache" / "cut").glob("*.npy") if ".center." not in p.name]) == 1


def test_refit_fine_tunes_on_every_photo_after_the_head(runs, tiny_demo, tmp_path):
    cfg = settings_of(f"data.root={tiny_demo}", *TINY, f"runs_dir={runs}")
    assert split_refit_epochs(cfg, 1) == (1, 0) and split_refit_epochs(cfg, 2) == (2, 0)
    assert split_refit_epochs(cfg, 4) == (2, 2)
    prepared = prepare(cfg)
    head_only = refit(cfg, prepared, 2, {"cv_folds": 3}, tmp_path / "head")
    tuned = refit(cfg, prepared, 3, {"cv_folds": 3}, tmp_path / "tuned")
    trained = "backbone.features.17.conv.0.features.0.weight"  # in the last 2 blocks
    frozen = "backbone.features.10.conv.0.features.0.weight"
    head_params = {p.name: p.asnumpy() for p in head_only.net.get_parameters()}
    tuned_params = {p.name: p.asnumpy() for p in tuned.net.get_parameters()}
    assert not np.allclose(head_params[trained], tuned_params[trained])
    np.testing.assert_array_equal(head_params[frozen], tuned_params[frozen])
    card = json.loads((tmp_path / "tuned" / "model.json").read_text())
    assert card["selection"]["refit_epochs"] == 3 and card["selection"]["refit_finetune_epochs"] == 1
    assert card["train_images"] == len(prepared.index.samples)


def test_cv_fine_tuning_needs_the_cut_point_cache():
    with pytest.raises(ValueError, match=r"finetune.cached_views=0"):
        settings_of("sweep.cv_folds=3", "finetune=last_blocks", "finetune.cached_views=0")
    with pytest.raises(ValueError, match=r"finetune.unfreeze=all"):
        settings_of("sweep.cv_folds=3", "finetune=all")
    assert settings_of("sweep.cv_folds=3", "finetune=last_blocks").cv_folds == 3


def test_a_stop_check_runs_after_every_epoch_of_every_fold(runs, tiny_demo):
    """A sweep's Ctrl-C is honoured between epochs of fine-tuning trials too (they are not pruned by epoch)."""
    cfg = settings_of(f"data.root={tiny_demo}", *TINY, f"runs_dir={runs}")
    prepared = prepare(cfg)
    calls: list[int] = []
    run_cv(cfg, prepared, stop_check=lambda: calls.append(1))
    assert len(calls) == 3 * (2 + 2)  # 3 folds x (2 head + 2 fine-tune epochs)

    def stop() -> None:
        calls.append(1)
        if len(calls) == 12 + 3:
            raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt):
        run_cv(cfg, prepared, stop_check=stop)
    assert len(calls) == 15  # nothing ran after the stop
