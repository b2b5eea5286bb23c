"""Small cohorts with known answers, built from each kind's example block."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from medfuse.data.kinds import get_kind
from medfuse.data.multimodal import MultiModalData


def example_cohort(kinds: Mapping[str, str] | None = None, n_subjects: int = 48, *,
                   task: str = "classification", missing: float = 0.2,
                   unlabelled: float = 0.0, blocks: Mapping | None = None,
                   y: np.ndarray | None = None, random_state: int = 0) -> MultiModalData:
    """A cohort whose every modality carries a binary outcome (each kind's
    :meth:`~medfuse.data.kinds.Kind.example`), with modalities missing completely at random.

    Parameters
    ----------
    kinds : mapping of str to str, optional
        Modality name -> kind name (default: ``{"a": "continuous", "b": "clinical"}``).
    n_subjects : int
        Subjects (IDs ``s000``, ``s001``, ...).
    task : {"classification", "survival"}
        ``"survival"``: obs ``time`` (shorter when the outcome is 1) and ``event``.
    missing : float
        Probability that a subject lacks each modality (every subject keeps at least one).
    unlabelled : float
        Share of subjects without an outcome (classification only).
    blocks : mapping of str to block, optional
        Blocks to use instead of the kind's example (a kind without one), for the subjects
        :func:`example_ids` carrying the outcome :func:`example_outcome`.
    y : ndarray, optional
        The outcome (default: alternating 0 and 1, shuffled).
    random_state : int
        Seed.

    Returns
    -------
    MultiModalData
        With outcome ``label`` (classification) or obs ``time`` and ``event`` (survival).
    """
    rng = np.random.default_rng(random_state)
    kinds = dict(kinds or {"a": "continuous", "b": "clinical"})
    ids = example_ids(n_subjects)
    drawn = rng.permutation(np.arange(n_subjects) % 2)  # example_outcome's draw
    y = drawn if y is None else np.asarray(y)
    have = rng.random((n_subjects, len(kinds))) >= missing
    empty = ~have.any(axis=1)
    have[empty, rng.integers(0, len(kinds), int(empty.sum()))] = True
    out, specs = {}, {}
    for j, (name, kind) in enumerate(kinds.items()):
        block = (dict(blocks or {}).get(name) if blocks and name in blocks
                 else get_kind(kind).example(ids, y, rng))
        out[name] = _rows(block, have[:, j])
        specs[name] = kind
    if task == "survival":
        time = rng.exponential(np.where(y == 1, 2.0, 6.0)) + 0.1
        event = rng.random(n_subjects) < 0.8
        obs = pd.DataFrame({"time": time, "event": event}, index=ids)
        return MultiModalData(out, obs=obs, modalities=specs)
    label = pd.Series(y, index=ids)
    if unlabelled > 0:
        label = label.astype(float).mask(rng.random(n_subjects) < unlabelled)
    obs = pd.DataFrame({"label": label}, index=ids)
    return MultiModalData(out, obs=obs, modalities=specs, outcome="label")


def example_ids(n_subjects: int) -> pd.Index:
    """The subject IDs of :func:`example_cohort`: ``s000``, ``s001``, ...

    Parameters
    ----------
    n_subjects : int
        Number of subjects.

    Returns
    -------
    Index of str
    """
    return pd.Index([f"s{i:03d}" for i in range(n_subjects)], name="subject")


def example_outcome(n_subjects: int, random_state: int = 0) -> np.ndarray:
    """The outcome :func:`example_cohort` draws for ``n_subjects`` and ``random_state``
    (half 0, half 1, shuffled), for building a block of your own kind that carries it.

    Parameters
    ----------
    n_subjects : int
        Number of subjects.
    random_state : int
        The cohort's seed.

    Returns
    -------
    ndarray of int (n_subjects,)
    """
    return np.random.default_rng(random_state).permutation(np.arange(n_subjects) % 2)


def _rows(block, keep: np.ndarray):
    """The rows of the subjects that have the modality, for any storage."""
    from medfuse.data.ragged import RaggedBlock

    if isinstance(block, pd.DataFrame):
        return block.iloc[np.flatnonzero(keep)]
    if isinstance(block, RaggedBlock):
        return block.take(np.flatnonzero(keep))
    ids, values = block
    return ([i for i, k in zip(ids, keep, strict=True) if k], np.asarray(values)[keep])
