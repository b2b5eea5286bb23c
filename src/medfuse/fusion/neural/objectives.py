"""Training objectives of the neural strategies: a list of loss terms.

A term maps the network's outputs for one mini-batch (:meth:`FusionNetwork.outputs`:
``logits``, ``latents``, ``fused``, ``reconstruction``, ``aux_logits``) and the batch (inputs,
availability mask, labels) to a scalar loss; the training loop adds ``weight * term`` over the
terms. Supervised terms see only the labelled subjects of a batch; unsupervised terms also
train on subjects without an outcome (the optional pre-training stage). A term that needs
parts of the network (decoders, auxiliary heads) says so in ``network_parts``; a term with
trainable parts of its own (e.g. a projection head) creates them in :meth:`LossTerm.init`.

Terms are registered by name (:func:`register_loss_term`), so a strategy's ``objectives``
and ``pretrain_objectives`` may name them as a study file does:
``[cross-entropy, {name: reconstruction, params: {weight: 0.5}}]``. Built-in terms:
``cross-entropy`` (:class:`CrossEntropy`), ``reconstruction`` (:class:`Reconstruction`),
``auxiliary-heads`` (:class:`AuxiliaryHeads`). A fitted model records the network parts its
terms needed (``network_parts_``), so loading it for prediction needs none of the terms'
classes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator, clone
from torch import nn
from torch.nn import functional as F


@dataclass
class Batch:
    """One mini-batch, as the loss terms see it.

    Parameters
    ----------
    inputs : list of Tensor
        One tensor per modality, subjects first.
    mask : Tensor of bool, shape (n, M)
        Availability after modality dropout.
    y : Tensor of int, shape (n,)
        Class indices, -1 for subjects without an outcome.
    class_weight : Tensor of shape (K,) or None
        Per-class weights of the supervised terms.
    """

    inputs: list[torch.Tensor]
    mask: torch.Tensor
    y: torch.Tensor
    class_weight: torch.Tensor | None

    @property
    def labelled(self) -> torch.Tensor:
        """Positions of the subjects with an outcome."""
        return torch.nonzero(self.y >= 0, as_tuple=True)[0]


class LossTerm(BaseEstimator):
    """Base of a loss term (see the module docstring).

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    """

    supervised: ClassVar[bool] = True
    network_parts: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def init(self, network: nn.Module, n_classes: int) -> nn.Module | None:
        """Trainable parts of the term itself (trained with the network, not saved)."""
        return None

    def __call__(self, out: dict, batch: Batch, extra: nn.Module | None) -> torch.Tensor:
        raise NotImplementedError


#: name -> loss term class
_TERMS: dict[str, type[LossTerm]] = {}
#: built-in terms defined in other modules, imported (and so registered) when first named
#: or listed: a path, not an import, so those modules may import this one
_BUILT_IN_ELSEWHERE: dict[str, str] = {
    "contrastive": "medfuse.fusion.crossmodal.contrastive",
    "disentangle": "medfuse.fusion.crossmodal.disentangle",
}


def _load_built_in(name: str | None = None) -> None:
    """Import the module of the built-in term ``name`` (all of them when None)."""
    for term, module in _BUILT_IN_ELSEWHERE.items():
        if (name is None or term == name) and term not in _TERMS:
            importlib.import_module(module)


def register_loss_term(name: str, cls: type[LossTerm] | None = None) -> Callable:
    """Register a loss term class under ``name``; usable as a class decorator.

    Parameters
    ----------
    name : str
        How ``objectives`` (a strategy parameter or a study file's ``params:``) name it.
    cls : LossTerm subclass, optional
        The class (built with the ``params`` of ``{name, params}``). Omitted, a decorator is
        returned.

    Returns
    -------
    callable
        ``cls``, or the decorator that registers and returns it.
    """

    def wrap(c: type[LossTerm]) -> type[LossTerm]:
        if not (isinstance(c, type) and issubclass(c, LossTerm)):
            raise TypeError(f"{c!r} is not a LossTerm subclass.")
        if name in _TERMS and _TERMS[name] is not c:
            raise ValueError(f"Loss term name {name!r} is already registered.")
        _TERMS[str(name)] = c
        return c

    return wrap(cls) if cls is not None else wrap


def loss_term_names() -> list[str]:
    """Registered loss term names.

    Returns
    -------
    list of str
        In registration order, built-in first.
    """
    _load_built_in()
    return list(_TERMS)


def make_loss_term(spec) -> LossTerm:
    """An unfitted loss term.

    Parameters
    ----------
    spec : str, mapping or LossTerm
        A registered name, ``{"name": ..., "params": {...}}`` or a LossTerm (cloned).

    Returns
    -------
    LossTerm

    Raises
    ------
    ValueError
        For an unknown name (listing the registered ones), unknown parameters or anything
        that is not a loss term.
    """
    if isinstance(spec, LossTerm):
        return clone(spec)
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(f"A loss term is a registered name, {{name, params}} or a LossTerm; "
                         f"got {type(spec).__name__} {spec!r}.")
    extra = sorted(set(spec) - {"name", "params"})
    if extra:
        raise ValueError(f"A loss term is {{name, params}}; got keys {', '.join(extra)}.")
    name = spec.get("name")
    if isinstance(name, str) and name not in _TERMS:
        _load_built_in(name)
    if name not in _TERMS:
        raise ValueError(f"Unknown loss term {name!r}; registered: "
                         f"{', '.join(loss_term_names())} (a plugin adds its own with "
                         "medfuse.fusion.neural.objectives.register_loss_term).")
    params = dict(spec.get("params") or {})
    cls = _TERMS[name]
    accepted = set(cls().get_params(deep=False))
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(f"Loss term {name!r} has no parameter(s) {', '.join(unknown)}; its "
                         f"parameters are: {', '.join(sorted(accepted))}.")
    return cls(**params)


def make_objectives(specs: Sequence | None, field: str = "objectives") -> list[LossTerm]:
    """The loss terms of a strategy parameter (``objectives`` or ``pretrain_objectives``).

    Parameters
    ----------
    specs : sequence or None
        Names, ``{name, params}`` mappings or LossTerm objects.
    field : str
        The parameter's name, for messages.

    Returns
    -------
    list of LossTerm
        Empty for None.

    Raises
    ------
    ValueError
        Naming the parameter and the position of a term that cannot be made.
    """
    if specs is None:
        return []
    if isinstance(specs, str | Mapping | LossTerm):
        specs = [specs]
    terms = []
    for k, spec in enumerate(specs):
        try:
            terms.append(make_loss_term(spec))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{field}[{k}]: {err}") from None
    return terms


def loss_term_spec(term: LossTerm):
    """A registered term as its name (``{name, params}`` when a parameter differs from its
    default); an unregistered term as itself.

    Parameters
    ----------
    term : LossTerm or spec
        A term (or a name or mapping, returned as given).

    Returns
    -------
    str, dict or LossTerm
    """
    if not isinstance(term, LossTerm):
        return term
    name = next((n for n, c in _TERMS.items() if c is type(term)), None)
    if name is None:
        return term
    defaults = type(term)().get_params(deep=False)
    params = {k: v for k, v in term.get_params(deep=False).items() if v != defaults.get(k)}
    return {"name": name, "params": params} if params else name


def term_labels(terms: Sequence[LossTerm]) -> list[str]:
    """One label per term for the per-term losses of ``history_``.

    Parameters
    ----------
    terms : sequence of LossTerm
        The terms of one training stage.

    Returns
    -------
    list of str
        Each term's registered name (or class name), with ``#2``, ``#3`` ... for repeats.
    """
    labels, seen = [], {}
    for t in terms:
        spec = loss_term_spec(t)
        base = (spec if isinstance(spec, str) else spec["name"] if isinstance(spec, dict)
                else type(t).__name__)
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return labels


@register_loss_term("cross-entropy")
class CrossEntropy(LossTerm):
    """Class-weighted cross-entropy of the fused prediction (the main supervised term).

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    """

    def __call__(self, out: dict, batch: Batch, extra=None) -> torch.Tensor:
        rows = batch.labelled
        if len(rows) == len(batch.y):
            return F.cross_entropy(out["logits"], batch.y, weight=batch.class_weight)
        return F.cross_entropy(out["logits"].index_select(0, rows), batch.y.index_select(0, rows),
                               weight=batch.class_weight)


@register_loss_term("reconstruction")
class Reconstruction(LossTerm):
    """Mean squared error of a linear decoder that reconstructs each tabular modality from
    its latent (a supervised autoencoder when combined with :class:`CrossEntropy`; usable
    without labels, e.g. in pre-training).

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    """

    supervised: ClassVar[bool] = False
    network_parts: ClassVar[frozenset[str]] = frozenset({"decoders"})

    def __call__(self, out: dict, batch: Batch, extra=None) -> torch.Tensor:
        return out["reconstruction"]


@register_loss_term("auxiliary-heads")
class AuxiliaryHeads(LossTerm):
    """Deep supervision: a linear classifier on each modality's latent predicts the outcome
    from that modality alone; class-weighted cross-entropy averaged over the (subject,
    modality) pairs present in the batch.

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    """

    network_parts: ClassVar[frozenset[str]] = frozenset({"aux_heads"})

    def __call__(self, out: dict, batch: Batch, extra=None) -> torch.Tensor:
        aux, mask, y = out["aux_logits"], batch.mask, batch.y
        present = mask & (y >= 0)[:, None]
        rows, cols = torch.nonzero(present, as_tuple=True)
        return F.cross_entropy(aux[rows, cols], y.index_select(0, rows),
                               weight=batch.class_weight)


def default_objectives(reconstruction: float, auxiliary: float) -> list[LossTerm]:
    """Cross-entropy, plus reconstruction and auxiliary heads with the given weights (left
    out at 0)."""
    terms: list[LossTerm] = [CrossEntropy(1.0)]
    if reconstruction > 0:
        terms.append(Reconstruction(reconstruction))
    if auxiliary > 0:
        terms.append(AuxiliaryHeads(auxiliary))
    return terms


def network_parts(terms) -> set[str]:
    """The network parts the terms need."""
    return set().union(*(t.network_parts for t in terms)) if terms else set()

