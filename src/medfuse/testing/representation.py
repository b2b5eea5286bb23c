"""``check_representation``: a raw modality turned into one feature row per subject."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from medfuse.data.kinds import get_kind
from medfuse.testing.cohorts import example_cohort
from medfuse.testing.common import Report, check


def check_representation(representation, *, kind: str | None = None, block=None, trust=(),
                         n_subjects: int = 40, jobs: int = 2,
                         random_state: int = 0) -> list[str]:
    """Check that a representation keeps medfuse's representation contract.

    Checks, in order: it is made from its registered name (or cloned); fitted on the example
    block of a kind it reads, it gives one row of finite floats per subject (indexed by
    subject ID when it returns a table) with the same columns on new subjects; a subject's
    row does not depend on the other subjects transformed with it; two fits give the same
    rows; and ``late-mean`` with this representation passes the strategy checks (every
    subset, the known answer, determinism, saving, the benchmark in ``jobs`` worker
    processes).

    Parameters
    ----------
    representation : str, mapping or transformer
        A registered name, ``{"name": ..., "params": ...}`` or an unfitted transformer.
    kind : str, optional
        The kind of the block it is checked on (default: the first kind it was registered
        for).
    block : block, optional
        Values of that kind carrying the outcome, for a kind without an example.
    trust : sequence of str
        Exact names of your own classes the saved model holds.
    n_subjects, jobs, random_state : int
        Subjects, worker processes of the benchmark check, seed.

    Returns
    -------
    list of str
        The names of the checks passed.

    Raises
    ------
    ConformanceError
        Naming the representation, the check and what went wrong.
    """
    from medfuse.fusion.factory import make
    from medfuse.preprocess.blocks import fit_transform_block, transform_block
    from medfuse.represent.registry import _REPRESENTATIONS, make_representation
    from medfuse.testing.strategy import check_fitted

    label = representation if isinstance(representation, str) else (
        representation.get("name") if isinstance(representation, dict)
        else type(representation).__name__)
    subject = f"check_representation({label!r})"
    report = Report()
    with check(report, subject, "made from its name"):
        rep = make_representation(representation)
        if kind is None:
            kinds = _REPRESENTATIONS[label].kinds if label in _REPRESENTATIONS else ()
            if not kinds:
                raise AssertionError("it names no modality kind it reads; register it with "
                                     "kinds=(...) or pass kind=")
            kind = kinds[0]
        get_kind(kind)
    blocks = {"m": block} if block is not None else None
    data = example_cohort({"m": kind}, n_subjects, missing=0.0, blocks=blocks,
                          random_state=random_state)
    raw = data.block("m")
    with check(report, subject, "one row of finite features per subject"):
        fitted = clone(rep)
        out = fit_transform_block(fitted, raw, obs=data.obs)
        matrix = _matrix(out, len(raw))
        if isinstance(out, pd.DataFrame) and not pd.Index(out.index.astype(str)).equals(
                pd.Index(data.block_subjects("m"))):
            raise AssertionError("the table is not indexed by the subjects' IDs in order")
        again = _matrix(transform_block(fitted, raw, obs=data.obs), len(raw))
        if again.shape[1] != matrix.shape[1]:
            raise AssertionError("transform gives other columns than fit_transform")
    with check(report, subject, "a row does not depend on the other subjects"):
        rows = np.arange(0, len(raw), 3)
        part = data[rows]
        alone = _matrix(transform_block(fitted, part.block("m"), obs=part.obs), len(rows))
        if not np.allclose(alone, again[rows], rtol=1e-9, atol=1e-12):
            raise AssertionError("transforming a subset of subjects changes their rows")
    with check(report, subject, "deterministic"):
        twice = _matrix(fit_transform_block(clone(rep), raw, obs=data.obs), len(raw))
        if not np.array_equal(twice, matrix):
            raise AssertionError("two fits give different features")
    cohort = example_cohort({"m": kind, "c": "continuous"}, n_subjects, blocks=blocks,
                            random_state=random_state)
    estimator = make("late-mean", representations={"m": representation})
    check_fitted(estimator, cohort, "late-mean", report, f"{subject} in late-mean",
                 trust=trust, jobs=jobs, random_state=random_state, prefix="late-mean: ")
    return list(report)


def _matrix(out, n: int) -> np.ndarray:
    values = np.asarray(out.to_numpy() if isinstance(out, pd.DataFrame) else out, dtype=float)
    if values.ndim != 2 or len(values) != n:
        raise AssertionError(f"the output has shape {values.shape} for {n} subjects; expected "
                             "one row per subject")
    if not np.isfinite(values).all():
        raise AssertionError("the output holds NaN or inf")
    return values
