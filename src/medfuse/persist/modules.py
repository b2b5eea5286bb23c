"""Torch modules anywhere in a fitted model, kept in one safetensors file.

A neural strategy keeps all its torch modules in ``module_`` and rebuilds the untrained
architecture with ``_build_module()``. Wrappers hold such strategies (``estimator_``,
``estimators_``), so modules may sit anywhere in a model's object tree:

- :func:`detach` returns a copy of the tree without its modules (only the objects on the
  way to a module, or whose saved parameters differ, are copied; arrays and everything else
  are shared) and the modules by path;
- :func:`rebuild_targets` finds, in a loaded tree, the fitted estimators whose module must be
  rebuilt, by the same paths; nothing read from the model folder chooses them;
- :func:`bundle` puts several modules into one container so that one safetensors file holds
  them all (a model whose only module is its own keeps the plain layout).

An estimator may also say how its parameters are saved (``_persisted_params()``: name ->
value), e.g. loss terms by registered name, so that loading needs none of their classes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator

ROOT = ""


def _key(path: tuple[str, ...]) -> str:
    """A container name for a path (module names may not hold dots)."""
    return ":".join(re.sub(r"[^\w-]", "_", part) for part in path)


def _is_estimator(obj) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(obj, BaseEstimator)


def detach(model) -> tuple[object, dict[str, object]]:
    """A copy of ``model`` without torch modules, and the modules by path.

    Parameters
    ----------
    model : fitted estimator

    Returns
    -------
    copy : estimator
        ``model`` itself when nothing had to change, else a shallow copy of every object on
        the way to a ``module_`` (removed) or to persisted parameters (replaced).
    modules : dict of str to nn.Module
        Path key (``""`` for the model's own module, ``"estimator_"``,
        ``"estimators_:0"`` ...) -> module.
    """
    modules: dict[str, object] = {}
    memo: dict[int, object] = {}

    def visit(obj, path: tuple[str, ...]):
        if id(obj) in memo:
            return memo[id(obj)]
        memo[id(obj)] = obj
        if _is_estimator(obj):
            attrs = vars(obj)
            changes: dict[str, object] = {}
            drop = ("module_" in attrs and attrs["module_"] is not None
                    and callable(getattr(obj, "_build_module", None)))
            if drop:
                modules[_key(path)] = attrs["module_"]
            saved = getattr(obj, "_persisted_params", None)
            if callable(saved):
                changes.update({k: v for k, v in saved().items() if attrs.get(k) is not v})
            for name, value in attrs.items():
                if (name == "module_" and drop) or name in changes:
                    continue
                new = visit(value, (*path, name))
                if new is not value:
                    changes[name] = new
            if drop or changes:
                clone = copy.copy(obj)
                if drop:
                    del clone.__dict__["module_"]
                clone.__dict__.update(changes)
                memo[id(obj)] = clone
            return memo[id(obj)]
        if isinstance(obj, dict):
            items = {k: visit(v, (*path, str(k))) for k, v in obj.items()}
            if any(items[k] is not v for k, v in obj.items()):
                memo[id(obj)] = type(obj)(items) if type(obj) is dict else items
            return memo[id(obj)]
        if isinstance(obj, list | tuple):
            items = [visit(v, (*path, str(i))) for i, v in enumerate(obj)]
            if any(a is not b for a, b in zip(items, obj, strict=True)):
                memo[id(obj)] = items if isinstance(obj, list) else tuple(items)
            return memo[id(obj)]
        return obj

    return visit(model, ()), modules


def iter_parts(obj) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every estimator reachable from ``obj`` (itself included) through the attributes of
    estimators, dicts, lists and tuples, each once, with its path.

    Parameters
    ----------
    obj : object
        A model or any part of one.

    Yields
    ------
    path : tuple of str
        Attribute names, keys and positions from ``obj``.
    estimator : BaseEstimator
    """
    yield from _walk(obj, (), set())


def _walk(obj, path: tuple[str, ...], seen: set[int]) -> Iterator[tuple[tuple[str, ...],
                                                                         object]]:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if _is_estimator(obj):
        yield path, obj
        for name, value in vars(obj).items():
            yield from _walk(value, (*path, name), seen)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, (*path, str(k)), seen)
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _walk(v, (*path, str(i)), seen)


def rebuild_targets(model) -> dict[str, object]:
    """The fitted estimators of a loaded model that rebuild a torch module, by path key (the
    keys :func:`detach` gave their modules).

    Parameters
    ----------
    model : estimator
        A model as loaded (without modules).

    Returns
    -------
    dict of str to estimator
        Every estimator with a ``_build_module()`` that is fitted (has an attribute ending
        in ``_``), in the order they are reached.
    """
    out = {}
    for path, obj in iter_parts(model):
        if callable(getattr(obj, "_build_module", None)) and _fitted(obj):
            out[_key(path)] = obj
    return out


def _fitted(obj) -> bool:
    return any(name.endswith("_") and not name.startswith("__") for name in vars(obj))


def bundle(modules: dict[str, object]):
    """One module holding all of ``modules`` (their state dict keys prefixed by their path
    key); the module itself when it is the model's own and only one.

    Parameters
    ----------
    modules : dict of str to nn.Module

    Returns
    -------
    nn.Module
    """
    if list(modules) == [ROOT]:
        return modules[ROOT]
    from torch import nn

    holder = nn.Module()
    for key, module in modules.items():
        holder.add_module(key or "self", module)
    return holder


def unbundle(holder, keys) -> dict[str, object]:
    """The modules of :func:`bundle` by path key.

    Parameters
    ----------
    holder : nn.Module
        What :func:`bundle` returned (with the weights loaded).
    keys : sequence of str
        The path keys given to :func:`bundle`.

    Returns
    -------
    dict of str to nn.Module
    """
    keys = list(keys)
    if keys == [ROOT]:
        return {ROOT: holder}
    return {key: getattr(holder, key or "self") for key in keys}
