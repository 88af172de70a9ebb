"""Class names and garbage categories of the course's 26-class dataset, and label.txt parsing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CATEGORIES = {
    "00": ("recyclable", "可回收物"),
    "01": ("dry", "干垃圾"),
    "02": ("hazardous", "有害垃圾"),
    "03": ("wet", "湿垃圾"),
}

STANDARD_CLASSES = {
    "00_00": ("Plastic Bottle", "塑料瓶"),
    "00_01": ("Hats", "帽子"),
    "00_02": ("Newspaper", "报纸"),
    "00_03": ("Cans", "易拉罐"),
    "00_04": ("Glassware", "玻璃制品"),
    "00_05": ("Glass Bottle", "玻璃瓶"),
    "00_06": ("Cardboard", "硬纸板"),
    "00_07": ("Basketball", "篮球"),
    "00_08": ("Paper", "纸张"),
    "00_09": ("Metalware", "金属制品"),
    "01_00": ("Disposable Chopsticks", "一次性筷子"),
    "01_01": ("Lighter", "打火机"),
    "01_02": ("Broom", "扫把"),
    "01_03": ("Old Mirror", "旧镜子"),
    "01_04": ("Toothbrush", "牙刷"),
    "01_05": ("Dirty Cloth", "脏污衣服"),
    "01_06": ("Seashell", "贝壳"),
    "01_07": ("Ceramic Bowl", "陶瓷碗"),
    "02_00": ("Paint bucket", "油漆桶"),
    "02_01": ("Battery", "电池"),
    "02_02": ("Fluorescent lamp", "荧光灯"),
    "02_03": ("Tablet capsules", "药片胶囊"),
    "03_00": ("Orange Peel", "橙皮"),
    "03_01": ("Vegetable Leaf", "菜叶"),
    "03_02": ("Eggshell", "蛋壳"),
    "03_03": ("Banana Peel", "香蕉皮"),
}


@dataclass(frozen=True)
class ClassInfo:
    index: int
    folder: str
    english: str
    chinese: str
    category: str  # english category name, or "unknown"


def read_label_file(root: Path) -> dict[str, str]:
    """folder code -> name from `label.txt` ("name: 00_01" per line), in UTF-8 or GBK as the course ships it."""
    path = root / "label.txt"
    if not path.is_file():
        return {}
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gbk"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError(f"{path}: neither UTF-8 nor GBK text")
    names: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, code = line.rpartition(":")
        if sep and name.strip() and code.strip():
            names[code.strip()] = name.strip()
    return names


def class_infos(folders: list[str], root: Path) -> list[ClassInfo]:
    """Class table for sorted `folders`: the course's names where they apply, else label.txt, else the folder."""
    labels = read_label_file(root)
    infos = []
    for index, folder in enumerate(folders):
        english, chinese = STANDARD_CLASSES.get(folder, (None, None))
        label = labels.get(folder)
        if label is not None and label != chinese:  # a different dataset reusing the course's folder codes
            english, chinese = label, label
        english = english or folder
        chinese = chinese or english
        category = CATEGORIES.get(folder[:2], ("unknown",))[0] if folder[2:3] == "_" else "unknown"
        infos.append(ClassInfo(index, folder, english, chinese, category))
    return infos
