"""The names the API reference documents, read from its autosummary pages (``docs/api``),
and the public ``__all__`` lists they must cover."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

API_DIR = Path(__file__).resolve().parents[2] / "docs" / "api"

#: Packages whose ``__all__`` is the public API.
PUBLIC_PACKAGES = ("medfuse", "medfuse.data", "medfuse.data.kinds", "medfuse.preprocess",
                   "medfuse.represent", "medfuse.fusion", "medfuse.fusion.neural",
                   "medfuse.evaluate", "medfuse.explain", "medfuse.report", "medfuse.persist",
                   "medfuse.testing", "medfuse.plugins", "medfuse.config", "medfuse.study")


def documented_names() -> list[str]:
    """Fully qualified names listed in the autosummary tables of the API pages, in page
    order (``module.name`` with the module of the preceding ``currentmodule``)."""
    names: list[str] = []
    for page in sorted(API_DIR.glob("*.rst")):
        module, in_table = None, False
        for line in page.read_text().splitlines():
            found = re.match(r"\.\. currentmodule:: (\S+)", line)
            if found:
                module, in_table = found.group(1), False
            elif line.startswith(".. autosummary::"):
                in_table = True
            elif in_table and re.match(r"   [A-Za-z_]\w*$", line):
                names.append(f"{module}.{line.strip()}")
            elif in_table and line and not line.startswith("   "):
                in_table = False
    return names


def resolve(name: str):
    """The object of a fully qualified name (module part imported, the rest by getattr)."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def public_objects() -> dict[str, object]:
    """``package.name`` -> object for every class and function in a public ``__all__``
    (constants such as ``__version__`` or file names are documented in prose)."""
    out = {}
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) or callable(obj):
                out[f"{package}.{name}"] = obj
    return out
