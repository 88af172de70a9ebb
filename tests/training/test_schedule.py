import numpy as np
import pytest

from garbage_hpo.training.schedule import SCHEDULES, lr_schedule


@pytest.mark.parametrize("name", SCHEDULES)
def test_warmup_then_decay(name):
    lrs = lr_schedule(name, total_steps=100, lr_max=0.1, lr_init=0.01, lr_end=0.001, warmup_steps=10)
    assert lrs.shape == (100,) and lrs.dtype == np.float32
    np.testing.assert_allclose(lrs[:10], np.linspace(0.01, 0.1, 11)[1:], rtol=1e-5)
    assert lrs[10] == pytest.approx(0.1)
    if name == "constant":
        assert np.all(lrs[10:] == lrs[10])
    else:
        assert np.all(np.diff(lrs[10:]) < 0) and lrs[-1] > 0.001 * 0.999


def test_shapes_of_decay():
    t = np.arange(90) / 90
    np.testing.assert_allclose(lr_schedule("square", 90, 1.0), (1 - t) ** 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(lr_schedule("cosine", 90, 1.0), 0.5 * (1 + np.cos(np.pi * t)), atol=1e-6)
    np.testing.assert_allclose(lr_schedule("exponential", 90, 1.0, lr_end=0.01), 0.01 ** t, rtol=1e-5)


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"name": "linear"}, "schedule.name"),
    ({"lr_max": -1.0}, "schedule.lr_max"),
    ({"lr_init": -0.1}, "schedule.lr_init"),
    ({"warmup_steps": -3}, "schedule.warmup_steps"),
])
def test_bad_values_name_the_key(kwargs, key):
    args = {"name": "cosine", "total_steps": 10, "lr_max": 0.1} | kwargs
    with pytest.raises(ValueError, match=key):
        lr_schedule(**args)
