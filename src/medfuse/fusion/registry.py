"""Strategy registry: names used in study files, results and reports -> estimator classes.

A strategy declares what it ``needs`` of a modality kind (see :mod:`medfuse.data.kinds`):
``"features"`` (it becomes a feature matrix), ``"tabular"`` (a numeric table linear models
use directly) or ``"encoder"`` (a neural encoder exists); the kinds it accepts follow from the
kind registry, third-party kinds included. A strategy whose class lives in a heavy module
(the neural ones import torch) is registered lazily by its import path, so that listing
and choosing strategies never imports it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from medfuse.data.kinds import all_kinds, get_kind


@dataclass(frozen=True)
class StrategyInfo:
    """Tags of one fusion strategy.

    Parameters
    ----------
    name : str
        The strategy's name.
    target : type or str
        The class, or ``"module:Class"`` for a lazily imported one.
    family : str
        The strategy family (see :func:`register`).
    needs : tuple of str
        Capabilities every modality kind must have (see the module docstring).
    handles_missing, interpretable : bool
        Tags shown by :func:`available`.
    description : str
        One line.
    params : dict
        Fixed constructor arguments for this name.
    per_modality : bool
        Built for one modality, as ``"<name>:<modality>"``.
    """

    name: str
    target: type | str
    family: str
    needs: tuple[str, ...] = ("tabular",)
    handles_missing: bool = True
    interpretable: bool = False
    description: str = ""
    params: dict = field(default_factory=dict)
    per_modality: bool = False

    @property
    def cls(self) -> type:
        """The estimator class (imported on first use for lazy registrations)."""
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            return getattr(importlib.import_module(module), attr)
        return self.target

    @property
    def task(self) -> str:
        """``"survival"`` for the survival family, else ``"classification"``."""
        return "survival" if self.family == "survival" else "classification"

    def accepts(self, kind) -> bool:
        """Whether a modality of this kind (name or Kind) can be used by the strategy."""
        return set(self.needs) <= set(get_kind(kind).capabilities)

    @property
    def kinds(self) -> tuple[str, ...]:
        """Registered kinds the strategy accepts."""
        return tuple(k.name for k in all_kinds() if self.accepts(k))


_REGISTRY: dict[str, StrategyInfo] = {}


def register(name: str, *, family: str, needs: Sequence[str] = ("tabular",),
             handles_missing: bool = True, interpretable: bool = False,
             description: str = "", per_modality: bool = False,
             **params) -> Callable[[type], type]:
    """Class decorator that registers a strategy under ``name``.

    Parameters
    ----------
    name : str
        The name in :func:`make`, study files, results and reports.
    family : str
        ``unimodal``, ``early``, ``late``, ``kernel``, ``latent``, ``interpretable``,
        ``neural`` or ``survival``.
    needs : sequence of str
        What every modality kind must offer (``"features"``, ``"tabular"``, ``"encoder"``).
    handles_missing, interpretable : bool
        Whether the strategy predicts from any subset of its modalities, and whether it
        explains itself (tags shown by :func:`available`).
    description : str
        One line; default: the first line of the class docstring.
    per_modality : bool
        The strategy is built for one modality, as ``"<name>:<modality>"`` (``unimodal``
        always is).
    **params
        Fixed constructor arguments for this name (so one class can serve several names,
        e.g. ``late-mean`` and ``late-vote``).

    Returns
    -------
    callable
        The decorator, which registers the class and returns it unchanged.
    """

    def wrap(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name].target not in (cls, _path(cls)):
            raise ValueError(f"Strategy name {name!r} is already registered.")
        _REGISTRY[name] = StrategyInfo(name, cls, family, tuple(needs), handles_missing,
                                       interpretable, description or (cls.__doc__ or "")
                                       .strip().splitlines()[0], dict(params),
                                       per_modality or name == "unimodal")
        return cls

    return wrap


def register_lazy(name: str, target: str, *, family: str, description: str,
                  needs: Sequence[str] = ("tabular",), handles_missing: bool = True,
                  interpretable: bool = False, per_modality: bool = False, **params) -> None:
    """Register a strategy by the import path of its class, imported only when the strategy
    is built (so that listing strategies never imports a heavy module).

    Parameters
    ----------
    name : str
        The strategy's name.
    target : str
        ``"package.module:Class"``.
    family, description, needs, handles_missing, interpretable, per_modality
        The tags, as for :func:`register` (``description`` is required here: the class is
        not imported to read its docstring).
    **params
        Fixed constructor arguments for this name.
    """
    if name in _REGISTRY and _REGISTRY[name].target not in (target,):
        existing = _REGISTRY[name].target
        if isinstance(existing, str) or _path(existing) != target:
            raise ValueError(f"Strategy name {name!r} is already registered.")
        return
    _REGISTRY[name] = StrategyInfo(name, target, family, tuple(needs), handles_missing,
                                   interpretable, description, dict(params), per_modality)


def _path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def check_name(name: str) -> StrategyInfo:
    """The tags of a strategy name a user gave.

    Parameters
    ----------
    name : str
        A strategy name (``unimodal:<modality>`` for a per-modality one).

    Returns
    -------
    StrategyInfo

    Raises
    ------
    ValueError
        Listing the valid names when it is unknown, or asking for the modality of a
        per-modality strategy given without one.
    """
    info_ = info(name)
    if info_.per_modality and not name.partition(":")[2]:
        raise ValueError(f"Name the modality: '{info_.name}:<modality>'.")
    return info_


def check_params(name: str, params) -> None:
    """Refuse constructor arguments the strategy ``name`` does not have, listing the ones
    it has, and values it cannot train with (a strategy checks its own in
    ``_check_settings()``, e.g. loss terms given by a name nobody registered).

    Parameters
    ----------
    name : str
        A strategy name.
    params : mapping
        Constructor arguments.

    Raises
    ------
    ValueError
        Naming the strategy and what is wrong.
    """
    cls = info(name).cls
    accepted = set(cls().get_params(deep=False))
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(f"Strategy {name!r} has no parameter(s) {', '.join(unknown)}; its "
                         f"parameters are: {', '.join(sorted(accepted))}.")
    check = getattr(cls, "_check_settings", None)
    if check is not None:
        values = dict(params)
        if info(name).per_modality:
            values.setdefault("modality", name.partition(":")[2])
        try:
            cls(**{**info(name).params, **values})._check_settings()
        except (ValueError, TypeError) as err:
            raise ValueError(f"Strategy {name!r}: {err}") from None


def available() -> pd.DataFrame:
    """Registered strategies with their tags, one row per name.

    Returns
    -------
    DataFrame
        Indexed by name, with columns ``family``, ``kinds`` (the registered kinds the
        strategy accepts, comma-separated), ``handles_missing``, ``interpretable`` and
        ``description``.
    """
    rows = [{"name": i.name, "family": i.family, "kinds": ",".join(i.kinds),
             "handles_missing": i.handles_missing, "interpretable": i.interpretable,
             "description": i.description} for i in _REGISTRY.values()]
    return pd.DataFrame(rows).set_index("name").sort_index() if rows else pd.DataFrame()


def strategy_names(modalities: Sequence[str] = (), task: str = "classification") -> list[str]:
    """The strategy names of one task.

    Parameters
    ----------
    modalities : sequence of str
        Modalities for which the per-modality names (``unimodal:<m>``,
        ``unimodal-cox:<m>``) are expanded.
    task : {"classification", "survival"}

    Returns
    -------
    list of str
        The per-modality names first, then the others in registration order.
    """
    if task not in ("classification", "survival"):
        raise ValueError(f"Unknown task {task!r}; use 'classification' or 'survival'.")
    mine = [i for i in _REGISTRY.values() if i.task == task]
    per = [f"{i.name}:{m}" for i in mine if i.per_modality for m in modalities]
    return per + [i.name for i in mine if not i.per_modality]


def info(name: str) -> StrategyInfo:
    """The tags of a strategy name.

    Parameters
    ----------
    name : str
        A registered name (``unimodal:<m>`` resolves to ``unimodal``).

    Returns
    -------
    StrategyInfo
    """
    base = name.partition(":")[0]
    if base in _REGISTRY and _REGISTRY[base].per_modality:
        return _REGISTRY[base]
    if name not in _REGISTRY:
        raise ValueError(f"Unknown strategy {name!r}; available: {', '.join(sorted(_REGISTRY))}"
                         " (unimodal:<modality> for one modality).")
    return _REGISTRY[name]
