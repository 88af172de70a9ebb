"""A second frozen backbone the head reads beside the first (`model.companion`).

Another network trained on the same ImageNet makes its mistakes on other photos: a linear probe on the pooled
blocks of the ImageNet MobileNetV2 and MobileNetV1 side by side beats either alone (BENCHMARKS.md). Both see the
same preprocessed pixels, so the companion must share the first backbone's input scaling and runs at its image
size; its pooled blocks (`features.companion_taps`) are concatenated after the first backbone's taps.

`model.companion.name`: none; mobilenetv1 / mobilenetv2 with `model.companion.width` and
`model.companion.pretrained` (a file, a folder of TFLite files, or auto: model.pretrained's folder); auto: the
ImageNet MobileNetV1 1.0 when model.pretrained is a TFLite file or folder whose folder holds it, else none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from garbage_hpo.models.factory import ARCHITECTURES, BackboneSpec, resolve_backbone_spec

AUTO_ARCHITECTURE = ("mobilenetv1", 1.0)  # what `auto` looks for beside the first backbone's TFLite file
NONE_VALUES = (None, "", "none", "None")


@dataclass(frozen=True)
class CompanionChoice:
    """The companion backbone a config asks for: architecture, width and where its weights are."""

    arch: str
    width: float
    pretrained: str


def tflite_folder(pretrained: str | None) -> Path | None:
    """The folder of TFLite files `model.pretrained` names (the file's folder, or the folder itself)."""
    if pretrained in NONE_VALUES or pretrained == "default":
        return None
    path = Path(str(pretrained)).expanduser().absolute()
    if path.is_dir():
        return path
    return path.parent if path.suffix == ".tflite" and path.is_file() else None


def choose_companion(name: str | None, width: float, pretrained: str | None, primary: str | None
                     ) -> CompanionChoice | None:
    """`model.companion` read: None for none (or auto with no ImageNet MobileNetV1 beside model.pretrained)."""
    if name in NONE_VALUES:
        return None
    folder = tflite_folder(primary)
    if name == "auto":
        found = None if folder is None else _auto_file(folder, _listing(folder))
        return None if found is None else CompanionChoice(*AUTO_ARCHITECTURE, found)
    if name not in ARCHITECTURES:
        raise ValueError(f"model.companion.name={name!r}: none, auto or one of {sorted(ARCHITECTURES)}")
    if pretrained in (None, "", "auto"):
        if folder is None:
            raise ValueError(f"model.companion.pretrained=auto looks in model.pretrained's folder, but "
                             f"model.pretrained={primary} is not a TFLite file or folder: name the companion's "
                             "weights (a .tflite or .ckpt file, or a folder of TFLite files)")
        pretrained = str(folder)
    return CompanionChoice(str(name), float(width), str(pretrained))


def _listing(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """The folder's TFLite files with size and modification time: what `_auto_file`'s answer depends on."""
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.tflite")))


@lru_cache(maxsize=16)
def _auto_file(folder: Path, listing: tuple[tuple[str, int, int], ...]) -> str | None:
    """The ImageNet MobileNetV1 1.0 among the folder's TFLite files, or None; parsed once per listing, not once
    per trial (every trial of a sweep reads its settings)."""
    from garbage_hpo.models.tflite_import import tflite_for

    try:
        return str(tflite_for(folder, *AUTO_ARCHITECTURE))
    except FileNotFoundError:
        return None


def companion_spec(choice: CompanionChoice | None, primary: BackboneSpec) -> BackboneSpec | None:
    """The companion's weights resolved (imported on first use), refused when it reads other pixel values
    than the first backbone: both see one preprocessed image."""
    if choice is None:
        return None
    try:
        spec = resolve_backbone_spec(choice.width, choice.pretrained, "auto", choice.arch)
    except (ValueError, FileNotFoundError) as err:
        raise ValueError(f"model.companion ({choice.arch} {choice.width}): {err}") from err
    scaling, wanted = spec.profile.input_scaling, primary.profile.input_scaling
    if scaling != wanted:
        raise ValueError(f"model.companion: {spec.weights_source} expects inputs scaled {scaling}, the first "
                         f"backbone {wanted}; both read the same pixels, so pick weights of one convention (the "
                         "TFLite files share centered_128) or model.companion.name=none")
    return spec
