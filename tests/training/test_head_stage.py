"""Stage 1 reuses compiled graphs across trials without changing a single number."""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

from garbage_hpo.models.head import HeadSpec
from garbage_hpo.training.compiled_steps import CompiledSteps
from garbage_hpo.training.head_stage import StageConfig, train_head
from garbage_hpo.training.loop import StageRun, TrainVal


def _data():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 32)).astype(np.float32)
    y = rng.integers(0, 6, 300)
    x = centres[y] + rng.normal(scale=1.5, size=(300, 32)).astype(np.float32)
    return x[:240], y[:240], x[240:], y[240:]


def _run(steps, spec, cfg, seed=5):
    x, y, xv, yv = _data()
    ms.set_seed(seed)
    seen = []
    _, result = train_head(spec, TrainVal(x, y, xv, yv), cfg, StageRun(seed, on_epoch=seen.append), steps=steps)
    return [(r.train_loss, r.val.accuracy, r.val.loss) for r in seen], result


@pytest.mark.parametrize("optimizer", [{"name": "momentum", "momentum": 0.8, "weight_decay": 1e-4},
                                       {"name": "adam", "weight_decay": 0.0}])
def test_reused_graph_gives_exactly_the_numbers_of_a_fresh_one(optimizer):
    spec = HeadSpec(num_classes=6, in_features=32, depth=2, dropout=0.3)
    lr = 0.05 if optimizer["name"] == "momentum" else 0.005
    cfg = StageConfig(epochs=3, batch_size=16, optimizer=optimizer, schedule={"name": "cosine", "lr_max": lr},
                      label_smoothing=0.1)
    shared = CompiledSteps()
    other_spec = HeadSpec(num_classes=6, in_features=32, depth=2, dropout=0.6)  # same graph, other mask rate
    _run(shared, other_spec, cfg, seed=9)  # leaves trained weights and optimizer state behind
    reused, _ = _run(shared, spec, cfg)
    fresh, _ = _run(CompiledSteps(), spec, cfg)
    assert shared.builds == 1 and shared.reuses == 1
    assert reused == fresh
    assert len({round(v[0], 6) for v in fresh}) == 3  # and training moved


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_a_graph_is_reused_across_weight_decays_with_the_numbers_of_a_fresh_one(name):
    # a sweep searches the weight decay on a continuous range: baked into the graph, no trial could reuse one
    spec = HeadSpec(num_classes=6, in_features=32, depth=1)
    lr = 0.05 if name == "momentum" else 0.005
    stage = {"epochs": 3, "batch_size": 16, "schedule": {"name": "cosine", "lr_max": lr}}
    shared = CompiledSteps()
    _run(shared, spec, StageConfig(**stage, optimizer={"name": name, "weight_decay": 0.2}), seed=9)
    decayed = StageConfig(**stage, optimizer={"name": name, "weight_decay": 0.03})
    reused, _ = _run(shared, spec, decayed)
    fresh, _ = _run(CompiledSteps(), spec, decayed)
    none, _ = _run(CompiledSteps(), spec, StageConfig(**stage, optimizer={"name": name, "weight_decay": 0.0}))
    assert shared.builds == 1 and shared.reuses == 1
    assert reused == fresh and fresh != none  # the reused graph decays with the new trial's value


def test_graph_shape_changes_build_a_new_graph_and_dropout_changes_results():
    steps = CompiledSteps()
    cfg = StageConfig(epochs=2, batch_size=16, optimizer={"name": "momentum"}, schedule={"name": "constant",
                                                                                       "lr_max": 0.05})
    a, _ = _run(steps, HeadSpec(num_classes=6, in_features=32, depth=1), cfg)
    b, _ = _run(steps, HeadSpec(num_classes=6, in_features=32, depth=1, dropout=0.5), cfg)
    _run(steps, HeadSpec(num_classes=6, in_features=32, depth=2), cfg)
    assert steps.builds == 2 and steps.reuses == 1
    assert a != b
