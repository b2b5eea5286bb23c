"""Predictive uncertainty of the neural strategies: the spread of their seed ensemble and
Monte Carlo dropout.

Both give several class-probability vectors per subject (samples ``s = 1..S``), from which

- ``entropy``: predictive entropy ``H[mean_s p_s]`` (nats), the total uncertainty;
- ``expected_entropy``: ``mean_s H[p_s]``, what each sample is unsure about (aleatoric);
- ``mutual_information``: their difference, the disagreement between samples (epistemic;
  BALD), never negative.

Samples (``method``)
    ``"ensemble"``: the members of the ensemble the strategy trains (``n_ensemble > 1``:
    ``module_`` is an :class:`~medfuse.fusion.neural.layers.EnsembleNetwork`), one vector
    each. ``"mc-dropout"``: every member is run ``n_passes`` times with its dropout layers
    sampling (Gal and Ghahramani's Monte Carlo dropout), ``n_ensemble * n_passes`` vectors.

Prediction changes no shared state: each call runs a private copy of the network whose
``nn.Dropout`` layers draw their masks from a local ``torch.Generator`` seeded with
``random_state`` (the same seed gives the same samples), under thread-local inference mode;
the fitted model, its training flags and torch's global random state are left as they were,
so several threads may ask at once.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from medfuse.data.multimodal import MultiModalData

METHODS = ("ensemble", "mc-dropout")
_BATCH = 256


class SampledDropout(nn.Module):
    """Dropout that always samples, with masks drawn from a given generator.

    Parameters
    ----------
    p : float in [0, 1)
        Probability that an element is zeroed; kept elements are scaled by ``1 / (1 - p)``.
    generator : torch.Generator
        Source of the masks (seeded, so that the same seed gives the same masks).
    """

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p = float(p)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0.0:
            return x
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep / (1.0 - self.p)


def _sampling_copy(network: nn.Module, generator: torch.Generator) -> nn.Module:
    """A copy of ``network`` (in eval mode) whose ``nn.Dropout`` layers sample."""
    net = copy.deepcopy(network).eval()
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Dropout):
                setattr(parent, name, SampledDropout(child.p, generator))
    return net


def _members(network: nn.Module) -> list[nn.Module]:
    return list(network.members) if hasattr(network, "members") else [network]


def _neural_models(model) -> list:
    """The fitted neural strategies inside ``model`` (itself, or the fold models of a
    :class:`~medfuse.fusion.conformal.ConformalClassifier` around one)."""
    inner = model.__dict__.get("estimators_")
    models = list(inner) if inner is not None else [model]
    for m in models:
        if not (hasattr(m, "_arrays") and "module_" in m.__dict__):
            raise ValueError(f"{type(m).__name__} is not a fitted neural strategy "
                             "(intermediate, attention, cross-attention); uncertainty from "
                             "ensembles and dropout needs one.")
    return models


def probability_samples(model, data: MultiModalData, method: str = "ensemble",
                        n_passes: int = 20, random_state: int = 0) -> np.ndarray:
    """Class-probability samples ``(S, n_subjects, n_classes)`` (columns in
    ``model.classes_`` order); see the module docstring for ``method``.

    Parameters
    ----------
    model : NeuralFusion or ConformalClassifier
        A fitted neural strategy, or a ConformalClassifier around one (its fold models'
        samples are pooled; the probabilities are the strategy's own, before
        recalibration).
    data : MultiModalData
        The subjects to predict (any subset of the modalities).
    method : {"ensemble", "mc-dropout"}
        Ensemble members, or Monte Carlo dropout passes of every member.
    n_passes : int
        Dropout passes per member (``mc-dropout``).
    random_state : int
        Seed of the dropout masks.

    Returns
    -------
    ndarray, shape (n_samples, n_subjects, n_classes)
        Class probabilities of every sample.
    """
    if method not in METHODS:
        raise ValueError(f"method must be 'ensemble' or 'mc-dropout', got {method!r}")
    if method == "mc-dropout" and int(n_passes) < 1:
        raise ValueError(f"n_passes must be at least 1, got {n_passes!r}")
    models = _neural_models(model)
    classes = np.asarray(model.classes_)
    out = []
    for est in models:
        check_is_fitted(est, "module_")
        if est.module_.training:  # a freshly rebuilt module; eval() is idempotent
            est.module_.eval()
        members = _members(est.module_)
        if method == "ensemble" and len(members) < 2 and len(models) < 2:
            raise ValueError(
                f"{type(est).__name__} was trained with n_ensemble=1: a single network has "
                "no ensemble spread. Use method='mc-dropout', or n_ensemble > 1.")
        arrays, mask = est._arrays(est.align(data))
        generator = torch.Generator(device=est.device).manual_seed(int(random_state))
        samples = []
        for member in members:
            if method == "ensemble":
                samples.append(_run(est, member, arrays, mask))
            else:
                sampler = _sampling_copy(member, generator)
                samples.extend(_run(est, sampler, arrays, mask) for _ in range(int(n_passes)))
        chunk = np.stack(samples)
        full = np.zeros((*chunk.shape[:2], len(classes)))
        full[..., np.searchsorted(classes, est.classes_)] = chunk
        out.append(full)
    return np.concatenate(out)


def _run(est, network: nn.Module, arrays, mask) -> np.ndarray:
    """Softmax of one network's logits in batches, under inference mode."""
    parts = []
    with torch.inference_mode():
        for start in range(0, len(mask), _BATCH):
            inputs, m = est._tensors(arrays, mask, slice(start, start + _BATCH))
            parts.append(torch.softmax(network(inputs, m), dim=1))
    return torch.cat(parts).cpu().double().numpy()


