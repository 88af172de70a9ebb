"""The package's structure, checked in every `make test`: layers import downward only (the import-linter
contract in pyproject.toml), with no import circle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_layers_import_downward_only():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    command = [str(lint_imports)] if lint_imports.is_file() else [shutil.which("lint-imports") or "lint-imports"]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in proc.stdout


def test_the_import_graph_has_no_circle():
    import grimp

    graph = grimp.build_graph("garbage_hpo")
    modules = sorted(graph.modules)
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            # a path back would close a circle (a package's __init__ importing its own children aside)
            if imported.startswith(module + ".") or module.startswith(imported + "."):
                continue
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            assert chain is None, f"import circle: {module} -> {' -> '.join(chain)}"
