"""Reading photos and the one preprocessing function used by training, evaluation and prediction."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from garbage_hpo.models import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
PREPROCESS_VERSION = "rgb-linear-resize-v2"  # part of the feature-cache key: bump when preprocess changes


class UnreadableImageError(ValueError):
    pass


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image file to an RGB uint8 (H, W, 3) array; raise UnreadableImageError with the reason."""
    data = np.fromfile(str(path), dtype=np.uint8)  # np.fromfile + imdecode handles non-ASCII paths
    if data.size == 0:
        raise UnreadableImageError(f"{path}: empty file")
    if path.suffix.lower() in {".jpg", ".jpeg"} and not _jpeg_complete(data):
        raise UnreadableImageError(f"{path}: truncated JPEG (no end-of-image marker)")
    if data[:2].tobytes() == b"\xff\xd8":  # JPEG: OpenCV converts grayscale and CMYK to BGR
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    else:
        bgr = _to_bgr8(cv2.imdecode(data, cv2.IMREAD_UNCHANGED))
    if bgr is None:
        raise UnreadableImageError(f"{path}: not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _to_bgr8(image: np.ndarray | None) -> np.ndarray | None:
    """Grayscale, 16-bit and alpha images as 8-bit BGR; transparent pixels become white, not black."""
    if image is None:
        return None
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        blended = image[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return blended.round().astype(np.uint8)
    return image


def _jpeg_complete(data: np.ndarray) -> bool:
    tail = data[-64:].tobytes().rstrip(b"\x00\r\n ")
    return data[:2].tobytes() != b"\xff\xd8" or tail.endswith(b"\xff\xd9")


def to_rgb(image: np.ndarray, color_order: str = "rgb") -> np.ndarray:
    """An (H, W, 3) uint8 array in RGB order; `color_order` says what the caller holds (cv2 gives "bgr")."""
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) image array, got shape {image.shape}")
    image = image[..., :3]
    order = color_order.lower()
    if order == "bgr":
        return np.ascontiguousarray(image[..., ::-1])
    if order != "rgb":
        raise ValueError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
    return image


def preprocess(rgb: np.ndarray, size: int, scaling: str) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 (3, size, size), scaled as the loaded weights expect."""
    if rgb.shape[:2] != (size, size):
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR)
    x = rgb.astype(np.float32)
    if scaling == "minus_one_one":
        x = x / 127.5 - 1.0
    elif scaling == "centered_128":  # the 8-bit TFLite MobileNets' input quantization (scale 1/128, zero 128)
        x = x / 128.0 - 1.0
    elif scaling == "imagenet":
        x = (x - IMAGENET_MEAN_RGB) / IMAGENET_STD_RGB
    else:
        raise ValueError(f"unknown input scaling {scaling!r}")
    return np.ascontiguousarray(x.transpose(2, 0, 1))
