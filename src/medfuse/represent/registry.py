"""Named representations, for study files and ``make_representation``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sklearn.base import clone


@dataclass(frozen=True)
class RepresentationInfo:
    """One registered representation: its factory (or ``"module:attr"``, imported when first
    made) and the modality kinds it reads."""

    target: Callable | str
    kinds: tuple[str, ...] = ()

    def load(self) -> Callable:
        """The factory, importing its module when it was registered by path."""
        if isinstance(self.target, str):
            import importlib

            module, _, attr = self.target.partition(":")
            return getattr(importlib.import_module(module), attr)
        return self.target


_REPRESENTATIONS: dict[str, RepresentationInfo] = {}


def register_representation(name: str, factory: Callable | str | None = None, *,
                            kinds: Sequence[str] = ()):
    """Register a representation class (or factory) under ``name``; usable as a decorator.

    Parameters
    ----------
    name : str
        How study files (``representations: {ct: {name: ..., params: {...}}}``) refer to it.
    factory : callable or str, optional
        Called with the study file's ``params`` to build an unfitted transformer; or its
        path ``"module:attr"``, imported when the representation is first made (how a
        domain package registers without being imported at start). Omitted, a decorator is
        returned.
    kinds : sequence of str
        The modality kinds it reads (suggested in messages about those kinds, see
        :func:`representations_for`).

    Returns
    -------
    callable
        ``factory``, or the decorator that registers and returns one.
    """

    def wrap(f: Callable) -> Callable:
        _REPRESENTATIONS[str(name)] = RepresentationInfo(f, tuple(str(k) for k in kinds))
        return f

    return wrap(factory) if factory is not None else wrap


def representations_for(kind: str) -> list[str]:
    """Registered representations that read modalities of ``kind``.

    Parameters
    ----------
    kind : str
        A modality kind name.

    Returns
    -------
    list of str
        In registration order.
    """
    return [name for name, entry in _REPRESENTATIONS.items() if str(kind) in entry.kinds]


def representation_names() -> list[str]:
    """Registered representation names.

    Returns
    -------
    list of str
        Sorted.
    """
    return sorted(_REPRESENTATIONS)


def make_representation(spec):
    """An unfitted representation.

    Parameters
    ----------
    spec : str, mapping or transformer
        A registered name, ``{"name": ..., "params": {...}}`` or a transformer (cloned).

    Returns
    -------
    transformer

    Raises
    ------
    ValueError
        For an unknown name, listing the registered ones.
    """
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, Mapping):
        name = str(spec.get("name"))
        if name not in _REPRESENTATIONS:
            raise ValueError(f"Unknown representation {name!r}; registered: "
                             f"{', '.join(representation_names())}.")
        return _REPRESENTATIONS[name].load()(**dict(spec.get("params") or {}))
    if hasattr(spec, "fit") and hasattr(spec, "transform"):
        return clone(spec)
    raise TypeError(f"A representation is a name, a {{name, params}} mapping or a transformer "
                    f"with fit/transform, got {type(spec).__name__}.")
