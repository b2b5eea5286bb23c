"""Plugins: importing them, what each registered, and what a worker process needs of them.

:func:`load_plugins` imports the modules of the ``medfuse.plugins`` entry point group and of
the ``MEDFUSE_PLUGINS`` environment variable and reports, per module, the names it added to
each registry (``medfuse plugins`` shows them); a module that cannot be imported is one
:class:`PluginError` naming it and where it was listed.

The registrations a worker process needs from the process that started it:

Modality kinds, strategies, representations, transforms, loss terms and encoders defined
outside medfuse (plugins,
a user's module, a notebook) are registered in the process that runs the benchmark; a worker
process starts with medfuse's built-ins only. :func:`snapshot` takes every registration whose
object comes from outside medfuse (by reference when its module can be imported, by value
otherwise), and :func:`restore`, in the worker, puts them in place before the first fit.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field

__all__ = ["Plugin", "PluginError", "load_plugins", "plugin_modules", "plugin_packages",
           "registered_classes", "restore", "snapshot"]

#: (module, registry dict) of every registry. Only registries already loaded are taken:
#: the encoders' module imports torch.
REGISTRIES = (("medfuse.data.kinds.registry", "_KINDS"),
              ("medfuse.fusion.registry", "_REGISTRY"),
              ("medfuse.represent.registry", "_REPRESENTATIONS"),
              ("medfuse.preprocess.registry", "_TRANSFORMS"),
              ("medfuse.fusion.neural.objectives", "_TERMS"),
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
    """Registrations of objects from outside medfuse, per loaded registry.

    Returns
    -------
    dict
        (registry module, registry name) -> {name: registered object}.
    """
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
    """Put the registrations of :func:`snapshot` in place (in a worker process).

    Parameters
    ----------
    registrations : dict
        What :func:`snapshot` returned in the parent process.
    """
    for (module, name), extra in registrations.items():
        getattr(importlib.import_module(module), name).update(extra)


# ---------------------------------------------------------------------- plugins
#: what :func:`load_plugins` reports, by registry: (module, dict, label)
_LABELS = {"_KINDS": "kinds", "_REGISTRY": "strategies",
           "_REPRESENTATIONS": "representations", "_TRANSFORMS": "transforms",
           "_TERMS": "loss terms", "_ENCODERS": "encoders"}


#: packages whose import fills the registries that need no torch
_REGISTRY_PACKAGES = ("medfuse.data.kinds", "medfuse.preprocess", "medfuse.represent",
                      "medfuse.fusion")


class PluginError(ImportError):
    """A plugin module that cannot be imported; the message names where it was listed."""


@dataclass
class Plugin:
    """One imported plugin module and what it registered.

    Parameters
    ----------
    module : str
        The module's name.
    source : str
        Where it was listed: ``"MEDFUSE_PLUGINS"`` or ``"entry point <name> (<dist>)"``.
    registered : dict of str to list of str
        Registry label (``kinds``, ``strategies``, ``representations``, ``transforms``,
        ``loss terms``, ``encoders``) -> the names it added.
    """

    module: str
    source: str
    registered: dict[str, list[str]] = field(default_factory=dict)


def _names() -> dict[str, dict]:
    out = {}
    for module, name in REGISTRIES:
        if module in sys.modules:
            out[_LABELS[name]] = dict(getattr(sys.modules[module], name))
    return out


def _added(before: dict[str, dict], after: dict[str, dict]) -> dict[str, list[str]]:
    """Names in ``after`` that ``before`` lacks or held another object for; a registry
    first loaded in between counts only entries from outside medfuse (its built-ins were
    registered by its own import)."""
    out = {}
    for label, entries in after.items():
        old = before.get(label)
        new = [key for key, entry in entries.items()
               if (old is not None and (key not in old or old[key] is not entry))
               or (old is None and not _origin(entry).startswith("medfuse."))]
        if new:
            out[label] = sorted(new)
    return out


def plugin_modules() -> list[tuple[str, str]]:
    """The plugin modules to import.

    Returns
    -------
    list of (str, str)
        (module, where it was listed): the ``medfuse.plugins`` entry points, then the names
        in the ``MEDFUSE_PLUGINS`` environment variable (comma-separated).
    """
    from importlib.metadata import entry_points

    out = []
    for ep in entry_points(group="medfuse.plugins"):
        dist = getattr(getattr(ep, "dist", None), "name", None)
        out.append((ep.value.split(":")[0],
                    f"entry point {ep.name!r}" + (f" of {dist}" if dist else "")))
    for name in os.environ.get("MEDFUSE_PLUGINS", "").split(","):
        if name.strip():
            out.append((name.strip(), "MEDFUSE_PLUGINS"))
    return out


def load_plugins() -> list[Plugin]:
    """Import the plugin modules (:func:`plugin_modules`) and record what each registered.

    Returns
    -------
    list of Plugin
        In import order; a module listed twice is imported (and reported) once.

    Raises
    ------
    PluginError
        When a module cannot be imported, naming it, where it was listed and why (its own
        exception, without the traceback).
    """
    listed = plugin_modules()
    if listed:  # the registries a plugin adds to, loaded first so that its names stand out
        for package in _REGISTRY_PACKAGES:
            importlib.import_module(package)
    plugins, seen = [], set()
    for module, source in listed:
        if module in seen:
            continue
        seen.add(module)
        before = _names()
        try:
            importlib.import_module(module)
        except Exception as err:  # a plugin may fail in any way while importing
            where = ("the MEDFUSE_PLUGINS environment variable" if source == "MEDFUSE_PLUGINS"
                     else f"the {source} (medfuse.plugins entry point group)")
            raise PluginError(
                f"plugin module {module!r}, listed in {where}, cannot be imported: "
                f"{type(err).__name__}: {err}. Install it, fix it, or remove it from "
                f"{'MEDFUSE_PLUGINS' if source == 'MEDFUSE_PLUGINS' else 'the installed packages'}."
            ) from None
        plugins.append(Plugin(module, source, _added(before, _names())))
    return plugins


def plugin_packages() -> set[str]:
    """The top-level packages of the plugin modules (:func:`plugin_modules`): a class
    defined anywhere in one of them may be trusted by name.

    Returns
    -------
    set of str
    """
    return {module.split(".")[0] for module, _ in plugin_modules()}


def registered_classes() -> set[str]:
    """The exact names (``module.Class``) of the classes that loaded registries hold:
    kinds, strategies, representations, transforms, loss terms and encoders registered as
    classes.

    Returns
    -------
    set of str
    """
    out = set()
    for module, name in REGISTRIES:
        if module not in sys.modules:
            continue
        for entry in getattr(sys.modules[module], name).values():
            target = getattr(entry, "target", entry)
            if isinstance(target, str):
                path, _, attr = target.partition(":")
                out.add(f"{path}.{attr}")
                continue
            if not isinstance(target, type) and not callable(target):
                target = type(target)  # a registered instance (kinds)
            if isinstance(target, type):
                out.add(f"{target.__module__}.{target.__qualname__}")
    return out
