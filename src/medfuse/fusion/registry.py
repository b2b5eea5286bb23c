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


_REGISTRY: dict[str, StrategyInfo] = {}


def register(name: str, *, family: str, kinds: Sequence[str] = ("continuous", "counts",
                                                                 "clinical"),
             handles_missing: bool = True, interpretable: bool = False,
             description: str = "", **params) -> Callable[[type], type]:
    """Class decorator that registers a strategy under ``name``.

    ``params`` are fixed constructor arguments for this name (so one class can serve several
    names, e.g. ``late-mean`` and ``late-vote``).
    """

    def wrap(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"Strategy name {name!r} is already registered.")
        _REGISTRY[name] = StrategyInfo(name, cls, family, tuple(kinds), handles_missing,
                                       interpretable, description or (cls.__doc__ or "")
                                       .strip().splitlines()[0], dict(params))
        return cls

    return wrap


def make(name: str, **params):
    """Build a strategy by name, e.g. ``make("late-weighted", random_state=0)`` or
    ``make("unimodal:mrna")``."""
    base, _, modality = name.partition(":")
    key = "unimodal" if base == "unimodal" else name
    if key not in _REGISTRY:
        raise ValueError(f"Unknown strategy {name!r}; available: {sorted(_REGISTRY)} "
                         "(unimodal:<modality> for one modality).")
    info = _REGISTRY[key]
    if key == "unimodal":
        if not modality:
            raise ValueError("Name the modality: 'unimodal:<modality>'.")
        params = {"modality": modality, **params}
    return info.cls(**{**info.params, **params})


def available() -> pd.DataFrame:
    """Registered strategies with their tags, one row per name."""
    rows = [{"name": i.name, "family": i.family, "kinds": ",".join(i.kinds),
             "handles_missing": i.handles_missing, "interpretable": i.interpretable,
             "description": i.description} for i in _REGISTRY.values()]
    return pd.DataFrame(rows).set_index("name").sort_index() if rows else pd.DataFrame()


def strategy_names(modalities: Sequence[str] = ()) -> list[str]:
    """All strategy names, with ``unimodal:<m>`` expanded for the given modalities."""
    names = [f"unimodal:{m}" for m in modalities] if "unimodal" in _REGISTRY else []
    return names + [n for n in _REGISTRY if n != "unimodal"]


def info(name: str) -> StrategyInfo:
    return _REGISTRY["unimodal" if name.startswith("unimodal:") else name]
