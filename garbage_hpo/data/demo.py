"""A generated stand-in for the course photos, so a fresh machine can run every command.

26 classes in the course's folder layout and 4 categories. Each class is a shape family drawn in a colour
family, on cluttered backgrounds with distractor shapes, random pose, scale, blur and JPEG noise. Classes
share shapes and colours pairwise, so a head must use both cues: linear probes on pretrained features do
well but not perfectly, and head settings visibly change the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle", "ring", "cross", "star", "stripes", "ellipse", "diamond",
          "checker", "crescent", "dots", "bar")
HUES = (10, 100)  # OpenCV hue (0..179): orange-red vs blue-green
FOLDERS = [f"00_{i:02d}" for i in range(10)] + [f"01_{i:02d}" for i in range(8)] + \
          [f"02_{i:02d}" for i in range(4)] + [f"03_{i:02d}" for i in range(4)]
GENERATOR_VERSION = 1


def _colour(rng: np.random.Generator, hue: int) -> tuple[int, int, int]:
    h = int(np.clip(hue + rng.normal(0, 12), 0, 179))
    hsv = np.uint8([[[h, rng.integers(120, 256), rng.integers(110, 256)]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def _draw(img: np.ndarray, shape: str, centre: tuple[int, int], radius: int, angle: float, colour) -> None:
    cx, cy = centre
    r = max(radius, 3)
    if shape == "circle":
        cv2.circle(img, centre, r, colour, -1, cv2.LINE_AA)
    elif shape == "ring":
        cv2.circle(img, centre, r, colour, max(2, r // 4), cv2.LINE_AA)
    elif shape in ("square", "diamond", "bar", "ellipse"):
        w, h = {"square": (r, r), "diamond": (r, r), "bar": (r, r // 3), "ellipse": (r, r // 2)}[shape]
        a = angle + (45 if shape == "diamond" else 0)
        if shape == "ellipse":
            cv2.ellipse(img, centre, (w, max(h, 2)), a, 0, 360, colour, -1, cv2.LINE_AA)
        else:
            box = cv2.boxPoints(((cx, cy), (2 * w, 2 * max(h, 2)), a)).astype(np.int32)
            cv2.fillPoly(img, [box], colour, cv2.LINE_AA)
    elif shape in ("triangle", "star"):
        k = 3 if shape == "triangle" else 10
        t = np.deg2rad(angle) + np.arange(k) * 2 * np.pi / k
        rr = np.full(k, r, float) if shape == "triangle" else np.where(np.arange(k) % 2, r * 0.45, r)
        pts = np.stack([cx + rr * np.cos(t), cy + rr * np.sin(t)], 1).astype(np.int32)
        cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
    elif shape == "cross":
        for a in (angle, angle + 90):
            box = cv2.boxPoints(((cx, cy), (2 * r, max(r // 2, 2)), a)).astype(np.int32)
            cv2.fillPoly(img, [box], colour, cv2.LINE_AA)
    elif shape == "crescent":
        cv2.circle(img, centre, r, colour, -1, cv2.LINE_AA)
        dx = int(r * 0.5 * np.cos(np.deg2rad(angle)))
        dy = int(r * 0.5 * np.sin(np.deg2rad(angle)))
        back = tuple(int(v) for v in img[min(max(cy, 0), img.shape[0] - 1), 0])
        cv2.circle(img, (cx + dx, cy + dy), int(r * 0.8), back, -1, cv2.LINE_AA)
    elif shape == "dots":
        for i in range(5):
            t = np.deg2rad(angle) + i * 2 * np.pi / 5
            cv2.circle(img, (int(cx + r * 0.6 * np.cos(t)), int(cy + r * 0.6 * np.sin(t))), max(r // 4, 2),
                       colour, -1, cv2.LINE_AA)
    elif shape in ("stripes", "checker"):
        patch = np.zeros((2 * r, 2 * r), np.uint8)
        step = max(r // 3, 2)
        yy, xx = np.mgrid[0 : 2 * r, 0 : 2 * r]
        on = (xx // step) % 2 == 0 if shape == "stripes" else ((xx // step) + (yy // step)) % 2 == 0
        patch[on] = 255
        rot = cv2.getRotationMatrix2D((r, r), angle, 1.0)
        patch = cv2.warpAffine(patch, rot, (2 * r, 2 * r))
        y0, x0 = cy - r, cx - r
        ys, xs = np.nonzero(patch > 127)
        ys, xs = ys + y0, xs + x0
        keep = (ys >= 0) & (ys < img.shape[0]) & (xs >= 0) & (xs < img.shape[1])
        img[ys[keep], xs[keep]] = colour


def render(class_index: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """One BGR image of class `class_index`."""
    shape = SHAPES[class_index % len(SHAPES)]
    hue = HUES[class_index // len(SHAPES)]
    base = rng.integers(40, 220, size=3)
    grad = np.linspace(-1, 1, size)[None, :, None] * rng.normal(0, 25, size=3)
    img = np.clip(base + grad + rng.normal(0, 10, (size, size, 3)), 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 5)):  # distractors: any shape, any colour, smaller
        _draw(img, SHAPES[rng.integers(len(SHAPES))], tuple(int(v) for v in rng.integers(0, size, 2)),
              int(size * rng.uniform(0.05, 0.14)), float(rng.uniform(0, 360)), _colour(rng, int(rng.integers(0, 180))))
    centre = tuple(int(v) for v in rng.integers(int(size * 0.3), int(size * 0.7), 2))
    _draw(img, shape, centre, int(size * rng.uniform(0.16, 0.3)), float(rng.uniform(0, 360)), _colour(rng, hue))
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.3, 1.2))
    return img


def generate(root: Path, per_class: int = 40, size: int = 128, seed: int = 0) -> Path:
    """Write the demo set under `root` (idempotent: an existing complete set is kept)."""
    marker = root / "demo.json"
    spec = {"generator_version": GENERATOR_VERSION, "per_class": per_class, "size": size, "seed": seed}
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == spec:
        return root
    for index, folder in enumerate(FOLDERS):
        out = root / "train" / folder
        out.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, index])
        for i in range(per_class):
            img = render(index, rng, size)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
            assert ok
            buf.tofile(str(out / f"{i:05d}.jpg"))
    names = [f"{SHAPES[i % len(SHAPES)]}-{'warm' if i < len(SHAPES) else 'cool'}" for i in range(len(FOLDERS))]
    (root / "label.txt").write_text("".join(f"{n}: {f}\n" for n, f in zip(names, FOLDERS, strict=True)), "utf-8")
    marker.write_text(json.dumps(spec), encoding="utf-8")
    return root
