"""The views of test-time augmentation inside a network (tta.py): the image batch cropped and/or mirrored,
cut exactly as features.FeatureView cuts the cached photos, so both score the same pixels."""

from __future__ import annotations

import mindspore.ops as ops

from garbage_hpo.models.tta import crop_box


def view_image(x, mirrored: bool, crop: str):
    """(N, C, H, W) images -> that view of them; `crop` "" keeps the whole image. Graph mode compiles the
    arguments as constants (the image size included), so each view costs one slice."""
    if crop:
        top, left, side = crop_box(x.shape[2], crop)
        x = x[:, :, top : top + side, left : left + side]
    if mirrored:
        x = ops.flip(x, (3,))
    return x
