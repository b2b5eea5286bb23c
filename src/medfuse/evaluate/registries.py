"""The registrations a worker process needs from the process that started it.

Modality kinds, strategies, representations and encoders defined outside medfuse (plugins,
a user's module, a notebook) are registered in the process that runs the benchmark; a worker
process starts with medfuse's built-ins only. :func:`snapshot` takes every registration whose
object comes from outside medfuse (by reference when its module can be imported, by value
otherwise), and :func:`restore`, in the worker, puts them in place before the first fit.
"""

from __future__ import annotations

import importlib
import sys

#: (module, registry dict) of every registry. Only registries already loaded are taken:
#: the encoders' module imports torch.
REGISTRIES = (("medfuse.data.kinds.registry", "_KINDS"),
              ("medfuse.fusion.registry", "_REGISTRY"),
              ("medfuse.represent.registry", "_REPRESENTATIONS"),
              ("medfuse.fusion.neural.encoders", "_ENCODERS"))


def _origin(entry) -> str:
    """The module an entry's object comes from."""
    target = getattr(entry, "target", entry)  # a strategy's StrategyInfo names its class
    if isinstance(target, str):
        return target.partition(":")[0]
    if not isinstance(target, type) and not callable(target):
        target = type(target)  # a registered instance (kinds)
    return str(getattr(target, "__module__", "") or "")


def snapshot() -> dict[tuple[str, str], dict]:
    """Registrations of objects from outside medfuse, per loaded registry."""
    out = {}
    for module, name in REGISTRIES:
        if module not in sys.modules:
            continue
        registry = getattr(sys.modules[module], name)
        extra = {key: entry for key, entry in registry.items()
                 if not _origin(entry).startswith("medfuse.")}
        if extra:
            out[(module, name)] = extra
    return out


def restore(registrations: dict[tuple[str, str], dict]) -> None:
    """Put the registrations of :func:`snapshot` in place (in a worker process)."""
    for (module, name), extra in registrations.items():
        getattr(importlib.import_module(module), name).update(extra)
