"""The per-class table: counts, Wilson intervals and the class each is most often mistaken for; and its figure."""

from __future__ import annotations

import csv

import numpy as np
from PIL import Image

from garbage_hpo.data import ClassInfo
from garbage_hpo.figures import class_accuracy_png
from garbage_hpo.metrics import class_table, wilson, write_class_table

CLASSES = [ClassInfo(0, "00_00", "Eggshell", "蛋壳", "food"), ClassInfo(1, "00_01", "Bones", "骨头", "food"),
           ClassInfo(2, "01_00", "Battery", "电池", "hazardous")]


def test_each_class_gets_its_counts_interval_and_most_confused_class(tmp_path):
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 1, 1, 1, 2, 0])
    rows = class_table(pred, labels, CLASSES)
    eggshell = rows[0]
    assert (eggshell["correct"], eggshell["photos"], eggshell["most_confused_with"], eggshell["confused_photos"]) == \
        (2, 5, "Bones", 2)
    assert [eggshell["ci95_low"], eggshell["ci95_high"]] == [round(v, 4) for v in wilson(2, 5).as_list()]
    assert rows[1]["most_confused_with"] == "" and rows[1]["accuracy"] == 1.0  # never mistaken
    path = write_class_table(rows, tmp_path / "per_class.csv")
    with open(path, encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0])[:4] == ["class", "chinese", "correct", "photos"]  # the counts beside the name
    assert read[0]["chinese"] == "蛋壳" and read[0]["correct"] == "2" and read[0]["photos"] == "5"
    assert read[0]["most_confused_with"] == "Bones x2" and read[0]["ci95"] == "[{:.4f}, {:.4f}]".format(
        *wilson(2, 5).as_list()) and read[0]["folder"] == "00_00"
    picture = class_accuracy_png(rows, [c.english for c in CLASSES], tmp_path / "per_class.png", "test")
    with Image.open(picture) as image:
        assert image.size[0] >= 800 and image.size[1] >= 400


def test_a_class_without_photos_has_no_accuracy_and_is_left_out_of_the_figure(tmp_path):
    rows = class_table(np.array([0, 1]), np.array([0, 1]), CLASSES)
    assert rows[2]["photos"] == 0 and rows[2]["accuracy"] is None and rows[2]["ci95_low"] is None
    write_class_table(rows, tmp_path / "t.csv")
    class_accuracy_png(rows, [c.english for c in CLASSES], tmp_path / "p.png", "test")
    assert (tmp_path / "p.png").stat().st_size > 0