def _entropy(p: np.ndarray) -> np.ndarray:
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


def decompose(samples: np.ndarray) -> dict[str, np.ndarray]:
    """Split the uncertainty of probability samples into its parts.

    Parameters
    ----------
    samples : ndarray, shape (n_samples, n_subjects, n_classes)
        Class probabilities of every sample (:func:`probability_samples`).

    Returns
    -------
    dict of str to ndarray
        ``proba`` (the mean over samples, (n_subjects, n_classes)), and ``entropy``,
        ``expected_entropy`` and ``mutual_information`` (each (n_subjects,), in nats).
    """
    samples = np.asarray(samples, dtype=float)
    mean = samples.mean(axis=0)
    total = _entropy(mean)
    expected = _entropy(samples).mean(axis=0)
    return {"proba": mean, "entropy": total, "expected_entropy": expected,
            "mutual_information": np.maximum(total - expected, 0.0)}


def predictive_uncertainty(model, data: MultiModalData, method: str = "ensemble",
                           n_passes: int = 20, random_state: int = 0) -> pd.DataFrame:
    """Per-subject predictive uncertainty of a neural strategy.

    Parameters
    ----------
    model : NeuralFusion or ConformalClassifier
        A fitted neural strategy, or a ConformalClassifier around one.
    data : MultiModalData
        The subjects to predict (any subset of the modalities).
    method : {"ensemble", "mc-dropout"}
        Where the samples come from (see :func:`probability_samples`).
    n_passes : int
        Dropout passes per member (``mc-dropout``).
    random_state : int
        Seed of the dropout masks.

    Returns
    -------
    pandas.DataFrame
        Indexed by subject: ``proba_<class>`` (the mean of the samples), ``entropy``,
        ``expected_entropy``, ``mutual_information`` (nats) and ``n_samples``.
    """
    samples = probability_samples(model, data, method, n_passes, random_state)
    parts = decompose(samples)
    table = pd.DataFrame({f"proba_{c}": parts["proba"][:, k]
                          for k, c in enumerate(model.classes_)}, index=data.subjects)
    for name in ("entropy", "expected_entropy", "mutual_information"):
        table[name] = parts[name]
    table["n_samples"] = len(samples)
    table.index.name = "subject"
    return table
