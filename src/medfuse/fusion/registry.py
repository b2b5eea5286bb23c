"""Strategy registry: names used in study files, results and reports -> estimator classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class StrategyInfo:
    """Tags of one fusion strategy."""

    name: str
    cls: type
    family: str
    kinds: tuple[str, ...] = ("continuous", "counts", "clinical")
    handles_missing: bool = True
    interpretable: bool = False
    description: str = ""
    params: dict = field(default_factory=dict)
    per_modality: bool = False

    @property
    def task(self) -> str:
        """``"survival"`` for the survival family, else ``"classification"``."""
        return "survival" if self.family == "survival" else "classification"


_REGISTRY: dict[str, StrategyInfo] = {}


def register(name: str, *, family: str, kinds: Sequence[str] = ("continuous", "counts",
                                                                 "clinical"),
             handles_missing: bool = True, interpretable: bool = False,
             description: str = "", per_modality: bool = False,
             **params) -> Callable[[type], type]:
    """Class decorator that registers a strategy under ``name``.

    ``per_modality``: the strategy is built for one modality, as ``"<name>:<modality>"``
    (``unimodal`` always is).

    ``params`` are fixed constructor arguments for this name (so one class can serve several
    names, e.g. ``late-mean`` and ``late-vote``).
    """

    def wrap(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"Strategy name {name!r} is already registered.")
        _REGISTRY[name] = StrategyInfo(name, cls, family, tuple(kinds), handles_missing,
                                       interpretable, description or (cls.__doc__ or "")
                                       .strip().splitlines()[0], dict(params),
                                       per_modality or name == "unimodal")
        return cls

    return wrap


def make(name: str, **params):
    """Build a strategy by name, e.g. ``make("late-weighted", random_state=0)`` or
    ``make("unimodal:mrna")``."""
    base, _, modality = name.partition(":")
    key = base if base in _REGISTRY and _REGISTRY[base].per_modality else name
    if key not in _REGISTRY:
        raise ValueError(f"Unknown strategy {name!r}; available: {sorted(_REGISTRY)} "
                         "(unimodal:<modality> for one modality).")
    info = _REGISTRY[key]
    if info.per_modality:
        if not modality:
            raise ValueError(f"Name the modality: '{key}:<modality>'.")
        params = {"modality": modality, **params}
    return info.cls(**{**info.params, **params})


def available() -> pd.DataFrame:
    """Registered strategies with their tags, one row per name."""
    rows = [{"name": i.name, "family": i.family, "kinds": ",".join(i.kinds),
             "handles_missing": i.handles_missing, "interpretable": i.interpretable,
             "description": i.description} for i in _REGISTRY.values()]
    return pd.DataFrame(rows).set_index("name").sort_index() if rows else pd.DataFrame()


def strategy_names(modalities: Sequence[str] = (), task: str = "classification") -> list[str]:
    """The strategy names of one task (``"classification"`` or ``"survival"``), with the
    per-modality ones (``unimodal:<m>``, ``unimodal-cox:<m>``) expanded for the given
    modalities and listed first."""
    if task not in ("classification", "survival"):
        raise ValueError(f"Unknown task {task!r}; use 'classification' or 'survival'.")
    mine = [i for i in _REGISTRY.values() if i.task == task]
    per = [f"{i.name}:{m}" for i in mine if i.per_modality for m in modalities]
    return per + [i.name for i in mine if not i.per_modality]


def info(name: str) -> StrategyInfo:
    """The tags of a strategy name (``unimodal:<m>`` resolves to ``unimodal``)."""
    base = name.partition(":")[0]
    if base in _REGISTRY and _REGISTRY[base].per_modality:
        return _REGISTRY[base]
    return _REGISTRY[name]
