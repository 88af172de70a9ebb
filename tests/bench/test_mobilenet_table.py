"""The width x resolution table's multiply-adds against the MobileNet papers' own figures."""

from __future__ import annotations

import pytest

from garbage_hpo.bench.mobilenet_table import multiply_adds


# Howard et al. 2017, tables 6 and 7 (million mult-adds, 1000-class classifier: ours has 26 classes, ~1M fewer);
# Sandler et al. 2018: MobileNetV2 1.0 at 224 px, 300M
@pytest.mark.parametrize(("arch", "width", "size", "paper"), [
    ("mobilenetv1", 1.0, 224, 569), ("mobilenetv1", 0.75, 224, 325), ("mobilenetv1", 0.5, 224, 149),
    ("mobilenetv1", 0.25, 224, 41), ("mobilenetv1", 1.0, 192, 418), ("mobilenetv1", 1.0, 160, 290),
    ("mobilenetv1", 1.0, 128, 186), ("mobilenetv2", 1.0, 224, 300),
])
def test_multiply_adds_are_the_papers(arch, width, size, paper):
    assert multiply_adds(arch, width, size) / 1e6 == pytest.approx(paper, rel=0.01, abs=1.5)
