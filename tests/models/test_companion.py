"""model.companion: a second frozen backbone read beside the first, through CV, refit, ensemble and predictor.

Real MindSpore on a tiny generated data set; both backbones' weights are random checkpoints written here (read
with ModelZoo's input scaling), so no weights file needs to be on the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from garbage_hpo.data.images import read_rgb
from tests.conftest import settings_of

TINY = ("data.image_size=64", "train.epochs=3", "train.batch_size=16", "sweep.cv_folds=3", "model.pretrained=none")
COMPANION = ("model.companion.name=mobilenetv1", "model.companion.pretrained=none")


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> dict[str, Path]:
    """A MobileNetV2 and a MobileNetV1 1.0 checkpoint of random weights (random init differs per build, a file
    does not)."""
    import mindspore as ms

    from garbage_hpo.models import new_backbone
    from garbage_hpo.models.profiles import MODELZOO

    folder = tmp_path_factory.mktemp("random_weights")
    paths = {}
    for arch in ("mobilenetv2", "mobilenetv1"):
        ms.set_seed(1)
        paths[arch] = folder / f"{arch}.ckpt"
        ms.save_checkpoint(new_backbone(arch, 1.0, MODELZOO), str(paths[arch]))
    return paths


def test_the_companion_is_read_from_the_config_and_refused_where_it_cannot_work():
    settings = settings_of(*TINY, *COMPANION, "features.companion_taps=[11,-1]")
    assert (settings.model.companion.arch, settings.sources.companion_taps) == ("mobilenetv1", (11, 13))
    assert settings.sources.companion_blocks == 14 and not settings.sources.plain
    assert settings_of(*TINY).model.companion is None
    # auto: a MobileNetV1 beside model.pretrained's TFLite file, and none beside other weights
    assert settings_of(*TINY, "model.companion.name=auto").model.companion is None
    with pytest.raises(ValueError, match="model.companion=mobilenetv1: .*fine-tuning"):
        settings_of(*TINY[:-2], "sweep.cv_folds=1", "model.pretrained=none", *COMPANION, "finetune=last_blocks")
    with pytest.raises(ValueError, match="features.companion_taps='20': 20 is not a block"):
        settings_of(*TINY, *COMPANION, "features.companion_taps='20'")
    with pytest.raises(ValueError, match="model.companion.pretrained=auto looks in model.pretrained's folder"):
        settings_of(*TINY, "model.companion.name=mobilenetv1")


def test_auto_finds_the_imagenet_mobilenetv1_beside_the_mobilenetv2_file(shared_weights):
    settings = settings_of(*TINY[:-1], f"model.pretrained={shared_weights / 'mobilenet_v2_1.0_224_quant.tflite'}",
                           "model.companion.name=auto")
    companion = settings.model.companion
    assert (companion.arch, companion.width) == ("mobilenetv1", 1.0)
    assert companion.pretrained == str(shared_weights / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite")
    assert settings.sources.companion_taps == (13,)


def test_a_companion_reading_other_pixel_values_is_refused_naming_it(runs, tiny_demo):
    from garbage_hpo.pipeline.preparation import prepare

    # the default weights read x/127.5 - 1, a randomly initialised companion ModelZoo's (x - mean) / std
    settings = settings_of(f"data.root={tiny_demo}", f"runs_dir={runs}", "data.image_size=64", *COMPANION)
    with pytest.raises(ValueError, match="model.companion: random-init expects inputs scaled imagenet, the first "
                                         "backbone minus_one_one"):
        prepare(settings)


@pytest.mark.slow
def test_the_head_reads_both_backbones_and_the_saved_network_scores_as_cross_validation_did(runs, tiny_demo,
                                                                                           tmp_path, random_weights):
    from garbage_hpo.deploy.predictor import Predictor
    from garbage_hpo.models.tta import average_views
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.pipeline.taps import head_inputs
    from garbage_hpo.selection.ensemble import ensemble_cv, refit_ensemble
    from garbage_hpo.selection.run import head_scores, refit, refit_member, run_cv

    base = (f"data.root={tiny_demo}", f"runs_dir={runs}", *TINY, f"model.pretrained={random_weights['mobilenetv2']}",
            "model.companion.name=mobilenetv1", f"model.companion.pretrained={random_weights['mobilenetv1']}")
    one = settings_of(*base, "features.taps=[13,-1]", "features.normalize=standardize", "features.tta=flip")
    alone = settings_of(*base[:-2], "features.taps=[13,-1]", "features.normalize=standardize")
    prepared = prepare(one)
    both, first = head_inputs(one, prepared), head_inputs(alone, prepared)
    # the first backbone's taps, then the companion's last block (MobileNetV1 1.0: 1024 channels)
    assert both.shape[1] == first.shape[1] + 1024 and np.array_equal(both[:, : first.shape[1]], first)
    cv = run_cv(one, prepared)
    assert cv.n == len(prepared.index.samples)
    result = refit(one, prepared, cv.refit_epochs, {"cv_folds": 3}, tmp_path / "one")
    card = json.loads(result.checkpoint.with_suffix(".json").read_text())
    assert card["companion"]["architecture"] == "mobilenetv1" and card["features"]["companion_taps"] == [13]
    rows = np.arange(0, len(prepared.index.samples), 7)
    photos = [read_rgb(prepared.index.samples[i].path) for i in rows]
    member = refit_member(one, prepared, cv.refit_epochs)
    expected = head_scores(one, prepared, member.classifier, member.scaler, rows)
    np.testing.assert_allclose(Predictor.load(result.checkpoint).scores_batch(photos), expected, atol=2e-3,
                               rtol=1e-3)
    # an ensemble whose members read the companion in different ways ships as one network too
    configs = [one, settings_of(*base, "head.reduction=max", "features.companion_taps=[5,-1]")]
    ens = ensemble_cv(configs, prepared)
    _, checkpoint, _, _ = refit_ensemble(configs, prepared, [m.refit_epochs for m in ens.members], {"cv_folds": 3},
                                         tmp_path / "ens")
    members = [refit_member(c, prepared, m.refit_epochs) for c, m in zip(configs, ens.members, strict=True)]
    expected = average_views(*[head_scores(c, prepared, m.classifier, m.scaler, rows)
                               for c, m in zip(configs, members, strict=True)])
    np.testing.assert_allclose(Predictor.load(checkpoint).scores_batch(photos), expected, atol=2e-3, rtol=1e-3)
