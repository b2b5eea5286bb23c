"""Building a strategy by name: :func:`make`, the one entry point of study files, the runner
and users (``make("late-weighted", random_state=0)``)."""

from __future__ import annotations

from medfuse.fusion.registry import check_name, check_params
from medfuse.fusion.represented import with_representations


def make(name: str, **params):
    """Build a strategy by name, e.g. ``make("late-weighted", random_state=0)`` or
    ``make("unimodal:mrna")``.

    Parameters
    ----------
    name : str
        A registered name; per-modality strategies as ``"<name>:<modality>"``.
    **params
        Constructor arguments; unknown ones, and values the strategy cannot train with, are
        refused with the valid ones listed. ``representations={modality: representation}``
        wraps the strategy so that those raw modalities are first turned into feature blocks
        (see :func:`medfuse.fusion.represented.with_representations`); the wrapper gets the
        strategy's ``random_state`` and forwards it.

    Returns
    -------
    estimator
        The unfitted strategy.
    """
    representations = params.pop("representations", None)
    info_ = check_name(name)
    if info_.per_modality:
        params = {"modality": name.partition(":")[2], **params}
    check_params(name, params)
    estimator = info_.cls(**{**info_.params, **params})
    if representations:
        return with_representations(estimator, representations,
                                    random_state=params.get("random_state"))
    return estimator
