"""Imported weights (TFLite MobileNets, Keras MobileNetV2 .h5): converted once into a checkpoint with its
sidecar, found again by content hash.

`model.pretrained=FILE.tflite|FILE.h5` (any command) and `python -m garbage_hpo.weights import FILE...` land here.
The checkpoint is named `<file stem>-<first 12 hex of the file's sha256>.ckpt` in the weights folder (runs/weights,
or $GARBAGE_HPO_WEIGHTS): the same bytes under another name reuse it, an edited file is converted anew. The
sidecar holds the weight profile (SAME padding, the file's input scaling and native size, BatchNorm folded) and
the provenance (source path and sha256, licence, how the file was quantized).
`model.pretrained=DIR` picks, among DIR's .tflite files, the one of the configured architecture and width, so
a sweep over model.width needs no per-trial weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from garbage_hpo.models.checkpoint import file_sha256, save_params
from garbage_hpo.models.profiles import KERAS, sidecar_path
from garbage_hpo.models.tflite_convert import CLASSIFIER_PREFIX, convert_tflite, recognise
from garbage_hpo.models.tflite_reader import TfliteFormatError, read_tflite
from garbage_hpo.runtime import write_text_atomic

SUFFIX = ".tflite"
KERAS_SUFFIXES = (".h5", ".keras")
IMPORTED_SUFFIXES = (SUFFIX, *KERAS_SUFFIXES)
HASH_CHARS = 12


def licence_beside(source: Path) -> str:
    """What the LICENSE file beside a downloaded model says it is under (the hosted models ship one)."""
    licence = source.parent / "LICENSE"
    if not licence.is_file():
        return "unknown (no LICENSE file beside the source)"
    head = licence.read_text(encoding="utf-8", errors="replace").strip().splitlines()[:3]
    text = " ".join(line.strip() for line in head)
    if "Apache License" in text and "2.0" in text:
        return "Apache-2.0 (LICENSE beside the source)"
    return f"see {licence} ({text[:60]})"


def _up_to_date(checkpoint: Path, sha: str) -> bool:
    sidecar = sidecar_path(checkpoint)
    if not (checkpoint.is_file() and sidecar.is_file()):
        return False
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("source", {}).get("sha256") == sha and meta.get("checkpoint_sha256") == file_sha256(checkpoint)


def imported_checkpoint(source: Path, folder: Path) -> Path:
    """The checkpoint converted from `source` (converting it now if no valid one is in `folder`)."""
    if not source.is_file():
        raise FileNotFoundError(f"model.pretrained={source}: no such file")
    sha = file_sha256(source)
    for candidate in sorted(folder.glob(f"*-{sha[:HASH_CHARS]}.ckpt")):
        if _up_to_date(candidate, sha):
            return candidate
    out = folder / f"{source.stem}-{sha[:HASH_CHARS]}.ckpt"
    meta = _convert_keras(source, out) if source.suffix in KERAS_SUFFIXES else _convert_tflite(source, out)
    meta["source"] |= {"file": str(source.absolute()), "sha256": sha, "licence": licence_beside(source)}
    meta["checkpoint_sha256"] = file_sha256(out)
    write_text_atomic(sidecar_path(out), json.dumps(meta, indent=2) + "\n")
    return out


def _convert_tflite(source: Path, out: Path) -> dict:
    converted = convert_tflite(source)
    save_params(converted.params, out)
    backbone_count = sum(v.size for k, v in converted.params.items() if not k.startswith(CLASSIFIER_PREFIX))
    return {"profile": converted.profile.to_dict(), "architecture": converted.arch, "width": converted.width,
            "num_parameters": int(backbone_count), "imagenet_classes": converted.classes,
            "source": {"format": "tflite", "quantization": converted.quantization,
                       "notes": "TF-slim MobileNet from a TFLite flatbuffer: weights dequantized, each folded "
                                "BatchNorm an identity plus its bias"}}


def _convert_keras(source: Path, out: Path) -> dict:
    from dataclasses import replace

    from garbage_hpo.models.keras_convert import convert_keras_mobilenetv2, keras_input_size

    try:
        params = convert_keras_mobilenetv2(source)
    except (KeyError, OSError) as err:
        raise ValueError(f"{source}: not a Keras MobileNetV2 this project reads ({err})") from err
    save_params(params, out)
    profile = replace(KERAS, native_size=keras_input_size(source))
    return {"profile": profile.to_dict(), "architecture": "mobilenetv2", "width": 1.0,
            "num_parameters": int(sum(v.size for v in params.values())), "imagenet_classes": 0,
            "source": {"format": "keras", "quantization": "float32",
                       "notes": "Keras MobileNetV2 (keras.applications layer names) in ModelZoo naming"}}


def tflite_for(folder: Path, arch: str, width: float) -> Path:
    """The .tflite file in `folder` holding `arch` at `width`, or an error listing what the folder holds."""
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            got = recognise(read_tflite(path), path)
        except TfliteFormatError:
            continue
        if got == (arch, width):
            return path
        found.append(f"{path.name} ({got[0]} {got[1]})")
    raise FileNotFoundError(f"model.pretrained={folder}: no {arch} at width {width} among its TFLite files "
                            f"(found: {', '.join(found) or 'none'})")
