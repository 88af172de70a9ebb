"""Figures' class names and contact sheets (garbage_hpo/figures/gallery.py): Chinese drawn with a font that has it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from garbage_hpo.data.classes import class_infos
from garbage_hpo.figures.gallery import chinese_font, contact_sheets, figure_names


def test_class_names_are_english_and_chinese_and_the_font_draws_both(tmp_path):
    assert chinese_font() == "Noto Sans CJK SC"  # the mplfonts package is a dependency
    names = figure_names(class_infos(["03_02", "00_04"], tmp_path))
    assert names == ["Eggshell 蛋壳", "Glassware 玻璃制品"]
    with warnings.catch_warnings(record=True) as caught:  # matplotlib warns of each glyph its fonts lack
        warnings.simplefilter("always")
        sheets = contact_sheets([np.full((40, 80, 3), 200, np.uint8)], [names[0]], tmp_path, "names", "none")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert [p.name for p in sheets] == ["names_01.png"] and Image.open(sheets[0]).size[0] > 500


def test_contact_sheets_page_photos_and_say_when_there_are_none(tiny_demo, tmp_path):
    photos = sorted(Path(tiny_demo).glob("train/*/*.jpg"))[:40]
    sheets = contact_sheets(photos, [p.name for p in photos], tmp_path, "page", "nothing")
    assert [p.name for p in sheets] == ["page_01.png", "page_02.png"]  # 36, then 4
    assert [p.name for p in contact_sheets([], [], tmp_path, "empty", "nothing")] == ["empty_01.png"]
