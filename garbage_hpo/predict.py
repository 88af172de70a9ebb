"""Classify photos:

    python -m garbage_hpo.predict IMAGE_OR_FOLDER... [model=REF] [--top-k K] [--json] [--unbound-card]

model=REF is a checkpoint path, an MLflow run id, or a registry alias (default: champion); tracking.uri=URI
picks the MLflow store (default runs/mlflow.db). Unreadable files are reported and skipped; the exit code is
1 when any failed, 2 for bad arguments. --unbound-card accepts a model card that records no binding to its
weights (an old card, on purpose): otherwise refused, since an edit of it could not be caught.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from garbage_hpo.data import IMAGE_SUFFIXES, UnreadableImageError
from garbage_hpo.runtime import configure_runtime, friendly_errors, shown, split_args
from garbage_hpo.tracking import tracking_uri

USAGE = ("usage: python -m garbage_hpo.predict IMAGE_OR_FOLDER... [model=REF] [tracking.uri=URI] [--top-k K] [--json] "
         "[--unbound-card]")


def expand(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return files


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0 if argv else 2
    with friendly_errors():
        overrides, flags, inputs = split_args(argv, {"top-k": True, "json": False, "unbound-card": False})
        top_k = int(flags.get("top-k", 1))
        if top_k < 1:
            raise ValueError("--top-k must be at least 1")
        if not inputs:
            raise ValueError(f"no images given\n{USAGE}")
        files = expand(inputs)
        configure_runtime()
        from garbage_hpo.deploy import Predictor, resolve_model
        from garbage_hpo.runtime import runs_dir

        checkpoint = resolve_model(overrides.get("model"), tracking_uri(overrides), runs_dir() / "model_cache")
        predictor = Predictor.load(checkpoint, bool(flags.get("unbound-card")))
        failed = 0
        for path in files:
            try:
                top = predictor.predict(path, top_k=top_k)
            except UnreadableImageError as err:
                print(f"error: {err}", file=sys.stderr)
                failed += 1
                continue
            if flags.get("json"):
                print(json.dumps({"path": str(path), "predictions": [p.__dict__ for p in top]}, ensure_ascii=False))
                continue
            best = top[0]
            print(f"{shown(path)}\t{best.english} / {best.chinese}\t[{best.category}]\t{best.confidence:.1%}")
            for alt in top[1:]:
                print(f"\t{alt.english} / {alt.chinese}\t[{alt.category}]\t{alt.confidence:.1%}")
        if failed:
            print(f"{failed} of {len(files)} files could not be read", file=sys.stderr)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
