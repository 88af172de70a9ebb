"""Dataset tools: `python -m garbage_hpo.data check|suspects [data.root=DIR] [--json]`.

`check` audits every file of the dataset the training would use and prints one report: unusable files
(skipped by training), images converted on load (grayscale, CMYK, alpha, 16-bit), very large images, empty
class folders, classes in val/ missing from train/, and exact duplicates, including across train/ and val/.
Exit code 0 when the dataset is usable for training, 1 when it is not, 2 for bad arguments.

`suspects` lists the training photos whose label cross-validated predictions doubt (confident learning) and
draws them; it moves nothing (`python -m garbage_hpo.data suspects --help`).
"""

from __future__ import annotations

import json
import os
import sys

from garbage_hpo.data.audit import audit_dataset
from garbage_hpo.data.resolve import resolve_root
from garbage_hpo.runtime import friendly_errors, runs_dir, split_args

USAGE = __doc__.split("\n\n")[0]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    if argv[0] == "suspects":
        # The command of its own, `python -m garbage_hpo.suspects`, as git runs git-<command>: it trains
        # cross-validated probes, which the data layer must not import (it sits below them). exec: one process,
        # its exit code and its Ctrl-C handling are the command's own.
        os.execv(sys.executable, [sys.executable, "-m", "garbage_hpo.suspects", *argv[1:]])
    with friendly_errors():
        overrides, flags, positional = split_args(argv, {"json": False})
        if positional != ["check"]:
            raise ValueError(f"unknown command {' '.join(positional) or '(none)'}; usage: {USAGE}")
        unknown = set(overrides) - {"data.root"}
        if unknown:
            raise ValueError(f"unknown setting {', '.join(sorted(unknown))}: only data.root is read by check")
        root, is_demo = resolve_root(overrides.get("data.root"), runs_dir() / "demo_data")
        report = audit_dataset(root)
        if flags.get("json"):
            print(json.dumps({"root": str(root), "demo": is_demo, "errors": report.errors} | report.summary()))
        else:
            print(report.format() + ("\n(the generated demo set: no data.root given)" if is_demo else ""))
        return 1 if report.errors else 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
