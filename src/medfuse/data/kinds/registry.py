"""The registry of modality kinds: built-in and third-party kinds side by side."""

from __future__ import annotations

from medfuse.data.kinds.base import Kind
from medfuse.data.validation import DataValidationError

_KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind | type[Kind], *, replace: bool = False) -> Kind:
    """Add a modality kind (an instance or a class, instantiated without arguments).

    Parameters
    ----------
    kind : Kind or Kind subclass
        Its ``name`` is how study files, manifests and ``Modality(kind=...)`` refer to it.
    replace : bool
        Allow replacing a kind of the same name (default: refuse).

    Returns
    -------
    Kind
        The registered instance (so the function can decorate a class).
    """
    instance = kind() if isinstance(kind, type) else kind
    if not isinstance(instance, Kind) or not instance.name:
        raise TypeError(f"{kind!r} is not a medfuse.data.kinds.Kind with a name.")
    if instance.name in _KINDS and not replace and type(_KINDS[instance.name]) is not type(
            instance):
        raise ValueError(f"Modality kind {instance.name!r} is already registered.")
    _KINDS[instance.name] = instance
    return instance


def unregister_kind(name: str) -> None:
    """Remove a kind (for tests and plugins that clean up).

    Parameters
    ----------
    name : str
        The kind's name; an unknown name is ignored.
    """
    _KINDS.pop(str(name), None)


def get_kind(name) -> Kind:
    """The registered kind called ``name``.

    Parameters
    ----------
    name : str or Kind
        A kind name (a Kind is returned as is).

    Returns
    -------
    Kind

    Raises
    ------
    DataValidationError
        For an unknown name, listing the registered ones.
    """
    if isinstance(name, Kind):
        return name
    try:
        return _KINDS[str(name)]
    except KeyError:
        raise DataValidationError(
            f"Unknown modality kind {str(name)!r}; registered kinds: "
            f"{', '.join(sorted(_KINDS))}. Third-party kinds are added with "
            "medfuse.data.kinds.register_kind.") from None


def kind_names() -> list[str]:
    """Names of the registered kinds, built-in first.

    Returns
    -------
    list of str
    """
    return list(_KINDS)


def all_kinds() -> list[Kind]:
    """The registered kinds.

    Returns
    -------
    list of Kind
        In registration order, built-in first.
    """
    return list(_KINDS.values())
