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


def test_the_top_holds_only_the_commands():
    top = sorted(p.stem for p in (REPO / "garbage_hpo").glob("*.py") if p.stem != "__init__")
    assert len(top) <= 8, top
    assert set(top) == {"baseline", "evaluate", "predict", "suspects", "train", "ui", "weights"}


def test_every_subpackage_has_a_face_whose_names_load_on_first_use():
    import importlib

    for init in sorted((REPO / "garbage_hpo").glob("*/__init__.py")):
        package = f"garbage_hpo.{init.parent.name}"
        code = (f"import sys, {package} as p; loaded = [m for m in sys.modules if m.startswith('{package}.')]; "
                "assert loaded in ([], ['garbage_hpo.runtime.lazy']), loaded; "
                "assert isinstance(p.__all__, list), 'no __all__'")
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{package}: {proc.stderr[-1500:]}"
        face = importlib.import_module(package)
        for name in face.__all__:
            assert getattr(face, name) is not None, f"{package}.{name}"


def test_other_packages_import_from_the_face_not_its_modules():
    import ast

    for path in sorted((REPO / "garbage_hpo").rglob("*.py")):
        here = path.relative_to(REPO / "garbage_hpo").parts
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("garbage_hpo.")
                    and node.module.count(".") >= 2):
                continue
            package = node.module.split(".")[1]
            if package != here[0]:
                assert node.module == "garbage_hpo.features.cache" and node.names[0].name == "cache" or \
                    node.module == "garbage_hpo.runtime.lazy", f"{path}: from {node.module} import ..."
