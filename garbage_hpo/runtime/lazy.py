"""A package's public face loaded on first use (PEP 562): `from garbage_hpo.models import MobileNetV2` imports
models/mobilenetv2.py only then, so a command that refuses bad input does so before MindSpore or MLflow load."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` of a package whose public names live in its modules (`where`: name -> module)."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # looked up once
        return value

    return __getattr__
